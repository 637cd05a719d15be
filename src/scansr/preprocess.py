"""Prepare height maps: level, align rows, remove scars, clip percentiles, normalise and denormalise.

Arrays in, new arrays out: every function takes a 2-D float array (values in SI units, e.g. heights in metres)
and returns a new float64 array; inputs are never modified.

NaN pixels (missing data) are ignored by every fit (plane, row offsets, scar statistics, percentiles, μ/σ) and
stay NaN in the result. A `mask` argument is a boolean array of the image's shape marking the pixels to *use*
for a fit (True = use); the correction is still applied to every pixel.

Clipping and z-score follow the AFM paper (Liu et al., Adv. Theory Simul. 2019, eq. 1 and 2): values below the
value of rank ⌊2.5 % N⌋ of the sorted image are set to it, values above rank ⌊97.5 % N⌋ likewise, then
``(x − μ) / σ``. `Normalization` keeps μ and σ so that network outputs go back to metres with `invert`.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "ALIGN_METHODS",
    "NORMALIZATION_KINDS",
    "Normalization",
    "align_rows",
    "clip_percentiles",
    "fit_minmax",
    "fit_zscore",
    "level_plane",
    "mark_scars",
    "percentile_bounds",
    "remove_scars",
]

logger = logging.getLogger(__name__)

ALIGN_METHODS = ("median", "mean", "polynomial")
NORMALIZATION_KINDS = ("zscore", "minmax")


# ----------------------------------------------------------------------------------------------------- checks
def _image(x: object, what: str = "height") -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} must not be empty, got shape {array.shape}")
    return array


def _mask(mask: object, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise ValueError(f"mask must be a boolean array (True = use the pixel), got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"mask must have the data's shape {shape}, got {array.shape}")
    return array


def _usable(z: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    use = np.isfinite(z)
    if mask is not None:
        use &= mask
    return use


def _positive_int(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# -------------------------------------------------------------------------------------------------- levelling
def level_plane(height: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Subtract the least-squares plane ``a + b·x + c·y``.

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Image (any unit; heights in m).
    mask : bool array, shape (ny, nx), optional
        Pixels to fit (True = use), e.g. the substrate around particles. Default: all finite pixels.

    Returns
    -------
    numpy.ndarray
        ``height`` minus the plane, evaluated at every pixel (NaN pixels stay NaN). The fitted pixels
        then have zero mean.

    Raises
    ------
    ValueError
        Not a 2-D array, a bad mask, or fewer than three non-collinear pixels to fit.
    """
    z = _image(height)
    use = _usable(z, _mask(mask, z.shape))
    rows, cols = np.nonzero(use)
    if rows.size < 3:
        raise ValueError(f"a plane needs at least 3 finite pixels to fit, got {rows.size}")
    y0, x0 = rows.mean(), cols.mean()
    design = np.column_stack([np.ones(rows.size), cols - x0, rows - y0])
    coefficients, _, rank, _ = np.linalg.lstsq(design, z[use], rcond=None)
    if rank < 3:
        raise ValueError("the pixels to fit lie on one line; a plane is not determined")
    yy, xx = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    plane = coefficients[0] + coefficients[1] * (xx - x0) + coefficients[2] * (yy - y0)
    return z - plane


