"""Tests of scansr.interpolate against known identities, published MATLAB outputs and a real shipped scan."""

from __future__ import annotations

import gwyfile
import numpy as np
import pytest

from scansr.interpolate import downsample, downsample_scan, imresize, upscale, upscale_scan
from scansr.scan import Channel, Scan, UnknownChannelError
from tests.conftest import TEST_DATA


# --------------------------------------------------------------------------------------------------- helpers
def keys_kernel(s: np.ndarray, a: float) -> np.ndarray:
    """Keys (1981) cubic convolution kernel with free parameter a (written from the paper, eq. 15)."""
    s = np.abs(s)
    inner = (a + 2) * s**3 - (a + 3) * s**2 + 1
    outer = a * s**3 - 5 * a * s**2 + 8 * a * s - 4 * a
    return np.where(s <= 1, inner, np.where(s < 2, outer, 0.0))


def cubic_convolution(samples: np.ndarray, positions: np.ndarray, a: float) -> np.ndarray:
    """1-D cubic convolution of samples (at 0, 1, ...) evaluated at interior positions."""
    base = np.floor(positions).astype(int)
    t = positions - base
    return sum(keys_kernel(t - j, a) * samples[base + j] for j in (-1, 0, 1, 2))


def real_scan() -> Scan:
    """The shipped Asylum PFM scan, read with gwyfile (independent of scansr.io)."""
    fields = gwyfile.util.get_datafields(gwyfile.load(str(TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy")))
    channels = []
    for name, field in fields.items():
        unit = field.si_unit_z.unitstr if field.si_unit_z else ""
        channels.append(Channel(name, field.data, unit))
    first = next(iter(fields.values()))
    ny, nx = first.data.shape
    return Scan(
        tuple(channels),
        pixel_size=(first.yreal / ny, first.xreal / nx),
        origin=(1e-6, -2e-6),
        metadata={"note": "test"},
    )


# --------------------------------------------------------------------------------------------------- upscale
@pytest.mark.parametrize("method", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_upscale_shape_dtype_and_constant(method: str, scale: int) -> None:
    image = np.full((7, 5), 3.25e-9)
    out = upscale(image, scale, method=method)
    assert out.shape == (7 * scale, 5 * scale)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 3.25e-9, rtol=1e-15)


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "lanczos"])
def test_upscale_precision_does_not_depend_on_offset(method: str) -> None:
    # Heights with a large offset (-650 nm) and little relief (1 nm): the float32 weights of OpenCV must not
    # turn the offset into an error comparable to the relief.
    relief = np.random.default_rng(4).normal(scale=1e-9, size=(16, 16))
    out_offset = upscale(relief - 650e-9, 2, method=method)
    out_plain = upscale(relief, 2, method=method)
    np.testing.assert_allclose(out_offset + 650e-9, out_plain, rtol=0, atol=1e-18)


def test_bilinear_reproduces_linear_ramp_in_interior() -> None:
    s = 4
    y, x = np.mgrid[0:12, 0:16].astype(np.float64)
    image = 2.0 * x - 0.5 * y + 7.0
    out = upscale(image, s, method="bilinear")
    # OpenCV maps output pixel centres to input coordinates (X + 0.5) / s - 0.5.
    yy, xx = np.mgrid[0 : 12 * s, 0 : 16 * s].astype(np.float64)
    expected = 2.0 * ((xx + 0.5) / s - 0.5) - 0.5 * ((yy + 0.5) / s - 0.5) + 7.0
    m = 2 * s  # away from the replicated borders
    np.testing.assert_allclose(out[m:-m, m:-m], expected[m:-m, m:-m], rtol=0, atol=1e-5)


@pytest.mark.parametrize("power", [1, 2])
def test_opencv_bicubic_is_keys_with_a_minus_075(power: int) -> None:
    # Keys' kernel reproduces lines and parabolas only for a = -0.5 (Keys 1981). OpenCV uses a = -0.75, so a
    # ramp or a parabola comes back with a known, non-zero error: compare with cubic convolution written from
    # Keys' formula with a = -0.75 (and check that the test would tell a = -0.5 apart).
    s = 4
    n = 24
    samples = (np.arange(n, dtype=np.float64) - 10.0) ** power
    out = upscale(np.tile(samples, (20, 1)), s, method="bicubic")[40]
    positions = (np.arange(n * s) + 0.5) / s - 0.5
    interior = (positions > 2) & (positions < n - 3)
    expected = cubic_convolution(samples, positions[interior], a=-0.75)
    np.testing.assert_allclose(out[interior], expected, rtol=0, atol=1e-4)
    exact = (positions[interior] - 10.0) ** power
    assert np.max(np.abs(out[interior] - exact)) > 0.025  # not exact ...
    keys_half = cubic_convolution(samples, positions[interior], a=-0.5)
    np.testing.assert_allclose(keys_half, exact, atol=1e-9)  # ... as a = -0.5 would be


def test_opencv_lanczos_matches_lanczos4_formula_in_interior() -> None:
    s = 3
    rng = np.random.default_rng(1)
    samples = rng.normal(size=40)
    out = upscale(np.tile(samples, (10, 1)), s, method="lanczos")[15]
    positions = (np.arange(40 * s) + 0.5) / s - 0.5
    interior = (positions > 5) & (positions < 40 - 6)
    expected = []
    for p in positions[interior]:
        base = int(np.floor(p))
        taps = np.arange(base - 3, base + 5)
        w = np.sinc(p - taps) * np.sinc((p - taps) / 4)
        expected.append(np.sum(w * samples[taps]) / np.sum(w))
    np.testing.assert_allclose(out[interior], expected, atol=1e-5)


def test_upscale_keeps_channels_last_and_does_not_modify_input() -> None:
    image = np.random.default_rng(0).normal(size=(6, 8, 3))
    before = image.copy()
    out = upscale(image, 2, method="bilinear")
    assert out.shape == (12, 16, 3)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("scale", [0, -2, 2.0, 1.5, "2", True, None])
def test_upscale_rejects_bad_scale(scale: object) -> None:
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        upscale(np.zeros((4, 4)), scale)  # type: ignore[arg-type]


def test_upscale_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="'bilinear', 'bicubic', 'lanczos'"):
        upscale(np.zeros((4, 4)), 2, method="nearest")


