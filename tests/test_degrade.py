"""Tests of scansr.degrade: each effect against a known synthetic truth or its defining statistics."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from scansr import degrade
from tests.conftest import shared_path


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only copy: any attempt of the code under test to modify its input raises."""
    out = np.array(array, dtype=np.float64)
    out.setflags(write=False)
    return out


def _index_image(ny: int, nx: int) -> np.ndarray:
    """Pixel (i, j) holds i * 10000 + j, so every output value tells where it was taken from."""
    return _readonly(np.arange(ny)[:, None] * 10000.0 + np.arange(nx)[None, :])


def _rough_surface(shape: tuple[int, int], seed: int, *, sigma: float = 2.0, rms: float = 5e-9) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return _readonly(z / z.std() * rms)


def _read_pto_height() -> tuple[np.ndarray, tuple[float, float]]:
    """HeightRetrace (m) of a real Asylum scan in pyNSID HDF5; pixel size from its dimension scales."""
    h5py = pytest.importorskip("h5py")
    path = shared_path("data", "spm", "DTMicroscope", "PTO_Funakubo0005.h5")
    with h5py.File(path, "r") as f:
        group = f["Measurement_000/Channel_0/Channel_0"]
        data = group["Channel_0"]
        assert data.attrs["quantity"] == "HeightRetrace"
        assert data.attrs["units"] == "m"
        height = np.asarray(data[()], dtype=np.float64)
        x, y = group["x"][()], group["y"][()]
    pixel = (float(np.mean(np.diff(y))), float(np.mean(np.diff(x))))
    return _readonly(height), pixel


