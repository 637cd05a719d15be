"""Tests of scansr.metrics.spectral: physical frequencies, Parseval, and FRC against the theory S / (S +
N)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scansr.metrics.spectral import (
    fourier_ring_correlation,
    frc_resolution,
    power_spectral_density,
    radial_power_spectrum,
)

DY, DX = 2e-9, 1.5e-9  # non-square pixels, metres
NY, NX = 128, 160


def grating(fy: float, fx: float, amplitude: float = 1e-9) -> np.ndarray:
    yy, xx = np.mgrid[0:NY, 0:NX]
    return amplitude * np.sin(2 * np.pi * (fy * yy * DY + fx * xx * DX))


def test_sine_grating_peaks_at_its_physical_frequency():
    # 10 periods along y and 12 along x: f = hypot(10/(NY DY), 12/(NX DX))
    fy, fx = 10 / (NY * DY), 12 / (NX * DX)
    f0 = np.hypot(fy, fx)
    spec = radial_power_spectrum(grating(fy, fx), pixel_size=(DY, DX))
    step = spec.frequency[1] - spec.frequency[0]
    assert step == pytest.approx(max(1 / (NY * DY), 1 / (NX * DX)))
    assert abs(spec.frequency[np.argmax(spec.power)] - f0) <= step / 2
    assert spec.frequency[-1] <= min(0.5 / DY, 0.5 / DX) + 1e-3 * step


def test_grating_along_each_axis_uses_that_axis_pixel_size():
    # the same physical period (40 nm) along y and along x must peak at the same frequency
    period = 40e-9
    along_y = radial_power_spectrum(grating(1 / period, 0.0), pixel_size=(DY, DX), window=None)
    along_x = radial_power_spectrum(grating(0.0, 1 / period), pixel_size=(DY, DX), window=None)
    fy_peak = along_y.frequency[np.argmax(along_y.power)]
    fx_peak = along_x.frequency[np.argmax(along_x.power)]
    step = along_y.frequency[1] - along_y.frequency[0]
    assert abs(fy_peak - 1 / period) <= step / 2
    assert abs(fx_peak - 1 / period) <= step / 2


def test_psd_integrates_to_the_variance():
    rng = np.random.default_rng(0)
    z = 2e-9 * rng.standard_normal((NY, NX))
    fy, fx, psd = power_spectral_density(z, pixel_size=(DY, DX), window=None)
    dfy, dfx = fy[1] - fy[0], fx[1] - fx[0]
    assert psd.sum() * dfy * dfx == pytest.approx(z.var(), rel=1e-10)
    # white noise: flat PSD = variance · dy · dx
    spec = radial_power_spectrum(z, pixel_size=(DY, DX), window=None)
    assert np.median(spec.power) == pytest.approx(z.var() * DY * DX, rel=0.1)


def test_hann_window_keeps_the_power_of_white_noise():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((256, 256))
    spec = radial_power_spectrum(z, window="hann")
    assert np.mean(spec.power[5:]) == pytest.approx(z.var(), rel=0.05)  # per pixel units: PSD = variance


def gaussian_field(rng, shape, f_signal, pixel_size):
    """Periodic random field with PSD ∝ exp(-(f / f_signal)²), unit variance scale, and its amplitude
    filter."""
    ny, nx = shape
    dy, dx = pixel_size
    f = np.hypot(np.fft.fftfreq(ny, dy)[:, None], np.fft.fftfreq(nx, dx)[None, :])
    gain = np.exp(-0.5 * (f / f_signal) ** 2)
    return np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * gain)), gain


def test_frc_of_two_noisy_copies_follows_theory():
    # signal PSD: dy dx · A² exp(-(f/fs)²); noise PSD: dy dx · σ² (white). E[FRC] = S / (S + N), so the 1/7
    # crossing is where S = N / 6: f_c = fs · sqrt(ln(6 A² / σ²))
    rng = np.random.default_rng(42)
    shape, fs = (256, 256), 4e7
    signal, _ = gaussian_field(rng, shape, fs, (DY, DX))
    amplitude, sigma = 1.0, 0.05
    a = amplitude * signal + sigma * rng.standard_normal(shape)
    b = amplitude * signal + sigma * rng.standard_normal(shape)
    res = fourier_ring_correlation(a, b, pixel_size=(DY, DX), window=None)
    f_c = fs * np.sqrt(np.log(6 * amplitude**2 / sigma**2))
    assert res.crossed
    assert res.resolution == pytest.approx(1 / f_c, rel=0.05)
    # the whole curve: a ring of m coefficients estimates the FRC with a standard error of about 1/sqrt(m)
    s = np.exp(-((res.frequency / fs) ** 2))
    theory = s / (s + sigma**2)
    assert np.all(np.abs(res.frc - theory) < 4 / np.sqrt(res.count))


def test_frc_of_identical_images_is_sampling_limited():
    rng = np.random.default_rng(3)
    img = rng.standard_normal((64, 64))
    res = fourier_ring_correlation(img, img, pixel_size=(DY, DX))
    assert_allclose(res.frc, 1.0, rtol=1e-12)
    assert not res.crossed
    assert res.resolution == pytest.approx(1 / res.frequency[-1])


def test_frc_of_independent_noise_crosses_at_once():
    rng = np.random.default_rng(4)
    res = fourier_ring_correlation(rng.standard_normal((64, 64)), rng.standard_normal((64, 64)))
    assert res.crossed
    assert abs(np.mean(res.frc)) < 0.05
    assert res.resolution > 1 / res.frequency[2]  # below 1/7 within the first two rings


def test_frc_resolution_worsens_with_noise():
    rng = np.random.default_rng(5)
    signal, _ = gaussian_field(rng, (128, 128), 0.15, (1.0, 1.0))
    clean = signal + 0.01 * rng.standard_normal(signal.shape)
    noisy = signal + 0.3 * rng.standard_normal(signal.shape)
    assert frc_resolution(signal, clean) < frc_resolution(signal, noisy)


def test_spectral_rejects_bad_input():
    with pytest.raises(ValueError, match=r"same shape|one shape"):
        fourier_ring_correlation(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="window must be one of"):
        radial_power_spectrum(np.zeros((8, 8)), window="kaiser")
