"""Simulate low-pixel scans from high-pixel ones: sampling, tip, drift, scan-line artefacts, SEM noise.

The seed papers make their low-resolution (LR) inputs by bicubic decimation of the high-resolution (HR) scan.
Real low-pixel scans differ (the real-pair study): an AFM measures the surface at points (one tap per pixel in
PeakForce or off-resonance modes; a pixel-long average along the fast axis in contact or tapping mode),
through a tip of finite size, while the sample drifts, and every scan line carries its own offset, noise and
occasional scars. An SEM at half the magnification with the same dwell time gives an *aliased* image (the SEM
paper): the same beam and the same dose per pixel, on a grid twice as coarse. This module provides each of
these effects as a pure function, and a random pipeline (`DegradationConfig` → `sample_pipeline` → `Pipeline`
→ `apply_pipeline`) that draws a plausible mixture for training.

Conventions
-----------
- Images are 2-D arrays ``(ny, nx)`` in the channel's SI unit (heights in metres, SEM grey levels in counts).
  Rows are scan lines: x (along a row) is the fast-scan axis, y (down the rows) the slow-scan axis. Lines are
  taken as scanned from row 0 on; only the raster order of `one_over_f_noise` depends on that.
- Every function returns a new ``float64`` array; inputs are never modified.
- Every random function takes a keyword-only ``rng: numpy.random.Generator``; the same seed gives the same
  result.
- Downsampling by an integer ``scale`` first crops the image at the bottom and right to a multiple of
  ``scale`` (``modcrop``, as the VDSR code of the AFM paper does), so the LR image always has shape
  ``(ny // scale, nx // scale)``.
- In the random pipeline, noise magnitudes are fractions of the HR image's robust range (`robust_range`), so
  the same configuration works on heights in metres, phases in degrees or grey levels in counts. Only the tip
  radius is an absolute length (metres), because a tip has a physical size.

This module is in scansr's numpy layer: it imports numpy, scipy and scansr's numpy modules only, never torch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
from scipy import ndimage

from scansr import interpolate

__all__ = [
    "AFM_DEFAULT",
    "BICUBIC",
    "PRESETS",
    "SAMPLINGS",
    "SEM_DEFAULT",
    "STEPS",
    "TIP_SHAPES",
    "DegradationConfig",
    "DriftStep",
    "GaussianBlurStep",
    "LineNoiseStep",
    "LineOffsetsStep",
    "OneOverFNoiseStep",
    "Pipeline",
    "PointSample",
    "SamplingStep",
    "ScarsStep",
    "ShotNoiseStep",
    "TipDilationStep",
    "apply_pipeline",
    "area_downsample",
    "bicubic_downsample",
    "drift",
    "fast_average_sample",
    "gaussian_blur",
    "line_noise",
    "line_offsets",
    "load_config",
    "one_over_f_noise",
    "point_sample",
    "robust_range",
    "sample_pipeline",
    "scars",
    "shot_noise",
    "tip_dilation",
]

logger = logging.getLogger(__name__)

SAMPLINGS = ("area", "bicubic", "point", "fast_average")
TIP_SHAPES = ("parabolic", "conical")
NOISE_AXES = ("fast", "slow")

# A structuring function with more elements than this makes grey_dilation slow (it is O(pixels × elements)).
_LARGE_KERNEL = 100_000


# --------------------------------------------------------------------------------------------- input checks
def _check_image(image: Any, name: str = "image") -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (ny, nx), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; fill or crop them first")
    return arr


def _check_scale(scale: Any, shape: tuple[int, int]) -> int:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    scale = int(scale)
    if scale > min(shape):
        raise ValueError(f"scale {scale} is larger than the image {shape}: the LR image would be empty")
    return scale


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), got {rng!r}"
        )
    return rng


def _check_nonneg(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_positive(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    ny, nx = image.shape
    return image[: ny - ny % scale, : nx - nx % scale]


def robust_range(image: np.ndarray, *, percentiles: tuple[float, float] = (1.0, 99.0)) -> float:
    """Return the robust range of an image: the difference of two percentiles of its values.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        The image, in any unit.
    percentiles : (float, float), optional
        Lower and upper percentile in [0, 100]. Default (1, 99): insensitive to a few spikes or scars.

    Returns
    -------
    float
        ``percentile(image, high) - percentile(image, low)`` in the image's unit; the full range (max - min)
        when that is zero, and 0.0 for a constant image.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array or the percentiles are not ``0 <= low < high <= 100``.
    """
    arr = _check_image(image)
    low, high = percentiles
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    lo, hi = np.percentile(arr, [low, high])
    span = float(hi - lo)
    return span if span > 0 else float(np.ptp(arr))


# --------------------------------------------------------------------------------------------------- sampling
class PointSample(NamedTuple):
    """A point-sampled LR image and the phase of its grid in the HR image.

    Attributes
    ----------
    image : ndarray, shape (ny // scale, nx // scale)
        The LR image; ``image[i, j]`` was measured at HR pixel ``(phase[0] + i * scale, phase[1] + j *
        scale)`` (for `fast_average_sample`: averaged over HR columns ``phase[1] + j * scale`` ... ``+ scale -
        1``).
    phase : (int, int)
        ``(py, px)``, each in ``[0, scale)``.
    """

    image: np.ndarray
    phase: tuple[int, int]


def area_downsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Downsample by averaging ``scale × scale`` blocks (a detector that integrates over the whole LR pixel).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        HR image in any unit.
    scale : int
        Integer factor >= 1. The image is first cropped at the bottom and right to a multiple of `scale`.

    Returns
    -------
    ndarray, shape (ny // scale, nx // scale)
        The LR image, float64, same unit.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array or `scale` is not an integer in ``[1, min(ny, nx)]``.
    """
    arr = _check_image(image)
    scale = _check_scale(scale, arr.shape)
    return np.asarray(interpolate.downsample(_modcrop(arr, scale), scale, method="area"), dtype=np.float64)


def bicubic_downsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Downsample with MATLAB's antialiased bicubic ``imresize``: the seed papers' degradation.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        HR image in any unit.
    scale : int
        Integer factor >= 1. The image is first cropped at the bottom and right to a multiple of `scale`
        (VDSR's ``modcrop``), exactly as the AFM paper's MATLAB code prepares its training pairs.

    Returns
    -------
    ndarray, shape (ny // scale, nx // scale)
        The LR image, float64, same unit.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array or `scale` is not an integer in ``[1, min(ny, nx)]``.
    """
    arr = _check_image(image)
    scale = _check_scale(scale, arr.shape)
    return np.asarray(interpolate.downsample(_modcrop(arr, scale), scale, method="bicubic"), dtype=np.float64)


def _draw_phase(scale: int, rng: np.random.Generator | None, phase: Any) -> tuple[int, int]:
    if phase is None:
        if rng is None:
            raise ValueError("point sampling needs rng (a numpy.random.Generator) when phase is not given")
        _check_rng(rng)
        py, px = (int(v) for v in rng.integers(0, scale, size=2))
        return py, px
    try:
        py, px = phase
    except (TypeError, ValueError):
        raise ValueError(
            f"phase must be a pair (py, px) of integers in [0, {scale}), got {phase!r}"
        ) from None
    for v in (py, px):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < scale:
            raise ValueError(f"phase must be a pair (py, px) of integers in [0, {scale}), got {phase!r}")
    return int(py), int(px)


def point_sample(
    image: np.ndarray, scale: int, *, rng: np.random.Generator | None, phase: tuple[int, int] | None = None
) -> PointSample:
    """Sample every `scale`-th pixel along both axes, as an AFM that measures the surface at points.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        HR image in any unit.
    scale : int
        Integer factor >= 1.
    rng : numpy.random.Generator or None
        Draws the phase when `phase` is None (may be None only when `phase` is given).
    phase : (int, int), optional
        ``(py, px)`` in ``[0, scale)``: the HR pixel of the first sample. Random when None.

    Returns
    -------
    PointSample
        ``image`` of shape ``(ny // scale, nx // scale)`` with ``image[i, j] == hr[py + i*scale, px +
        j*scale]``, and the ``phase`` used.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array, `scale` is not an integer in ``[1, min(ny, nx)]``, `phase`
        is out of range, or both `rng` and `phase` are None.
    """
    arr = _check_image(image)
    scale = _check_scale(scale, arr.shape)
    py, px = _draw_phase(scale, rng, phase)
    ny, nx = arr.shape
    lr = arr[py::scale, px::scale][: ny // scale, : nx // scale].copy()
    return PointSample(lr, (py, px))


def fast_average_sample(
    image: np.ndarray, scale: int, *, rng: np.random.Generator | None, phase: tuple[int, int] | None = None
) -> PointSample:
    """Sample every `scale`-th row, averaging `scale` pixels along each row (contact/tapping-mode AFM).

    In continuous modes the tip sweeps along the fast axis and the controller averages the signal over each
    pixel's dwell time, whereas the slow axis is sampled at one line per LR row (the real-pair study notes
    that there is no acquisition-time price for more pixels along x in these modes).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        HR image in any unit.
    scale : int
        Integer factor >= 1.
    rng : numpy.random.Generator or None
        Draws the phase when `phase` is None (may be None only when `phase` is given).
    phase : (int, int), optional
        ``(py, px)`` in ``[0, scale)``: the first sampled row and the first column of the first averaging
        block.

    Returns
    -------
    PointSample
        ``image[i, j] == mean(hr[py + i*scale, px + j*scale : px + (j+1)*scale])``, shape
        ``(ny // scale, nx // scale)``; the last block is shortened (mean of the pixels present) when the row
        ends inside it.

    Raises
    ------
    ValueError
        As `point_sample`.
    """
    arr = _check_image(image)
    scale = _check_scale(scale, arr.shape)
    py, px = _draw_phase(scale, rng, phase)
    ny, nx = arr.shape
    mx = nx // scale
    rows = arr[py::scale][: ny // scale, px:]
    width = rows.shape[1]
    starts = np.arange(mx) * scale
    sums = np.add.reduceat(rows, starts, axis=1)
    counts = np.minimum(starts + scale, width) - starts
    return PointSample(sums / counts, (py, px))


# ----------------------------------------------------------------------------------------------- scan lines
def line_offsets(image: np.ndarray, *, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add a random constant offset to each scan line (row): streaks from a line-by-line z reference.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in any unit.
    sigma : float
        Standard deviation of the per-line offsets, in the image's unit, >= 0.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray, shape (ny, nx)
        ``image + offset[:, None]`` with ``offset ~ N(0, sigma²)`` independently per row.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array, `sigma` is negative or not finite, or `rng` is not a
        Generator.
    """
    arr = _check_image(image)
    sigma = _check_nonneg(sigma, "sigma")
    rng = _check_rng(rng)
    return arr + rng.normal(0.0, sigma, size=arr.shape[0])[:, None]


def line_noise(image: np.ndarray, *, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise to every pixel along the scan lines (detector and feedback noise).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in any unit.
    sigma : float
        Standard deviation of the noise, in the image's unit, >= 0.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray, shape (ny, nx)
        ``image + noise`` with independent ``N(0, sigma²)`` per pixel.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array, `sigma` is negative or not finite, or `rng` is not a
        Generator.
    """
    arr = _check_image(image)
    sigma = _check_nonneg(sigma, "sigma")
    rng = _check_rng(rng)
    return arr + rng.normal(0.0, sigma, size=arr.shape)


def scars(
    image: np.ndarray, *, rate: float, height: float, max_length: int, rng: np.random.Generator
) -> np.ndarray:
    """Add scars: short pieces of a scan line displaced by a constant (the tip loses or jumps track).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in any unit.
    rate : float
        Mean number of scars per scan line, >= 0; the number of scars is Poisson(``rate * ny``).
    height : float
        Displacement of a scar in the image's unit, >= 0; each scar adds ``+height`` or ``-height`` (equal
        odds).
    max_length : int
        Longest scar in pixels, >= 1; lengths are uniform in ``[1, max_length]`` and cut at the end of the
        row.
    rng : numpy.random.Generator
        Source of randomness (row, start, length and sign of each scar).

    Returns
    -------
    ndarray, shape (ny, nx)
        The image with the scars added (overlapping scars add up).

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array, `rate` or `height` is negative or not finite, `max_length`
        is not an integer >= 1, or `rng` is not a Generator.
    """
    arr = _check_image(image)
    rate = _check_nonneg(rate, "rate")
    height = _check_nonneg(height, "height")
    if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral) or max_length < 1:
        raise ValueError(f"max_length must be an integer >= 1 (pixels), got {max_length!r}")
    rng = _check_rng(rng)
    ny, nx = arr.shape
    out = arr.copy()
    count = int(rng.poisson(rate * ny))
    rows = rng.integers(0, ny, size=count)
    starts = rng.integers(0, nx, size=count)
    lengths = rng.integers(1, int(max_length) + 1, size=count)
    signs = rng.choice(np.array([-1.0, 1.0]), size=count)
    for row, start, length, sign in zip(rows, starts, lengths, signs, strict=True):
        out[row, start : start + length] += sign * height
    return out


def one_over_f_noise(
    shape: tuple[int, int],
    *,
    amplitude: float,
    exponent: float = 1.0,
    rng: np.random.Generator,
    axis: str = "fast",
) -> np.ndarray:
    """Make Gaussian 1/f^exponent noise in scan (acquisition) time, to be added to an image.

    The microscope visits the pixels line by line, so noise that is 1/f in time is laid out in raster order.

    Parameters
    ----------
    shape : (int, int)
        ``(ny, nx)`` of the image the noise is for.
    amplitude : float
        Standard deviation (RMS) of the returned noise, in the image's unit, >= 0.
    exponent : float, optional
        Spectral exponent ``alpha`` in ``PSD(f) ∝ f**-alpha``, in [0, 4]. 0 is white noise, 1 (default) is
        pink (flicker) noise, 2 is a random walk.
    rng : numpy.random.Generator
        Source of randomness.
    axis : {"fast", "slow"}, optional
        ``"fast"`` (default): one time series sampled at every pixel in raster order, ``time = row * nx +
        col``, so the noise varies along each line and, at low frequency, from line to line. ``"slow"``: one
        value per scan line (``time = row``), constant along the line: the slow wander of the line mean
        (streaks that are correlated over many lines).

    Returns
    -------
    ndarray, shape (ny, nx)
        Zero-mean noise with standard deviation `amplitude` (all zeros when the series has a single sample).

    Raises
    ------
    ValueError
        If `shape` is not two positive integers, `amplitude` is negative, `exponent` is outside [0, 4], `axis`
        is not one of {"fast", "slow"}, or `rng` is not a Generator.
    """
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (ny, nx) of positive integers, got {shape!r}") from None
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be a pair (ny, nx) of positive integers, got {shape!r}")
    amplitude = _check_nonneg(amplitude, "amplitude")
    exponent = _check_finite(exponent, "exponent")
    if not 0 <= exponent <= 4:
        raise ValueError(f"exponent must be in [0, 4], got {exponent!r}")
    if axis not in NOISE_AXES:
        raise ValueError(f"axis must be one of {NOISE_AXES}, got {axis!r}")
    rng = _check_rng(rng)
    n = ny * nx if axis == "fast" else ny
    series = _power_law_series(n, exponent, rng)
    std = float(series.std())
    series = series * (amplitude / std) if std > 0 else np.zeros(n)
    if axis == "fast":
        return series.reshape(ny, nx)
    return np.repeat(series[:, None], nx, axis=1)


def _power_law_series(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean Gaussian series of length n with PSD ∝ f**-exponent (Fourier synthesis, DC removed)."""
    if n < 2:
        return np.zeros(n)
    freqs = np.fft.rfftfreq(n)
    weights = np.zeros_like(freqs)
    weights[1:] = freqs[1:] ** (-exponent / 2.0)
    coeffs = weights * (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size))
    return np.fft.irfft(coeffs, n)


# --------------------------------------------------------------------------------------------------- drift
def drift(
    image: np.ndarray,
    *,
    shear: float,
    stretch: float,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Distort an image as slow sample drift during the scan does: a row-dependent x-shift and a y stretch.

    A constant drift velocity moves the sample a little further with every scan line: along x this shifts each
    row in proportion to its row index (shear); along y it stretches or compresses the image. Distances are
    taken from the centre row, so the image stays registered on average. Output pixel ``(r, c)`` takes the
    input value at::

        y = yc + (r - yc) * (1 + stretch)
        x = c + shear * (r - yc) + jitter_r          (yc = (ny - 1) / 2)

    interpolated with cubic splines (``scipy.ndimage.map_coordinates``, order 3, mode "nearest": beyond the
    edge the edge value is repeated).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in any unit.
    shear : float
        x-shift per scan line, in pixels per row (e.g. 0.01: 2.56 px over 256 rows).
    stretch : float
        Relative change of the row spacing, > -1 (e.g. 0.01: the image shows 1 % more sample along y).
    jitter : float, optional
        Standard deviation of an extra random x-shift of each line, in pixels, >= 0 (line-to-line position
        noise of the fast-axis piezo). Default 0.
    rng : numpy.random.Generator, optional
        Draws the jitter; required when `jitter` > 0.

    Returns
    -------
    ndarray, shape (ny, nx)
        The distorted image, float64, same unit.

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array, a parameter is not finite or out of range, or `jitter` > 0
        without a Generator `rng`.
    """
    arr = _check_image(image)
    shear = _check_finite(shear, "shear")
    stretch = _check_finite(stretch, "stretch")
    if stretch <= -1:
        raise ValueError(f"stretch must be > -1, got {stretch!r}")
    jitter = _check_nonneg(jitter, "jitter")
    ny, nx = arr.shape
    rows = np.arange(ny, dtype=np.float64)
    yc = (ny - 1) / 2.0
    shift = shear * (rows - yc)
    if jitter > 0:
        if rng is None:
            raise ValueError("drift with jitter > 0 needs rng (a numpy.random.Generator)")
        shift = shift + _check_rng(rng).normal(0.0, jitter, size=ny)
    y = np.broadcast_to((yc + (rows - yc) * (1.0 + stretch))[:, None], (ny, nx))
    x = np.arange(nx, dtype=np.float64)[None, :] + shift[:, None]
    return ndimage.map_coordinates(arr, [y, x], order=3, mode="nearest")


# --------------------------------------------------------------------------------------------------- tip
def _tip_height(r: np.ndarray, radius: float, shape: str, half_angle: float) -> np.ndarray:
    """Height of the tip surface above its apex at lateral distance r (m): parabola, or sphere-capped cone."""
    if shape == "parabolic":
        return r**2 / (2.0 * radius)
    theta = math.radians(half_angle)
    r0 = radius * math.cos(theta)  # where the spherical cap meets the cone tangentially
    z0 = radius * (1.0 - math.sin(theta))
    sphere = radius - np.sqrt(np.clip(radius**2 - r**2, 0.0, None))
    cone = z0 + (r - r0) / math.tan(theta)
    return np.where(r <= r0, sphere, cone)


def _tip_reach(depth: float, radius: float, shape: str, half_angle: float) -> float:
    """Lateral distance (m) at which the tip surface is `depth` above its apex."""
    if shape == "parabolic":
        return math.sqrt(2.0 * radius * depth)
    theta = math.radians(half_angle)
    z0 = radius * (1.0 - math.sin(theta))
    if depth <= z0:
        return math.sqrt(max(radius**2 - (radius - depth) ** 2, 0.0))
    return radius * math.cos(theta) + (depth - z0) * math.tan(theta)


def tip_dilation(
    height: np.ndarray,
    pixel_size: tuple[float, float],
    *,
    radius: float,
    shape: str = "parabolic",
    half_angle: float = 20.0,
) -> np.ndarray:
    """Image a surface with a tip of finite size: grey-scale dilation of the heights by the inverted tip.

    The apex of the tip touches the highest point under it, so the measured height at each pixel is
    ``max over offsets (h(p + d) - z_tip(d))`` where ``z_tip(d) >= 0`` is the tip surface above its apex at
    lateral offset ``d`` (``scipy.ndimage.grey_dilation`` with the structuring function ``-z_tip`` built in
    metres from the pixel size (dy, dx); mode "nearest" at the edges). Peaks broaden into the tip's shape,
    pits narrow; no height is ever lowered. The structuring function extends as far as the tip can reach down
    the image's full height range.

    Parameters
    ----------
    height : ndarray, shape (ny, nx)
        Surface heights in metres.
    pixel_size : (float, float)
        ``(dy, dx)`` in metres, > 0 (non-square pixels are handled).
    radius : float
        Tip (apex) radius in metres, > 0.
    shape : {"parabolic", "conical"}, optional
        ``"parabolic"`` (default): ``z = (x² + y²) / (2 * radius)``. ``"conical"``: a cone of `half_angle`
        whose apex is rounded by a sphere of `radius`, joined where their slopes agree.
    half_angle : float, optional
        Cone half-angle in degrees, in (0, 90); only for ``"conical"``. Default 20.

    Returns
    -------
    ndarray, shape (ny, nx)
        The dilated heights in metres (>= `height` everywhere).

    Raises
    ------
    ValueError
        If `height` is not a finite 2-D real array, `pixel_size` is not two positive lengths, `radius` is not
        > 0, `shape` is unknown, or `half_angle` is outside (0, 90).
    """
    arr = _check_image(height, "height")
    dy, dx = _check_pixel_size(pixel_size)
    radius = _check_positive(radius, "radius")
    if shape not in TIP_SHAPES:
        raise ValueError(f"shape must be one of {TIP_SHAPES}, got {shape!r}")
    half_angle = _check_finite(half_angle, "half_angle")
    if not 0 < half_angle < 90:
        raise ValueError(f"half_angle must be in (0, 90) degrees, got {half_angle!r}")
    depth = float(np.ptp(arr))
    if depth == 0:
        return arr.copy()
    reach = _tip_reach(depth, radius, shape, half_angle)
    ny, nx = arr.shape
    # Offsets beyond the image only repeat edge values (mode "nearest") further down the tip: never a maximum.
    ky = min(math.ceil(reach / dy), ny - 1)
    kx = min(math.ceil(reach / dx), nx - 1)
    y = np.arange(-ky, ky + 1) * dy
    x = np.arange(-kx, kx + 1) * dx
    if shape == "parabolic":
        # -(x² + y²)/2R is a sum of a function of y and one of x: the dilation separates into two 1-D passes.
        sy = -_tip_height(np.abs(y), radius, shape, half_angle)[:, None]
        sx = -_tip_height(np.abs(x), radius, shape, half_angle)[None, :]
        out = ndimage.grey_dilation(arr, structure=sy, mode="nearest")
        return ndimage.grey_dilation(out, structure=sx, mode="nearest")
    r = np.hypot(y[:, None], x[None, :])
    structure = -_tip_height(r, radius, shape, half_angle)
    if structure.size > _LARGE_KERNEL:
        logger.warning(
            "tip dilation with a %d x %d structuring function on a %d x %d image will be slow; "
            "crop the image or use a parabolic tip",
            *structure.shape,
            ny,
            nx,
        )
    return ndimage.grey_dilation(arr, structure=structure, mode="nearest")


def _check_pixel_size(pixel_size: Any) -> tuple[float, float]:
    try:
        dy, dx = pixel_size
    except (TypeError, ValueError):
        raise ValueError(
            f"pixel_size must be a pair (dy, dx) of lengths in metres, got {pixel_size!r}"
        ) from None
    for v in (dy, dx):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
            raise ValueError(
                f"pixel_size must be a pair (dy, dx) of positive lengths in metres, got {pixel_size!r}"
            )
    return float(dy), float(dx)


# --------------------------------------------------------------------------------------------------- SEM
def shot_noise(counts: np.ndarray, *, dose: float, rng: np.random.Generator) -> np.ndarray:
    """Re-acquire an SEM image with Poisson shot noise at a given electron dose per pixel.

    Grey levels are taken as proportional to the detected electrons: the normalised intensity
    ``u = (counts - lo) / (hi - lo)`` with ``hi = max(counts)`` and ``lo = min(0, min(counts))`` (zero grey is
    zero signal unless the image has negative values). Each pixel draws ``n ~ Poisson(u * dose)`` electrons
    and the result is mapped back to the input's range: ``lo + n / dose * (hi - lo)``. So ``u`` keeps its mean
    and gains the variance ``u / dose``.

    Parameters
    ----------
    counts : ndarray, shape (ny, nx)
        SEM grey levels ("counts").
    dose : float
        Electrons per pixel at full-scale intensity (``hi``), > 0. Lower dose, more noise.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray, shape (ny, nx)
        The noisy image in the input's unit (a copy of the input when it is all ``lo``).

    Raises
    ------
    ValueError
        If `counts` is not a finite 2-D real array, `dose` is not > 0, or `rng` is not a Generator.
    """
    arr = _check_image(counts, "counts")
    dose = _check_positive(dose, "dose")
    rng = _check_rng(rng)
    hi = float(arr.max())
    lo = min(0.0, float(arr.min()))
    span = hi - lo
    if span == 0:
        return arr.copy()
    electrons = rng.poisson((arr - lo) / span * dose)
    return lo + electrons / dose * span


def gaussian_blur(image: np.ndarray, *, sigma_px: float | tuple[float, float]) -> np.ndarray:
    """Blur with a Gaussian (the finite SEM beam spot), edges extended with the edge value.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Image in any unit.
    sigma_px : float or (float, float)
        Standard deviation of the Gaussian in pixels, >= 0; a pair gives ``(sigma_y, sigma_x)``.

    Returns
    -------
    ndarray, shape (ny, nx)
        The blurred image (``scipy.ndimage.gaussian_filter``, mode "nearest", truncated at 4 sigma).

    Raises
    ------
    ValueError
        If `image` is not a finite 2-D real array or a sigma is negative or not finite.
    """
    arr = _check_image(image)
    if isinstance(sigma_px, tuple | list | np.ndarray):
        if len(sigma_px) != 2:
            raise ValueError(f"sigma_px must be a number or a pair (sigma_y, sigma_x), got {sigma_px!r}")
        sigma = tuple(_check_nonneg(s, "sigma_px") for s in sigma_px)
    else:
        sigma = (_check_nonneg(sigma_px, "sigma_px"),) * 2
    return ndimage.gaussian_filter(arr, sigma=sigma, mode="nearest", truncate=4.0)


# ------------------------------------------------------------------------------------------- pipeline steps
def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _plain(step: Any) -> None:
    """Store a step's numbers as plain Python int/float (JSON-serialisable, equal after a round trip)."""
    for f in dataclasses.fields(step):
        value = getattr(step, f.name)
        if isinstance(value, str):
            object.__setattr__(step, f.name, str(value))
        else:
            object.__setattr__(step, f.name, int(value) if f.type == "int" else float(value))


@dataclass(frozen=True)
class TipDilationStep:
    """Dilate the HR heights with a tip (`tip_dilation`). `radius` in metres, `half_angle` in degrees."""

    name: ClassVar[str] = "tip_dilation"
    radius: float
    shape: str = "parabolic"
    half_angle: float = 20.0

    def __post_init__(self) -> None:
        _check_positive(self.radius, "radius")
        _check_choice(self.shape, "shape", TIP_SHAPES)
        if not 0 < _check_finite(self.half_angle, "half_angle") < 90:
            raise ValueError(f"half_angle must be in (0, 90) degrees, got {self.half_angle!r}")
        _plain(self)


@dataclass(frozen=True)
class GaussianBlurStep:
    """Blur the HR image (`gaussian_blur`, beam spot). `sigma_px` in HR pixels."""

    name: ClassVar[str] = "gaussian_blur"
    sigma_px: float

    def __post_init__(self) -> None:
        _check_nonneg(self.sigma_px, "sigma_px")
        _plain(self)


@dataclass(frozen=True)
class DriftStep:
    """Distort the HR image by drift (`drift`): `shear` in px/row, `stretch` relative, `jitter` in px."""

    name: ClassVar[str] = "drift"
    shear: float
    stretch: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(self.shear, "shear")
        if _check_finite(self.stretch, "stretch") <= -1:
            raise ValueError(f"stretch must be > -1, got {self.stretch!r}")
        _check_nonneg(self.jitter, "jitter")
        _plain(self)


@dataclass(frozen=True)
class SamplingStep:
    """Reduce HR to LR: one of `SAMPLINGS` (point phases are drawn when the pipeline is applied)."""

    name: ClassVar[str] = "sampling"
    method: str

    def __post_init__(self) -> None:
        _check_choice(self.method, "method", SAMPLINGS)
        _plain(self)


@dataclass(frozen=True)
class ShotNoiseStep:
    """Poisson noise on the LR image (`shot_noise`). `dose` in electrons per pixel at full scale."""

    name: ClassVar[str] = "shot_noise"
    dose: float

    def __post_init__(self) -> None:
        _check_positive(self.dose, "dose")
        _plain(self)


@dataclass(frozen=True)
class LineOffsetsStep:
    """Per-line offsets on the LR image (`line_offsets`); `sigma` as a fraction of the HR robust range."""

    name: ClassVar[str] = "line_offsets"
    sigma: float

    def __post_init__(self) -> None:
        _check_nonneg(self.sigma, "sigma")
        _plain(self)


@dataclass(frozen=True)
class ScarsStep:
    """Scars on the LR image (`scars`): `height` relative to the HR robust range, `max_length` in px."""

    name: ClassVar[str] = "scars"
    rate: float
    height: float
    max_length: int

    def __post_init__(self) -> None:
        _check_nonneg(self.rate, "rate")
        _check_nonneg(self.height, "height")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, numbers.Integral):
            raise ValueError(f"max_length must be an integer >= 1, got {self.max_length!r}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be an integer >= 1, got {self.max_length!r}")
        _plain(self)


@dataclass(frozen=True)
class OneOverFNoiseStep:
    """1/f noise on the LR image (`one_over_f_noise`); `amplitude` as a fraction of the HR robust range."""

    name: ClassVar[str] = "one_over_f_noise"
    amplitude: float
    exponent: float = 1.0
    axis: str = "fast"

    def __post_init__(self) -> None:
        _check_nonneg(self.amplitude, "amplitude")
        if not 0 <= _check_finite(self.exponent, "exponent") <= 4:
            raise ValueError(f"exponent must be in [0, 4], got {self.exponent!r}")
        _check_choice(self.axis, "axis", NOISE_AXES)
        _plain(self)


@dataclass(frozen=True)
class LineNoiseStep:
    """White noise on the LR image (`line_noise`); `sigma` as a fraction of the HR robust range."""

    name: ClassVar[str] = "line_noise"
    sigma: float

    def __post_init__(self) -> None:
        _check_nonneg(self.sigma, "sigma")
        _plain(self)


Step = (
    TipDilationStep
    | GaussianBlurStep
    | DriftStep
    | SamplingStep
    | ShotNoiseStep
    | LineOffsetsStep
    | ScarsStep
    | OneOverFNoiseStep
    | LineNoiseStep
)

# Step name -> class, in the physical order in which a pipeline applies them: what the tip and the beam do to
# the surface, then the motion of the sample during the scan, then the pixel grid, then what the electronics
# add per line.
STEPS: dict[str, type] = {
    cls.name: cls
    for cls in (
        TipDilationStep,
        GaussianBlurStep,
        DriftStep,
        SamplingStep,
        ShotNoiseStep,
        LineOffsetsStep,
        ScarsStep,
        OneOverFNoiseStep,
        LineNoiseStep,
    )
}
_ORDER = {name: i for i, name in enumerate(STEPS)}


@dataclass(frozen=True)
class Pipeline:
    """A concrete degradation: the steps and parameters drawn by `sample_pipeline`, in physical order.

    Parameters
    ----------
    steps : tuple of step objects
        Each step class at most once, exactly one `SamplingStep`, in the order of `STEPS`.

    Raises
    ------
    ValueError
        If a step is of an unknown type, repeated, out of order, or the sampling step is missing.
    """

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        names = []
        for step in steps:
            if type(step) not in STEPS.values():
                raise ValueError(f"unknown pipeline step {step!r}; valid steps are {tuple(STEPS)}")
            names.append(step.name)
        if len(set(names)) != len(names):
            raise ValueError(f"each step may appear once, got {names}")
        if names != sorted(names, key=_ORDER.__getitem__):
            raise ValueError(f"steps must be in the order {tuple(STEPS)}, got {names}")
        if SamplingStep.name not in names:
            raise ValueError(f"a pipeline needs a sampling step, got {names}")

    @property
    def sampling(self) -> str:
        """The sampling method, one of `SAMPLINGS`."""
        return next(s.method for s in self.steps if isinstance(s, SamplingStep))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description: ``{"steps": [{"step": name, **parameters}, ...]}``."""
        return {"steps": [{"step": s.name, **dataclasses.asdict(s)} for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        """Rebuild a pipeline from `to_dict`'s output.

        Raises
        ------
        ValueError
            If a step name or parameter is unknown or invalid.
        """
        steps = []
        for entry in data.get("steps", ()):
            params = dict(entry)
            name = params.pop("step", None)
            if name not in STEPS:
                raise ValueError(f"unknown pipeline step {name!r}; valid steps are {tuple(STEPS)}")
            step_cls = STEPS[name]
            fields = {f.name for f in dataclasses.fields(step_cls)}
            unknown = set(params) - fields
            if unknown:
                raise ValueError(
                    f"unknown parameters {sorted(unknown)} for step {name!r}; valid: {sorted(fields)}"
                )
            steps.append(step_cls(**params))
        return cls(tuple(steps))


# -------------------------------------------------------------------------------------------- configuration
def _check_range(value: Any, name: str, *, low: float | None = None) -> None:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    a, b = _check_finite(a, name), _check_finite(b, name)
    if a > b or (low is not None and a < low):
        bound = f" and low >= {low}" if low is not None else ""
        raise ValueError(f"{name} must satisfy low <= high{bound}, got {value!r}")


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges and probabilities from which `sample_pipeline` draws a `Pipeline`.

    Each optional step is included with its ``*_probability``; its parameters are drawn uniformly from their
    ``*_range`` (the SEM dose log-uniformly). Noise magnitudes (``line_offset_range``, ``scar_height_range``,
    ``one_over_f_range``, ``line_noise_range``) are fractions of the HR image's `robust_range`. The defaults
    are `AFM_DEFAULT`.

    Attributes
    ----------
    samplings, sampling_weights : tuple of str, tuple of float
        Sampling methods (from `SAMPLINGS`) and their relative weights. AFM default: point 0.3
        (PeakForce-like, one tap per pixel), fast_average 0.3 (contact/tapping: averaged along the fast axis),
        area 0.2, bicubic 0.2 (the seed papers' degradation, kept so the model also handles it).
    tip_probability, tip_radius_range, tip_conical_probability, tip_half_angle_range
        Extra tip broadening (a blunter tip than the HR scan's): radius 2–20 nm (sharp to worn Si tips),
        conical with probability 0.5 and half-angle 10–25°, else parabolic. Radius in metres, angle in
        degrees.
    blur_probability, blur_sigma_range
        Gaussian beam blur, sigma in HR pixels (SEM only; 0 for AFM).
    drift_probability, shear_range, stretch_range, jitter_range
        Drift: shear ±0.01 HR px per row, stretch ±1 %, line jitter 0–0.2 HR px (thermal drift of a few nm/min
        over a minutes-long scan).
    shot_noise_probability, dose_range
        SEM shot noise, electrons per pixel at full scale (0 for AFM).
    line_offset_probability, line_offset_range
        Per-line offsets, 0–5 % of the robust range.
    scar_probability, scar_rate_range, scar_height_range, scar_max_length
        Scars: 0–0.05 per line, 5–30 % of the robust range, up to 16 LR pixels long.
    one_over_f_probability, one_over_f_range, one_over_f_exponent_range, one_over_f_axis
        1/f noise in scan time: RMS 0–3 % of the robust range, exponent 0.8–1.5.
    line_noise_probability, line_noise_range
        White noise: RMS 0–3 % of the robust range.

    Raises
    ------
    ValueError
        If a probability is outside [0, 1], a range is not ``low <= high`` within its valid domain, a sampling
        is unknown, or the weights are negative or all zero.
    """

    samplings: tuple[str, ...] = ("area", "bicubic", "point", "fast_average")
    sampling_weights: tuple[float, ...] = (0.2, 0.2, 0.3, 0.3)
    tip_probability: float = 0.3
    tip_radius_range: tuple[float, float] = (2e-9, 20e-9)
    tip_conical_probability: float = 0.5
    tip_half_angle_range: tuple[float, float] = (10.0, 25.0)
    blur_probability: float = 0.0
    blur_sigma_range: tuple[float, float] = (0.3, 1.0)
    drift_probability: float = 0.5
    shear_range: tuple[float, float] = (-0.01, 0.01)
    stretch_range: tuple[float, float] = (-0.01, 0.01)
    jitter_range: tuple[float, float] = (0.0, 0.2)
    shot_noise_probability: float = 0.0
    dose_range: tuple[float, float] = (10.0, 1000.0)
    line_offset_probability: float = 0.7
    line_offset_range: tuple[float, float] = (0.0, 0.05)
    scar_probability: float = 0.3
    scar_rate_range: tuple[float, float] = (0.0, 0.05)
    scar_height_range: tuple[float, float] = (0.05, 0.3)
    scar_max_length: int = 16
    one_over_f_probability: float = 0.5
    one_over_f_range: tuple[float, float] = (0.0, 0.03)
    one_over_f_exponent_range: tuple[float, float] = (0.8, 1.5)
    one_over_f_axis: str = "fast"
    line_noise_probability: float = 0.8
    line_noise_range: tuple[float, float] = (0.0, 0.03)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                object.__setattr__(self, f.name, tuple(value))
        if not self.samplings or len(self.samplings) != len(self.sampling_weights):
            raise ValueError(
                f"samplings and sampling_weights must be non-empty and of equal length, got "
                f"{self.samplings!r} and {self.sampling_weights!r}"
            )
        for method in self.samplings:
            _check_choice(method, "each sampling", SAMPLINGS)
        weights = [_check_nonneg(w, "sampling_weights") for w in self.sampling_weights]
        if sum(weights) <= 0:
            raise ValueError(f"sampling_weights must not all be zero, got {self.sampling_weights!r}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_probability") and not 0 <= _check_finite(value, f.name) <= 1:
                raise ValueError(f"{f.name} must be in [0, 1], got {value!r}")
        nonneg = (
            "tip_radius_range", "blur_sigma_range", "jitter_range", "line_offset_range", "scar_rate_range",
            "scar_height_range", "one_over_f_range", "line_noise_range",
        )  # fmt: skip
        for name in nonneg:
            _check_range(getattr(self, name), name, low=0.0)
        for name in ("shear_range", "stretch_range"):
            _check_range(getattr(self, name), name)
        if self.stretch_range[0] <= -1:
            raise ValueError(f"stretch_range must stay > -1, got {self.stretch_range!r}")
        _check_range(self.tip_half_angle_range, "tip_half_angle_range", low=0.0)
        if not (self.tip_half_angle_range[0] > 0 and self.tip_half_angle_range[1] < 90):
            raise ValueError(
                f"tip_half_angle_range must lie in (0, 90) degrees, got {self.tip_half_angle_range!r}"
            )
        if self.tip_probability > 0 and self.tip_radius_range[0] <= 0:
            raise ValueError(f"tip_radius_range must be > 0 m, got {self.tip_radius_range!r}")
        _check_range(self.dose_range, "dose_range", low=0.0)
        if self.dose_range[0] <= 0:
            raise ValueError(f"dose_range must be > 0 electrons per pixel, got {self.dose_range!r}")
        _check_range(self.one_over_f_exponent_range, "one_over_f_exponent_range", low=0.0)
        if self.one_over_f_exponent_range[1] > 4:
            raise ValueError(
                f"one_over_f_exponent_range must lie in [0, 4], got {self.one_over_f_exponent_range!r}"
            )
        _check_choice(self.one_over_f_axis, "one_over_f_axis", NOISE_AXES)
        ScarsStep(rate=0.0, height=0.0, max_length=self.scar_max_length)  # validates max_length

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-serialisable dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DegradationConfig:
        """Build a configuration from a dict such as `to_dict`'s output; missing keys take the defaults.

        A ``"comment"`` key (documentation in a JSON file) is ignored.

        Raises
        ------
        ValueError
            If a key is unknown or a value invalid.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k != "comment"}  # a JSON file may say why its values are so
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown degradation settings {sorted(unknown)}; valid: {sorted(fields)}")
        return cls(**data)


_NO_EXTRAS = {
    "tip_probability": 0.0,
    "blur_probability": 0.0,
    "drift_probability": 0.0,
    "shot_noise_probability": 0.0,
    "line_offset_probability": 0.0,
    "scar_probability": 0.0,
    "one_over_f_probability": 0.0,
    "line_noise_probability": 0.0,
}

AFM_DEFAULT = DegradationConfig()
"""AFM: point / fast-axis-averaged / area / bicubic sampling, occasional blunter tip, drift, scan-line
artefacts."""

SEM_DEFAULT = DegradationConfig(
    samplings=("point", "area", "bicubic"),
    sampling_weights=(0.6, 0.2, 0.2),
    tip_probability=0.0,
    blur_probability=0.5,
    blur_sigma_range=(0.3, 1.0),
    drift_probability=0.3,
    shear_range=(-0.005, 0.005),
    stretch_range=(-0.005, 0.005),
    jitter_range=(0.0, 0.1),
    shot_noise_probability=0.7,
    dose_range=(10.0, 1000.0),
    line_offset_probability=0.1,
    line_offset_range=(0.0, 0.02),
    scar_probability=0.0,
    one_over_f_probability=0.0,
    line_noise_probability=0.3,
    line_noise_range=(0.0, 0.02),
)
"""SEM: mostly point (aliased) sampling as the SEM paper's ×2 pixel size at equal dwell, beam blur, shot
noise."""

BICUBIC = DegradationConfig(samplings=("bicubic",), sampling_weights=(1.0,), **_NO_EXTRAS)
"""The seed papers' degradation: MATLAB bicubic decimation of the modcropped HR image, nothing else."""

PRESETS: dict[str, DegradationConfig] = {"afm": AFM_DEFAULT, "sem": SEM_DEFAULT, "bicubic": BICUBIC}


def load_config(spec: str | Path | Mapping[str, Any] | DegradationConfig) -> DegradationConfig:
    """Return the `DegradationConfig` named by `spec`: a preset name, a JSON file, a dict, or a config.

    Parameters
    ----------
    spec : str, Path, mapping or DegradationConfig
        A key of `PRESETS`, the path of a JSON file holding `DegradationConfig` fields (plus an optional
        ``"comment"``), such a dict, or a config (returned as is).

    Raises
    ------
    ValueError
        If `spec` is neither a preset nor an existing file (the message lists the presets), or its content is
        invalid.
    """
    if isinstance(spec, DegradationConfig):
        return spec
    if isinstance(spec, Mapping):
        return DegradationConfig.from_dict(spec)
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"degradation must be one of {tuple(PRESETS)} or a JSON file, got {str(spec)!r}")
    try:
        return DegradationConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def sample_pipeline(config: DegradationConfig, *, rng: np.random.Generator) -> Pipeline:
    """Draw a concrete degradation pipeline from a configuration.

    Parameters
    ----------
    config : DegradationConfig
        Probabilities and ranges (e.g. `AFM_DEFAULT`, `SEM_DEFAULT`, `BICUBIC`, or ``PRESETS[name]``).
    rng : numpy.random.Generator
        Source of randomness; the same seed draws the same pipeline.

    Returns
    -------
    Pipeline
        The steps drawn, in physical order; ``pipeline.to_dict()`` is JSON-serialisable for logging.

    Raises
    ------
    ValueError
        If `config` is not a `DegradationConfig` or `rng` is not a Generator.
    """
    if not isinstance(config, DegradationConfig):
        raise ValueError(f"config must be a DegradationConfig (e.g. one of {tuple(PRESETS)}), got {config!r}")
    rng = _check_rng(rng)
    c = config
    steps: list[Step] = []
    if rng.random() < c.tip_probability:
        conical = bool(rng.random() < c.tip_conical_probability)
        steps.append(
            TipDilationStep(
                radius=_uniform(rng, c.tip_radius_range),
                shape="conical" if conical else "parabolic",
                half_angle=_uniform(rng, c.tip_half_angle_range) if conical else 20.0,
            )
        )
    if rng.random() < c.blur_probability:
        steps.append(GaussianBlurStep(sigma_px=_uniform(rng, c.blur_sigma_range)))
    if rng.random() < c.drift_probability:
        steps.append(
            DriftStep(
                shear=_uniform(rng, c.shear_range),
                stretch=_uniform(rng, c.stretch_range),
                jitter=_uniform(rng, c.jitter_range),
            )
        )
    weights = np.asarray(c.sampling_weights, dtype=np.float64)
    steps.append(SamplingStep(method=str(c.samplings[rng.choice(len(weights), p=weights / weights.sum())])))
    if rng.random() < c.shot_noise_probability:
        log_dose = rng.uniform(math.log(c.dose_range[0]), math.log(c.dose_range[1]))
        steps.append(ShotNoiseStep(dose=float(math.exp(log_dose))))
    if rng.random() < c.line_offset_probability:
        steps.append(LineOffsetsStep(sigma=_uniform(rng, c.line_offset_range)))
    if rng.random() < c.scar_probability:
        steps.append(
            ScarsStep(
                rate=_uniform(rng, c.scar_rate_range),
                height=_uniform(rng, c.scar_height_range),
                max_length=int(c.scar_max_length),
            )
        )
    if rng.random() < c.one_over_f_probability:
        steps.append(
            OneOverFNoiseStep(
                amplitude=_uniform(rng, c.one_over_f_range),
                exponent=_uniform(rng, c.one_over_f_exponent_range),
                axis=c.one_over_f_axis,
            )
        )
    if rng.random() < c.line_noise_probability:
        steps.append(LineNoiseStep(sigma=_uniform(rng, c.line_noise_range)))
    return Pipeline(tuple(steps))


def apply_pipeline(
    pipeline: Pipeline,
    hr: np.ndarray,
    scale: int,
    *,
    pixel_size: tuple[float, float] | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Make an LR image from an HR image with a drawn pipeline.

    The steps run in the pipeline's (physical) order: tip dilation → beam blur → drift on the HR image; then
    sampling to the LR grid (the HR image cropped to a multiple of `scale`); then shot noise, line offsets,
    scars, 1/f noise and line noise on the LR image. Relative noise magnitudes are multiplied by the
    `robust_range` of `hr`.

    Parameters
    ----------
    pipeline : Pipeline
        From `sample_pipeline` (or `Pipeline.from_dict`).
    hr : ndarray, shape (ny, nx)
        HR image in its SI unit (heights in metres for a tip step).
    scale : int
        Integer factor >= 1.
    pixel_size : (float, float) or None
        HR pixel size ``(dy, dx)`` in metres; needed only when the pipeline has a tip step.
    rng : numpy.random.Generator
        Draws the point-sampling phase and the noise; the same seed gives the same LR image.

    Returns
    -------
    ndarray, shape (ny // scale, nx // scale)
        The LR image, float64, in the unit of `hr`.

    Raises
    ------
    ValueError
        If `pipeline` is not a `Pipeline`, `hr` is not a finite 2-D real array, `scale` is not an integer in
        ``[1, min(ny, nx)]``, `rng` is not a Generator, or the pipeline has a tip step and `pixel_size` is
        None.
    """
    if not isinstance(pipeline, Pipeline):
        raise ValueError(f"pipeline must be a Pipeline (from sample_pipeline), got {pipeline!r}")
    image = _check_image(hr, "hr")
    scale = _check_scale(scale, image.shape)
    rng = _check_rng(rng)
    ref = robust_range(image)
    for step in pipeline.steps:
        if isinstance(step, TipDilationStep):
            if pixel_size is None:
                raise ValueError(
                    "the pipeline has a tip_dilation step, which needs pixel_size (dy, dx) in metres"
                )
            image = tip_dilation(
                image, pixel_size, radius=step.radius, shape=step.shape, half_angle=step.half_angle
            )
        elif isinstance(step, GaussianBlurStep):
            image = gaussian_blur(image, sigma_px=step.sigma_px)
        elif isinstance(step, DriftStep):
            image = drift(image, shear=step.shear, stretch=step.stretch, jitter=step.jitter, rng=rng)
        elif isinstance(step, SamplingStep):
            image = _sample(image, scale, step.method, rng)
        elif isinstance(step, ShotNoiseStep):
            image = shot_noise(image, dose=step.dose, rng=rng)
        elif isinstance(step, LineOffsetsStep):
            image = line_offsets(image, sigma=step.sigma * ref, rng=rng)
        elif isinstance(step, ScarsStep):
            image = scars(
                image, rate=step.rate, height=step.height * ref, max_length=step.max_length, rng=rng
            )
        elif isinstance(step, OneOverFNoiseStep):
            image = image + one_over_f_noise(
                image.shape, amplitude=step.amplitude * ref, exponent=step.exponent, rng=rng, axis=step.axis
            )
        elif isinstance(step, LineNoiseStep):
            image = line_noise(image, sigma=step.sigma * ref, rng=rng)
    return image


def _sample(image: np.ndarray, scale: int, method: str, rng: np.random.Generator) -> np.ndarray:
    if method == "area":
        return area_downsample(image, scale)
    if method == "bicubic":
        return bicubic_downsample(image, scale)
    if method == "point":
        return point_sample(image, scale, rng=rng).image
    return fast_average_sample(image, scale, rng=rng).image
