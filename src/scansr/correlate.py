"""Correlate topography with property channels: global and local correlation, domains and per-domain statistics.

For multichannel scans (PeakForce QNM height + modulus + adhesion, PFM height + amplitude + phase, c-AFM height +
current, ...) measured in one pass, so that the channels are co-registered pixel for pixel:

- `pearson`, `spearman`: pixel-wise correlation with a naive and an *honest* p-value (below);
- `local_correlation`: Pearson's r in a sliding ``w × w`` window, a map;
- `segment_otsu`, `segment_watershed`, `labels_from_mask`, `read_labels`: domains of the topography as a labels
  array;
- `domain_table`: pixel count, area and mean / standard deviation / median of every channel per domain, with
  one-way ANOVA and Kruskal–Wallis tests across domains;
- `joint_histogram`: the data of a 2-D histogram (scatter density) of two channels;
- `correlate_scan`: all of it for one scan, as a `CorrelationResult` with a JSON-ready `to_dict`.

Significance under spatial autocorrelation
------------------------------------------
Neighbouring pixels are not independent: an AFM image of 256 × 256 pixels does not hold 65536 independent
samples, and the textbook p-values (``p_naive``, from a t-test with n − 2 degrees of freedom, as
`scipy.stats.pearsonr` / `scipy.stats.spearmanr` give them) are far too small. For two smooth but *independent*
random fields they reject the null hypothesis "no correlation" at the 5 % level for most pairs. ``p_adjusted``
accounts for the autocorrelation by one of two methods (`SIGNIFICANCE_METHODS`):

``"dutilleul"`` (default)
    Clifford, Richardson & Hémon (1989), *Biometrics* 45:123, with Dutilleul's (1993, *Biometrics* 49:305)
    effective sample size ``n_eff = 1 + 1 / var(r)``, where ``var(r) = Σ_h n(h) Ĉx(h) Ĉy(h) / (n² Ĉx(0) Ĉy(0))``
    sums over every 2-D lag ``h`` (each lag separately: no isotropy is assumed, so the long correlation along scan
    lines is kept) and ``Ĉ`` is the sample autocovariance over the ``n(h)`` pixel pairs at that lag (computed
    with FFTs, missing pixels excluded). Then ``t = r √((n_eff − 2) / (1 − r²))`` with ``n_eff − 2`` degrees of
    freedom. Spearman's ρ uses the same on the ranks. Truncating the sum at half the extent, as is often done,
    made the test liberal for images with row offsets (every pixel of a line shares its offset); the full sum
    did not.
``"toroidal"``
    A randomisation test over every toroidal shift of one image against the other (all ``ny · nx`` shifts,
    evaluated at once by FFT cross-correlation, so deterministic): the shifts keep each image's autocorrelation
    and break the alignment. ``p = #{shifts s: |r(s)| ≥ |r(0)|} / #shifts``; ``n_eff = 1 + 1 / mean r(s)²``.
    Exact when the images are stationary and periodic; real images are not periodic, and the seam makes it
    slightly liberal when the correlation length is a sizeable fraction of the image.

Both assume stationarity: level the topography first (a residual tilt or bow is long-range autocorrelation that
no test can see past), and mind that n_eff is small (tens) for smooth images — that is the honest amount of
evidence. Checked on independent smooth random fields (``tests/test_correlate.py``): about 5 % of p < 0.05 for
either method, while the naive test rejects in most pairs. Upsampling both images (e.g. after enhancement) makes
``p_naive`` smaller still, while ``p_adjusted`` hardly changes.

The per-domain tests (`domain_table`) have the same problem: ``p_naive`` of the ANOVA F test and the
Kruskal–Wallis H test treats pixels as independent. ``p_adjusted`` shifts the property image toroidally over the
fixed labels (all shifts, by FFT) and compares F (for Kruskal–Wallis: F of the ranks) with its shift distribution.
When the domains were segmented from the topography itself, the test of the topography across them is circular.

Conventions: data arguments are 2-D float arrays of one shape in SI units; NaN pixels are missing and left out of
every statistic; a `mask` argument marks the pixels to use (True = use). Labels arrays are integer arrays of the
image's shape; every label ≥ 0 is a domain and negative labels (−1) are pixels in no domain.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import fft as sfft
from scipy import ndimage
from scipy import stats as sps

from scansr._checks import image_2d
from scansr.channels import channel_kind, resolve_channels, split_direction
from scansr.scan import Channel, Scan

__all__ = [
    "MAX_SHIFT_TEST_DOMAINS",
    "SEGMENTATION_METHODS",
    "SIGNIFICANCE_METHODS",
    "WATERSHED_MARKERS",
    "CorrelationResult",
    "CorrelationRow",
    "CorrelationTest",
    "DomainTable",
    "DomainTest",
    "JointHistogram",
    "correlate_scan",
    "domain_table",
    "effective_sample_size",
    "joint_histogram",
    "labels_from_mask",
    "local_correlation",
    "pearson",
    "read_labels",
    "segment_otsu",
    "segment_watershed",
    "spearman",
]

logger = logging.getLogger(__name__)

SIGNIFICANCE_METHODS = ("dutilleul", "toroidal")
SEGMENTATION_METHODS = ("otsu", "watershed")
WATERSHED_MARKERS = ("maxima", "gradient")
MAX_SHIFT_TEST_DOMAINS = 64
"""Above this many domains, `domain_table` leaves ``p_adjusted`` NaN (the shift test costs 4 FFTs per domain)."""

# A toroidal shift counts when at least this fraction of the pixel pairs of shift 0 is valid.
_MIN_OVERLAP = 0.5
_FLAT = 1e-8  # local variance below this fraction of the global variance: the window is flat, r undefined


# --------------------------------------------------------------------------------------------------- checks
def _image(x: Any, what: str) -> np.ndarray:
    return image_2d(x, what, finite=False)


def _pair(x: Any, y: Any, mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xa, ya = _image(x, "x"), _image(y, "y")
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have one shape, got {xa.shape} and {ya.shape}")
    valid = np.isfinite(xa) & np.isfinite(ya)
    if mask is not None:
        valid &= _bool_mask(mask, xa.shape)
    return xa, ya, valid


def _bool_mask(mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise ValueError(f"mask must be a boolean array (True = use the pixel), got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"mask must have the image's shape {shape}, got {array.shape}")
    return array


def _method(significance: str) -> str:
    if significance not in SIGNIFICANCE_METHODS:
        raise ValueError(f"significance must be one of {SIGNIFICANCE_METHODS}, got {significance!r}")
    return significance


def _readonly(array: np.ndarray) -> np.ndarray:
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------- correlation
class CorrelationTest(NamedTuple):
    """A correlation coefficient with its naive and autocorrelation-adjusted significance."""

    statistic: float
    """Pearson's r or Spearman's ρ, in [-1, 1] (NaN when an image is constant)."""
    p_naive: float
    """Two-sided p-value treating the n pixels as independent (meaningless for images; for comparison)."""
    p_adjusted: float
    """Two-sided p-value accounting for spatial autocorrelation (`significance` method); NaN if n_eff < 3."""
    n: int
    """Number of pixel pairs used."""
    n_effective: float
    """Effective number of independent pairs under the method's autocorrelation estimate."""
    significance: str
    """The method of `p_adjusted` (one of `SIGNIFICANCE_METHODS`)."""