def test_upscale_rejects_nan_with_count() -> None:
    image = np.zeros((4, 4))
    image[1, 2] = np.nan
    image[3, 3] = np.inf
    with pytest.raises(ValueError, match="2 non-finite"):
        upscale(image, 2)


# -------------------------------------------------------------------------------------------------- imresize
def test_imresize_published_bilinear_examples() -> None:
    # MATLAB outputs published in the Stack Overflow question "Why cv2.resize gives different answer than
    # MATLAB imresize" (imresize([1,2;3,4],[4,4],'bilinear'), then back to 2x2 with and without antialiasing).
    up = imresize(np.array([[1.0, 2.0], [3.0, 4.0]]), (4, 4), method="bilinear")
    np.testing.assert_allclose(
        up,
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]],
        atol=1e-12,
    )
    np.testing.assert_allclose(imresize(up, (2, 2), method="bilinear"), [[1.5625, 2.1875], [2.8125, 3.4375]])
    np.testing.assert_allclose(
        imresize(up, (2, 2), method="bilinear", antialiasing=False), [[1.375, 2.125], [2.875, 3.625]]
    )
    # Stack Overflow "imresize bilinear matlab": imresize([0 1 2], [1, 5], 'bilinear') = [0 0.4 1 1.6 2].
    np.testing.assert_allclose(
        imresize(np.array([[0.0, 1, 2]]), (1, 5), method="bilinear"), [[0, 0.4, 1, 1.6, 2]]
    )


