"""Spatial frequencies in physical units: radially averaged power spectrum and Fourier ring correlation.

Frequencies are in cycles per metre, from the pixel size ``(dy, dx)``; pixels need not be square: the
frequency of DFT coefficient ``(ky, kx)`` is ``sqrt((ky / (ny dy))² + (kx / (nx dx))²)`` (``ky``, ``kx``
signed), so a "ring" is a circle in physical frequency (an ellipse in coefficient indices). Rings are ``Δf``
wide, with ``Δf`` the coarser of the two axes' frequency steps, and stop at the lower of the two Nyquist
frequencies, so every ring is complete. Without a pixel size, frequencies are in cycles per pixel.

Power spectral density
    ``PSD = |DFT(w · (z - mean))|² · dy · dx / (ny · nx · mean(w²))`` with window ``w`` (Hann or none), in the
    data's unit squared times m². Its sum over all coefficients times ``Δfx · Δfy`` is the variance of the
    image (Parseval; exact without a window). The radial spectrum is the mean PSD over each ring: the SEM
    paper's radially averaged spectra (Fig. 4) compare upscaled, super-resolved and real high-resolution
    images this way.

Fourier ring correlation
    ``FRC(r) = Re Σ F1 F2* / sqrt(Σ |F1|² Σ |F2|²)`` over ring ``r`` of two images of one field with
    independent noise (repeated scans, trace and retrace). With signal power S and noise power N per image,
    ``E[FRC] ≈ S / (S + N)``. The resolution is ``1 / f`` at the first frequency where the FRC falls below the
    threshold (1/7 by default, linear interpolation between rings); if it never does, the sampling limits it
    and the resolution is ``1 / f_max`` of the last complete ring (`FRCResult.crossed` is False).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from scansr._checks import image_2d, pixel_size_pair

__all__ = [
    "FRCResult",
    "RadialSpectrum",
    "fourier_ring_correlation",
    "frc_resolution",
    "power_spectral_density",
    "radial_power_spectrum",
]

logger = logging.getLogger(__name__)

WINDOWS = ("hann", None)
DETRENDS = ("mean", "plane", None)


class RadialSpectrum(NamedTuple):
    """Radially averaged power spectral density."""

    frequency: np.ndarray
    """Ring centres in cycles per metre (per pixel without a pixel size), DC excluded."""
    power: np.ndarray
    """Mean PSD over each ring, in (data unit)² · m² (· px² without a pixel size)."""
    count: np.ndarray
    """Number of DFT coefficients in each ring."""


class FRCResult(NamedTuple):
    """Fourier ring correlation of two images."""

    frequency: np.ndarray
    """Ring centres in cycles per metre (per pixel without a pixel size), DC excluded."""
    frc: np.ndarray
    """Correlation in each ring, in [-1, 1]."""
    count: np.ndarray
    """Number of DFT coefficients in each ring."""
    threshold: float
    resolution: float
    """Resolution in m (px without a pixel size): ``1 / f`` where the FRC first drops below `threshold`."""
    crossed: bool
    """False when the FRC never drops below the threshold (the resolution is then sampling-limited)."""


# --------------------------------------------------------------------------------------------------- helpers
def _image(image: object, what: str) -> np.ndarray:
    return image_2d(image, what, min_size=4)


def _pixel_size(pixel_size: object) -> tuple[float, float]:
    return (1.0, 1.0) if pixel_size is None else pixel_size_pair(pixel_size)


def _window(shape: tuple[int, int], window: str | None) -> np.ndarray:
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    if window is None:
        return np.ones(shape)
    # periodic Hann (DFT-even), the usual taper for spectral estimation
    wy = np.hanning(shape[0] + 1)[:-1]
    wx = np.hanning(shape[1] + 1)[:-1]
    return np.outer(wy, wx)


def _detrend(z: np.ndarray, detrend: str | None) -> np.ndarray:
    if detrend not in DETRENDS:
        raise ValueError(f"detrend must be one of {DETRENDS}, got {detrend!r}")
    if detrend is None:
        return z
    if detrend == "mean":
        return z - z.mean()
    ny, nx = z.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    a = np.column_stack([np.ones(z.size), xx.ravel(), yy.ravel()])
    coef, *_ = np.linalg.lstsq(a, z.ravel(), rcond=None)
    return z - (a @ coef).reshape(z.shape)


def _rings(shape: tuple[int, int], dy: float, dx: float, n_bins: int | None):
    """Ring index of each coefficient (0 = DC, -1 = beyond the last complete ring) and the ring centres."""
    ny, nx = shape
    fy = np.fft.fftfreq(ny, d=dy)
    fx = np.fft.fftfreq(nx, d=dx)
    f = np.hypot(fy[:, None], fx[None, :])
    f_max = min(0.5 / dy, 0.5 / dx)
    step = max(1.0 / (ny * dy), 1.0 / (nx * dx))
    if n_bins is not None:
        if int(n_bins) < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins!r}")
        step = f_max / (int(n_bins) - 0.5)
    n = int(np.floor(f_max / step + 0.5))
    index = np.floor(f / step + 0.5).astype(np.int64)
    index[index > n] = -1
    centres = np.arange(n + 1) * step
    return index, centres, n + 1


def _ring_sum(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    keep = index >= 0
    return np.bincount(index[keep], weights=values[keep], minlength=n)[:n]


def _psd(z: np.ndarray, dy: float, dx: float, window: str | None, detrend: str | None) -> np.ndarray:
    w = _window(z.shape, window)
    z = _detrend(z, detrend)
    ny, nx = z.shape
    return np.abs(np.fft.fft2(z * w)) ** 2 * (dy * dx) / (ny * nx * np.mean(w * w))


# --------------------------------------------------------------------------------------------------- PSD
def power_spectral_density(
    image: object,
    *,
    pixel_size: tuple[float, float] | None = None,
    window: str | None = "hann",
    detrend: str | None = "mean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-dimensional power spectral density of an image.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit (heights in m).
    pixel_size : (float, float), optional
        ``(dy, dx)`` in metres; default: frequencies per pixel.
    window : {"hann", None}
        Taper against the edge discontinuity of a non-periodic scan (the PSD is divided by the window's mean
        square, so the total power is kept on average).
    detrend : {"mean", "plane", None}
        Remove the mean, or a least-squares plane (tilt otherwise leaks into every low frequency), first.

    Returns
    -------
    fy, fx : numpy.ndarray
        Frequencies of the rows and columns of `psd` in cycles per metre (fftshift order: zero in the middle).
    psd : numpy.ndarray, shape (ny, nx)
        PSD in (data unit)² · m², centred (fftshift).

    Raises
    ------
    ValueError
        A bad image (not 2-D, smaller than 4x4, non-finite) or argument.
    """
    z = _image(image, "image")
    dy, dx = _pixel_size(pixel_size)
    psd = _psd(z, dy, dx, window, detrend)
    ny, nx = z.shape
    fy = np.fft.fftshift(np.fft.fftfreq(ny, d=dy))
    fx = np.fft.fftshift(np.fft.fftfreq(nx, d=dx))
    return fy, fx, np.fft.fftshift(psd)


