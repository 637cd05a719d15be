"""Ma et al.'s no-reference quality metric for super-resolution (NRQM, "Ma") and the perceptual index PI.

Ma, Yang, Yang & Yang, "Learning a no-reference quality metric for single-image super-resolution", Computer
Vision and Image Understanding 158 (2017) 1-16 (arXiv:1612.05890). Higher Ma is better (the scores were
trained on human ratings on a 0-10 scale). PI = ((10 - Ma) + NIQE) / 2 (Blau et al., PIRM 2018 challenge);
lower is better.

A native numpy / scipy implementation written from the algorithm of the official MATLAB release
(github.com/chaoma99/sr-metric: ``quality_predict.m``, ``feature_all.m``, ``block_dct.m``, ``global_gsm.m``
and the helpers it takes from BLIINDS-II (``gama_gen_gauss.m``, ``gama_dct.m``, ``coeff_var_dct.m``,
``oriented{1,2,3}_dct_rho_config3.m``), DIIVINE (``norm_sender_normalized.m``, ``ssim_index_new.m``),
matlabPyrTools (``buildSFpyr.m``, ``pointOp``) and randomforest-matlab (``regRF_predict.m``,
``reg_RF.cpp``)); pyiqa's PyTorch port (``pyiqa/archs/nrqm_arch.py``) was read for comparison. No code was
copied. The official *model* (three regression forests and a linear fusion, ``model.mat``) is not shipped:
the user supplies it (`load_ma_model`).

Algorithm (as ``quality_predict.m`` / ``feature_all.m``)
    1. Grey image ``g`` (MATLAB ``rgb2gray``, rounded to ``uint8`` for ``uint8`` RGB), see *Physical data*.
    2. Spatial pyramid of ``g / 255`` (``im2double``): ``im2``, ``im3`` = every second pixel, from the second,
       of the image filtered with ``fspecial('gaussian', 3)`` (σ = 0.5, zero padding, ``imfilter``).
    3. Local frequency features ``f1`` (18 = 6 per scale, fine to coarse, ``block_dct.m``): on 7 × 7 blocks
       at a stride of 3 (``blkproc(im, [3 3], [2 2], ...)``: zero padding of 2 around the image, plus zeros at
       the bottom / right up to a multiple of 3), the orthonormal 2-D DCT; per block the generalized Gaussian
       shape γ of the 48 AC coefficients (moment matching ``var / ((mean |x - mean|)² + 1e-7)`` against
       ``Γ(1/γ) Γ(3/γ) / Γ(2/γ)²`` on the grid γ = 0.03 : 0.001 : 10, nearest value), the coefficient of
       variation of ``|AC|`` (``std / (mean + 1e-7)``, ddof 1) and the variance (ddof 1) of that coefficient of
       variation over three oriented groups of 16 AC coefficients (``eps`` 1e-8). Pooled over the blocks:
       mean of the lowest ``ceil(0.1 n)`` γ and mean of all γ; for the two others the mean of the sorted values
       from the MATLAB (1-based) index ``fix(0.9 n)`` to the end, and the mean of all.
    4. Global frequency features ``f2`` (45, ``global_gsm.m``) on ``g`` (0..255): a real steerable pyramid
       (``buildSFpyr(g, 2, 5)``: 2 scales × 6 orientations, Fourier domain, raised-cosine radial masks,
       ``cos⁵`` angular masks looked up like ``pointOp``); each oriented band divisively normalised by its
       Gaussian-scale-mixture neighbourhood (``norm_sender_normalized(pyr, pind, 2, 6, 1, 1, 3, 3, 50)``:
       3 × 3 spatial neighbours, the parent band (``imresize(·, 2)``; DIIVINE's test ``nband < Nband - Nor``
       gives a parent to scale-1 orientations 1-5 only, kept here), the other 5 orientations;
       ``g = (c - mean c) / sqrt(yᵀ C⁻¹ y / N)`` with ``N = 9 (+1 with a parent)``, a guard band of 16 / 8
       pixels removed, mean removed). Features: γ of each of the 12 normalised subbands; γ of each
       orientation's two scales pooled (6); the SSIM contrast-structure term ``cs`` (``ssim_index_new``:
       11 × 11 Gaussian σ 1.5, ``'valid'``, ``C2 = (0.03·255)²``) between each *raw* band bicubic-resized to
       the high-pass residual's size and that residual (12); ``cs`` between the normalised scale-1 subbands of
       each pair of orientations (15).
    5. Spatial features ``f3`` (75 = 25 per scale, fine to coarse): the singular values of the 25 × n matrix
       of the image's distinct 5 × 5 blocks (``svd(im2col(im, [5 5], 'distinct'))``, zero padded).
    6. Each group goes through its regression forest (randomforest-matlab ``regRF_predict``: descend each tree
       from the root while ``nodestatus ≠ -1``, left when ``x[mbest] <= upper``, average ``avnode`` over the
       trees, then ``coef(1) + coef(2) ŷ`` if the model has a non-zero ``coef``); Ma = ``[1 s1 s2 s3] ·
       linear``.

Model files (`load_ma_model`)
    The official ``model.mat`` (``train_RF_regression.m``: ``model.rf`` a 3 × 1 cell of randomforest-matlab
    ``regRF_train`` structs for the DCT, GSM and PCA features, ``model.linear`` the 4 ``robustfit``
    coefficients), as MATLAB v5 (scipy) or v7.3 (HDF5, h5py). Tree arrays are read *by name*: ``lDau``,
    ``rDau``, ``nodestatus``, ``upper``, ``avnode``, ``mbest`` (nodes × trees), optional ``ntree`` and
    ``coef``. pyiqa's ``NRQM_model.mat`` should be this same struct and load the same way (inferred, the file
    was not available: pyiqa reads struct fields 0, 1, 4, 5, 6 by position, which are ``lDau, rDau, upper,
    avnode, mbest`` in ``regRF_train``'s order). The R
    randomForest names ``leftDaughter`` / ``rightDaughter`` or ``treemap`` (nodes × 2 × trees), ``xbestsplit``,
    ``nodepred``, ``bestvar`` are accepted as synonyms. Anything else raises a ValueError naming the file and
    the missing field.

What is verified, and what is not (tests/metrics/test_ma.py)
    Verified: the forest traversal and averaging against hand-built forests in the randomforest-matlab layout
    (written with ``scipy.io.savemat`` and as a MATLAB-v7.3-style HDF5 file); the block extraction against
    ``blkproc``'s padding rule, the DCT against ``scipy.fft.dctn``, the shape estimate against samples of
    known generalized Gaussians, the pooling against MATLAB's index rules; the steerable pyramid by energy
    conservation (tight frame), a sinusoid landing in the band of its orientation and scale, and (when
    ``pyrtools`` is installed) against pyrtools' port of ``buildSFpyr``; the divisive normalisation against a
    literal transcription of the MATLAB loop; the SSIM ``cs`` term against its closed form; the spatial
    features against SVD of images of known rank; the feature counts (18 / 45 / 75) and order (scale by
    scale); end to end on the IQA calibration images with a synthetic model (finite, equal to the forests
    evaluated by hand).
    Not verified: agreement with the official Ma / PI values, because the official model file is not
    available here. ``SCANSR_MA_MODEL=/path/to/model.mat pytest tests/metrics/test_ma.py`` checks the
    ``nrqm`` and ``pi`` rows of ``results_official.csv`` (pyiqa's calibration set) within 2 %, reading the
    ``pi`` row as the PIRM protocol (Y of YCbCr, 4 px shaved) and the ``nrqm`` row as ``quality_predict`` of
    the ``rgb2gray`` image. Two details come from sources other than the release's own files, which were not
    all available: the shape fit takes the *nearest* table value (``min(abs(r - rho))``, as pyiqa and an
    independent Python port of the release do; BLIINDS-II's original loop takes the lower end of the
    bracketing interval and 11 out of range), and ``ssim_index_new``'s third output is the mean ``cs`` map (as
    in the MS-SSIM code that shares its name). pyiqa's port differs from MATLAB in more places (a complex
    pyramid, a parent for all six scale-1 bands, SSIM for ``cs``, normalised instead of raw bands against the
    high-pass residual, one value more in the lowest-10 % mean and one fewer in the highest-10 % means) yet
    stays within 0.3 % of the official Ma values there, so the forests are not very sensitive to such details;
    this implementation follows MATLAB in each of them.

Physical data
    As `scansr.metrics.niqe.niqe`: ``uint8`` images are used as they are; real-valued data (heights in metres)
    are mapped linearly to 0..255 by `data_range` (``(low, high)`` → 0..255; a number ``r``: ``min → 0``,
    ``min + r → 255``; None: the image's minimum and maximum), not quantised. The official MATLAB sees integer
    grey levels; scores of different scans are comparable only under the same mapping.

Size
    At least 48 px per side, and the quarter-resolution level must hold 25 blocks of 5 × 5 (e.g. 84 × 84);
    PI also needs NIQE's two 96 × 96 blocks. A 512 × 512 image takes about a second.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage
from scipy.special import gammaln

from scansr.interpolate import imresize
from scansr.metrics.niqe import _to_grey, niqe

__all__ = [
    "FEATURE_GROUPS",
    "MA_MODEL_HELP",
    "MaFeatures",
    "MaModel",
    "RegressionForest",
    "load_ma_model",
    "ma_features",
    "ma_score",
    "pi_score",
]

logger = logging.getLogger(__name__)

#: Names and lengths of the three feature groups, in the order of the forests ``model.rf{1..3}``.
FEATURE_GROUPS: tuple[tuple[str, int], ...] = (
    ("local_frequency", 18),
    ("global_frequency", 45),
    ("spatial", 75),
)
#: Where to get the model, for error messages.
MA_MODEL_HELP = "Ma et al.'s model file (model.mat from github.com/chaoma99/sr-metric)"

_TERMINAL = -1  # randomforest-matlab NODE_TERMINAL
_N_ORIENTATIONS = 6
_N_SCALES = 2
_GUARD_BAND = 16
_SSIM_C2 = (0.03 * 255) ** 2
_MIN_SIDE = 48


# --------------------------------------------------------------------------------------------- small helpers
def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised; the 2-D kernel is its outer product)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


@functools.cache
def _ggd_table() -> tuple[np.ndarray, np.ndarray]:
    """BLIINDS-II's grid ``g = 0.03:0.001:10`` and ``r(g) = Γ(1/g) Γ(3/g) / Γ(2/g)²`` (strictly decreasing)."""
    g = 0.03 + 0.001 * np.arange(9971)
    r = np.exp(gammaln(1 / g) + gammaln(3 / g) - 2 * gammaln(2 / g))
    g.setflags(write=False)
    r.setflags(write=False)
    return g, r