def test_imresize_published_bicubic_example() -> None:
    # Stack Overflow 17380407 (2013): M = [0 0 1 1 0]; imresize(M, [1, 10]) printed to 4 decimals. That MATLAB
    # release clamped edge indices ("replicating end-points"); R2015b and later mirror them (checked against
    # MATLAB output by fatheral/matlab_imresize), which changes only the last value here.
    m = np.array([[0.0, 0, 1, 1, 0]])
    published = [0, -0.0234, -0.0703, 0.2031, 0.7969, 1.0938, 1.0938, 0.7969, 0.2031, -0.0703]
    np.testing.assert_allclose(imresize(m, (1, 10), padding="replicate")[0], published, atol=5e-5)
    np.testing.assert_allclose(imresize(m, (1, 10))[0, :9], published[:9], atol=5e-5)
    # Mirrored index 7 -> 4 adds cubic(1.75) * M(4) = -0.0234 to the clamped value.
    np.testing.assert_allclose(imresize(m, (1, 10))[0, 9], -0.0703 - 0.0234, atol=1e-4)
    # Stack Overflow 17380407: imresize(M, [1, 10], 'bilinear') = [0 0 0 .25 .75 1 1 .75 .25 0].
    np.testing.assert_allclose(
        imresize(m, (1, 10), method="bilinear")[0], [0, 0, 0, 0.25, 0.75, 1, 1, 0.75, 0.25, 0], atol=1e-12
    )


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imresize_downscale_of_ramp_is_ramp_at_block_centres(scale: int) -> None:
    n = 16 * scale
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    ramp = 0.3 * x + 1.7 * y - 5.0
    out = imresize(ramp, 1 / scale)
    assert out.shape == (16, 16)
    centre = scale * np.arange(16) + (scale - 1) / 2  # centre of each block, 0-based input coordinates
    expected = 0.3 * centre[np.newaxis, :] + 1.7 * centre[:, np.newaxis] - 5.0
    np.testing.assert_allclose(out[3:-3, 3:-3], expected[3:-3, 3:-3], atol=1e-9)


def test_imresize_upscale_reproduces_quadratic_in_interior() -> None:
    # MATLAB's cubic kernel has a = -0.5, the one value for which cubic convolution is exact on quadratics.
    n, s = 20, 3
    samples = (np.arange(n, dtype=np.float64) - 7.0) ** 2
    out = imresize(np.tile(samples, (4, 1)), (4, n * s))[0]
    positions = (np.arange(n * s) + 0.5) / s - 0.5
    interior = (positions > 2) & (positions < n - 3)
    np.testing.assert_allclose(out[interior], (positions[interior] - 7.0) ** 2, atol=1e-9)


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "box", "lanczos2", "lanczos3"])
def test_imresize_constant_stays_constant(method: str) -> None:
    image = np.full((13, 9), 42.5)
    for target in (0.5, 1 / 3, 2.0, (5, 20)):
        out = imresize(image, target, method=method)
        np.testing.assert_allclose(out, 42.5, rtol=1e-13)


def test_imresize_output_shape_is_ceil_of_scale() -> None:
    assert imresize(np.zeros((7, 10)), 0.5).shape == (4, 5)
    assert imresize(np.zeros((7, 10, 3)), 0.5).shape == (4, 5, 3)


def test_imresize_uint8_rounds_after_each_pass() -> None:
    image = np.random.default_rng(3).integers(0, 256, size=(24, 20), dtype=np.uint8)
    out = imresize(image, 0.5)
    assert out.dtype == np.uint8
    # Rows shrink first (equal scales: MATLAB's stable sort takes dimension 1 first), rounding in between.
    rows = np.clip(np.floor(imresize(image.astype(np.float64), (12, 20)) + 0.5), 0, 255)
    expected = np.clip(np.floor(imresize(rows, (12, 10)) + 0.5), 0, 255)
    np.testing.assert_array_equal(out, expected)


def test_imresize_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        imresize(np.zeros((4, 4)), 0.5, method="cubic")
    with pytest.raises(ValueError, match="scale must be a positive"):
        imresize(np.zeros((4, 4)), 0.0)
    with pytest.raises(ValueError, match="output shape must be two positive integers"):
        imresize(np.zeros((4, 4)), (2, 0))
    with pytest.raises(ValueError, match="padding must be one of"):
        imresize(np.zeros((4, 4)), 0.5, padding="zero")


