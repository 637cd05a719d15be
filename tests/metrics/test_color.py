"""Tests of scansr.metrics.color: MATLAB rgb2gray and the comparison conventions."""

from __future__ import annotations

import numpy as np
import pytest

from scansr.metrics import RGB2GRAY, compare_images, compare_scans, psnr, rgb2gray, ssim
from scansr.scan import Channel, Scan


def test_rgb2gray_weights_are_first_row_of_inverse_ntsc_matrix() -> None:
    ntsc = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    np.testing.assert_allclose(RGB2GRAY, np.linalg.inv(ntsc)[0], rtol=0, atol=1e-15)


def test_rgb2gray_uint8_rounds_like_matlab() -> None:
    # MATLAB: rgb2gray(uint8(cat(3, 255, 0, 0))) = 76 (76.228...), pure green 150 (149.70...), pure blue 29
    # (29.075...), white 255.
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    grey = rgb2gray(rgb)
    assert grey.dtype == np.uint8
    np.testing.assert_array_equal(grey, [[76, 150, 29, 255, 0]])


def test_rgb2gray_float_is_not_rounded() -> None:
    rgb = np.array([[[1.0, 0.0, 0.0]]])
    assert rgb2gray(rgb)[0, 0] == pytest.approx(0.298936021293776, abs=1e-15)


def test_rgb2gray_rejects_grey() -> None:
    with pytest.raises(ValueError, match=r"\(ny, nx, 3\)"):
        rgb2gray(np.zeros((4, 4)))


def test_compare_images_identical() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(32, 40, 3), dtype=np.uint8)
    result = compare_images(image, image.copy())
    assert result.psnr == float("inf")
    assert result.ssim == pytest.approx(1.0, abs=1e-12)


def test_compare_images_accepts_whole_number_floats_and_rejects_others() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    assert compare_images(a.astype(np.float64), b.astype(np.float64)) == compare_images(a, b)
    with pytest.raises(ValueError, match="8-bit values"):
        compare_images(a / 255.0, b / 255.0)


def rgb_scan(rgb: np.ndarray) -> Scan:
    channels = tuple(Channel(n, rgb[..., k], "counts") for k, n in enumerate(("Red", "Green", "Blue")))
    return Scan(channels, pixel_size=None, format="image")


def test_compare_scans_on_image_files_uses_image_convention() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(30, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-8, 9, size=a.shape), 0, 255).astype(np.uint8)
    result = compare_scans(rgb_scan(a), rgb_scan(b))
    expected = compare_images(a, b)
    assert (result.psnr, result.ssim) == (expected.psnr, expected.ssim)
    assert result.data_range == 255
    assert result.channel == "RGB"
    assert "rgb2gray" in result.convention


def test_compare_scans_physical_channel_defaults_to_reference_span() -> None:
    rng = np.random.default_rng(3)
    height = rng.normal(scale=1e-9, size=(32, 32))
    noisy = height + rng.normal(scale=1e-10, size=height.shape)
    ref = Scan(
        (Channel("Height", height, "m"), Channel("Phase", height * 1e9, "deg")), pixel_size=(1e-8, 1e-8)
    )
    test = Scan(
        (Channel("Height", noisy, "m"), Channel("Phase", noisy * 1e9, "deg")), pixel_size=(1e-8, 1e-8)
    )
    result = compare_scans(ref, test)
    span = float(np.ptp(height))
    assert result.channel == "Height"
    assert result.unit == "m"
    assert result.data_range == span
    assert result.psnr == psnr(height, noisy, data_range=span)
    assert result.ssim == ssim(height, noisy, data_range=span)
    given = compare_scans(ref, test, channel="Phase", data_range=10.0)
    assert given.psnr == psnr(height * 1e9, noisy * 1e9, data_range=10.0)
    assert "given" in given.convention


def test_compare_scans_rejects_constant_reference_without_range() -> None:
    ref = Scan((Channel("Height", np.zeros((16, 16)), "m"),), pixel_size=(1e-8, 1e-8))
    with pytest.raises(ValueError, match="give data_range"):
        compare_scans(ref, ref)