def _nearest_shape(rho: np.ndarray) -> np.ndarray:
    """``g(argmin |r - rho|)`` with MATLAB's first-index rule on ties, for many ``rho`` at once."""
    g, r = _ggd_table()
    rho = np.asarray(rho, dtype=np.float64)
    # r is decreasing: -r is increasing; position of the first table value <= rho.
    pos = np.searchsorted(-r, -rho, side="left")
    lo = np.clip(pos - 1, 0, r.size - 1)
    hi = np.clip(pos, 0, r.size - 1)
    pick = np.where(np.abs(r[lo] - rho) <= np.abs(r[hi] - rho), lo, hi)
    return g[pick]


def _ggd_shape(samples: np.ndarray) -> np.ndarray:
    """``gama_gen_gauss`` of each row of `samples` (generalized Gaussian shape by moment matching)."""
    x = np.asarray(samples, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, ddof=1)
    mean_abs = np.mean(np.abs(x - mean), axis=-1) ** 2
    return _nearest_shape(var / (mean_abs + 1e-7))


def _coefficient_of_variation(values: np.ndarray, eps: float) -> np.ndarray:
    a = np.abs(values)
    return a.std(axis=-1, ddof=1) / (a.mean(axis=-1) + eps)


def _mean_lowest_tenth(values: np.ndarray) -> float:
    s = np.sort(values.ravel())
    return float(s[: math.ceil(s.size * 0.1)].mean())


