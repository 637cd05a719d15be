"""Input checks shared by the numpy layer: 2-D images and pixel sizes, with messages that name the bad value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["image_2d", "pixel_size_pair"]


def image_2d(image: Any, what: str = "image", *, min_size: int = 2, finite: bool = True) -> np.ndarray:
    """Return `image` as a float64 2-D array, checked.

    Parameters
    ----------
    image : array_like
        The image.
    what : str
        How error messages name it.
    min_size : int
        Smallest allowed number of rows and of columns.
    finite : bool
        Refuse NaN and infinite values.

    Raises
    ------
    ValueError
        If `image` is not a 2-D array of numbers of at least ``min_size`` pixels per side, or (with `finite`)
        holds NaN or infinite values; the message names `what`, the shape or the number of bad values.
    """
    if image is None:
        raise ValueError(f"{what} is required: a 2-D array")
    try:
        array = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 2-D array of numbers, got {type(image).__name__}") from None
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {array.shape}")
    if min(array.shape) < min_size:
        raise ValueError(f"{what} must be at least {min_size}x{min_size} pixels, got {array.shape}")
    if finite:
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ValueError(f"{what} has {bad} non-finite value(s) (NaN or inf); fill or crop them first")
    return array


def pixel_size_pair(pixel_size: Any, what: str = "pixel_size") -> tuple[float, float]:
    """Return ``(dy, dx)`` in metres as two positive finite floats.

    Raises
    ------
    ValueError
        If `pixel_size` is not a pair of positive finite numbers (None included: callers that allow None
        handle it before calling).
    """
    try:
        dy, dx = (float(v) for v in pixel_size)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (dy, dx) in metres, got {pixel_size!r}") from None
    if not (math.isfinite(dy) and math.isfinite(dx) and dy > 0 and dx > 0):
        raise ValueError(f"{what} must be positive and finite, in metres, got {pixel_size!r}")
    return dy, dx