def radial_power_spectrum(
    image: object,
    *,
    pixel_size: tuple[float, float] | None = None,
    window: str | None = "hann",
    detrend: str | None = "mean",
    n_bins: int | None = None,
) -> RadialSpectrum:
    """Radially averaged power spectral density, in physical spatial frequency.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit (heights in m).
    pixel_size : (float, float), optional
        ``(dy, dx)`` in metres (non-square allowed); default: frequencies per pixel.
    window : {"hann", None}
        Taper (see `power_spectral_density`).
    detrend : {"mean", "plane", None}
        Remove the mean or a plane first.
    n_bins : int, optional
        Number of rings from 0 to the Nyquist frequency (DC ring included); default: one ring per frequency
        step of the coarser axis.

    Returns
    -------
    RadialSpectrum
        Ring centres (cycles per metre), mean PSD and coefficient count, DC ring excluded.

    Raises
    ------
    ValueError
        A bad image or argument.
    """
    z = _image(image, "image")
    dy, dx = _pixel_size(pixel_size)
    psd = _psd(z, dy, dx, window, detrend)
    index, centres, n = _rings(z.shape, dy, dx, n_bins)
    count = np.bincount(index[index >= 0], minlength=n)[:n]
    total = _ring_sum(psd, index, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = total / count
    keep = slice(1, None)
    return RadialSpectrum(centres[keep], power[keep], count[keep])


# --------------------------------------------------------------------------------------------------- FRC
def fourier_ring_correlation(
    image1: object,
    image2: object,
    *,
    pixel_size: tuple[float, float] | None = None,
    threshold: float = 1.0 / 7.0,
    window: str | None = "hann",
    n_bins: int | None = None,
) -> FRCResult:
    """Fourier ring correlation of two images of one field with independent noise, and the resolution.

    Parameters
    ----------
    image1, image2 : array_like, shape (ny, nx)
        Two measurements of the same field, registered (`scansr.register`), in one unit: repeated scans, trace
        and retrace, or a result and the real high-resolution scan.
    pixel_size : (float, float), optional
        ``(dy, dx)`` in metres; default: frequencies per pixel and the resolution in pixels.
    threshold : float
        FRC level that defines the resolution (1/7 ≈ 0.143, the fixed threshold customary in microscopy).
    window : {"hann", None}
        Taper both images (their edges would otherwise correlate at every frequency).
    n_bins : int, optional
        Number of rings up to the Nyquist frequency (default: one per frequency step).

    Returns
    -------
    FRCResult

    Raises
    ------
    ValueError
        Shapes differ, a bad image, or `threshold` outside (0, 1).
    """
    a = _image(image1, "image1")
    b = _image(image2, "image2")
    if a.shape != b.shape:
        raise ValueError(f"image1 and image2 must have one shape, got {a.shape} and {b.shape}")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    dy, dx = _pixel_size(pixel_size)
    w = _window(a.shape, window)
    fa = np.fft.fft2((a - a.mean()) * w)
    fb = np.fft.fft2((b - b.mean()) * w)
    index, centres, n = _rings(a.shape, dy, dx, n_bins)
    count = np.bincount(index[index >= 0], minlength=n)[:n]
    cross = _ring_sum(np.real(fa * np.conj(fb)), index, n)
    pa = _ring_sum(np.abs(fa) ** 2, index, n)
    pb = _ring_sum(np.abs(fb) ** 2, index, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        frc = cross / np.sqrt(pa * pb)
    freq, frc, count = centres[1:], frc[1:], count[1:]
    below = np.flatnonzero(~(frc >= threshold))  # NaN (an empty ring) counts as below
    if below.size == 0:
        return FRCResult(freq, frc, count, float(threshold), float(1.0 / freq[-1]), False)
    i = int(below[0])
    if i == 0:
        f_cross = freq[0]
    else:
        f0, f1, c0, c1 = freq[i - 1], freq[i], frc[i - 1], frc[i]
        f_cross = f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1) if np.isfinite(c1) and c0 != c1 else f1
    return FRCResult(freq, frc, count, float(threshold), float(1.0 / f_cross), True)


def frc_resolution(
    reference: object,
    test: object,
    *,
    pixel_size: tuple[float, float] | None = None,
    threshold: float = 1.0 / 7.0,
) -> float:
    """Resolution (m; px without a pixel size) at which `test` stops correlating with `reference` (FRC 1/7).

    The `METRICS` form of `fourier_ring_correlation`: lower is better.

    Raises
    ------
    ValueError
        As `fourier_ring_correlation`.
    """
    return fourier_ring_correlation(reference, test, pixel_size=pixel_size, threshold=threshold).resolution