def _t_pvalue(r: float, dof: float) -> float:
    if not (math.isfinite(r) and dof > 0):
        return math.nan
    if abs(r) >= 1.0:
        return 0.0
    t = abs(r) * math.sqrt(dof / (1.0 - r * r))
    return float(2.0 * sps.t.sf(t, dof))


def _pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if denominator == 0.0:
        return math.nan
    return float(np.clip(np.dot(xc, yc) / denominator, -1.0, 1.0))


def _dutilleul_variance(xc: np.ndarray, yc: np.ndarray, valid: np.ndarray) -> float:
    """Clifford/Dutilleul estimate of var(r) under the null, summed over every 2-D lag."""
    ny, nx = valid.shape
    # Zero padding to 2L - 1 makes the FFT correlation linear (no wrap-around) for every lag.
    shape = (sfft.next_fast_len(2 * ny - 1, real=True), sfft.next_fast_len(2 * nx - 1, real=True))

    def autocorrelation(a: np.ndarray) -> np.ndarray:
        spectrum = sfft.rfft2(a, shape)
        return sfft.irfft2(spectrum.real**2 + spectrum.imag**2, shape)

    # var(r) does not depend on the units: scale to order 1 (pA² or GPa² sums stay far from under/overflow).
    sx = autocorrelation(np.where(valid, xc / (np.max(np.abs(xc[valid])) or 1.0), 0.0))
    sy = autocorrelation(np.where(valid, yc / (np.max(np.abs(yc[valid])) or 1.0), 0.0))
    pairs = np.rint(autocorrelation(valid.astype(np.float64)))
    keep = pairs > 0
    total = float(np.sum(sx[keep] * sy[keep] / pairs[keep]))
    denominator = float(sx[0, 0]) * float(sy[0, 0])
    return total / denominator if denominator > 0 else math.nan


def _n_effective(variance: float, n: int) -> float:
    if not math.isfinite(variance):  # a constant image
        return math.nan
    # The estimate can come out <= 1/n from sampling noise at large lags (white noise): n_eff is at most n.
    return min(float(n), 1.0 + 1.0 / variance) if variance > 0 else float(n)