# ------------------------------------------------------------------------------------------------ downsample
def test_downsample_area_is_exact_block_mean_and_crops_bottom_right() -> None:
    rng = np.random.default_rng(7)
    image = rng.normal(size=(11, 14))
    out = downsample(image, 3, method="area")
    assert out.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert out[i, j] == pytest.approx(image[3 * i : 3 * i + 3, 3 * j : 3 * j + 3].mean(), abs=1e-15)


def test_downsample_bicubic_is_matlab_imresize_of_cropped_image() -> None:
    image = np.random.default_rng(8).normal(size=(26, 33))
    out = downsample(image, 4, method="bicubic")
    assert out.shape == (6, 8)
    np.testing.assert_array_equal(out, imresize(image[:24, :32], 0.25))


def test_downsample_rejects_scale_larger_than_image() -> None:
    with pytest.raises(ValueError, match="larger than the image"):
        downsample(np.zeros((3, 8)), 4)


def test_downsample_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="'area', 'bicubic'"):
        downsample(np.zeros((8, 8)), 2, method="lanczos")


# --------------------------------------------------------------------------------------------------- scans
def test_upscale_scan_bookkeeping_on_real_scan() -> None:
    scan = real_scan()
    dy, dx = scan.pixel_size
    assert dx == pytest.approx(5.039370078740157e-06 / 128)
    big = upscale_scan(scan, 4, method="bicubic")
    assert big.shape == (512, 512)
    assert big.names == scan.names
    assert big.pixel_size == pytest.approx((dy / 4, dx / 4), rel=1e-15)
    assert big.size == pytest.approx(scan.size, rel=1e-15)  # same field of view
    assert big.origin == scan.origin
    assert [c.unit for c in big] == [c.unit for c in scan]
    assert big.metadata["scansr.upscale"] == "bicubic x4"
    assert big.metadata["note"] == "test"
    height = scan["HeightRetrace"].data
    np.testing.assert_array_equal(big["HeightRetrace"].data, upscale(height, 4, method="bicubic"))
    # Block means of a bilinear x4 upscale come back close to the original heights (interior, metres).
    back = downsample(upscale(height, 4, method="bilinear"), 4)
    span = np.ptp(height)
    assert np.max(np.abs(back - height)[2:-2, 2:-2]) < 0.2 * span


def test_upscale_scan_selected_channels() -> None:
    scan = real_scan()
    big = upscale_scan(scan, 2, method="lanczos", channels=["PhaseRetrace"])
    assert big.names == ("PhaseRetrace",)
    assert big["PhaseRetrace"].unit == "deg"
    with pytest.raises(UnknownChannelError):
        upscale_scan(scan, 2, channels="Nope")


def test_downsample_scan_bookkeeping_on_real_scan() -> None:
    scan = real_scan()
    small = downsample_scan(scan, 3, method="area")
    assert small.shape == (42, 42)  # 128 = 3 * 42 + 2: the last 2 rows and columns are dropped
    assert small.pixel_size == pytest.approx((scan.pixel_size[0] * 3, scan.pixel_size[1] * 3), rel=1e-15)
    assert small.origin == scan.origin
    assert "cropped 2 bottom rows, 2 right columns" in small.metadata["scansr.history"]
    np.testing.assert_allclose(
        small["HeightRetrace"].data[0, 0], scan["HeightRetrace"].data[:3, :3].mean(), rtol=1e-14
    )
    twice = downsample_scan(small, 2, method="bicubic")
    assert twice.metadata["scansr.history"].count(";") == 1


def test_scan_with_nan_is_rejected_with_count_and_advice() -> None:
    data = np.ones((8, 8))
    data[2:4, 5] = np.nan
    scan = Scan((Channel("Height", data, "m"),), pixel_size=(1e-9, 1e-9))
    with pytest.raises(ValueError, match=r"channel 'Height' has 2 non-finite.*fill them"):
        upscale_scan(scan, 2)
    with pytest.raises(ValueError, match="2 non-finite"):
        downsample_scan(scan, 2)


def test_scan_without_pixel_size() -> None:
    scan = Scan((Channel("Height", np.ones((8, 8)), "m"),), pixel_size=None)
    assert upscale_scan(scan, 2).pixel_size is None
    assert downsample_scan(scan, 2).pixel_size is None
