"""Height statistics that AFM users read: ISO 25178 areal roughness, height-distribution distances, profiles.

ISO 25178-2 amplitude parameters, computed about the mean height of the evaluation area (the surface is taken
as given: remove form and tilt first, e.g. with `scansr.preprocess`, as the standard's S-F surface requires):

- ``Sa = mean |z - z̄|`` (arithmetical mean height), ``Sq = sqrt(mean (z - z̄)²)`` (root-mean-square height);
- ``Sp = max (z - z̄)`` (maximum peak height), ``Sv = -min (z - z̄)`` (maximum pit depth, positive),
  ``Sz = Sp + Sv`` (maximum height);
- ``Ssk = mean (z - z̄)³ / Sq³`` (skewness), ``Sku = mean (z - z̄)⁴ / Sq⁴`` (kurtosis).

For ``z = A sin(...)`` over whole periods: ``Sa = 2A/π``, ``Sq = A/√2``, ``Sz = 2A``, ``Ssk = 0``,
``Sku = 1.5``.

Whether an upscaled scan keeps the heights of the real one is measured by `height_wasserstein` (earth mover's
distance between the two height distributions, in metres) and `histogram_intersection` (overlap of the two
histograms, 1 = identical). `profile` samples a cross-section along a line, averaged over a band.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy import stats as sps

__all__ = [
    "Profile",
    "Roughness",
    "height_wasserstein",
    "histogram_intersection",
    "profile",
    "roughness",
    "sa",
    "sq",
    "sz",
]


class Roughness(NamedTuple):
    """ISO 25178-2 amplitude parameters, in the data's unit (Ssk, Sku dimensionless)."""

    sa: float
    sq: float
    sp: float
    sv: float
    sz: float
    ssk: float
    sku: float


class Profile(NamedTuple):
    """A cross-section along a line."""

    distance_m: np.ndarray
    """Distance of each sample from the start point, in metres (pixels without a pixel size)."""
    values: np.ndarray
    """Values at the samples, in the image's unit (NaN where the line leaves the image)."""


def _heights(image: object, what: str = "image") -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.size == 0:
        raise ValueError(f"{what} must not be empty")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{what} has {bad} non-finite value(s) (NaN or inf); fill or crop them first")
    return array.ravel()


# -------------------------------------------------------------------------------------------------- ISO 25178
def roughness(image: object) -> Roughness:
    """All ISO 25178-2 amplitude parameters of a height map (about its mean height).

    Parameters
    ----------
    image : array_like
        Heights (e.g. in m) of the evaluation area, levelled.

    Returns
    -------
    Roughness
        Sa, Sq, Sp, Sv, Sz in the heights' unit; Ssk, Sku dimensionless (NaN for a flat surface).

    Raises
    ------
    ValueError
        An empty image or non-finite heights.
    """
    z = _heights(image)
    d = z - z.mean()
    sq_ = float(np.sqrt(np.mean(d * d)))
    sp, sv = float(d.max()), float(-d.min())
    if sq_ > 0:
        ssk, sku = float(np.mean(d**3) / sq_**3), float(np.mean(d**4) / sq_**4)
    else:
        ssk = sku = math.nan
    return Roughness(float(np.mean(np.abs(d))), sq_, sp, sv, sp + sv, ssk, sku)


def sa(image: object) -> float:
    """Arithmetical mean height ``Sa = mean |z - z̄|`` (ISO 25178-2), in the heights' unit.

    Raises
    ------
    ValueError
        An empty image or non-finite heights.
    """
    z = _heights(image)
    return float(np.mean(np.abs(z - z.mean())))


def sq(image: object) -> float:
    """Root-mean-square height ``Sq = sqrt(mean (z - z̄)²)`` (ISO 25178-2), in the heights' unit.

    Raises
    ------
    ValueError
        An empty image or non-finite heights.
    """
    z = _heights(image)
    return float(np.sqrt(np.mean((z - z.mean()) ** 2)))


def sz(image: object) -> float:
    """Maximum height ``Sz = Sp + Sv`` = highest peak minus deepest pit (ISO 25178-2), in the heights' unit.

    Raises
    ------
    ValueError
        An empty image or non-finite heights.
    """
    z = _heights(image)
    return float(z.max() - z.min())


# ---------------------------------------------------------------------------------------------- distributions
def height_wasserstein(reference: object, test: object, *, center: bool = True) -> float:
    """Wasserstein-1 (earth mover's) distance between the height distributions of two images.

    Parameters
    ----------
    reference, test : array_like
        Heights in one unit (e.g. m); sizes may differ (only the distributions are compared).
    center : bool
        Subtract each image's mean first: AFM height offsets are arbitrary, so by default only the shape of
        the distributions is compared.

    Returns
    -------
    float
        Distance in the heights' unit: the mean height change needed to turn one distribution into the other
        (0 for identical distributions; lower is better).

    Raises
    ------
    ValueError
        An empty image or non-finite heights.
    """
    a = _heights(reference, "reference")
    b = _heights(test, "test")
    if center:
        a, b = a - a.mean(), b - b.mean()
    return float(sps.wasserstein_distance(a, b))