def _circular(a_spectrum: np.ndarray, b_spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``c[s] = Σ_i a_i b_(i+s)`` over the torus, from the two rfft2 spectra."""
    return sfft.irfft2(np.conj(a_spectrum) * b_spectrum, shape)


def _toroidal_r(
    x: np.ndarray, y: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r between x and y shifted by every toroidal shift; and which shifts have enough overlap."""
    shape = x.shape

    def standard(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
        values = a[ok]
        scale = values.std() or 1.0
        return np.where(ok, (a - values.mean()) / scale, 0.0)

    xs, ys = standard(x, x_valid), standard(y, y_valid)
    mx, my = x_valid.astype(np.float64), y_valid.astype(np.float64)
    fmx, fx, fxx = sfft.rfft2(mx), sfft.rfft2(xs), sfft.rfft2(xs * xs)
    fmy, fy, fyy = sfft.rfft2(my), sfft.rfft2(ys), sfft.rfft2(ys * ys)
    n = np.rint(_circular(fmx, fmy, shape))
    sx, sy = _circular(fx, fmy, shape), _circular(fmx, fy, shape)
    sxy = _circular(fx, fy, shape)
    sxx, syy = _circular(fxx, fmy, shape), _circular(fmx, fyy, shape)
    use = n >= max(3.0, _MIN_OVERLAP * n[0, 0])
    safe = np.where(use, n, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / safe
        var = (sxx - sx * sx / safe) * (syy - sy * sy / safe)
        r = np.clip(cov / np.sqrt(var), -1.0, 1.0)
    use &= np.isfinite(r) & (var > 0)
    return r, use


def _toroidal(x: np.ndarray, y: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray) -> tuple[float, float]:
    r, use = _toroidal_r(x, y, x_valid, y_valid)
    if not use[0, 0] or use.sum() < 2:
        return math.nan, math.nan
    observed = abs(r[0, 0])
    p = float(np.mean(np.abs(r[use]) >= observed * (1.0 - 1e-9) - 1e-12))
    others = use.copy()
    others[0, 0] = False
    mean_square = float(np.mean(r[others] ** 2))
    return p, (1.0 + 1.0 / mean_square if mean_square > 0 else float(use.sum()))


def _ranks(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(a.shape, np.nan)
    out[ok] = sps.rankdata(a[ok])
    return out


def _test(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    significance: str,
    *,
    ranks: bool,
    mask: np.ndarray | None,
) -> CorrelationTest:
    n = int(valid.sum())
    if n < 3:
        raise ValueError(f"x and y need at least 3 pixels that are finite in both (and in the mask), got {n}")
    xv, yv = (_ranks(x, valid), _ranks(y, valid)) if ranks else (x, y)
    r = _pearson_r(xv[valid], yv[valid])
    p_naive = _t_pvalue(r, n - 2)
    if significance == "dutilleul":
        variance = _dutilleul_variance(
            np.where(valid, xv - xv[valid].mean(), 0.0), np.where(valid, yv - yv[valid].mean(), 0.0), valid
        )
        n_eff = _n_effective(variance, n)
        p_adjusted = _t_pvalue(r, n_eff - 2.0) if n_eff >= 3.0 else math.nan
    else:
        x_ok, y_ok = np.isfinite(x), np.isfinite(y)
        if mask is not None:
            x_ok, y_ok = x_ok & mask, y_ok & mask
        xt, yt = (_ranks(x, x_ok), _ranks(y, y_ok)) if ranks else (x, y)
        p_adjusted, n_eff = _toroidal(xt, yt, x_ok, y_ok)
        if not math.isfinite(r):
            p_adjusted = math.nan
    if n_eff < 3.0:
        logger.warning("the images hold fewer than 3 effectively independent samples (n_eff = %.2f)", n_eff)
    return CorrelationTest(r, p_naive, p_adjusted, n, n_eff, significance)


def pearson(x: Any, y: Any, *, mask: Any = None, significance: str = "dutilleul") -> CorrelationTest:
    """Pixel-wise Pearson correlation of two co-registered images, with an autocorrelation-adjusted p-value.

    Parameters
    ----------
    x, y : array_like, shape (ny, nx)
        The two images (e.g. height in m and adhesion in N). Pixels where either is NaN are left out.
    mask : array_like of bool, optional
        Pixels to use (True = use); default all.
    significance : {"dutilleul", "toroidal"}
        Method of ``p_adjusted`` (see the module docstring).

    Returns
    -------
    CorrelationTest
        r, ``p_naive`` (independent pixels; for comparison only), ``p_adjusted``, n and n_effective.

    Raises
    ------
    ValueError
        If the shapes differ or are not 2-D, the mask is not boolean of that shape, `significance` is unknown,
        or fewer than 3 pixels are usable.
    """
    xa, ya, valid = _pair(x, y, mask)
    m = None if mask is None else _bool_mask(mask, xa.shape)
    return _test(xa, ya, valid, _method(significance), ranks=False, mask=m)


def spearman(x: Any, y: Any, *, mask: Any = None, significance: str = "dutilleul") -> CorrelationTest:
    """Pixel-wise Spearman rank correlation of two co-registered images, with an adjusted p-value.

    Spearman's ρ is Pearson's r of the ranks (ties get their average rank), so it measures a monotone, not
    necessarily linear, relation. ``p_adjusted`` applies the `significance` method to the rank images.

    Parameters
    ----------
    x, y : array_like, shape (ny, nx)
        The two images. Pixels where either is NaN are left out.
    mask : array_like of bool, optional
        Pixels to use (True = use); default all.
    significance : {"dutilleul", "toroidal"}
        Method of ``p_adjusted``. For ``"toroidal"`` each image is ranked over its own finite pixels.

    Returns
    -------
    CorrelationTest

    Raises
    ------
    ValueError
        As `pearson`.
    """
    xa, ya, valid = _pair(x, y, mask)
    m = None if mask is None else _bool_mask(mask, xa.shape)
    return _test(xa, ya, valid, _method(significance), ranks=True, mask=m)


def effective_sample_size(x: Any, y: Any, *, mask: Any = None) -> float:
    """Dutilleul's effective number of independent pixel pairs for correlating `x` with `y`.

    ``n_eff = 1 + 1 / var(r)`` with var(r) estimated from the two images' sample autocovariances
    (Clifford et al. 1989; Dutilleul 1993; see the module docstring). Between 1 and n: about n for white noise,
    roughly ``n / (correlation area in pixels)`` for smooth images.

    Parameters
    ----------
    x, y : array_like, shape (ny, nx)
        The two images; NaN pixels are left out.
    mask : array_like of bool, optional
        Pixels to use (True = use).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        As `pearson`.
    """
    xa, ya, valid = _pair(x, y, mask)
    n = int(valid.sum())
    if n < 3:
        raise ValueError(f"x and y need at least 3 pixels that are finite in both, got {n}")
    variance = _dutilleul_variance(
        np.where(valid, xa - xa[valid].mean(), 0.0), np.where(valid, ya - ya[valid].mean(), 0.0), valid
    )
    return _n_effective(variance, n)


# --------------------------------------------------------------------------------------------------- local maps
def _window(window: Any) -> int:
    if not isinstance(window, numbers.Integral) or isinstance(window, bool) or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3 (pixels), got {window!r}")
    return int(window)


def local_correlation(x: Any, y: Any, *, window: int, mask: Any = None) -> np.ndarray:
    """Map of Pearson's r between `x` and `y` in a sliding ``window × window`` pixel window.

    Computed in O(N) from box filters of x, y, x², y² and xy (`scipy.ndimage.uniform_filter`), after scaling each
    image to zero mean and unit variance (so that nanometre heights lose no precision). Windows are truncated at
    the image edges (the statistics use the pixels inside the image) and skip missing pixels.

    Parameters
    ----------
    x, y : array_like, shape (ny, nx)
        The two images; NaN pixels are left out.
    window : int
        Window side in pixels, odd, >= 3.
    mask : array_like of bool, optional
        Pixels to use (True = use).

    Returns
    -------
    numpy.ndarray, shape (ny, nx)
        r of the window centred on each pixel, in [-1, 1]; NaN where the window holds fewer than ``window² / 4``
        usable pixels, or where either image is flat in it (local variance below 1e-8 of the image's variance).

    Raises
    ------
    ValueError
        If the shapes differ, `window` is not an odd integer >= 3, or no pixel is usable.
    """
    w = _window(window)
    xa, ya, valid = _pair(x, y, mask)
    if not valid.any():
        raise ValueError("x and y have no pixel that is finite in both")
    weight = valid.astype(np.float64)

    def standard(a: np.ndarray) -> np.ndarray:
        values = a[valid]
        scale = values.std() or 1.0
        return np.where(valid, (a - values.mean()) / scale, 0.0)

    xs, ys = standard(xa), standard(ya)

    def box(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(a, size=w, mode="constant", cval=0.0)

    count = box(weight)
    enough = count * (w * w) >= (w * w) / 4.0 - 1e-9
    safe = np.where(enough, count, 1.0)
    mean_x, mean_y = box(xs) / safe, box(ys) / safe
    var_x = box(xs * xs) / safe - mean_x**2
    var_y = box(ys * ys) / safe - mean_y**2
    cov = box(xs * ys) / safe - mean_x * mean_y
    defined = enough & (var_x > _FLAT) & (var_y > _FLAT)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(var_x * var_y)
    return np.where(defined, np.clip(r, -1.0, 1.0), np.nan)


# --------------------------------------------------------------------------------------------------- histogram
class JointHistogram(NamedTuple):
    """2-D histogram of paired values (the data of a scatter-density plot)."""

    counts: np.ndarray
    """Pixel counts, shape ``(bins, bins)``, indexed ``[x_bin, y_bin]`` as `numpy.histogram2d` (transpose for
    ``imshow``/``pcolormesh`` with x horizontal)."""
    x_edges: np.ndarray
    """Bin edges along x, in x's unit, length bins + 1."""
    y_edges: np.ndarray
    """Bin edges along y, in y's unit, length bins + 1."""


def joint_histogram(
    x: Any, y: Any, *, bins: int = 128, range: tuple[tuple[float, float], tuple[float, float]] | None = None
) -> JointHistogram:
    """2-D histogram of two co-registered images (pairs with a NaN are left out).

    The same binning as `scansr.report.figures.scatter_figure` uses for its ``"hist2d"`` style
    (`numpy.histogram2d` of the finite pairs, equal-width bins over the data range).

    Parameters
    ----------
    x, y : array_like
        Paired values of one shape (flattened), in SI units.
    bins : int
        Bins per axis, >= 2.
    range : ((float, float), (float, float)), optional
        ``((x_min, x_max), (y_min, y_max))``; default: the range of the finite pairs.

    Returns
    -------
    JointHistogram

    Raises
    ------
    ValueError
        If the shapes differ, `bins` is not an integer >= 2, or fewer than two finite pairs remain.
    """
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have one shape, got {xs.shape} and {ys.shape}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    if keep.sum() < 2:
        raise ValueError(f"x and y need at least two finite pairs, got {int(keep.sum())}")
    counts, x_edges, y_edges = np.histogram2d(xs[keep], ys[keep], bins=int(bins), range=range)
    return JointHistogram(counts.astype(np.int64), x_edges, y_edges)


# --------------------------------------------------------------------------------------------------- segmentation
def _fill_missing(height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(height)
    if not finite.any():
        raise ValueError("height has no finite value")
    return np.where(finite, height, np.median(height[finite])), finite


def _smooth(height: np.ndarray, sigma: Any) -> np.ndarray:
    if not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"smooth must be a finite number >= 0 (Gaussian sigma in pixels), got {sigma!r}")
    return ndimage.gaussian_filter(height, float(sigma)) if sigma > 0 else height


def segment_otsu(height: Any, *, classes: int = 2, smooth: float = 0.0) -> np.ndarray:
    """Domains by height thresholds: Otsu's threshold, or multi-Otsu for more than two classes.

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Topography (levelled: thresholds on a tilted image cut the tilt).
    classes : int
        Number of height classes, 2 to 5 (`skimage.filters.threshold_multiotsu`).
    smooth : float
        Gaussian sigma in pixels applied before thresholding, against speckle at the boundaries; 0 = none.

    Returns
    -------
    numpy.ndarray of int64, shape (ny, nx)
        0 for the lowest class up to ``classes - 1`` for the highest; -1 where `height` is NaN.

    Raises
    ------
    ValueError
        If `height` is not 2-D, `classes` is not in 2..5, `smooth` is negative, or the height is constant.
    """
    from skimage.filters import threshold_multiotsu

    if not isinstance(classes, numbers.Integral) or isinstance(classes, bool) or not 2 <= classes <= 5:
        raise ValueError(f"classes must be an integer from 2 to 5, got {classes!r}")
    z, finite = _fill_missing(_image(height, "height"))
    z = _smooth(z, smooth)
    values = z[finite]
    if np.ptp(values) == 0:
        raise ValueError("height is constant: there are no height classes to find")
    thresholds = threshold_multiotsu(values, classes=int(classes))
    labels = np.digitize(z, thresholds).astype(np.int64)
    labels[~finite] = -1
    return labels


def segment_watershed(
    height: Any, *, markers: str = "maxima", smooth: float = 1.0, h: float | None = None
) -> np.ndarray:
    """Domains by watershed: hills (grains) around height maxima, or plateaus between height steps.

    ``markers="maxima"``: one domain per hill — the markers are the h-maxima of the (smoothed) height, the
    watershed floods the inverted height, so every pixel joins the hill it drains from (grain segmentation).
    ``markers="gradient"``: one domain per flat region — the markers are the h-minima of the gradient magnitude
    (Sobel), the watershed floods the gradient, so boundaries follow steps and edges (terraces, islands).

    Parameters
    ----------
    height : array_like, shape (ny, nx)
        Topography, in its unit (m).
    markers : {"maxima", "gradient"}
        How markers are found.
    smooth : float
        Gaussian sigma in pixels applied first (noise makes spurious markers); 0 = none.
    h : float, optional
        Minimum dynamic of a marker: for ``"maxima"`` a hill must rise `h` (in the height's unit) above the saddle
        to its neighbour; for ``"gradient"`` a flat region must lie `h` (height unit per pixel) below the
        surrounding gradient. Default: 10 % of the 1st–99th percentile range of the smoothed height (of its
        gradient).

    Returns
    -------
    numpy.ndarray of int64, shape (ny, nx)
        Domains 0, 1, ... (in the order of their markers, row by row); -1 where `height` is NaN.

    Raises
    ------
    ValueError
        If `height` is not 2-D or constant, `markers` is unknown, `smooth` is negative or `h` not positive.
    """
    from skimage.filters import sobel
    from skimage.measure import label
    from skimage.morphology import h_maxima, h_minima
    from skimage.segmentation import watershed

    if markers not in WATERSHED_MARKERS:
        raise ValueError(f"markers must be one of {WATERSHED_MARKERS}, got {markers!r}")
    if h is not None and (not isinstance(h, numbers.Real) or not math.isfinite(h) or h <= 0):
        raise ValueError(f"h must be a positive number or None, got {h!r}")
    z, finite = _fill_missing(_image(height, "height"))
    z = _smooth(z, smooth)
    if np.ptp(z[finite]) == 0:
        raise ValueError("height is constant: there are no domains to find")
    surface = -z if markers == "maxima" else sobel(z)
    values = (z if markers == "maxima" else surface)[finite]
    low, high = np.percentile(values, [1, 99])
    dynamic = float(h) if h is not None else 0.1 * float(high - low) or float(np.ptp(values)) * 0.1
    # h_maxima/h_minima are exact on float images; scale to order 1 so that tiny metre values keep precision.
    scale = float(np.ptp(values)) or 1.0
    find = h_maxima if markers == "maxima" else h_minima
    seeds = find((z if markers == "maxima" else surface) / scale, dynamic / scale)
    seeds = label(seeds.astype(bool) & finite, connectivity=2)
    labels = watershed(surface, seeds, mask=finite).astype(np.int64) - 1
    labels[~finite] = -1
    return labels


def labels_from_mask(mask: Any, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Turn a user's mask or labels array into a labels array.

    Parameters
    ----------
    mask : array_like, shape (ny, nx)
        Boolean (False -> domain 0, True -> domain 1), or integer labels (negative = no domain), or float labels
        with integral values and NaN for no domain.
    shape : (int, int), optional
        The image's shape, checked when given.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    ValueError
        If the array is not 2-D, has another shape than `shape`, or holds non-integral values.
    """
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"mask must be a 2-D array, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"mask must have the image's shape {tuple(shape)}, got {array.shape}")
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if np.any(array[finite] != np.round(array[finite])):
            raise ValueError("a labels array must hold integers (or NaN for no domain); it holds fractions")
        return np.where(finite, array, -1).astype(np.int64)
    raise ValueError(f"mask must be a boolean or integer array, got dtype {array.dtype}")


def read_labels(path: str | Path, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a domain mask or labels image drawn or exported elsewhere.

    ``.npy``; ``.npz`` (the array ``labels`` or ``mask``, or its only array) — values as in `labels_from_mask`.
    Images (``.png``, ``.tif``/``.tiff``, ``.bmp``): each distinct grey level or colour becomes one domain,
    numbered 0, 1, ... in increasing order of value (black = 0; a black/white mask gives 0/1). Row 0 is the top
    row, as in scans.

    Parameters
    ----------
    path : str or Path
        The file.
    shape : (int, int), optional
        The image's shape, checked when given.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    ValueError
        If the file cannot be read, has an unknown suffix, holds several arrays none named ``labels``/``mask``,
        or has the wrong shape.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if suffix == ".npy":
        return labels_from_mask(np.load(path, allow_pickle=False), shape=shape)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            key = next((k for k in ("labels", "mask") if k in names), names[0] if len(names) == 1 else None)
            if key is None:
                raise ValueError(f"{path}: holds arrays {names}; name the one to use 'labels' or 'mask'")
            return labels_from_mask(archive[key], shape=shape)
    if suffix in (".png", ".tif", ".tiff", ".bmp"):
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"{path}: not a readable image")
        if image.ndim == 3:
            flat = image.reshape(-1, image.shape[2]).astype(np.int64)
            packed = np.zeros(flat.shape[0], dtype=np.int64)
            for channel in range(flat.shape[1]):
                packed = packed * 65536 + flat[:, channel]
            image = packed.reshape(image.shape[:2])
        _, labels = np.unique(image, return_inverse=True)
        return labels_from_mask(labels.reshape(image.shape).astype(np.int64), shape=shape)
    raise ValueError(f"{path}: labels files must be .npy, .npz, .png, .tif, .tiff or .bmp, got {suffix!r}")


# --------------------------------------------------------------------------------------------------- domains
class DomainTest(NamedTuple):
    """Tests of one channel's differences across domains."""

    channel: str
    n_domains: int
    """Domains with at least one finite pixel of the channel."""
    anova_f: float
    anova_p_naive: float
    """One-way ANOVA p treating pixels as independent (`scipy.stats.f_oneway`)."""
    anova_p_adjusted: float
    """Toroidal-shift randomisation p of F (module docstring); NaN above `MAX_SHIFT_TEST_DOMAINS` domains."""
    kruskal_h: float
    kruskal_p_naive: float
    """Kruskal–Wallis p treating pixels as independent (`scipy.stats.kruskal`)."""
    kruskal_p_adjusted: float
    """Toroidal-shift randomisation p of the rank F statistic; NaN above `MAX_SHIFT_TEST_DOMAINS` domains."""


@dataclass(frozen=True, eq=False)
class DomainTable:
    """Per-domain statistics of several channels.

    Arrays are indexed ``[domain, channel]`` in the order of `labels` and `channels`; values in each channel's
    SI unit (`units`). NaN where a domain holds no finite pixel of a channel (std: fewer than two).
    """

    labels: tuple[int, ...]
    n_pixels: tuple[int, ...]
    area: tuple[float, ...]
    """Domain areas in m² (pixel count × dy × dx); NaN without a pixel size."""
    fraction: tuple[float, ...]
    """Share of the labelled pixels in each domain."""
    channels: tuple[str, ...]
    units: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    """Sample standard deviation (ddof = 1)."""
    median: np.ndarray
    tests: tuple[DomainTest, ...]
    """One per channel, in the order of `channels`."""

    def rows(self) -> list[dict[str, Any]]:
        """One dict per domain: label, n_pixels, area_m2, fraction, and per channel mean / std / median."""
        out = []
        for i, label in enumerate(self.labels):
            row: dict[str, Any] = {
                "label": label,
                "n_pixels": self.n_pixels[i],
                "area_m2": _json_float(self.area[i]),
                "fraction": _json_float(self.fraction[i]),
            }
            for j, name in enumerate(self.channels):
                row[name] = {
                    "unit": self.units[j],
                    "mean": _json_float(self.mean[i, j]),
                    "std": _json_float(self.std[i, j]),
                    "median": _json_float(self.median[i, j]),
                }
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (NaN as None)."""
        return {
            "domains": self.rows(),
            "tests": [
                {k: (_json_float(v) if isinstance(v, float) else v) for k, v in t._asdict().items()}
                for t in self.tests
            ],
            "note": (
                "p_naive treats pixels as independent and is far too small for images; p_adjusted is a "
                "toroidal-shift randomisation test of the property image against the fixed domains"
            ),
        }


def _shift_f(
    labels: np.ndarray, domains: Sequence[int], y: np.ndarray, y_ok: np.ndarray
) -> tuple[float, float]:
    """One-way ANOVA F of y across fixed domains for every toroidal shift of y; (observed F, p)."""
    shape = y.shape
    values = y[y_ok]
    ys = np.where(y_ok, (y - values.mean()) / (values.std() or 1.0), 0.0)
    fm, fy, fyy = sfft.rfft2(y_ok.astype(np.float64)), sfft.rfft2(ys), sfft.rfft2(ys * ys)
    n_total = np.zeros(shape)
    s_total = np.zeros(shape)
    q_total = np.zeros(shape)
    between = np.zeros(shape)
    for d in domains:
        indicator = sfft.rfft2((labels == d).astype(np.float64))
        n_d = np.rint(_circular(indicator, fm, shape))
        s_d = _circular(indicator, fy, shape)
        n_total += n_d
        s_total += s_d
        q_total += _circular(indicator, fyy, shape)
        between += np.where(n_d > 0, s_d * s_d / np.where(n_d > 0, n_d, 1.0), 0.0)
    k = len(domains)
    use = n_total >= max(k + 1.0, _MIN_OVERLAP * n_total[0, 0])
    safe = np.where(use, n_total, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss_between = between - s_total**2 / safe
        ss_within = q_total - between
        f = (ss_between / (k - 1)) / (ss_within / (safe - k))
    use &= np.isfinite(f)
    if not use[0, 0]:
        return math.nan, math.nan
    observed = float(f[0, 0])
    p = float(np.mean(f[use] >= observed * (1.0 - 1e-9)))
    return observed, p


def _groups(labels: np.ndarray, domains: Sequence[int], data: np.ndarray) -> list[np.ndarray]:
    """Return the finite values of `data` per domain, in the order of `domains` (one sort, not a pass each)."""
    ok = np.isfinite(data) & (labels >= 0)
    keys, values = labels[ok], data[ok]
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.searchsorted(keys, domains, side="left")
    ends = np.searchsorted(keys, domains, side="right")
    return [values[a:b] for a, b in zip(starts, ends, strict=True)]


def _domain_tests(
    name: str, labels: np.ndarray, domains: Sequence[int], data: np.ndarray, groups: list[np.ndarray]
) -> DomainTest:
    present = [d for d, g in zip(domains, groups, strict=True) if g.size]
    groups = [g for g in groups if g.size]
    nan = math.nan
    if len(groups) < 2:
        return DomainTest(name, len(groups), nan, nan, nan, nan, nan, nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            anova = sps.f_oneway(*groups)
            try:
                kruskal = sps.kruskal(*groups)
                h, p_h = float(kruskal.statistic), float(kruskal.pvalue)
            except ValueError:  # all values identical
                h, p_h = nan, nan
    f, p_f = float(anova.statistic), float(anova.pvalue)
    if len(present) > MAX_SHIFT_TEST_DOMAINS:
        logger.warning(
            "%s: %d domains; the shift test is skipped above %d domains (p_adjusted = NaN)",
            name, len(present), MAX_SHIFT_TEST_DOMAINS,
        )  # fmt: skip
        return DomainTest(name, len(groups), f, p_f, nan, h, p_h, nan)
    finite = np.isfinite(data)
    _, p_f_adjusted = _shift_f(labels, present, data, finite)
    _, p_h_adjusted = _shift_f(labels, present, _ranks(data, finite), finite)
    if not math.isfinite(f):
        p_f_adjusted = nan
    if not math.isfinite(h):
        p_h_adjusted = nan
    return DomainTest(name, len(groups), f, p_f, p_f_adjusted, h, p_h, p_h_adjusted)


def domain_table(scan: Scan, labels: Any, *, channels: Sequence[str] | None = None) -> DomainTable:
    """Per-domain statistics of each channel, with tests across domains.

    Parameters
    ----------
    scan : Scan
        The scan (co-registered channels in SI units).
    labels : array_like of int, shape (ny, nx)
        Domains (labels >= 0; negative = no domain), e.g. from `segment_otsu`.
    channels : sequence of str, optional
        Channel names to tabulate (exact, or in another case); default every channel.

    Returns
    -------
    DomainTable

    Raises
    ------
    ValueError
        If `labels` does not match the scan's shape or holds no domain.
    UnknownChannelError
        If a channel is not in the scan (the message lists the channels).
    """
    label_array = labels_from_mask(labels, shape=scan.shape)
    domains = [int(d) for d in np.unique(label_array) if d >= 0]
    if not domains:
        raise ValueError("labels hold no domain (every label is negative)")
    names = scan.names if channels is None else tuple(scan.channel(n).name for n in channels)
    flat = label_array.ravel()
    in_domain = flat >= 0
    counts = np.bincount(flat[in_domain])[domains]
    total = int(counts.sum())
    pixel_area = math.nan if scan.pixel_size is None else scan.pixel_size[0] * scan.pixel_size[1]
    mean = np.full((len(domains), len(names)), np.nan)
    std, median = mean.copy(), mean.copy()
    tests = []
    for j, name in enumerate(names):
        data = scan.channel(name).data
        groups = _groups(label_array, domains, data)
        for i, values in enumerate(groups):
            if values.size:
                mean[i, j] = values.mean()
                median[i, j] = np.median(values)
            if values.size > 1:
                std[i, j] = values.std(ddof=1)
        tests.append(_domain_tests(name, label_array, domains, data, groups))
    return DomainTable(
        labels=tuple(domains),
        n_pixels=tuple(int(c) for c in counts),
        area=tuple(float(c) * pixel_area for c in counts),
        fraction=tuple(float(c) / total for c in counts),
        channels=tuple(names),
        units=tuple(scan.channel(n).unit for n in names),
        mean=_readonly(mean),
        std=_readonly(std),
        median=_readonly(median),
        tests=tuple(tests),
    )


# --------------------------------------------------------------------------------------------------- one scan
class CorrelationRow(NamedTuple):
    """Global correlation of the topography with one property channel."""

    property: str
    unit: str
    pearson_r: float
    pearson_p_naive: float
    pearson_p_adjusted: float
    spearman_rho: float
    spearman_p_naive: float
    spearman_p_adjusted: float
    n: int
    """Pixel pairs used."""
    n_effective: float
    """Effective independent pairs for Pearson's r (for ρ: `n_effective_spearman`)."""
    n_effective_spearman: float


@dataclass(frozen=True, eq=False)
class CorrelationResult:
    """Topography–property correlation analysis of one scan (`correlate_scan`)."""

    topography: str
    """Name of the topography channel."""
    topography_unit: str
    rows: tuple[CorrelationRow, ...]
    """One per property, in the order asked."""
    local_maps: Mapping[str, np.ndarray]
    """Property name -> local Pearson r map (read-only, shape of the scan; NaN where undefined)."""
    window: int
    """Side of the local-correlation window, pixels."""
    labels: np.ndarray
    """Domain labels (read-only int64; -1 = no domain)."""
    segmentation: str
    """How `labels` were made: ``"otsu"``, ``"watershed"`` or ``"mask"`` (given by the user)."""
    domains: DomainTable
    """Per-domain statistics of the topography and every property."""
    significance: str
    """Method of the adjusted p-values (one of `SIGNIFICANCE_METHODS`)."""
    pixel_size: tuple[float, float] | None
    source: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The options of the run (JSON-serialisable), for the record."""

    @property
    def properties(self) -> tuple[str, ...]:
        """Property channel names, in the order asked."""
        return tuple(r.property for r in self.rows)

    def row(self, name: str) -> CorrelationRow:
        """Return the row of property `name`.

        Raises
        ------
        KeyError
            If `name` is not one of the properties.
        """
        for r in self.rows:
            if r.property == name:
                return r
        raise KeyError(f"no property {name!r}; the properties are {list(self.properties)}")

    def local_map_scans(self) -> dict[str, Scan]:
        """Return the local-correlation maps as scans titled ``"local r: <property>"`` (for ``map_figure``).

        Each scan holds one channel ``"r(<topography>, <property>)"`` (unit ``""``) on the analysed pixel grid.
        """
        return {
            f"local r: {name}": Scan(
                (Channel(f"r({self.topography}, {name})", r_map, ""),), self.pixel_size, source=self.source
            )
            for name, r_map in self.local_maps.items()
        }

    def labels_scan(self) -> Scan:
        """Return the domain labels as a one-channel scan ``"Domains"`` (float, NaN where no domain)."""
        labels = np.where(self.labels >= 0, self.labels, np.nan)
        return Scan((Channel("Domains", labels, ""),), self.pixel_size, source=self.source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary: parameters, the global table, local-map summaries, the domain table."""
        maps = {}
        for name, r_map in self.local_maps.items():
            finite = r_map[np.isfinite(r_map)]
            maps[name] = {
                "finite_fraction": float(finite.size / r_map.size),
                "mean": _json_float(finite.mean()) if finite.size else None,
                "median": _json_float(np.median(finite)) if finite.size else None,
                "p05": _json_float(np.percentile(finite, 5)) if finite.size else None,
                "p95": _json_float(np.percentile(finite, 95)) if finite.size else None,
                "fraction_above_0.5": float(np.mean(finite > 0.5)) if finite.size else None,
                "fraction_below_-0.5": float(np.mean(finite < -0.5)) if finite.size else None,
            }
        return {
            "source": self.source,
            "topography": self.topography,
            "topography_unit": self.topography_unit,
            "pixel_size_m": list(self.pixel_size) if self.pixel_size else None,
            "significance": self.significance,
            "window_px": self.window,
            "segmentation": self.segmentation,
            "parameters": dict(self.parameters),
            "correlations": [
                {k: (_json_float(v) if isinstance(v, float) else v) for k, v in r._asdict().items()}
                for r in self.rows
            ],
            "local_correlation": maps,
            "domains": self.domains.to_dict(),
            "note": (
                "p_naive treats every pixel as independent and is meaningless for images; p_adjusted accounts "
                f"for spatial autocorrelation ({self.significance}); n_effective is the honest sample size"
            ),
        }


def _default_properties(scan: Scan, topography: str) -> list[str]:
    top = scan.channel(topography)
    direction = top.direction if top.direction is not None else split_direction(top.name)[1]
    out = []
    for c in scan.channels:
        kind = channel_kind(c)
        d = c.direction if c.direction is not None else split_direction(c.name)[1]
        if c.name == topography or (kind is not None and kind.kind == "height"):
            continue
        if direction is not None and d is not None and d != direction:
            continue
        out.append(c.name)
    return out


def correlate_scan(
    scan: Scan,
    *,
    topography: str,
    properties: Sequence[str] | None = None,
    window: int = 15,
    segmentation: str | Any = "otsu",
    classes: int = 2,
    significance: str = "dutilleul",
    prefer_direction: str | None = "trace",
) -> CorrelationResult:
    """Correlate a scan's topography with its property channels: global, local, and per domain.

    Parameters
    ----------
    scan : Scan
        Co-registered channels on one grid (for an enhanced topography, upsample the properties to its grid
        first). Level the topography first: a tilt dominates every statistic here.
    topography : str
        The topography channel: a channel name or a kind (``"height"``), resolved with the properties by
        `scansr.channels.resolve_channels` (one scan direction where possible).
    properties : sequence of str, optional
        Property channels (names or kinds such as ``"adhesion"``, ``"modulus"``); default: every channel of the
        topography's direction that is not a height channel.
    window : int
        Side of the local-correlation window in pixels (odd, >= 3).
    segmentation : {"otsu", "watershed"} or array_like
        Domains: multi-Otsu height classes (`segment_otsu` with `classes`), watershed hills
        (`segment_watershed` with its defaults), or a user's mask / labels array of the scan's shape
        (`labels_from_mask`; e.g. from `read_labels`).
    classes : int
        Height classes for ``"otsu"`` (2..5).
    significance : {"dutilleul", "toroidal"}
        Method of the adjusted p-values (module docstring).
    prefer_direction : {"trace", "retrace"} or None
        Passed to `resolve_channels`.

    Returns
    -------
    CorrelationResult

    Raises
    ------
    UnknownChannelError
        If a channel is not in the scan; the message lists the channels and the canonical names.
    ValueError
        For an invalid option (window, segmentation, classes, significance), a labels array of the wrong shape,
        no property channel, or a property that is the topography itself.
    """
    _window(window)
    _method(significance)
    if properties is not None and (isinstance(properties, str) or not properties):
        raise ValueError(
            f"properties must be a non-empty sequence of channel names or None, got {properties!r}"
        )
    if properties is None:
        top_name = resolve_channels(scan, [topography], prefer_direction=prefer_direction)[0]
        names = [top_name, *_default_properties(scan, top_name)]
        if len(names) < 2:
            raise ValueError(f"the scan has no property channel besides {top_name!r}: {list(scan.names)}")
    else:
        names = list(resolve_channels(scan, [topography, *properties], prefer_direction=prefer_direction))
    top_name, prop_names = names[0], names[1:]
    height = scan.channel(top_name).data

    if isinstance(segmentation, str):
        if segmentation not in SEGMENTATION_METHODS:
            raise ValueError(
                f"segmentation must be one of {SEGMENTATION_METHODS} or a labels array, got {segmentation!r}"
            )
        labels = (
            segment_otsu(height, classes=classes) if segmentation == "otsu" else segment_watershed(height)
        )
        how = segmentation
    else:
        labels = labels_from_mask(segmentation, shape=scan.shape)
        how = "mask"

    rows, maps = [], {}
    for name in prop_names:
        data = scan.channel(name).data
        p = pearson(height, data, significance=significance)
        s = spearman(height, data, significance=significance)
        rows.append(
            CorrelationRow(
                property=name,
                unit=scan.channel(name).unit,
                pearson_r=p.statistic,
                pearson_p_naive=p.p_naive,
                pearson_p_adjusted=p.p_adjusted,
                spearman_rho=s.statistic,
                spearman_p_naive=s.p_naive,
                spearman_p_adjusted=s.p_adjusted,
                n=p.n,
                n_effective=p.n_effective,
                n_effective_spearman=s.n_effective,
            )
        )
        maps[name] = _readonly(local_correlation(height, data, window=window))
    table = domain_table(scan, labels, channels=[top_name, *prop_names])
    return CorrelationResult(
        topography=top_name,
        topography_unit=scan.channel(top_name).unit,
        rows=tuple(rows),
        local_maps=maps,
        window=int(window),
        labels=_readonly(labels),
        segmentation=how,
        domains=table,
        significance=significance,
        pixel_size=scan.pixel_size,
        source=None if scan.source is None else str(scan.source),
        parameters={
            "topography": topography,
            "properties": None if properties is None else list(properties),
            "window": int(window),
            "segmentation": how,
            "classes": int(classes) if how == "otsu" else None,
            "significance": significance,
            "prefer_direction": prefer_direction,
        },
    )