def _mean_highest_tenth(values: np.ndarray) -> float:
    # MATLAB: sorted(fix(n * 0.9):end), a 1-based start index
    s = np.sort(values.ravel())
    start = max(math.floor(s.size * 0.9), 1)
    return float(s[start - 1 :].mean())


# ------------------------------------------------------------------------------------ local frequency (f1)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``C`` (MATLAB ``dct2(B) = C B Cᵀ``)."""
    k = np.arange(n)[:, np.newaxis]
    m = np.arange(n)[np.newaxis, :]
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * m + 1) * k / (2 * n))
    c[0] /= np.sqrt(2)
    return c


def _orientation_masks() -> np.ndarray:
    """Return the three groups of 16 AC coefficients of a 7 × 7 DCT block (``oriented{1,2,3}_dct_rho_config3``)."""
    first = np.zeros((7, 7), dtype=bool)
    for row, start in ((0, 1), (1, 2), (2, 4), (3, 5)):
        first[row, start:] = True
    second = np.zeros((7, 7), dtype=bool)
    for row, (a, b) in {1: (1, 2), 2: (2, 4), 3: (2, 5), 4: (3, 7), 5: (4, 7), 6: (4, 7)}.items():
        second[row, a:b] = True
    return np.stack([first, second, first.T])


_DCT7 = _dct_matrix(7)
_ORIENTATIONS = _orientation_masks()


def _blocks(image: np.ndarray, step: int = 3, border: int = 2) -> np.ndarray:
    """Return the blocks ``blkproc(image, [step step], [border border], fun)`` passes to ``fun``: (n, 7, 7).

    ``blkproc`` pads with zeros: ``border`` on every side, and at the bottom / right up to a multiple of
    ``step``; block ``(i, j)`` is ``padded[step i : step i + step + 2 border, ...]``.
    """
    ny, nx = image.shape
    by, bx = -(-ny // step), -(-nx // step)
    size = step + 2 * border
    padded = np.zeros((by * step + 2 * border, bx * step + 2 * border))
    padded[border : border + ny, border : border + nx] = image
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))[::step, ::step]
    return windows.reshape(-1, size, size)


def _block_dct_features(image: np.ndarray) -> np.ndarray:
    """``block_dct.m``: 6 features of one scale (image on the 0..1 scale)."""
    coefficients = _DCT7 @ _blocks(image) @ _DCT7.T
    ac = coefficients.reshape(coefficients.shape[0], -1)[:, 1:]
    shape = _ggd_shape(ac)
    variation = _coefficient_of_variation(ac, 1e-7)
    oriented = np.stack([_coefficient_of_variation(coefficients[:, m], 1e-8) for m in _ORIENTATIONS], axis=1)
    orientation = oriented.var(axis=1, ddof=1)
    return np.array(
        [
            _mean_lowest_tenth(shape),
            float(shape.mean()),
            _mean_highest_tenth(variation),
            float(variation.mean()),
            _mean_highest_tenth(orientation),
            float(orientation.mean()),
        ]
    )