# --------------------------------------------------------------------------------------------------- layering
def test_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None; import scansr.degrade; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize(("shape", "scale"), [((64, 48), 4), ((67, 50), 3), ((30, 41), 2), ((33, 35), 8)])
def test_area_downsample_is_block_mean(shape, scale):
    image = _readonly(np.random.default_rng(1).normal(size=shape))
    lr = degrade.area_downsample(image, scale)
    my, mx = shape[0] // scale, shape[1] // scale
    expected = np.empty((my, mx))
    for i in range(my):
        for j in range(mx):
            expected[i, j] = image[i * scale : (i + 1) * scale, j * scale : (j + 1) * scale].mean()
    np.testing.assert_allclose(lr, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_downsample_keeps_constants_and_interior_ramps(scale):
    ny, nx = 15 * scale + 1, 12 * scale + 2
    const = degrade.bicubic_downsample(np.full((ny, nx), 3e-9), scale)
    assert const.shape == (ny // scale, nx // scale)
    np.testing.assert_allclose(const, 3e-9, rtol=1e-12)
    # The antialiased cubic kernel is symmetric with unit sum: away from the edges a linear ramp is reproduced
    # at the LR pixel centre, HR coordinate i * s + (s - 1) / 2 (pixel-area alignment, as MATLAB's imresize).
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    ramp = _readonly(2.0 * yy - 0.5 * xx)
    lr = degrade.bicubic_downsample(ramp, scale)
    ci = np.arange(lr.shape[0]) * scale + (scale - 1) / 2
    cj = np.arange(lr.shape[1]) * scale + (scale - 1) / 2
    truth = 2.0 * ci[:, None] - 0.5 * cj[None, :]
    np.testing.assert_allclose(lr[3:-3, 3:-3], truth[3:-3, 3:-3], atol=1e-9)


@pytest.mark.parametrize(("shape", "scale"), [((64, 64), 4), ((67, 50), 3), ((9, 11), 2)])
def test_point_sample_is_exact_on_its_grid(shape, scale):
    image = _index_image(*shape)
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(40):
        result = degrade.point_sample(image, scale, rng=rng)
        py, px = result.phase
        assert 0 <= py < scale
        assert 0 <= px < scale
        seen.add(result.phase)
        assert result.image.shape == (shape[0] // scale, shape[1] // scale)
        rows, cols = np.divmod(result.image, 10000.0)
        np.testing.assert_array_equal(rows, py + scale * np.arange(result.image.shape[0])[:, None] + 0 * cols)
        np.testing.assert_array_equal(cols, px + scale * np.arange(result.image.shape[1])[None, :] + 0 * rows)
    assert {p[0] for p in seen} == set(range(scale))
    assert {p[1] for p in seen} == set(range(scale))


def test_point_sample_given_phase_and_seed():
    image = _index_image(20, 20)
    fixed = degrade.point_sample(image, 4, rng=None, phase=(3, 1))
    assert fixed.phase == (3, 1)
    assert fixed.image[0, 0] == 3 * 10000 + 1
    a = degrade.point_sample(image, 4, rng=np.random.default_rng(5))
    b = degrade.point_sample(image, 4, rng=np.random.default_rng(5))
    assert a.phase == b.phase
    np.testing.assert_array_equal(a.image, b.image)


@pytest.mark.parametrize("phase", [(4, 0), (0, -1), (1.5, 0), (1,)])
def test_point_sample_rejects_bad_phase(phase):
    with pytest.raises(ValueError, match="phase"):
        degrade.point_sample(np.zeros((16, 16)), 4, rng=None, phase=phase)


def test_point_sample_needs_rng_or_phase():
    with pytest.raises(ValueError, match="rng"):
        degrade.point_sample(np.zeros((16, 16)), 4, rng=None)


def test_fast_average_sample_averages_along_rows_only():
    image = _index_image(26, 37)
    result = degrade.fast_average_sample(image, 4, rng=None, phase=(2, 1))
    assert result.image.shape == (26 // 4, 37 // 4)
    rows, cols = np.divmod(result.image, 10000.0)
    np.testing.assert_array_equal(rows[:, 0], 2 + 4 * np.arange(6))
    # Columns 1 + 4j ... 4 + 4j: mean 2.5 + 4j; the last block (33..36) is complete since 1 + 4 * 9 = 37.
    np.testing.assert_allclose(cols[0], 2.5 + 4 * np.arange(9), atol=1e-9)


@pytest.mark.parametrize("scale", [0, -2, 2.0, True, 40])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        degrade.area_downsample(np.zeros((32, 32)), scale)


# ------------------------------------------------------------------------------------------------- scan lines
def test_line_offsets_are_constant_per_row_with_given_std():
    image = _rough_surface((4000, 16), 0)
    sigma = 2e-9
    out = degrade.line_offsets(image, sigma=sigma, rng=np.random.default_rng(0))
    diff = out - image
    np.testing.assert_allclose(np.ptp(diff, axis=1), 0, atol=1e-20)
    # std of 4000 normal samples has relative standard error 1/sqrt(2 * 4000) = 1.1 %: 5 % is > 4 sigma.
    assert diff[:, 0].std() == pytest.approx(sigma, rel=0.05)
    assert abs(diff[:, 0].mean()) < 4 * sigma / math.sqrt(4000)


def test_line_noise_std_matches_sigma():
    image = _rough_surface((256, 256), 1)
    sigma = 0.3e-9
    diff = degrade.line_noise(image, sigma=sigma, rng=np.random.default_rng(1)) - image
    assert diff.std() == pytest.approx(sigma, rel=0.02)  # standard error 0.28 %
    # white: neighbouring pixels along a line are uncorrelated (|r| < 4 / sqrt(n))
    r = np.corrcoef(diff[:, :-1].ravel(), diff[:, 1:].ravel())[0, 1]
    assert abs(r) < 4 / math.sqrt(diff.size)


def test_noise_is_reproducible_and_seed_dependent():
    image = np.zeros((32, 32))
    a = degrade.line_noise(image, sigma=1.0, rng=np.random.default_rng(3))
    b = degrade.line_noise(image, sigma=1.0, rng=np.random.default_rng(3))
    c = degrade.line_noise(image, sigma=1.0, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_scars_are_short_constant_segments_along_lines():
    image = _readonly(np.zeros((20000, 64)))
    height, max_length = 1.5, 9
    diff = degrade.scars(
        image, rate=0.001, height=height, max_length=max_length, rng=np.random.default_rng(2)
    )
    hit_rows = np.flatnonzero(np.any(diff != 0, axis=1))
    assert hit_rows.size > 0
    for row in hit_rows:
        values = diff[row]
        assert set(np.unique(values[values != 0])) <= {-height, height}
        nonzero = np.concatenate([[0], (values != 0).astype(int), [0]])
        starts, ends = np.flatnonzero(np.diff(nonzero) == 1), np.flatnonzero(np.diff(nonzero) == -1)
        assert np.all(ends - starts <= max_length)


def test_scar_count_follows_rate():
    ny, nx, rate, max_length = 50000, 64, 0.05, 9
    diff = degrade.scars(
        np.zeros((ny, nx)), rate=rate, height=1.0, max_length=max_length, rng=np.random.default_rng(3)
    )
    # Total displaced length / height = sum of scar lengths: Poisson(rate * ny) scars, each of length
    # min(l, nx - start), l uniform in 1..L, start uniform in 0..nx-1. Std ~2.4 % of the mean; allow 12 %.
    mean_length = np.mean([[min(n, nx - start) for n in range(1, max_length + 1)] for start in range(nx)])
    assert np.abs(diff).sum() == pytest.approx(rate * ny * mean_length, rel=0.12)


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.5, 2.0])
def test_one_over_f_spectrum_slope(exponent):
    noise = degrade.one_over_f_noise(
        (256, 256), amplitude=1e-9, exponent=exponent, rng=np.random.default_rng(4)
    )
    assert noise.shape == (256, 256)
    assert noise.std() == pytest.approx(1e-9, rel=1e-9)
    # Welch periodogram of the acquisition-time series (raster order), fitted in log-log over 2.5 decades.
    f, psd = signal.welch(noise.ravel(), nperseg=4096)
    band = (f > 2e-3) & (f < 0.4)
    slope = np.polyfit(np.log(f[band]), np.log(psd[band]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.1)


def test_one_over_f_slow_axis_is_one_value_per_line():
    noise = degrade.one_over_f_noise(
        (8192, 3), amplitude=2.0, exponent=1.0, rng=np.random.default_rng(5), axis="slow"
    )
    np.testing.assert_array_equal(noise[:, 0], noise[:, 2])
    f, psd = signal.welch(noise[:, 0], nperseg=1024)
    band = (f > 5e-3) & (f < 0.4)
    slope = np.polyfit(np.log(f[band]), np.log(psd[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)


def test_one_over_f_rejects_unknown_axis():
    with pytest.raises(ValueError, match="axis"):
        degrade.one_over_f_noise((8, 8), amplitude=1.0, rng=np.random.default_rng(0), axis="diagonal")


# ------------------------------------------------------------------------------------------------------ drift
def test_drift_zero_is_identity():
    image = _rough_surface((40, 50), 6)
    np.testing.assert_allclose(degrade.drift(image, shear=0.0, stretch=0.0), image, rtol=0, atol=1e-22)


def test_drift_follows_the_documented_mapping():
    ny, nx = 80, 90
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)

    def surface(y, x):
        return np.sin(2 * np.pi * x / 23.0) + np.cos(2 * np.pi * y / 31.0)

    shear, stretch = 0.05, 0.02
    out = degrade.drift(_readonly(surface(yy, xx)), shear=shear, stretch=stretch)
    yc = (ny - 1) / 2
    truth = surface(yc + (yy - yc) * (1 + stretch), xx + shear * (yy - yc))
    inner = (slice(8, -8), slice(8, -8))  # away from the clamped edges
    np.testing.assert_allclose(out[inner], truth[inner], atol=2e-3)


def test_drift_jitter_shifts_whole_lines_and_needs_rng():
    ramp = _readonly(np.tile(np.arange(40.0), (2000, 1)))  # value = x: an x-shift shows as a per-row offset
    with pytest.raises(ValueError, match="rng"):
        degrade.drift(ramp, shear=0.0, stretch=0.0, jitter=0.5)
    a = degrade.drift(ramp, shear=0.0, stretch=0.0, jitter=0.5, rng=np.random.default_rng(8))
    b = degrade.drift(ramp, shear=0.0, stretch=0.0, jitter=0.5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    shift = (a - ramp)[:, 10:-10]
    np.testing.assert_allclose(np.ptp(shift, axis=1), 0, atol=1e-4)  # spline edge effects decay 0.27×/px
    assert shift[:, 0].std() == pytest.approx(0.5, rel=0.1)  # 2000 lines: standard error 1.6 %


# -------------------------------------------------------------------------------------------------------- tip
def _tip_depth(r: np.ndarray, radius: float, shape: str, half_angle: float) -> np.ndarray:
    """Independent tip surface above the apex: parabola r²/2R, or a cone of half-angle a on a sphere."""
    if shape == "parabolic":
        return r**2 / (2 * radius)
    a = np.radians(half_angle)
    sphere = radius - np.sqrt(np.maximum(radius**2 - r**2, 0))
    # The cone z = r / tan(a) - c meets the sphere tangentially where the slopes r / sqrt(R² - r²) agree.
    rt = radius * np.cos(a)
    c = rt / np.tan(a) - (radius - radius * np.sin(a))
    return np.where(r <= rt, sphere, r / np.tan(a) - c)


@pytest.mark.parametrize(("shape", "half_angle"), [("parabolic", 20.0), ("conical", 15.0), ("conical", 35.0)])
def test_tip_dilation_of_a_spike_is_the_inverted_tip(shape, half_angle):
    dy, dx = 2e-9, 1e-9  # non-square pixels
    ny, nx = 61, 81
    spike = 20e-9
    height = np.zeros((ny, nx))
    height[30, 40] = spike
    radius = 8e-9
    out = degrade.tip_dilation(_readonly(height), (dy, dx), radius=radius, shape=shape, half_angle=half_angle)
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = np.hypot((yy - 30) * dy, (xx - 40) * dx)
    truth = np.maximum(0.0, spike - _tip_depth(r, radius, shape, half_angle))
    np.testing.assert_allclose(out, truth, rtol=0, atol=1e-6 * spike)
    assert np.count_nonzero(truth) > 20  # the tip image covers many pixels


@pytest.mark.parametrize("shape", ["parabolic", "conical"])
def test_tip_dilation_never_lowers_and_flat_is_unchanged(shape):
    surface = _rough_surface((64, 64), 9)
    out = degrade.tip_dilation(surface, (2e-9, 2e-9), radius=10e-9, shape=shape)
    assert np.all(out >= surface)
    assert np.any(out > surface + 1e-12)  # a rough surface has valleys narrower than the tip
    flat = np.full((32, 40), -3e-7)
    np.testing.assert_array_equal(degrade.tip_dilation(flat, (1e-9, 3e-9), radius=5e-9, shape=shape), flat)


def test_blunter_tip_broadens_more():
    surface = _rough_surface((64, 64), 10)
    sharp = degrade.tip_dilation(surface, (2e-9, 2e-9), radius=5e-9)
    blunt = degrade.tip_dilation(surface, (2e-9, 2e-9), radius=50e-9)
    assert np.all(blunt >= sharp - 1e-21)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": 0.0}, "radius"),
        ({"radius": 1e-8, "shape": "pyramid"}, "shape"),
        ({"radius": 1e-8, "shape": "conical", "half_angle": 90.0}, "half_angle"),
    ],
)
def test_tip_dilation_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        degrade.tip_dilation(np.zeros((8, 8)), (1e-9, 1e-9), **kwargs)


def test_tip_dilation_rejects_bad_pixel_size():
    with pytest.raises(ValueError, match="pixel_size"):
        degrade.tip_dilation(np.zeros((8, 8)), (1e-9, 0.0), radius=1e-8)


# -------------------------------------------------------------------------------------------------------- SEM
def test_shot_noise_has_poisson_statistics():
    # Two grey levels; with zero grey as zero signal, u = counts / max is 1 and 0.25.
    counts = np.full((400, 400), 200.0)
    counts[:, 200:] = 50.0
    dose = 40.0
    out = degrade.shot_noise(_readonly(counts), dose=dose, rng=np.random.default_rng(11))
    u = out / 200.0
    for sl, mean in ((np.s_[:, :200], 1.0), (np.s_[:, 200:], 0.25)):
        assert u[sl].mean() == pytest.approx(mean, rel=0.01)
        # Poisson: variance of n / dose is mean / dose. 80000 samples: standard error of the variance ~0.5 %.
        assert u[sl].var() == pytest.approx(mean / dose, rel=0.03)
    # Whole electrons: values lie on the lattice k * max / dose.
    electrons = out / 200.0 * dose
    np.testing.assert_allclose(electrons, np.round(electrons), atol=1e-9)


def test_shot_noise_more_dose_less_noise():
    counts = np.full((128, 128), 1000.0)
    low = degrade.shot_noise(counts, dose=10.0, rng=np.random.default_rng(0))
    high = degrade.shot_noise(counts, dose=1000.0, rng=np.random.default_rng(0))
    assert high.std() < low.std() / 5  # sqrt(100) = 10 in theory
    np.testing.assert_array_equal(
        degrade.shot_noise(np.zeros((4, 4)), dose=5.0, rng=np.random.default_rng(0)), 0
    )


@pytest.mark.parametrize("sigma", [1.5, (1.0, 2.5)])
def test_gaussian_blur_of_a_point_has_the_given_width(sigma):
    image = np.zeros((81, 81))
    image[40, 40] = 1.0
    out = degrade.gaussian_blur(_readonly(image), sigma_px=sigma)
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    yy, xx = np.mgrid[0:81, 0:81] - 40
    assert out.sum() == pytest.approx(1.0, rel=1e-9)
    assert (out * yy**2).sum() == pytest.approx(sy**2, rel=0.01)
    assert (out * xx**2).sum() == pytest.approx(sx**2, rel=0.01)


# --------------------------------------------------------------------------------------------------- pipeline
ALL_STEPS_AFM = dataclasses.replace(
    degrade.AFM_DEFAULT,
    tip_probability=1.0,
    drift_probability=1.0,
    line_offset_probability=1.0,
    scar_probability=1.0,
    one_over_f_probability=1.0,
    line_noise_probability=1.0,
)


@pytest.mark.parametrize("config", [degrade.AFM_DEFAULT, degrade.SEM_DEFAULT, degrade.BICUBIC, ALL_STEPS_AFM])
def test_pipeline_is_reproducible_and_json_serialisable(config):
    for seed in range(5):
        a = degrade.sample_pipeline(config, rng=np.random.default_rng(seed))
        b = degrade.sample_pipeline(config, rng=np.random.default_rng(seed))
        assert a == b
        text = json.dumps(a.to_dict())
        assert degrade.Pipeline.from_dict(json.loads(text)) == a
        names = [s.name for s in a.steps]
        assert names == [n for n in degrade.STEPS if n in names]  # physical order


def test_config_round_trips_through_json():
    for config in degrade.PRESETS.values():
        assert degrade.DegradationConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tip_probability": 1.5},
        {"samplings": ("area", "nearest"), "sampling_weights": (1.0, 1.0)},
        {"samplings": ("area",), "sampling_weights": (0.0,)},
        {"line_noise_range": (0.03, 0.01)},
        {"one_over_f_axis": "diagonal"},
    ],
)
def test_config_rejects_invalid_values(kwargs):
    with pytest.raises(ValueError, match="must"):
        degrade.DegradationConfig(**kwargs)


def test_pipeline_rejects_wrong_order_and_missing_sampling():
    with pytest.raises(ValueError, match="order"):
        degrade.Pipeline((degrade.SamplingStep("point"), degrade.DriftStep(shear=0.0, stretch=0.0)))
    with pytest.raises(ValueError, match="sampling"):
        degrade.Pipeline((degrade.LineNoiseStep(sigma=0.01),))


def test_pipeline_from_dict_rejects_unknown_step():
    with pytest.raises(ValueError, match="unknown pipeline step"):
        degrade.Pipeline.from_dict({"steps": [{"step": "sharpen"}]})


def test_bicubic_preset_is_plain_bicubic_decimation():
    hr = _rough_surface((101, 77), 12)
    for scale in (2, 3, 4):
        pipeline = degrade.sample_pipeline(degrade.BICUBIC, rng=np.random.default_rng(scale))
        assert pipeline.to_dict() == {"steps": [{"step": "sampling", "method": "bicubic"}]}
        lr = degrade.apply_pipeline(pipeline, hr, scale, pixel_size=None, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(lr, degrade.bicubic_downsample(hr, scale))


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_apply_pipeline_shapes(scale):
    hr = _rough_surface((67, 53), 13)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        pipeline = degrade.sample_pipeline(ALL_STEPS_AFM, rng=rng)
        lr = degrade.apply_pipeline(pipeline, hr, scale, pixel_size=(2e-9, 2e-9), rng=rng)
        assert lr.shape == (67 // scale, 53 // scale)
        assert np.all(np.isfinite(lr))


def test_apply_pipeline_is_affine_in_the_heights_without_a_tip():
    # Noise magnitudes are fractions of the robust range, so (a * hr + b) degrades to a * lr + b: the same
    # configuration works in metres, nanometres or degrees.
    config = dataclasses.replace(ALL_STEPS_AFM, tip_probability=0.0)
    hr = _rough_surface((64, 64), 14)
    for seed in range(6):
        pipeline = degrade.sample_pipeline(config, rng=np.random.default_rng(seed))
        lr = degrade.apply_pipeline(pipeline, hr, 4, pixel_size=None, rng=np.random.default_rng(seed))
        lr2 = degrade.apply_pipeline(
            pipeline, hr * 1e9 + 3.0, 4, pixel_size=None, rng=np.random.default_rng(seed)
        )
        np.testing.assert_allclose(lr2, lr * 1e9 + 3.0, rtol=0, atol=1e-9)
        span = degrade.robust_range(hr)
        assert (
            np.abs(lr - degrade.area_downsample(hr, 4)).max() > 1e-3 * span
        )  # the noise steps did something


def test_apply_pipeline_with_tip_needs_pixel_size():
    pipeline = degrade.Pipeline((degrade.TipDilationStep(radius=1e-8), degrade.SamplingStep("area")))
    with pytest.raises(ValueError, match="pixel_size"):
        degrade.apply_pipeline(pipeline, np.zeros((16, 16)), 2, pixel_size=None, rng=np.random.default_rng(0))


# -------------------------------------------------------------------------------------------------- real scan
@pytest.mark.corpus
def test_on_a_real_afm_scan():
    height, pixel = _read_pto_height()
    ny, nx = height.shape
    assert 0 < pixel[0] < 1e-6
    assert 0 < pixel[1] < 1e-6
    # Sampling: area keeps the mean of a divisible image exactly; point samples are the scan's own values.
    assert degrade.area_downsample(height, 4).mean() == pytest.approx(height.mean(), rel=1e-12)
    sample = degrade.point_sample(height, 4, rng=np.random.default_rng(0))
    py, px = sample.phase
    np.testing.assert_array_equal(sample.image, height[py::4, px::4])
    # A 10 nm tip never lowers the measured surface, and broadens at least some features of a real scan.
    for shape in degrade.TIP_SHAPES:
        dilated = degrade.tip_dilation(height, pixel, radius=10e-9, shape=shape)
        assert np.all(dilated >= height)
        assert np.any(dilated > height)
    # Random AFM pipelines keep the scan's size, finiteness and height scale.
    span = degrade.robust_range(height)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        pipeline = degrade.sample_pipeline(ALL_STEPS_AFM, rng=rng)
        lr = degrade.apply_pipeline(pipeline, height, 4, pixel_size=pixel, rng=rng)
        assert lr.shape == (ny // 4, nx // 4)
        assert np.all(np.isfinite(lr))
        assert abs(np.median(lr) - np.median(height)) < 0.2 * span
        assert 0.5 < degrade.robust_range(lr) / span < 2.0


def test_steps_store_plain_numbers():
    step = degrade.ScarsStep(rate=np.float32(0.1), height=np.float64(0.2), max_length=np.int64(4))
    assert type(step.rate) is float
    assert type(step.max_length) is int
    json.dumps(degrade.Pipeline((degrade.SamplingStep("point"), step)).to_dict())


def test_load_config_takes_presets_files_and_dicts(tmp_path):
    import json

    from scansr.degrade import AFM_DEFAULT, PRESETS, DegradationConfig, load_config

    assert load_config("afm") is AFM_DEFAULT
    path = tmp_path / "mild.json"
    path.write_text(json.dumps({"comment": "why", "tip_probability": 0.0, "line_noise_range": [0, 0.01]}))
    cfg = load_config(path)
    assert isinstance(cfg, DegradationConfig)
    assert cfg.tip_probability == 0.0
    assert cfg.line_noise_range == (0.0, 0.01)
    assert cfg.scar_probability == DegradationConfig().scar_probability  # missing keys take the defaults
    assert load_config({"tip_probability": 0.5}).tip_probability == 0.5
    with pytest.raises(ValueError, match=str(tuple(PRESETS)).replace("(", r"\(").replace(")", r"\)")):
        load_config("no-such-preset")
    path.write_text(json.dumps({"tip_probabilty": 0.0}))
    with pytest.raises(ValueError, match="unknown degradation settings"):
        load_config(path)
