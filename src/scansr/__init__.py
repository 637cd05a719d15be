"""scansr: super-resolution for scanning-probe (AFM/SPM) and SEM images, in physical units.

The numpy layer (``io``, ``preprocess``, ``degrade``, ``interpolate``, ``register``, ``metrics``, ``stats``) never
imports torch; ``models``, ``train`` and ``enhance`` do, and are imported only when used.
"""

from scansr.scan import (
    Channel,
    OutputExistsError,
    Scan,
    ScanError,
    ScanReadError,
    ScanWriteError,
    UnknownChannelError,
    UnsupportedFormatError,
)

__version__ = "0.1.0"

__all__ = [
    "Channel",
    "OutputExistsError",
    "Scan",
    "ScanError",
    "ScanReadError",
    "ScanWriteError",
    "UnknownChannelError",
    "UnsupportedFormatError",
    "__version__",
]