def histogram_intersection(reference: object, test: object, *, bins: int = 256, center: bool = True) -> float:
    """Overlap of the normalised height histograms of two images, on common bins.

    Parameters
    ----------
    reference, test : array_like
        Heights in one unit; sizes may differ.
    bins : int
        Number of equal bins spanning both images' heights together.
    center : bool
        Subtract each image's mean first (see `height_wasserstein`).

    Returns
    -------
    float
        ``Σ min(p_i, q_i)`` of the two normalised histograms: 1 for identical histograms, 0 for disjoint ones
        (higher is better).

    Raises
    ------
    ValueError
        An empty image, non-finite heights, or ``bins < 1``.
    """
    if int(bins) < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    a = _heights(reference, "reference")
    b = _heights(test, "test")
    if center:
        a, b = a - a.mean(), b - b.mean()
    low, high = min(a.min(), b.min()), max(a.max(), b.max())
    if not high > low:
        return 1.0
    edges = np.linspace(low, high, int(bins) + 1)
    p = np.histogram(a, edges)[0] / a.size
    q = np.histogram(b, edges)[0] / b.size
    return float(np.minimum(p, q).sum())


# --------------------------------------------------------------------------------------------------- profile
def _point(value: object, what: str) -> np.ndarray:
    try:
        y, x = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (row, column) in pixels, got {value!r}") from None
    if not (math.isfinite(y) and math.isfinite(x)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return np.array([y, x])


def profile(
    image: object,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    pixel_size: tuple[float, float] | None = None,
    width: int = 1,
    order: int = 1,
) -> Profile:
    """Cross-section of an image along a straight line, averaged over a band of parallel lines.

    Samples are one pixel apart along the line (``ceil(length) + 1`` samples, both end points included, length
    in pixels), interpolated with `scipy.ndimage.map_coordinates`. With ``width > 1`` the profile is the mean
    of `width` parallel lines spaced one pixel apart, perpendicular to the line in physical space (as
    `skimage.measure.profile_line` does for square pixels).

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit.
    start, end : (float, float)
        End points ``(row, column)`` in pixel coordinates (pixel centres at integers; row 0 at the top).
    pixel_size : (float, float), optional
        ``(dy, dx)`` in metres, for distances in metres and a physically perpendicular band; default: pixels.
    width : int
        Number of parallel lines averaged (odd values centre the band on the line).
    order : int
        Spline order of the interpolation (0 nearest, 1 linear, 3 cubic; 0-5).

    Returns
    -------
    Profile
        Distance from `start` (m, or px) and the values; samples outside the image are NaN.

    Raises
    ------
    ValueError
        A non-2-D image, start equal to end, ``width < 1``, or `order` outside 0-5.
    """
    z = np.asarray(image, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"image must be a 2-D array, got shape {z.shape}")
    p0, p1 = _point(start, "start"), _point(end, "end")
    if int(width) < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if int(order) not in range(6):
        raise ValueError(f"order must be an integer 0-5, got {order!r}")
    if pixel_size is None:
        dy, dx = 1.0, 1.0
    else:
        try:
            dy, dx = (float(v) for v in pixel_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"pixel_size must be a pair (dy, dx) in metres or None, got {pixel_size!r}"
            ) from None
        if not (dy > 0 and dx > 0):
            raise ValueError(f"pixel_size must be positive, got {pixel_size!r}")
    delta = p1 - p0
    length_px = float(np.hypot(*delta))
    if length_px == 0:
        raise ValueError("start and end are the same point")
    n = math.ceil(length_px) + 1
    t = np.linspace(0.0, 1.0, n)
    # unit normal in physical space, expressed in pixels, scaled to one pixel of the finer axis
    along = np.array([delta[0] * dy, delta[1] * dx])
    normal_phys = np.array([along[1], -along[0]]) / np.hypot(*along)
    step = min(dy, dx)
    normal_px = normal_phys * step / np.array([dy, dx])
    offsets = np.arange(int(width)) - (int(width) - 1) / 2.0
    rows = p0[0] + t[None, :] * delta[0] + offsets[:, None] * normal_px[0]
    cols = p0[1] + t[None, :] * delta[1] + offsets[:, None] * normal_px[1]
    finite = np.isfinite(z)
    source = np.where(finite, z, np.nanmean(z) if finite.any() else 0.0)
    samples = ndimage.map_coordinates(source, [rows.ravel(), cols.ravel()], order=int(order), mode="nearest")
    samples = samples.reshape(rows.shape)
    eps = 1e-9
    outside = (rows < -eps) | (rows > z.shape[0] - 1 + eps) | (cols < -eps) | (cols > z.shape[1] - 1 + eps)
    if not finite.all():
        touched = ndimage.map_coordinates(
            (~finite).astype(np.float64), [rows.ravel(), cols.ravel()], order=1, mode="nearest"
        ).reshape(rows.shape)
        outside |= touched > 0
    samples[outside] = np.nan
    values = samples.mean(axis=0)
    distance = t * float(np.hypot(*along))
    return Profile(distance, values)