def _spatial_pyramid(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``im1, im2, im3`` of ``feature_all.m`` (3 × 3 Gaussian σ 0.5, zero padding, keep rows / columns 2, 4, ...)."""
    g = _gaussian_1d(3, 0.5)
    levels = [image]
    for _ in range(2):
        filtered = ndimage.correlate1d(levels[-1], g, axis=0, mode="constant")
        filtered = ndimage.correlate1d(filtered, g, axis=1, mode="constant")
        levels.append(filtered[1::2, 1::2])
    return levels[0], levels[1], levels[2]


# ------------------------------------------------------------------------------------------ spatial (f3)
def _distinct_blocks(image: np.ndarray, size: int = 5) -> np.ndarray:
    """``im2col(image, [size size], 'distinct')`` up to the order of rows and columns: (size², n_blocks)."""
    ny, nx = image.shape
    by, bx = -(-ny // size), -(-nx // size)
    padded = np.zeros((by * size, bx * size))
    padded[:ny, :nx] = image
    return padded.reshape(by, size, bx, size).transpose(1, 3, 0, 2).reshape(size * size, by * bx)


def _singular_values(image: np.ndarray) -> np.ndarray:
    return np.linalg.svd(_distinct_blocks(image), compute_uv=False)


# ----------------------------------------------------------------------------------- steerable pyramid
class _Pyramid(NamedTuple):
    """``buildSFpyr`` output: high-pass residual, ``bands[scale][orientation]`` (fine first), low-pass residual."""

    highpass: np.ndarray
    bands: tuple[tuple[np.ndarray, ...], ...]
    lowpass: np.ndarray


def _point_op(values: np.ndarray, lut: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """Look values up as matlabPyrTools ``pointOp``: linear interpolation in an even table, linear beyond."""
    position = (values - origin) / increment
    index = np.clip(np.trunc(position), 0, lut.size - 2).astype(np.intp)
    return lut[index] + (lut[index + 1] - lut[index]) * (position - index)


def _raised_cosine(width: float = 1.0, position: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """Return matlabPyrTools ``rcosFn(width, position, [0 1])``: abscissae and ``cos²`` ramp, ends repeated."""
    size = 256
    x = np.pi * np.arange(-size - 1, 2) / (2 * size)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[size + 2] = y[size + 1]
    return position + (2 * width / np.pi) * (x + np.pi / 4), y


def _centre(shape: tuple[int, ...]) -> np.ndarray:
    return np.ceil((np.asarray(shape) + 0.5) / 2).astype(int)  # MATLAB 1-based centre of the shifted DFT


def _steerable_pyramid(
    image: np.ndarray, height: int = _N_SCALES, order: int = _N_ORIENTATIONS - 1
) -> _Pyramid:
    """``buildSFpyr(image, height, order)`` (twidth 1) of matlabPyrTools, real bands."""
    ny, nx = image.shape
    n_bands = order + 1
    ctr = _centre((ny, nx))
    xramp, yramp = np.meshgrid(
        (np.arange(1, nx + 1) - ctr[1]) / (nx / 2), (np.arange(1, ny + 1) - ctr[0]) / (ny / 2)
    )
    angle = np.arctan2(yramp, xramp)
    radius = np.sqrt(xramp**2 + yramp**2)
    radius[ctr[0] - 1, ctr[1] - 1] = radius[ctr[0] - 1, ctr[1] - 2]
    log_rad = np.log2(radius)
    xrcos, yrcos = _raised_cosine()
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos**2)
    dft = np.fft.fftshift(np.fft.fft2(image))
    step = xrcos[1] - xrcos[0]
    highpass = np.real(np.fft.ifft2(np.fft.ifftshift(dft * _point_op(log_rad, yrcos, xrcos[0], step))))
    lodft = dft * _point_op(log_rad, yircos, xrcos[0], step)

    lutsize = 1024
    xcosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    const = 2 ** (2 * order) * math.factorial(order) ** 2 / (n_bands * math.factorial(2 * order))
    ycosn = np.sqrt(const) * np.cos(xcosn) ** order
    bands = []
    for _ in range(height):
        xrcos = xrcos - 1.0  # one octave down
        himask = _point_op(log_rad, yrcos, xrcos[0], step)
        level = []
        for b in range(n_bands):
            anglemask = _point_op(angle, ycosn, xcosn[0] + np.pi * b / n_bands, xcosn[1] - xcosn[0])
            banddft = (-1j) ** order * lodft * anglemask * himask
            level.append(np.real(np.fft.ifft2(np.fft.ifftshift(banddft))))
        bands.append(tuple(level))
        dims = np.asarray(lodft.shape)
        ctr = _centre(lodft.shape)
        lodims = np.ceil((dims - 0.5) / 2).astype(int)
        start = ctr - np.ceil((lodims + 0.5) / 2).astype(int)
        crop = (slice(start[0], start[0] + lodims[0]), slice(start[1], start[1] + lodims[1]))
        log_rad, angle, lodft = log_rad[crop], angle[crop], lodft[crop]
        lodft = lodft * _point_op(log_rad, np.abs(np.sqrt(1.0 - yrcos**2)), xrcos[0], step)
    lowpass = np.real(np.fft.ifft2(np.fft.ifftshift(lodft)))
    return _Pyramid(highpass, tuple(bands), lowpass)


# ------------------------------------------------------------------------------ divisive normalisation
def _neighbourhoods(band: np.ndarray, parent: np.ndarray | None, others: Sequence[np.ndarray]) -> np.ndarray:
    """Rows ``y`` of DIIVINE's neighbourhood matrix ``Y`` (3 × 3 spatial, parent, other orientations)."""
    nv, nh = band.shape
    rows, cols = nv - 2, nh - 2
    columns = [band[1 - dy : 1 - dy + rows, 1 - dx : 1 - dx + cols] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    if parent is not None:
        columns.append(parent[1 : 1 + rows, 1 : 1 + cols])
    columns.extend(o[1 : 1 + rows, 1 : 1 + cols] for o in others)
    return np.stack([c.ravel() for c in columns], axis=1)


def _normalise_band(
    band: np.ndarray, parent: np.ndarray | None, others: Sequence[np.ndarray], guard: int
) -> np.ndarray:
    """One subband of ``norm_sender_normalized`` (3 × 3 block), guard band removed, mean removed: 2-D."""
    y = _neighbourhoods(band, parent, others)
    n_support = 9 + (parent is not None)  # MATLAB's N counts the spatial block and the parent only
    covariance = y.T @ y / y.shape[0]
    eigenvalues, vectors = np.linalg.eigh(covariance)
    positive = eigenvalues * (eigenvalues > 0)
    total = positive.sum()
    eigenvalues = positive * eigenvalues.sum() / (total + (total == 0))
    covariance = (vectors * eigenvalues) @ vectors.T
    inverse = np.linalg.pinv(covariance, rcond=max(covariance.shape) * np.finfo(np.float64).eps)
    z = np.sqrt(np.maximum(np.sum((y @ inverse) * y, axis=1) / n_support, 0.0))
    centre = band[1:-1, 1:-1].ravel()
    centre = centre - centre.mean()
    normalised = np.zeros_like(centre)
    nonzero = z != 0
    if not nonzero.all():
        # MATLAB drops these coefficients and then fails to reshape; 0 is the neutral value here.
        logger.warning("Ma: %d coefficients with an all-zero neighbourhood set to 0", int((~nonzero).sum()))
    normalised[nonzero] = centre[nonzero] / z[nonzero]
    normalised = normalised.reshape(band.shape[0] - 2, band.shape[1] - 2)[guard:-guard, guard:-guard]
    return normalised - normalised.mean()


def _normalised_subbands(pyramid: _Pyramid) -> list[np.ndarray]:
    """``norm_sender_normalized(pyr, pind, 2, 6, 1, 1, 3, 3, 50)``: 12 subbands, scale by scale (2-D)."""
    bands = pyramid.bands
    n_levels = 1 + len(bands) * _N_ORIENTATIONS + 1
    out = []
    for scale, level in enumerate(bands):
        for orientation, band in enumerate(level):
            nband = scale * _N_ORIENTATIONS + orientation + 2  # MATLAB's 1-based band number (1 = high-pass)
            parent = None
            if nband < (n_levels - 1) - _N_ORIENTATIONS:  # DIIVINE's test: scale-1 orientations 1-5 only
                upsampled = imresize(bands[scale + 1][orientation], 2.0)
                parent = upsampled[: band.shape[0], : band.shape[1]]
            others = [b for k, b in enumerate(level) if k != orientation]
            out.append(_normalise_band(band, parent, others, _GUARD_BAND // 2**scale))
    return out


def _contrast_structure(a: np.ndarray, b: np.ndarray) -> float:
    """Mean ``cs`` map of DIIVINE's ``ssim_index_new`` (11 × 11 Gaussian σ 1.5, ``'valid'``, L = 255)."""
    window = _gaussian_1d(11, 1.5)

    def valid(x: np.ndarray) -> np.ndarray:
        f = ndimage.correlate1d(x, window, axis=0, mode="constant")
        f = ndimage.correlate1d(f, window, axis=1, mode="constant")
        return f[5:-5, 5:-5]

    mu_a, mu_b = valid(a), valid(b)
    var_a = valid(a * a) - mu_a * mu_a
    var_b = valid(b * b) - mu_b * mu_b
    covariance = valid(a * b) - mu_a * mu_b
    return float(np.mean((2 * covariance + _SSIM_C2) / (var_a + var_b + _SSIM_C2)))


def _global_gsm_features(grey: np.ndarray) -> np.ndarray:
    """``global_gsm.m``: 45 features of the grey image (0..255)."""
    pyramid = _steerable_pyramid(grey)
    subbands = _normalised_subbands(pyramid)
    features = [float(_ggd_shape(s.ravel())) for s in subbands]
    for k in range(_N_ORIENTATIONS):
        pooled = np.concatenate([subbands[k].ravel(), subbands[k + _N_ORIENTATIONS].ravel()])
        features.append(float(_ggd_shape(pooled)))
    highpass = pyramid.highpass
    for level in pyramid.bands:
        for band in level:
            resized = band if band.shape == highpass.shape else imresize(band, highpass.shape)
            features.append(_contrast_structure(resized, highpass))
    for i in range(_N_ORIENTATIONS):
        for j in range(i + 1, _N_ORIENTATIONS):
            features.append(_contrast_structure(subbands[i], subbands[j]))
    return np.asarray(features)


# ------------------------------------------------------------------------------------------------ features
class MaFeatures(NamedTuple):
    """The three feature groups of Ma et al. (see the module notes for their order)."""

    local_frequency: np.ndarray
    global_frequency: np.ndarray
    spatial: np.ndarray


def _check_size(grey: np.ndarray) -> None:
    ny, nx = grey.shape
    q = (ny // 2) // 2, (nx // 2) // 2
    blocks = -(-q[0] // 5) * -(-q[1] // 5)
    if min(ny, nx) < _MIN_SIDE or blocks < 25:
        raise ValueError(
            f"Ma's NRQM needs at least {_MIN_SIDE} px per side and 25 blocks of 5 x 5 at quarter resolution "
            f"(e.g. 84 x 84); got an image of {ny} x {nx}"
        )


def ma_features(image: np.ndarray, *, data_range: float | tuple[float, float] | None = None) -> MaFeatures:
    """Ma et al.'s 18 + 45 + 75 features of one image (``feature_all.m``).

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, 3)
        ``uint8`` grey or RGB image (used as it is), or real-valued data mapped to 0..255 by `data_range`.
        At least 48 px per side and about 84 × 84 in all (see the module notes).
    data_range : None, float or (float, float)
        As `scansr.metrics.niqe.niqe`: ``(low, high)`` maps ``low → 0`` and ``high → 255``; a number ``r``
        maps ``min → 0`` and ``min + r → 255``; None uses the image's own minimum and maximum. Must be None for
        ``uint8`` images.

    Returns
    -------
    MaFeatures
        Local frequency (18: 6 per scale, fine to coarse), global frequency (45) and spatial (75: 25
        singular values per scale, fine to coarse) features, dimensionless.

    Raises
    ------
    ValueError
        If the image is not grey / RGB, too small, holds NaN / inf, has no positive span to map, or
        `data_range` is invalid.
    """
    grey = _to_grey(image, data_range)
    _check_size(grey)
    levels = _spatial_pyramid(grey / 255.0)
    return MaFeatures(
        np.concatenate([_block_dct_features(level) for level in levels]),
        _global_gsm_features(grey),
        np.concatenate([_singular_values(level) for level in levels]),
    )


# ------------------------------------------------------------------------------------------------- forests
@dataclass(frozen=True)
class RegressionForest:
    """A randomforest-matlab regression forest (``regRF_train`` output), node arrays of shape (nodes, trees).

    Attributes
    ----------
    left, right : numpy.ndarray of int
        1-based daughter node of each node (``lDau``, ``rDau``); 0 where unused.
    status : numpy.ndarray of int
        ``nodestatus``: -1 terminal, -3 split (interior), 0 unused.
    split : numpy.ndarray of float
        Threshold (``upper``): go left when ``x[variable] <= split``.
    value : numpy.ndarray of float
        Node prediction (``avnode``).
    variable : numpy.ndarray of int
        1-based feature index of each split (``mbest``).
    coef : tuple of float
        Bias correction ``(a, b)``: the prediction is ``a + b ŷ`` when either is non-zero (``corr_bias``).
    """

    left: np.ndarray
    right: np.ndarray
    status: np.ndarray
    split: np.ndarray
    value: np.ndarray
    variable: np.ndarray
    coef: tuple[float, float] = (0.0, 0.0)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.status.shape[1])

    @property
    def n_features_used(self) -> int:
        """Largest 1-based feature index any split uses (0 for a forest of stumps)."""
        interior = self.status != _TERMINAL
        interior &= self.status != 0
        return int(self.variable[interior].max()) if interior.any() else 0

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Average prediction of the trees, as ``regRF_predict``.

        Parameters
        ----------
        features : array_like, shape (n_samples, n_features)
            One row per sample.

        Returns
        -------
        numpy.ndarray, shape (n_samples,)

        Raises
        ------
        ValueError
            If `features` is not 2-D or has fewer columns than the forest uses.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must have shape (n_samples, n_features), got {x.shape}")
        if x.shape[1] < self.n_features_used:
            raise ValueError(
                f"the forest splits on feature {self.n_features_used}, got only {x.shape[1]} features"
            )
        n_nodes, n_trees = self.status.shape
        trees = np.arange(n_trees)
        out = np.empty(x.shape[0])
        for i, row in enumerate(x):
            node = np.zeros(n_trees, dtype=np.intp)
            for _ in range(n_nodes + 1):
                active = self.status[node, trees] != _TERMINAL
                if not active.any():
                    break
                k, t = node[active], trees[active]
                go_left = row[self.variable[k, t] - 1] <= self.split[k, t]
                node[active] = np.where(go_left, self.left[k, t], self.right[k, t]) - 1
            else:  # pragma: no cover - load_ma_model rejects trees with cycles
                raise ValueError("a tree does not reach a terminal node")
            out[i] = self.value[node, trees].mean()
        a, b = self.coef
        if a != 0 or b != 0:
            out = a + b * out
        return out


@dataclass(frozen=True)
class MaModel:
    """Ma et al.'s regression model: three forests (local frequency, global frequency, spatial) and the fusion.

    Attributes
    ----------
    forests : tuple of RegressionForest
        ``model.rf{1..3}``, in the order of `FEATURE_GROUPS`.
    linear : numpy.ndarray, shape (4,)
        ``model.linear``: Ma = ``linear[0] + linear[1:] · (s1, s2, s3)``.
    source : str
        The file it was read from.
    """

    forests: tuple[RegressionForest, RegressionForest, RegressionForest]
    linear: np.ndarray
    source: str = ""

    def predict(self, features: MaFeatures) -> float:
        """Ma score of one image's features (``quality_predict.m``)."""
        scores = [
            float(forest.predict(np.asarray(group, dtype=np.float64)[np.newaxis, :])[0])
            for forest, group in zip(self.forests, features, strict=True)
        ]
        return float(self.linear[0] + np.dot(self.linear[1:], scores))


# ------------------------------------------------------------------------------------------------- loading
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "left": ("lDau", "leftDaughter"),
    "right": ("rDau", "rightDaughter"),
    "status": ("nodestatus",),
    "split": ("upper", "xbestsplit"),
    "value": ("avnode", "nodepred"),
    "variable": ("mbest", "bestvar"),
}


def _h5_value(file: Any, item: Any) -> Any:
    """Convert a MATLAB v7.3 object: struct → dict, cell → list, array → numpy (MATLAB's axis order)."""
    import h5py

    if isinstance(item, h5py.Group):
        return {key: _h5_value(file, item[key]) for key in item if not key.startswith("#")}
    data = item[()]
    if item.dtype.kind == "O" or h5py.check_ref_dtype(item.dtype) is not None:
        refs = np.asarray(data).T.ravel(order="F")  # cell elements in MATLAB's column-major order
        return [_h5_value(file, file[ref]) for ref in refs]
    return np.asarray(data).T


def _read_mat(path: Path) -> Mapping[str, Any]:
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as file:
            return {key: _h5_value(file, file[key]) for key in file if not key.startswith("#")}
    try:
        return scipy.io.loadmat(path, simplify_cells=True)
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise ValueError(f"{path}: not a MATLAB .mat file ({exc})") from None


def _struct_field(struct: Mapping[str, Any], what: str) -> np.ndarray | None:
    for name in _SYNONYMS[what]:
        if name in struct:
            return np.asarray(struct[name])
    return None


def _forest(struct: Any, where: str, n_features: int) -> RegressionForest:
    if not isinstance(struct, Mapping):
        raise ValueError(f"{where} is not a struct (got {type(struct).__name__})")
    arrays = {what: _struct_field(struct, what) for what in _SYNONYMS}
    if (arrays["left"] is None or arrays["right"] is None) and "treemap" in struct:
        treemap = np.asarray(struct["treemap"])
        if treemap.ndim == 3 and treemap.shape[1] == 2:
            arrays["left"], arrays["right"] = treemap[:, 0, :], treemap[:, 1, :]
        elif treemap.ndim == 2 and treemap.shape[1] % 2 == 0:
            arrays["left"], arrays["right"] = treemap[:, 0::2], treemap[:, 1::2]
    missing = [" / ".join(_SYNONYMS[w]) for w, a in arrays.items() if a is None]
    if missing:
        raise ValueError(
            f"{where} lacks the regression-forest field(s) {missing} (randomforest-matlab regRF layout: "
            f"lDau, rDau, nodestatus, upper, avnode, mbest); it has {sorted(struct)}"
        )
    n_trees = int(np.asarray(struct["ntree"]).ravel()[0]) if "ntree" in struct else None
    shaped = {}
    for what, array in arrays.items():
        a = np.asarray(array)
        if a.ndim == 1 and n_trees == 1:
            a = a[:, np.newaxis]  # scipy's simplify_cells squeezed a single tree
        if a.ndim != 2:
            raise ValueError(f"{where}: field for {what!r} must be (nodes, trees), got shape {a.shape}")
        shaped[what] = a
    shape = shaped["status"].shape
    if any(a.shape != shape for a in shaped.values()):
        raise ValueError(f"{where}: node arrays differ in shape: { {w: a.shape for w, a in shaped.items()} }")
    if n_trees is not None and n_trees != shape[1]:
        raise ValueError(f"{where}: ntree = {n_trees} but the node arrays hold {shape[1]} trees")
    ints = {}
    for what in ("left", "right", "status", "variable"):
        a = np.asarray(shaped[what], dtype=np.float64)
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{where}: {_SYNONYMS[what][0]} must hold integers")
        ints[what] = a.astype(np.intp)
    split = np.asarray(shaped["split"], dtype=np.float64)
    value = np.asarray(shaped["value"], dtype=np.float64)
    status = ints["status"]
    interior = (status != _TERMINAL) & (status != 0)
    n_nodes = shape[0]
    for what in ("left", "right"):
        children = ints[what][interior]
        if children.size and (children.min() < 2 or children.max() > n_nodes):
            raise ValueError(f"{where}: {_SYNONYMS[what][0]} points outside the tree (nodes 2..{n_nodes})")
    for what in ("left", "right"):
        children = ints[what][interior] - 1
        if children.size and np.any(status[children, np.nonzero(interior)[1]] == 0):
            raise ValueError(f"{where}: {_SYNONYMS[what][0]} points to an unused node (nodestatus 0)")
    if np.any(status[0] == 0):
        raise ValueError(f"{where}: a tree has no root node (nodestatus 0 at node 1)")
    used = ints["variable"][interior]
    if used.size and (used.min() < 1 or used.max() > n_features):
        raise ValueError(
            f"{where} splits on feature {int(used.max())}, but this feature group has {n_features} "
            "(are the forests in the order DCT, GSM, PCA?)"
        )
    # children are numbered after their parent in regTree; a child at or before its parent would loop
    rows = np.nonzero(interior)[0]
    if rows.size and (
        np.any(ints["left"][interior] - 1 <= rows) or np.any(ints["right"][interior] - 1 <= rows)
    ):
        raise ValueError(f"{where}: a daughter node precedes its parent (corrupt tree)")
    coef = (0.0, 0.0)
    if "coef" in struct:
        c = np.asarray(struct["coef"], dtype=np.float64).ravel()
        if c.size >= 2:
            coef = (float(c[0]), float(c[1]))
    return RegressionForest(
        left=ints["left"],
        right=ints["right"],
        status=status,
        split=split,
        value=value,
        variable=ints["variable"],
        coef=coef,
    )


def _load(path: Path) -> MaModel:
    content = _read_mat(path)
    model = content.get("model", content)
    if isinstance(model, list | tuple) and len(model) == 1:
        model = model[0]
    if not isinstance(model, Mapping) or "rf" not in model or "linear" not in model:
        found = (
            sorted(k for k in model if not k.startswith("__"))
            if isinstance(model, Mapping)
            else type(model).__name__
        )
        raise ValueError(
            f"{path}: expected a struct 'model' with fields 'rf' (3 regression forests) and 'linear' "
            f"(4 weights), as the official sr-metric model.mat; found {found}"
        )
    rf = model["rf"]
    if isinstance(rf, np.ndarray):
        rf = list(rf.ravel(order="F"))
    if isinstance(rf, Mapping) or not isinstance(rf, list | tuple) or len(rf) != 3:
        count = len(rf) if isinstance(rf, list | tuple) else type(rf).__name__
        raise ValueError(f"{path}: model.rf must be a cell of 3 forests, got {count}")
    linear = np.asarray(model["linear"], dtype=np.float64).ravel()
    if linear.size != 4 or not np.all(np.isfinite(linear)):
        raise ValueError(f"{path}: model.linear must hold 4 finite numbers, got {linear.size}")
    forests = tuple(
        _forest(struct, f"{path}: model.rf{{{k + 1}}} ({name})", n)
        for k, (struct, (name, n)) in enumerate(zip(rf, FEATURE_GROUPS, strict=True))
    )
    return MaModel(forests, linear, str(path))  # type: ignore[arg-type]


def load_ma_model(path: str | os.PathLike[str]) -> MaModel:
    """Read Ma et al.'s model file (the official ``model.mat`` of github.com/chaoma99/sr-metric).

    Parameters
    ----------
    path : str or path-like
        A MATLAB v5 or v7.3 ``.mat`` file holding ``model.rf`` (3 randomforest-matlab regression forests)
        and ``model.linear`` (4 weights); pyiqa's ``NRQM_model.mat`` has the same layout (module notes).

    Returns
    -------
    MaModel

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is not a ``.mat`` file or its layout does not match (the message names the file and the
        missing or inconsistent field).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{MA_MODEL_HELP} not found: {file}")
    return _load(file)


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, mtime_ns: int, size: int) -> MaModel:
    return _load(Path(path))


def _resolve_model(model: MaModel | str | os.PathLike[str]) -> MaModel:
    if isinstance(model, MaModel):
        return model
    if isinstance(model, str | os.PathLike):
        file = Path(model)
        if not file.is_file():
            raise FileNotFoundError(f"{MA_MODEL_HELP} not found: {file}")
        stat = file.stat()
        return _load_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    raise ValueError(f"model must be a MaModel or the path of {MA_MODEL_HELP}, got {type(model).__name__}")


# -------------------------------------------------------------------------------------------------- scores
def ma_score(
    image: np.ndarray,
    *,
    model: MaModel | str | os.PathLike[str],
    data_range: float | tuple[float, float] | None = None,
) -> float:
    """Ma et al.'s quality score of one image (no reference; higher is better, about 0-10).

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, 3)
        As `ma_features`.
    model : MaModel, str or path-like
        The model (`load_ma_model`), or the path of the official ``model.mat`` (read once and cached).
    data_range : None, float or (float, float)
        Grey mapping of real-valued data, as `scansr.metrics.niqe.niqe`.

    Returns
    -------
    float
        The Ma (NRQM) score, dimensionless.

    Raises
    ------
    ValueError
        As `ma_features`, or if the model file's layout is not the official one.
    FileNotFoundError
        If `model` is a path that does not exist.
    """
    resolved = _resolve_model(model)
    return resolved.predict(ma_features(image, data_range=data_range))


def pi_score(
    image: np.ndarray,
    *,
    model: MaModel | str | os.PathLike[str],
    data_range: float | tuple[float, float] | None = None,
) -> float:
    """Perceptual index ``((10 - Ma) + NIQE) / 2`` of one image (Blau et al. 2018; lower is better).

    Ma and NIQE see the same grey image (same `data_range` mapping). The PIRM challenge scored the Y channel
    of YCbCr with a border of 4 px removed: pass that image to reproduce its numbers.

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, 3)
        As `ma_features`; NIQE also needs two 96 × 96 blocks.
    model : MaModel, str or path-like
        As `ma_score`.
    data_range : None, float or (float, float)
        Grey mapping of real-valued data, as `scansr.metrics.niqe.niqe`.

    Returns
    -------
    float
        PI, dimensionless.

    Raises
    ------
    ValueError
        As `ma_score` and `scansr.metrics.niqe.niqe`.
    FileNotFoundError
        If `model` is a path that does not exist.
    """
    ma = ma_score(image, model=model, data_range=data_range)
    return 0.5 * ((10.0 - ma) + niqe(image, data_range=data_range))
