"""Tests of scansr.metrics.sharpness against direct computation and known synthetic truths."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import ndimage

from scansr.metrics.sharpness import fourier_sharpness, gradient_sharpness, to_grey8


def direct_dft(image: np.ndarray) -> np.ndarray:
    """The 2-D DFT by its definition (explicit sums), independent of numpy.fft."""
    ny, nx = image.shape
    wy = np.exp(-2j * np.pi * np.outer(np.arange(ny), np.arange(ny)) / ny)
    wx = np.exp(-2j * np.pi * np.outer(np.arange(nx), np.arange(nx)) / nx)
    return wy @ image @ wx.T


def test_fourier_sharpness_is_the_mean_log_magnitude_of_the_8bit_dft():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(12, 10)).astype(float)
    grey[0, 0], grey[-1, -1] = 0.0, 255.0  # already spans 0-255, so the min-max scaling is the identity
    expected = np.mean(np.log(np.abs(direct_dft(grey))))
    assert fourier_sharpness(grey) == pytest.approx(expected, rel=1e-12)


def test_fourier_sharpness_rounds_scaled_heights_to_8bit_levels():
    rng = np.random.default_rng(1)
    heights = 3e-9 * rng.standard_normal((16, 16))  # metres
    grey = np.round((heights - heights.min()) / (heights.max() - heights.min()) * 255)
    expected = np.mean(np.log(np.abs(direct_dft(grey))))
    assert fourier_sharpness(heights) == pytest.approx(expected, rel=1e-12)
    # the unit does not matter: nanometres give the same grey image
    assert fourier_sharpness(heights * 1e9) == pytest.approx(expected, rel=1e-12)
    unrounded = np.mean(np.log(np.abs(direct_dft((heights - heights.min()) / np.ptp(heights) * 255))))
    assert fourier_sharpness(heights, quantize=False) == pytest.approx(unrounded, rel=1e-12)


def test_fourier_sharpness_value_range_clips_and_scales():
    img = np.linspace(-1.0, 2.0, 64).reshape(8, 8)
    grey = to_grey8(img, value_range=(0.0, 1.0))
    assert grey.min() == 0.0
    assert grey.max() == 255.0
    assert_allclose(grey[img <= 0], 0.0)
    assert_allclose(grey[img >= 1], 255.0)


def test_fourier_sharpness_drops_when_blurred():
    rng = np.random.default_rng(2)
    img = ndimage.gaussian_filter(rng.standard_normal((128, 128)), 1.0)
    blurred = ndimage.gaussian_filter(img, 2.0)
    assert fourier_sharpness(blurred) < fourier_sharpness(img) - 0.3


def test_fourier_sharpness_rejects_constant_image():
    with pytest.raises(ValueError, match="constant"):
        fourier_sharpness(np.ones((8, 8)))


def test_gradient_sharpness_of_a_plane_is_its_slope():
    # z = a x + b y with x, y in metres on non-square pixels: the mean gradient magnitude is sqrt(a² + b²)
    dy, dx = 2e-9, 0.5e-9
    yy, xx = np.mgrid[0:20, 0:30]
    a, b = 0.03, -0.04
    z = a * xx * dx + b * yy * dy
    assert gradient_sharpness(z, pixel_size=(dy, dx)) == pytest.approx(0.05, rel=1e-12)
    # per pixel: the steps are a dx and b dy
    assert gradient_sharpness(z) == pytest.approx(np.hypot(a * dx, b * dy), rel=1e-12)


def test_gradient_sharpness_of_a_sine():
    # z = A sin(2π x / λ) with λ = 32 px (even), whole periods: the cell differences 2A sin(π/32) |cos(·)|
    # average to exactly 4A/λ, the continuous mean |dz/dx| of a sine
    amplitude, period = 1e-9, 32
    x = np.arange(4 * period + 1)
    z = np.tile(amplitude * np.sin(2 * np.pi * x / period), (8, 1))
    assert gradient_sharpness(z) == pytest.approx(4 * amplitude / period, rel=1e-9)
    assert gradient_sharpness(z, pixel_size=(1e-9, 2e-9)) == pytest.approx(
        4 * amplitude / period / 2e-9, rel=1e-9
    )


def test_gradient_sharpness_is_rotation_invariant_for_a_plane():
    yy, xx = np.mgrid[0:16, 0:16].astype(float)
    assert gradient_sharpness(xx) == pytest.approx(gradient_sharpness(yy))
    assert gradient_sharpness((xx + yy) / np.sqrt(2)) == pytest.approx(1.0)