def align_rows(
    height: np.ndarray,
    *,
    method: str = "median",
    degree: int = 1,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Remove scan-line offsets (streaks): per row, subtract its median, its mean, or a fitted polynomial.

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Image; rows are the fast-scan lines.
    method : {"median", "mean", "polynomial"}
        ``"median"`` (robust to particles and spikes), ``"mean"``, or a least-squares polynomial in x of
        `degree` per row (removes line offsets and tilts/bows along the lines).
    degree : int
        Polynomial degree for ``method="polynomial"`` (0 is the mean); unused otherwise.
    mask : bool array, shape (ny, nx), optional
        Pixels to fit (True = use). A row without usable pixels is left unchanged (logged).

    Returns
    -------
    numpy.ndarray
        The aligned image: every row has zero median / mean / polynomial residual over its used pixels.

    Raises
    ------
    ValueError
        Unknown `method`, `degree` not a non-negative integer, a bad mask, or not a 2-D array.
    """
    if method not in ALIGN_METHODS:
        raise ValueError(f"method must be one of {ALIGN_METHODS}, got {method!r}")
    degree = _positive_int(degree, "degree", 0)
    z = _image(height)
    use = _usable(z, _mask(mask, z.shape))
    counts = use.sum(axis=1)
    needed = degree + 1 if method == "polynomial" else 1
    skipped = np.flatnonzero(counts < needed)
    if skipped.size:
        logger.info("align_rows: %d row(s) without enough usable pixels left unchanged", skipped.size)
    if method in ("median", "mean"):
        masked = np.where(use, z, np.nan)
        offsets = np.zeros(z.shape[0])
        good = counts >= 1
        reduce = np.nanmedian if method == "median" else np.nanmean
        offsets[good] = reduce(masked[good], axis=1)
        return z - offsets[:, None]
    nx = z.shape[1]
    x = np.linspace(-1.0, 1.0, nx) if nx > 1 else np.zeros(1)
    vander = np.polynomial.polynomial.polyvander(x, degree)  # (nx, degree + 1)
    background = np.zeros_like(z)
    full = counts == nx
    if full.any():
        coefficients, *_ = np.linalg.lstsq(vander, z[full].T, rcond=None)
        background[full] = (vander @ coefficients).T
    for row in np.flatnonzero(~full & (counts >= needed)):
        sel = use[row]
        coefficients, *_ = np.linalg.lstsq(vander[sel], z[row, sel], rcond=None)
        background[row] = vander @ coefficients
    return z - background


# ------------------------------------------------------------------------------------------------------ scars
def _robust_sigma(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def mark_scars(
    height: np.ndarray,
    *,
    threshold: float = 4.0,
    max_width: int = 2,
    min_length: int = 16,
) -> np.ndarray:
    """Mark scars: short horizontal segments of one to `max_width` lines that stick out of both neighbours.

    A pixel run is a scar when, over at least `min_length` consecutive pixels along the line, all its
    1…`max_width` rows lie above both the line above and the line below (or all below both) by more than
    ``threshold × σ``, where σ is a robust (MAD) estimate of the spread of differences between adjacent lines.
    Gwyddion's "Mark Scars" works the same way; this is a reimplementation, not a port.

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Image; rows are the fast-scan lines.
    threshold : float
        Minimum step to both neighbour lines, in units of σ (> 0).
    max_width : int
        Largest scar width in lines (>= 1).
    min_length : int
        Smallest scar length along the line in pixels (>= 1).

    Returns
    -------
    numpy.ndarray of bool
        True on scar pixels.

    Raises
    ------
    ValueError
        Bad parameters or not a 2-D array.
    """
    from scipy import ndimage

    if isinstance(threshold, bool) or not (
        isinstance(threshold, numbers.Real) and math.isfinite(threshold) and threshold > 0
    ):
        raise ValueError(f"threshold must be a positive number (units of σ), got {threshold!r}")
    max_width = _positive_int(max_width, "max_width", 1)
    min_length = _positive_int(min_length, "min_length", 1)
    z = _image(height)
    ny, nx = z.shape
    marks = np.zeros(z.shape, dtype=bool)
    sigma = _robust_sigma(np.diff(z, axis=0))
    if sigma == 0.0 or ny < 3:
        return marks
    step = threshold * sigma
    run = np.ones((1, min_length), dtype=bool)
    with np.errstate(invalid="ignore"):
        for width in range(1, min(max_width, ny - 2) + 1):
            above = z[: ny - width - 1]
            below = z[width + 1 :]
            high_ref = np.fmax(above, below)
            low_ref = np.fmin(above, below)
            up = np.ones((ny - width - 1, nx), dtype=bool)
            down = np.ones_like(up)
            for k in range(width):
                block = z[1 + k : ny - width + k]
                up &= block - high_ref > step
                down &= low_ref - block > step
            for candidates in (up, down):
                runs = ndimage.binary_opening(candidates, structure=run) if min_length > 1 else candidates
                for k in range(width):
                    marks[1 + k : ny - width + k] |= runs
    return marks


def remove_scars(
    height: np.ndarray,
    *,
    threshold: float = 4.0,
    max_width: int = 2,
    min_length: int = 16,
) -> np.ndarray:
    """Remove scars (see `mark_scars`) by linear interpolation from the lines above and below.

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Image; rows are the fast-scan lines.
    threshold, max_width, min_length
        As for `mark_scars`.

    Returns
    -------
    numpy.ndarray
        The image with scar pixels replaced by the column-wise linear interpolation between the nearest
        unmarked finite pixels above and below; every other pixel unchanged.

    Raises
    ------
    ValueError
        Bad parameters or not a 2-D array.
    """
    z = _image(height)
    marks = mark_scars(z, threshold=threshold, max_width=max_width, min_length=min_length)
    result = z.copy()
    if not marks.any():
        return result
    rows = np.arange(z.shape[0])
    for col in np.flatnonzero(marks.any(axis=0)):
        bad = marks[:, col]
        good = ~bad & np.isfinite(z[:, col])
        if good.any():
            result[bad, col] = np.interp(rows[bad], rows[good], z[good, col])
    logger.info("remove_scars: replaced %d pixel(s)", int(marks.sum()))
    return result


# --------------------------------------------------------------------------------------------------- clipping
def _percent(value: object, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{what} must be a percentage in [0, 100], got {value!r}")
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"{what} must be a percentage in [0, 100], got {value!r}")
    return Fraction(str(value))  # exact decimal: floor(97.5 % of 40) is 39, not 38 by rounding


def percentile_bounds(x: np.ndarray, *, low: float = 2.5, high: float = 97.5) -> tuple[float, float]:
    """Clipping bounds of the AFM paper's eq. 1: the values of ranks ⌊low % · N⌋ and ⌊high % · N⌋.

    With the N finite values sorted ascending, ``f(1) ≤ … ≤ f(N)`` (1-based ranks), the bounds are
    ``f(a_low)`` and ``f(a_high)`` with ``a = ⌊p · N⌋`` computed exactly. A rank of 0 (fewer than 40
    values for 2.5 %) means the minimum, rank 1. No interpolation between ranks, unlike `numpy.percentile`.

    Parameters
    ----------
    x : array_like
        Values (any shape); NaN and infinite values are ignored.
    low, high : float
        Percentages with ``0 <= low <= high <= 100``.

    Returns
    -------
    (float, float)
        The lower and upper bound, in the unit of `x`.

    Raises
    ------
    ValueError
        Percentages out of range or in the wrong order, or no finite value.
    """
    p_low, p_high = _percent(low, "low"), _percent(high, "high")
    if p_low > p_high:
        raise ValueError(f"low must not exceed high, got low={low!r}, high={high!r}")
    values = np.asarray(x, dtype=np.float64).ravel()
    values = np.sort(values[np.isfinite(values)])
    n = values.size
    if n == 0:
        raise ValueError("x holds no finite value")
    rank_low = min(max(math.floor(p_low * n / 100), 1), n)
    rank_high = min(max(math.floor(p_high * n / 100), 1), n)
    return float(values[rank_low - 1]), float(values[rank_high - 1])


def clip_percentiles(x: np.ndarray, *, low: float = 2.5, high: float = 97.5) -> np.ndarray:
    """Clip values to the AFM paper's eq. 1 bounds (see `percentile_bounds`); NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Values (any shape).
    low, high : float
        Percentages with ``0 <= low <= high <= 100``.

    Returns
    -------
    numpy.ndarray
        float64 array of `x`'s shape.

    Raises
    ------
    ValueError
        As for `percentile_bounds`.
    """
    lower, upper = percentile_bounds(x, low=low, high=high)
    return np.clip(np.asarray(x, dtype=np.float64), lower, upper)


# ---------------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class Normalization:
    """An affine normalisation ``y = (x − offset) / scale`` and its inverse.

    Parameters
    ----------
    offset : float
        Subtracted first, in the unit of the data (μ for z-score, the minimum for min-max).
    scale : float
        Divisor, in the unit of the data (σ, or max − min); finite and non-zero.
    kind : {"zscore", "minmax"}
        How it was fitted.
    """

    offset: float
    scale: float
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in NORMALIZATION_KINDS:
            raise ValueError(f"kind must be one of {NORMALIZATION_KINDS}, got {self.kind!r}")
        if not math.isfinite(self.offset):
            raise ValueError(f"offset must be finite, got {self.offset!r}")
        if not (math.isfinite(self.scale) and self.scale != 0):
            raise ValueError(f"scale must be finite and non-zero, got {self.scale!r}")
        object.__setattr__(self, "offset", float(self.offset))
        object.__setattr__(self, "scale", float(self.scale))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return ``(x − offset) / scale`` as a new float64 array."""
        return (np.asarray(x, dtype=np.float64) - self.offset) / self.scale

    def invert(self, y: np.ndarray) -> np.ndarray:
        """Return ``y · scale + offset``: normalised values back in the data's unit (e.g. metres)."""
        return np.asarray(y, dtype=np.float64) * self.scale + self.offset


def _fit_values(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    use = np.isfinite(array)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != array.shape:
            raise ValueError(
                f"mask must be a boolean array of shape {array.shape}, got {mask.dtype} {mask.shape}"
            )
        use &= mask
    values = array[use]
    if values.size == 0:
        raise ValueError("x holds no finite value to fit (after the mask)")
    return values


def fit_zscore(x: np.ndarray, *, mask: np.ndarray | None = None) -> Normalization:
    """Fit the AFM paper's eq. 2 z-score: offset μ (mean), scale σ (standard deviation) of the image.

    σ uses N − 1 (``ddof=1``), as MATLAB's ``zscore``/``std`` that the paper's implementation used; for
    images of thousands of pixels the choice changes σ by less than 0.01 %.

    Parameters
    ----------
    x : array_like
        Values (any shape); NaN ignored.
    mask : bool array, optional
        Values to use (True), same shape as `x`.

    Returns
    -------
    Normalization
        ``kind="zscore"``.

    Raises
    ------
    ValueError
        No finite value, a single value, or a flat image (σ = 0): z-scores are undefined.
    """
    values = _fit_values(x, mask)
    if values.size < 2:
        raise ValueError("z-score needs at least 2 values, got 1")
    mu = float(values.mean())
    sigma = float(values.std(ddof=1))
    if not sigma > 8 * np.finfo(np.float64).eps * abs(mu):
        raise ValueError(
            f"the image is flat (all {values.size} values equal {mu:.6g}): σ = {sigma:.3g}, so a z-score "
            "normalisation is undefined"
        )
    return Normalization(offset=mu, scale=sigma, kind="zscore")


def fit_minmax(x: np.ndarray, *, mask: np.ndarray | None = None) -> Normalization:
    """Fit a min-max normalisation to [0, 1]: offset the minimum, scale max − min.

    Parameters
    ----------
    x : array_like
        Values (any shape); NaN ignored.
    mask : bool array, optional
        Values to use (True), same shape as `x`.

    Returns
    -------
    Normalization
        ``kind="minmax"``.

    Raises
    ------
    ValueError
        No finite value, or a flat image (max = min).
    """
    values = _fit_values(x, mask)
    lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        raise ValueError(f"the image is flat (all {values.size} values equal {lo:.6g}): max − min is 0")
    return Normalization(offset=lo, scale=hi - lo, kind="minmax")
