"""NIQE, the Naturalness Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 2013): no reference.

A native numpy / scipy port of the official MATLAB release (``computequality.m``, ``computefeature.m``,
``estimateaggdparam.m``) with the official pristine model (``modelparameters.mat``, shipped converted in
``scansr/data/niqe/niqe_params.npz`` beside the release's licence notice ``readme.txt``). Lower is better.

Algorithm, as the official test-time code (no sharpness threshold: the threshold of 0.75 only selected the
*training* patches; at test time every patch is used):

1. RGB → grey with MATLAB ``rgb2gray`` (rounded to ``uint8`` for ``uint8`` input), then ``double``.
2. Crop to a multiple of the 96 × 96 block by dropping the last rows and columns.
3. At two scales (the image, then MATLAB ``imresize(im, 0.5)``: antialiased bicubic,
   `scansr.interpolate.imresize`): MSCN coefficients ``(im - μ) / (σ + 1)`` with ``μ, σ`` from a 7 × 7
   Gaussian window (σ = 7/6, ``replicate`` borders); per block (96 px, then 48 px) 18 features: the GGD fit
   ``(α, (β_l + β_r) / 2)`` of the coefficients and, for their products with the block circularly shifted by
   (0, 1), (1, 0), (1, 1), (1, -1), the AGGD fit ``(α, (β_r - β_l) Γ(2/α) / Γ(1/α), β_l, β_r)``; ``α`` is
   searched on the grid 0.2 : 0.001 : 10.
4. Mean and covariance of the 36-feature vectors over the blocks (rows with NaN dropped, as ``nanmean`` /
   ``nancov``); score ``sqrt((μ_p - μ_d)ᵀ pinv((Σ_p + Σ_d) / 2) (μ_p - μ_d))``.

Agreement with the official values, and the one deliberate difference
    On the IQA calibration set (the distorted images ``dist_I03 ... dist_I19``) this gives, for I04,
    3.654921523538 against the published 3.65492152353770 (agreement to 1e-12); I03, I06 and I08 agree
    within 0.6 %, and I19 gives 8.67 against 8.635 (0.4 %). The residual differences, and the 9.02 - 9.11 that
    straightforward re-implementations give for I19, come from exactly flat image regions (I19's blocky
    compression, I08's pasted flat squares). There the MSCN coefficient is mathematically 0, but a
    floating-point filter leaves residues of about ±1e-16 whose *sign* decides whether the pixel counts in
    the left or the right half of the AGGD fit (``β_l`` and ``β_r`` average over ``v < 0`` and ``v > 0``). The
    official number therefore depends on the summation order of MATLAB's ``imfilter`` (which filters
    separably with SVD factors of the kernel). We measured, for I19: 9.02 with a 2-D filter, 9.08 with
    SVD-separable factors, 8.85 with random signs, 9.07 - 9.11 with other summation orders. Here every
    coefficient with ``|im - μ| <= 1e-8`` (on the 0..255 scale; real coefficients are orders of magnitude
    larger, float residues orders smaller) is set to exactly 0, which makes the score independent of the
    summation order and closest to the published values.

Physical data
    NIQE's model describes 8-bit photographs, so a height map is mapped to 0..255 first:
    ``niqe(height, data_range=(low, high))`` maps ``low → 0`` and ``high → 255`` linearly (values outside are
    kept, not clipped); ``data_range=None`` uses the image's own minimum and maximum; a single number ``r``
    maps ``min → 0`` and ``min + r → 255``. The grey values are not quantised to integers. Scores of
    different scans are comparable only under the same mapping.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources

import numpy as np
from scipy import ndimage
from scipy.special import gamma

from scansr.interpolate import imresize
from scansr.metrics.color import rgb2gray

__all__ = ["BLOCK_SIZE", "niqe", "niqe_model"]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 96
_FLAT_TOLERANCE = 1e-8  # |im - mu| below this (0..255 scale) is an exactly flat neighbourhood: coefficient 0
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
_ALPHAS = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
_R_ALPHAS = gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


@functools.cache
def niqe_model() -> tuple[np.ndarray, np.ndarray]:
    """Return the official pristine model ``(mu_prisparam (36,), cov_prisparam (36, 36))``, read-only."""
    path = resources.files("scansr").joinpath("data/niqe/niqe_params.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        mu = np.array(data["mu_prisparam"], dtype=np.float64)
        cov = np.array(data["cov_prisparam"], dtype=np.float64)
    mu.setflags(write=False)
    cov.setflags(write=False)
    return mu, cov


def _gaussian_window() -> np.ndarray:
    # fspecial('gaussian', 7, 7/6) is the outer product of this normalised 1-D window.
    x = np.arange(7) - 3.0
    g = np.exp(-(x * x) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def _mscn(image: np.ndarray) -> np.ndarray:
    window = _gaussian_window()

    def blur(a: np.ndarray) -> np.ndarray:  # imfilter(a, window, 'replicate')
        return ndimage.correlate1d(
            ndimage.correlate1d(a, window, axis=0, mode="nearest"), window, axis=1, mode="nearest"
        )

    mu = blur(image)
    sigma = np.sqrt(np.abs(blur(image * image) - mu * mu))
    centred = image - mu
    centred[np.abs(centred) <= _FLAT_TOLERANCE] = 0.0
    return centred / (sigma + 1)


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _aggd(vec: np.ndarray) -> tuple[float, float, float]:
    """``estimateaggdparam.m``: (alpha, beta_left, beta_right)."""
    left = np.sqrt(_mean_or_nan(vec[vec < 0] ** 2))
    right = np.sqrt(_mean_or_nan(vec[vec > 0] ** 2))
    mean_sq = float(np.mean(vec * vec))
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma_hat = left / right
        r_hat = float(np.mean(np.abs(vec))) ** 2 / mean_sq if mean_sq > 0 else float("nan")
        r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    # MATLAB's min() of an all-NaN vector returns index 1, i.e. alpha = 0.2 with NaN betas.
    alpha = float(_ALPHAS[0] if np.isnan(r_norm) else _ALPHAS[np.argmin((_R_ALPHAS - r_norm) ** 2)])
    factor = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, float(left * factor), float(right * factor)


def _block_features(block: np.ndarray) -> list[float]:
    """``computefeature.m``: 18 features of one block of MSCN coefficients."""
    alpha, beta_l, beta_r = _aggd(block.ravel())
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        pair = (block * np.roll(block, shift, axis=(0, 1))).ravel()
        alpha, beta_l, beta_r = _aggd(pair)
        mean = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return features


def _features(grey: np.ndarray) -> np.ndarray:
    """Feature matrix (n_blocks, 36) of a grey image already cropped to multiples of the block size."""
    per_scale = []
    image = grey
    for scale in (1, 2):
        mscn = _mscn(image)
        size = BLOCK_SIZE // scale
        rows = [
            _block_features(mscn[i : i + size, j : j + size])
            for j in range(0, mscn.shape[1], size)  # blkproc order (column-major); irrelevant to mean / cov
            for i in range(0, mscn.shape[0], size)
        ]
        per_scale.append(np.asarray(rows, dtype=np.float64))
        if scale == 1:
            image = imresize(image, 0.5, method="bicubic", antialiasing=True)
    return np.hstack(per_scale)


def _to_grey(image: np.ndarray, data_range: float | tuple[float, float] | None) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 3:
        if array.shape[2] != 3:
            raise ValueError(f"image must be grey (ny, nx) or RGB (ny, nx, 3), got shape {array.shape}")
        array = rgb2gray(array)
    elif array.ndim != 2:
        raise ValueError(f"image must be grey (ny, nx) or RGB (ny, nx, 3), got shape {array.shape}")
    if array.dtype == np.uint8:
        if data_range is not None:
            raise ValueError(
                f"8-bit images are used as they are: data_range must be None, got {data_range!r}"
            )
        return array.astype(np.float64)
    values = np.asarray(array, dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"image has {bad} non-finite pixel(s) (NaN or inf); fill or crop them first")
    if data_range is None:
        low, high = float(values.min()), float(values.max())
    elif np.ndim(data_range) == 0:
        low = float(values.min())
        high = low + float(data_range)  # type: ignore[arg-type]
    else:
        try:
            low, high = (float(v) for v in data_range)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(
                f"data_range must be None, a number or (low, high), got {data_range!r}"
            ) from None
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(
            f"data_range must give a positive finite span, got {data_range!r} "
            f"(image range {values.min()!r} .. {values.max()!r})"
        )
    return (values - low) * (255.0 / (high - low))


def niqe(image: np.ndarray, *, data_range: float | tuple[float, float] | None = None) -> float:
    """NIQE score of one image (no reference; lower is more natural).

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, 3)
        ``uint8`` grey or RGB image (used as it is, like the official code), or real-valued data (e.g.
        heights in metres) mapped linearly to 0..255 by `data_range`. At least two 96 × 96 blocks.
    data_range : None, float or (float, float)
        For non-``uint8`` data: ``(low, high)`` in the data's unit maps ``low → 0`` and ``high → 255``; a
        number ``r`` maps ``min → 0`` and ``min + r → 255``; ``None`` uses the image's minimum and maximum.
        Must be ``None`` for ``uint8`` images.

    Returns
    -------
    float
        The NIQE score (dimensionless).

    Raises
    ------
    ValueError
        If the image is not grey / RGB, is smaller than two 96 × 96 blocks, holds NaN / inf, has no positive
        span to map, `data_range` is invalid, or fewer than two blocks have finite features (e.g. a perfectly
        flat image).
    """
    grey = _to_grey(image, data_range)
    ny, nx = grey.shape
    by, bx = ny // BLOCK_SIZE, nx // BLOCK_SIZE
    if by * bx < 2:
        raise ValueError(
            f"NIQE needs at least two {BLOCK_SIZE} x {BLOCK_SIZE} blocks, got an image of {ny} x {nx}"
        )
    if ny % BLOCK_SIZE or nx % BLOCK_SIZE:
        logger.debug("NIQE: cropping %d x %d to %d x %d", ny, nx, by * BLOCK_SIZE, bx * BLOCK_SIZE)
    features = _features(grey[: by * BLOCK_SIZE, : bx * BLOCK_SIZE])
    complete = features[~np.isnan(features).any(axis=1)]
    if complete.shape[0] < 2:
        raise ValueError(
            f"NIQE: only {complete.shape[0]} of {features.shape[0]} blocks have finite features (flat image?)"
        )
    mu_d = np.nanmean(features, axis=0)
    cov_d = np.cov(complete, rowvar=False)
    mu_p, cov_p = niqe_model()
    diff = mu_p - mu_d
    inverse = np.linalg.pinv((cov_p + cov_d) / 2, rcond=max(cov_p.shape) * np.finfo(np.float64).eps)
    return float(np.sqrt(diff @ inverse @ diff))
