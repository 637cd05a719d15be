"""Full-reference fidelity metrics: MSE, NRMSE, PSNR and SSIM.

Every function compares a `test` image against a `reference` of the same shape, in the same physical unit.
``data_range`` (PSNR, SSIM) is the span of values the data can take, in the data's unit (e.g. ``12e-9`` m
for a scan with 12 nm of relief, ``255`` for 8-bit images); it is always given explicitly, never guessed from
the dtype, because a float height map in metres has no natural range.

SSIM convention
    `ssim` is Wang, Bovik, Sheikh & Simoncelli (2004) as in the authors' reference code ``ssim_index.m``:
    an ``11 × 11`` Gaussian window with ``σ = 1.5`` normalised to sum 1, ``'valid'`` filtering (the map only
    where the window lies inside the image, so no padding enters it), population (biased) local variances,
    ``C1 = (k1 · L)²``, ``C2 = (k2 · L)²`` with ``k1 = 0.01``, ``k2 = 0.03`` and ``L = data_range``, and the
    mean of the map. On 8-bit colour images the reference values (``results_official.csv`` of the IQA
    calibration set) are reproduced to 1e-4 by SSIM on MATLAB ``rgb2gray`` grey levels *without* the
    automatic ``f = round(min(M, N) / 256)`` down-sampling that the later ``ssim.m`` (2009) adds; that
    down-sampling is available as ``downsample=True``. See `scansr.metrics.color.compare_images`.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

__all__ = ["NRMSE_NORMALIZATIONS", "mse", "nrmse", "psnr", "ssim"]

logger = logging.getLogger(__name__)

NRMSE_NORMALIZATIONS = ("euclidean", "min-max", "mean")


# --------------------------------------------------------------------------------------------------- checks
def _pair(reference: object, test: object) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"reference and test must have the same shape, got {ref.shape} and {tst.shape}")
    if ref.size == 0:
        raise ValueError(f"images must not be empty, got shape {ref.shape}")
    for name, array in (("reference", ref), ("test", tst)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf); fill or crop them first")
    return ref, tst


def _check_range(data_range: object) -> float:
    try:
        value = float(data_range)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return value


# --------------------------------------------------------------------------------------------------- metrics
def mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error between two images.

    Parameters
    ----------
    reference, test : array_like
        Images of the same shape, in the same unit.

    Returns
    -------
    float
        ``mean((test - reference)²)`` in the square of the data's unit.

    Raises
    ------
    ValueError
        If the shapes differ, the images are empty, or they hold NaN / inf.
    """
    ref, tst = _pair(reference, test)
    return float(np.mean((tst - ref) ** 2))


def nrmse(reference: np.ndarray, test: np.ndarray, *, normalization: str = "euclidean") -> float:
    """Normalised root-mean-square error (dimensionless), as scikit-image's ``normalized_root_mse``.

    Parameters
    ----------
    reference, test : array_like
        Images of the same shape, in the same unit.
    normalization : {"euclidean", "min-max", "mean"}
        Denominator: ``sqrt(mean(reference²))``, ``max(reference) - min(reference)`` or ``mean(reference)``.

    Returns
    -------
    float
        ``sqrt(mse) / denominator``.

    Raises
    ------
    ValueError
        If `normalization` is unknown, the shapes differ, the images hold NaN / inf, or the denominator is 0.
    """
    if normalization not in NRMSE_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NRMSE_NORMALIZATIONS}, got {normalization!r}")
    ref, tst = _pair(reference, test)
    if normalization == "euclidean":
        denominator = float(np.sqrt(np.mean(ref * ref)))
    elif normalization == "min-max":
        denominator = float(ref.max() - ref.min())
    else:
        denominator = float(ref.mean())
    if denominator == 0:
        raise ValueError(f"the {normalization!r} normalisation of this reference is 0; choose another")
    return float(np.sqrt(np.mean((tst - ref) ** 2)) / denominator)


