"""Damaged copies of real files for the bad-input tests: truncated copies and random bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Where the truncation tests cut a file: inside the header, in the middle of the data, just before its end.
FRACTIONS = (0.1, 0.5, 0.99)


def truncated_copy(source: Path | bytes, destination: Path, fraction: float) -> Path:
    """Write the first `fraction` of `source` (a file, or its bytes) to `destination`; return `destination`."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    destination = Path(destination)
    destination.write_bytes(raw[: int(len(raw) * fraction)])
    return destination


def random_file(destination: Path, size: int, *, seed: int = 0) -> Path:
    """Write `size` random bytes (reproducible from `seed`) to `destination`; return `destination`."""
    rng = np.random.default_rng(seed)
    destination = Path(destination)
    destination.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    return destination
