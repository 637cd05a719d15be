"""scansr: super-resolution for scanning-probe (AFM/SPM) and SEM images, in physical units.

The numpy layer (``io``, ``preprocess``, ``degrade``, ``interpolate``, ``register``, ``metrics``, ``stats``) never
imports torch; ``models``, ``train`` and ``enhance`` do, and are imported only when used.
"""

from scansr.enhance import EnhanceResult, enhance, write_enhanced  # torch is imported only when a model runs
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
    "EnhanceResult",
    "OutputExistsError",
    "Scan",
    "ScanError",
    "ScanReadError",
    "ScanWriteError",
    "UnknownChannelError",
    "UnsupportedFormatError",
    "__version__",
    "enhance",
    "write_enhanced",
]