def psnr(reference: np.ndarray, test: np.ndarray, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range² / mse)``.

    Parameters
    ----------
    reference, test : array_like
        Images of the same shape (any number of dimensions, e.g. ``(ny, nx, 3)`` for RGB: the MSE is taken
        over every value), in the same unit.
    data_range : float
        Span of values the data can take, in the data's unit (``255`` for 8-bit images).

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical images.

    Raises
    ------
    ValueError
        If `data_range` is not positive and finite, the shapes differ, or the images hold NaN / inf.
    """
    value_range = _check_range(data_range)
    error = mse(reference, test)
    if error == 0:
        return float("inf")
    return float(10 * np.log10(value_range**2 / error))


def _window_1d(win_size: int, sigma: float, gaussian: bool) -> np.ndarray:
    if not gaussian:
        return np.full(win_size, 1 / win_size)
    x = np.arange(win_size) - (win_size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _box_downsample(image: np.ndarray, f: int) -> np.ndarray:
    # ssim.m: imfilter(img, ones(f)/f^2, 'symmetric', 'same'), then img(1:f:end, 1:f:end). MATLAB's origin
    # of an f-tap kernel is tap c = floor((f + 1) / 2): kept pixel m averages rows m f - (c - 1) ... + f - 1.
    before = (f + 1) // 2 - 1
    padded = np.pad(image, ((before, f - 1 - before), (before, f - 1 - before)), mode="symmetric")
    rows = np.arange(0, image.shape[0], f)
    cols = np.arange(0, image.shape[1], f)
    summed = sum(padded[rows + k] for k in range(f))
    summed = sum(summed[:, cols + k] for k in range(f))
    return summed / (f * f)


def ssim(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    data_range: float,
    win_size: int = 11,
    sigma: float = 1.5,
    gaussian: bool = True,
    k1: float = 0.01,
    k2: float = 0.03,
    downsample: bool = False,
) -> float:
    """Mean structural similarity index (Wang et al. 2004) of two grey images.

    Parameters
    ----------
    reference, test : array_like, shape (ny, nx)
        Images of the same shape, in the same unit, each side at least `win_size`.
    data_range : float
        Span of values the data can take, in the data's unit (``L`` of the paper; ``255`` for 8-bit images).
    win_size : int
        Side of the square window in pixels (odd, >= 3).
    sigma : float
        Standard deviation of the Gaussian window in pixels (used when `gaussian`).
    gaussian : bool
        Gaussian window (the paper) or uniform window.
    k1, k2 : float
        Stabilising constants: ``C1 = (k1 L)²``, ``C2 = (k2 L)²``.
    downsample : bool
        Apply the automatic scaling of the authors' 2009 ``ssim.m`` first:
        ``f = max(1, round(min(ny, nx) / 256))``, an ``f × f`` mean filter with symmetric padding, then every
        ``f``-th pixel.

    Returns
    -------
    float
        Mean SSIM over the ``'valid'`` part of the map (dimensionless, 1 for identical images).

    Raises
    ------
    ValueError
        If `data_range`, `win_size`, `sigma`, `k1` or `k2` is invalid, the images are not 2-D of the same
        shape, smaller than the window, or hold NaN / inf.
    """
    value_range = _check_range(data_range)
    if (
        isinstance(win_size, bool)
        or not isinstance(win_size, int | np.integer)
        or win_size < 3
        or win_size % 2 == 0
    ):
        raise ValueError(f"win_size must be an odd integer >= 3, got {win_size!r}")
    if gaussian and not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    for name, k in (("k1", k1), ("k2", k2)):
        if not (np.isfinite(k) and k > 0):
            raise ValueError(f"{name} must be a positive number, got {k!r}")
    ref, tst = _pair(reference, test)
    if ref.ndim != 2:
        raise ValueError(f"ssim needs 2-D grey images, got shape {ref.shape} (convert colour with rgb2gray)")
    if downsample:
        f = max(1, round(min(ref.shape) / 256))
        if f > 1:
            ref, tst = _box_downsample(ref, f), _box_downsample(tst, f)
    if min(ref.shape) < win_size:
        raise ValueError(f"images of shape {ref.shape} are smaller than the {win_size} x {win_size} window")
    window = _window_1d(int(win_size), float(sigma), gaussian)
    r = int(win_size) // 2

    def local_mean(image: np.ndarray) -> np.ndarray:
        filtered = ndimage.correlate1d(ndimage.correlate1d(image, window, axis=0), window, axis=1)
        return filtered[r:-r, r:-r]  # 'valid': the padding of correlate1d never reaches these pixels

    mu1, mu2 = local_mean(ref), local_mean(tst)
    var1 = local_mean(ref * ref) - mu1 * mu1
    var2 = local_mean(tst * tst) - mu2 * mu2
    cov = local_mean(ref * tst) - mu1 * mu2
    c1 = (k1 * value_range) ** 2
    c2 = (k2 * value_range) ** 2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * cov + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (var1 + var2 + c2))
    return float(ssim_map.mean())
