"""Tests of scansr.correlate on synthetic scans with known truth and on real multichannel files.

References: `scipy.stats.pearsonr`/`spearmanr` for the naive p-values; known synthetic relations (linear,
monotone, independent); the calibration of the adjusted p-values on independent smooth random fields (the
fraction of p < 0.05 must be near 5 %); a brute-force window computation for the local maps; the theoretical
effective sample size of Gaussian-filtered white noise; `numpy.histogram2d`.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import ndimage, stats

from scansr import io as sio
from scansr.correlate import (
    CorrelationResult,
    correlate_scan,
    domain_table,
    effective_sample_size,
    joint_histogram,
    labels_from_mask,
    local_correlation,
    pearson,
    read_labels,
    segment_otsu,
    segment_watershed,
    spearman,
)
from scansr.scan import Channel, Scan, UnknownChannelError
from tests.conftest import TEST_DATA, shared_path


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float, pad: int = 24) -> np.ndarray:
    """Gaussian-filtered white noise, cropped from a larger field so that it is not periodic; unit variance."""
    big = ndimage.gaussian_filter(rng.standard_normal((shape[0] + 2 * pad, shape[1] + 2 * pad)), sigma)
    field = big[pad : pad + shape[0], pad : pad + shape[1]]
    return (field - field.mean()) / field.std()


def two_level(
    rng: np.random.Generator, shape=(96, 96), step=5e-9, noise=0.4e-9
) -> tuple[np.ndarray, np.ndarray]:
    """A terrace (disk) of height `step` on a flat background, with white noise; and the true mask."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = (yy - shape[0] * 0.45) ** 2 + (xx - shape[1] * 0.55) ** 2 < (shape[0] * 0.3) ** 2
    return truth * step + rng.normal(0, noise, shape), truth


# --------------------------------------------------------------------------------------------------- global r
def test_naive_p_values_match_scipy() -> None:
    rng = np.random.default_rng(1)
    x = smooth_field(rng, (40, 50), 2)
    y = 0.2 * x + smooth_field(rng, (40, 50), 2)
    p, s = pearson(x, y), spearman(x, y)
    ref_p, ref_s = stats.pearsonr(x.ravel(), y.ravel()), stats.spearmanr(x.ravel(), y.ravel())
    assert p.statistic == pytest.approx(ref_p.statistic, abs=1e-12)
    assert p.p_naive == pytest.approx(ref_p.pvalue, rel=1e-8)
    assert s.statistic == pytest.approx(ref_s.statistic, abs=1e-12)
    assert s.p_naive == pytest.approx(ref_s.pvalue, rel=1e-8)
    assert p.n == s.n == 2000


def test_linear_relation_gives_pearson_one() -> None:
    rng = np.random.default_rng(2)
    height = smooth_field(rng, (64, 64), 3) * 2e-9
    adhesion = 5e-9 - 0.7 * height  # N, falling with height
    for significance in ("dutilleul", "toroidal"):
        result = pearson(height, adhesion, significance=significance)
        assert result.statistic == pytest.approx(-1.0, abs=1e-9)
        assert (
            result.p_adjusted <= 1 / height.size
        )  # the smallest p of the shift test: only shift 0 is as large
    assert pearson(height, 3.0 * height + 1.0).statistic == pytest.approx(1.0, abs=1e-9)


def test_monotone_nonlinear_relation_spearman_one_above_pearson() -> None:
    rng = np.random.default_rng(3)
    height = smooth_field(rng, (64, 64), 3)
    modulus = 1e9 * np.exp(2.5 * height)  # Pa, strictly increasing in height
    rho, r = spearman(height, modulus), pearson(height, modulus)
    assert rho.statistic == pytest.approx(1.0, abs=1e-12)
    assert r.statistic < 0.9  # the exponential is far from a line over ±3 standard deviations
    assert rho.statistic > r.statistic


def test_nan_pixels_and_mask_are_left_out() -> None:
    rng = np.random.default_rng(4)
    x, y = smooth_field(rng, (32, 32), 2), smooth_field(rng, (32, 32), 2)
    x_nan = x.copy()
    x_nan[:4] = np.nan
    mask = np.ones(x.shape, bool)
    mask[:4] = False
    a, b = pearson(x_nan, y), pearson(x, y, mask=mask)
    ref = stats.pearsonr(x[4:].ravel(), y[4:].ravel())
    assert a.n == b.n == 28 * 32
    assert a.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert a.p_adjusted == pytest.approx(b.p_adjusted, rel=1e-9)
    assert math.isfinite(pearson(x_nan, y, significance="toroidal").p_adjusted)


def test_adjusted_p_values_are_calibrated_on_independent_smooth_fields() -> None:
    # Independent pairs: under the null, p < 0.05 should happen in ~5 % of the pairs. 200 pairs give a binomial
    # standard error of 1.5 %; the naive test (independent pixels) rejects in most pairs.
    rng = np.random.default_rng(20261121)
    pairs = 200
    rejected = {key: 0 for key in ("naive", "dutilleul_r", "dutilleul_rho", "toroidal_r", "toroidal_rho")}
    for _ in range(pairs):
        x = smooth_field(rng, (48, 48), 2.5)
        y = np.exp(1.5 * smooth_field(rng, (48, 48), 2.5))  # skewed, for Spearman
        r = pearson(x, y)
        rejected["naive"] += r.p_naive < 0.05
        rejected["dutilleul_r"] += r.p_adjusted < 0.05
        rejected["dutilleul_rho"] += spearman(x, y).p_adjusted < 0.05
        rejected["toroidal_r"] += pearson(x, y, significance="toroidal").p_adjusted < 0.05
        rejected["toroidal_rho"] += spearman(x, y, significance="toroidal").p_adjusted < 0.05
    rates = {key: value / pairs for key, value in rejected.items()}
    assert rates["naive"] > 0.5, rates
    for key in ("dutilleul_r", "dutilleul_rho", "toroidal_r", "toroidal_rho"):
        assert 0.01 <= rates[key] <= 0.10, rates


def test_effective_sample_size_of_white_noise_and_of_smooth_fields() -> None:
    rng = np.random.default_rng(5)
    n = 96 * 96
    white = effective_sample_size(rng.standard_normal((96, 96)), rng.standard_normal((96, 96)))
    assert white == pytest.approx(n, rel=0.1)
    # Gaussian-filtered white noise with sigma s has autocorrelation exp(-|h|² / 4s²); the sum over lags of its
    # square is 2π s², so n_eff ≈ n / (2π s²) (Clifford et al. 1989, eq. 2.10 for two such fields).
    sigma = 3.0
    values = [
        effective_sample_size(smooth_field(rng, (96, 96), sigma), smooth_field(rng, (96, 96), sigma))
        for _ in range(10)
    ]
    assert np.median(values) == pytest.approx(n / (2 * np.pi * sigma**2), rel=0.3)


def test_upsampling_inflates_the_naive_p_value_but_not_the_adjusted_one() -> None:
    # The same information on a 4x finer grid (as after enhancement): 16x the pixels, no new evidence.
    rng = np.random.default_rng(6)
    x = smooth_field(rng, (48, 48), 2)
    y = 0.25 * x + smooth_field(rng, (48, 48), 2)
    coarse = pearson(x, y)
    fine = pearson(ndimage.zoom(x, 4, order=3), ndimage.zoom(y, 4, order=3))
    assert fine.n == 16 * coarse.n
    assert fine.p_naive < coarse.p_naive * 1e-10
    assert fine.n_effective == pytest.approx(coarse.n_effective, rel=0.2)
    assert fine.p_adjusted == pytest.approx(coarse.p_adjusted, rel=1.0, abs=0.02)


@pytest.mark.parametrize("significance", ["dutilleul", "toroidal"])
def test_results_do_not_depend_on_the_units(significance: str) -> None:
    rng = np.random.default_rng(23)
    x, y = smooth_field(rng, (32, 40), 2), smooth_field(rng, (32, 40), 2)
    for func in (pearson, spearman):
        a = func(x, y, significance=significance)
        b = func(
            x * 1e-12 + 1e-9, y * 1e10, significance=significance
        )  # pA-scale current vs GPa-scale modulus
        assert b.statistic == pytest.approx(a.statistic, abs=1e-9)
        assert b.p_adjusted == pytest.approx(a.p_adjusted, rel=1e-6)
        assert b.n_effective == pytest.approx(a.n_effective, rel=1e-6)


def test_constant_image_gives_nan() -> None:
    result = pearson(np.ones((8, 8)), np.arange(64.0).reshape(8, 8))
    assert math.isnan(result.statistic)
    assert math.isnan(result.p_naive)


def test_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(7)
    x, y = smooth_field(rng, (16, 16), 1), smooth_field(rng, (16, 16), 1)
    x[0, 0] = np.nan
    x0, y0 = x.copy(), y.copy()
    pearson(x, y, significance="toroidal")
    spearman(x, y)
    local_correlation(x, y, window=5)
    segment_otsu(y, smooth=1.0)
    assert_allclose(x, x0, equal_nan=True)
    assert_allclose(y, y0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"significance": "bonferroni"}, "significance must be one of"),
        ({"mask": np.ones((8, 8))}, "boolean"),
        ({"mask": np.ones((4, 4), bool)}, "shape"),
    ],
)
def test_bad_correlation_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        pearson(np.zeros((8, 8)), np.ones((8, 8)), **kwargs)


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="one shape"):
        spearman(np.zeros((8, 8)), np.zeros((8, 9)))


# --------------------------------------------------------------------------------------------------- local maps
def brute_force_r(x: np.ndarray, y: np.ndarray, i: int, j: int, half: int) -> float:
    window = np.s_[max(i - half, 0) : i + half + 1, max(j - half, 0) : j + half + 1]
    a, b = x[window].ravel(), y[window].ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def test_local_correlation_equals_brute_force() -> None:
    rng = np.random.default_rng(8)
    x = smooth_field(rng, (40, 48), 1.5) * 1e-9 + 3e-6  # metres with a large offset: a precision test
    y = 0.5 * x / 1e-9 + smooth_field(rng, (40, 48), 1.5)
    y[10:13, 30:33] = np.nan
    r_map = local_correlation(x, y, window=7)
    assert r_map.shape == x.shape
    for i, j in [(20, 20), (5, 40), (0, 0), (39, 47), (11, 31), (12, 3)]:
        assert r_map[i, j] == pytest.approx(brute_force_r(x, y, i, j, 3), abs=1e-9), (i, j)


def test_local_correlation_is_nan_in_flat_windows() -> None:
    rng = np.random.default_rng(9)
    x, y = smooth_field(rng, (32, 32), 1), smooth_field(rng, (32, 32), 1)
    x[:, :10] = 2.0  # a flat region: r is undefined where the window lies inside it
    r_map = local_correlation(x, y, window=5)
    assert np.isnan(r_map[:, :8]).all()
    assert np.isfinite(r_map[:, 12:]).all()
    assert np.nanmax(np.abs(r_map)) <= 1.0


@pytest.mark.parametrize("window", [4, 1, 2.0, True])
def test_bad_window(window) -> None:
    with pytest.raises(ValueError, match="window"):
        local_correlation(np.zeros((8, 8)), np.ones((8, 8)), window=window)


# --------------------------------------------------------------------------------------------------- segmentation
def test_otsu_finds_the_two_levels() -> None:
    rng = np.random.default_rng(10)
    height, truth = two_level(rng)
    labels = segment_otsu(height)
    assert set(np.unique(labels)) == {0, 1}
    assert np.mean(labels == truth) > 0.999  # the step is 12.5 noise standard deviations


def test_multi_otsu_finds_three_levels_in_order() -> None:
    rng = np.random.default_rng(11)
    levels = np.repeat([0.0, 4e-9, 9e-9], 32)[None, :] * np.ones((48, 1))
    labels = segment_otsu(levels + rng.normal(0, 0.3e-9, levels.shape), classes=3)
    truth = np.repeat([0, 1, 2], 32)[None, :] * np.ones((48, 1), int)
    assert np.mean(labels == truth) > 0.999


def test_otsu_marks_missing_pixels() -> None:
    rng = np.random.default_rng(12)
    height, _ = two_level(rng, shape=(32, 32))
    height[0, :5] = np.nan
    labels = segment_otsu(height, smooth=1.0)
    assert (labels[0, :5] == -1).all()
    assert (labels[1:] >= 0).all()


def test_watershed_gradient_finds_terrace_and_background() -> None:
    rng = np.random.default_rng(13)
    height, truth = two_level(rng, noise=0.2e-9)
    labels = segment_watershed(height, markers="gradient", smooth=1.5)
    assert labels.min() == 0
    sizes = np.bincount(labels.ravel())
    assert len(sizes) == 2
    # The watershed line falls on the step within a pixel or so: compare areas with the disk's.
    terrace = labels == labels[int(96 * 0.45), int(96 * 0.55)]
    assert terrace.sum() == pytest.approx(truth.sum(), rel=0.08)


def test_watershed_maxima_finds_one_domain_per_hill() -> None:
    rng = np.random.default_rng(14)
    yy, xx = np.mgrid[:96, :96]
    centres = [(24, 24), (24, 72), (72, 24), (72, 72)]
    height = sum(3e-9 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 8.0**2)) for cy, cx in centres)
    labels = segment_watershed(height + rng.normal(0, 0.05e-9, height.shape))
    assert len(np.unique(labels)) == 4
    assert len({labels[c] for c in centres}) == 4


def test_bad_segmentation_arguments() -> None:
    with pytest.raises(ValueError, match="classes"):
        segment_otsu(np.arange(64.0).reshape(8, 8), classes=7)
    with pytest.raises(ValueError, match="constant"):
        segment_otsu(np.ones((8, 8)))
    with pytest.raises(ValueError, match="markers"):
        segment_watershed(np.arange(64.0).reshape(8, 8), markers="minima")


def test_labels_from_user_masks() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:3] = True
    assert_allclose(labels_from_mask(mask), mask.astype(int))
    floats = np.where(mask, 2.0, np.nan)
    assert_allclose(labels_from_mask(floats), np.where(mask, 2, -1))
    with pytest.raises(ValueError, match="fractions"):
        labels_from_mask(np.full((4, 5), 0.5))
    with pytest.raises(ValueError, match="shape"):
        labels_from_mask(mask, shape=(5, 4))


def test_read_labels_from_files(tmp_path) -> None:
    mask = np.zeros((6, 8), np.uint8)
    mask[2:, 3:] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    assert_allclose(read_labels(tmp_path / "mask.png", shape=(6, 8)), mask // 255)
    colours = np.zeros((6, 8, 3), np.uint8)
    colours[:, 3:] = (0, 0, 255)
    colours[:, 6:] = (0, 255, 0)
    cv2.imwrite(str(tmp_path / "colours.png"), colours)
    assert len(np.unique(read_labels(tmp_path / "colours.png"))) == 3
    labels = np.arange(48).reshape(6, 8) % 3 - 1
    np.savez(tmp_path / "labels.npz", labels=labels, other=np.zeros(3))
    assert_allclose(read_labels(tmp_path / "labels.npz"), labels)
    np.save(tmp_path / "labels.npy", labels)
    assert_allclose(read_labels(tmp_path / "labels.npy"), labels)
    with pytest.raises(ValueError, match="shape"):
        read_labels(tmp_path / "mask.png", shape=(8, 6))
    (tmp_path / "labels.txt").write_text("0 1\n1 0\n")
    with pytest.raises(ValueError, match=r"must be \.npy"):
        read_labels(tmp_path / "labels.txt")


# --------------------------------------------------------------------------------------------------- domains
def multichannel_scan(rng: np.random.Generator) -> tuple[Scan, np.ndarray]:
    """A terrace scan whose adhesion is a known per-level constant + noise, modulus monotone in height."""
    height, truth = two_level(rng)
    adhesion = np.where(truth, 2e-9, 5e-9) + rng.normal(0, 0.1e-9, height.shape)  # N
    smooth = smooth_field(rng, height.shape, 2.0)
    modulus = 1e9 * np.exp(3 * (height / 5e-9 + 0.3 * smooth))  # Pa
    independent = smooth_field(rng, height.shape, 3.0) * 0.1  # V
    channels = (
        Channel("HeightRetrace", height, "m", "retrace"),
        Channel("AdhesionRetrace", adhesion, "N", "retrace"),
        Channel("DMTModulusRetrace", modulus, "Pa", "retrace"),
        Channel("PotentialRetrace", independent, "V", "retrace"),
    )
    return Scan(channels, (2e-9, 3e-9)), truth


def test_domain_table_recovers_the_known_levels() -> None:
    rng = np.random.default_rng(15)
    scan, truth = multichannel_scan(rng)
    table = domain_table(scan, truth.astype(int), channels=["HeightRetrace", "AdhesionRetrace"])
    assert table.labels == (0, 1)
    assert table.n_pixels == (int((~truth).sum()), int(truth.sum()))
    assert table.area[1] == pytest.approx(truth.sum() * 2e-9 * 3e-9, rel=1e-12)
    assert sum(table.fraction) == pytest.approx(1.0)
    assert_allclose(table.mean[:, 0], [0.0, 5e-9], atol=0.05e-9)
    assert_allclose(table.mean[:, 1], [5e-9, 2e-9], atol=0.02e-9)
    assert_allclose(table.median[:, 1], [5e-9, 2e-9], atol=0.02e-9)
    assert_allclose(table.std[:, 1], [0.1e-9, 0.1e-9], rtol=0.1)
    adhesion = table.tests[1]
    assert adhesion.channel == "AdhesionRetrace"
    assert adhesion.anova_p_naive < 1e-100
    assert adhesion.anova_p_adjusted < 0.01
    json.dumps(table.to_dict(), allow_nan=False)


def test_domain_tests_are_calibrated_on_independent_fields() -> None:
    rng = np.random.default_rng(16)
    pairs, naive, adjusted_f, adjusted_h = 150, 0, 0, 0
    for _ in range(pairs):
        height = smooth_field(rng, (48, 48), 2.5)
        scan = Scan(
            (
                Channel("Height", height * 1e-9, "m"),
                Channel("Adhesion", smooth_field(rng, (48, 48), 2.5), "N"),
            ),
            (1e-8, 1e-8),
        )
        test = domain_table(scan, segment_otsu(height), channels=["Adhesion"]).tests[0]
        naive += test.anova_p_naive < 0.05
        adjusted_f += test.anova_p_adjusted < 0.05
        adjusted_h += test.kruskal_p_adjusted < 0.05
    assert naive / pairs > 0.5
    assert 0.01 <= adjusted_f / pairs <= 0.11
    assert 0.01 <= adjusted_h / pairs <= 0.11


def test_domain_table_without_pixel_size_and_bad_labels() -> None:
    rng = np.random.default_rng(17)
    scan = Scan((Channel("Height", rng.normal(size=(8, 8)), "m"),), None)
    table = domain_table(scan, np.zeros((8, 8), int))
    assert math.isnan(table.area[0])
    assert math.isnan(table.tests[0].anova_p_adjusted)  # one domain: nothing to compare
    with pytest.raises(ValueError, match="no domain"):
        domain_table(scan, -np.ones((8, 8), int))
    with pytest.raises(ValueError, match="shape"):
        domain_table(scan, np.zeros((8, 9), int))


# --------------------------------------------------------------------------------------------------- histogram
def test_joint_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(18)
    x, y = rng.normal(size=(20, 20)), rng.normal(size=(20, 20))
    x[0, 0] = np.nan
    hist = joint_histogram(x, y, bins=16)
    keep = np.isfinite(x)
    counts, xe, ye = np.histogram2d(x[keep], y[keep], bins=16)
    assert_allclose(hist.counts, counts)
    assert_allclose(hist.x_edges, xe)
    assert_allclose(hist.y_edges, ye)
    assert hist.counts.sum() == 399
    with pytest.raises(ValueError, match="bins"):
        joint_histogram(x, y, bins=1)


# --------------------------------------------------------------------------------------------------- one scan
def test_correlate_scan_on_a_synthetic_multichannel_scan() -> None:
    rng = np.random.default_rng(19)
    scan, truth = multichannel_scan(rng)
    result = correlate_scan(
        scan, topography="height", properties=["adhesion", "modulus", "potential"], window=9
    )
    assert isinstance(result, CorrelationResult)
    assert result.topography == "HeightRetrace"
    assert result.properties == ("AdhesionRetrace", "DMTModulusRetrace", "PotentialRetrace")
    adhesion, modulus, potential = result.rows
    assert adhesion.pearson_r < -0.95  # adhesion falls by 3 nN on the 5 nm terrace
    assert adhesion.pearson_p_adjusted < adhesion.n * 1e-6
    assert modulus.spearman_rho > modulus.pearson_r > 0  # monotone, not linear
    assert abs(potential.pearson_r) < 0.3
    assert potential.pearson_p_naive < potential.pearson_p_adjusted
    assert potential.n_effective < potential.n / 10
    assert result.segmentation == "otsu"
    assert np.mean(result.labels == truth) > 0.999
    assert result.domains.channels == (
        "HeightRetrace",
        "AdhesionRetrace",
        "DMTModulusRetrace",
        "PotentialRetrace",
    )
    assert_allclose(result.domains.mean[:, 1], [5e-9, 2e-9], atol=0.02e-9)
    for name, r_map in result.local_maps.items():
        assert r_map.shape == scan.shape, name
        assert not r_map.flags.writeable
    scans = result.local_map_scans()
    assert list(scans) == [f"local r: {name}" for name in result.properties]
    assert scans["local r: AdhesionRetrace"].pixel_size == scan.pixel_size
    assert np.nanmin(result.labels_scan().channels[0].data) == 0
    summary = result.to_dict()
    text = json.dumps(summary, allow_nan=False)
    assert "pearson_p_adjusted" in text
    assert [row["property"] for row in summary["correlations"]] == list(result.properties)


def test_correlate_scan_with_a_user_mask_and_default_properties() -> None:
    rng = np.random.default_rng(20)
    scan, truth = multichannel_scan(rng)
    result = correlate_scan(scan, topography="HeightRetrace", segmentation=truth, significance="toroidal")
    assert result.segmentation == "mask"
    assert result.properties == ("AdhesionRetrace", "DMTModulusRetrace", "PotentialRetrace")
    assert result.domains.n_pixels == (int((~truth).sum()), int(truth.sum()))
    watershed = correlate_scan(scan, topography="height", properties=["adhesion"], segmentation="watershed")
    assert watershed.segmentation == "watershed"


def test_correlate_scan_missing_channel_lists_the_channels() -> None:
    scan, _ = multichannel_scan(np.random.default_rng(21))
    with pytest.raises(UnknownChannelError) as info:
        correlate_scan(scan, topography="height", properties=["current"])
    for name in scan.names:
        assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 8}, "window"),
        ({"segmentation": "kmeans"}, "segmentation"),
        ({"segmentation": np.zeros((3, 3), int)}, "shape"),
        ({"significance": "naive"}, "significance"),
        ({"properties": "adhesion"}, "properties"),
        ({"properties": ["HeightRetrace"]}, "both resolve"),
    ],
)
def test_correlate_scan_bad_arguments(kwargs, match) -> None:
    scan, _ = multichannel_scan(np.random.default_rng(22))
    options = {"topography": "height", "properties": ["adhesion"], **kwargs}
    with pytest.raises(ValueError, match=match):
        correlate_scan(scan, **options)


# --------------------------------------------------------------------------------------------------- real files
def check_result(result: CorrelationResult, properties: tuple[str, ...], n: int) -> None:
    assert result.properties == properties
    for row in result.rows:
        for value in (row.pearson_r, row.spearman_rho):
            assert math.isfinite(value)
            assert abs(value) <= 1
        for p in (row.pearson_p_naive, row.pearson_p_adjusted, row.spearman_p_naive, row.spearman_p_adjusted):
            assert 0 <= p <= 1
        assert row.n == n
        assert 3 <= row.n_effective < n
    assert set(properties) <= set(result.domains.channels)
    assert all(np.isfinite(result.domains.mean).ravel())
    json.dumps(result.to_dict(), allow_nan=False)


def test_real_pfm_file() -> None:
    scan = sio.read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5")
    result = correlate_scan(scan, topography="height", properties=["amplitude", "phase"])
    assert result.topography == "HeightRetrace"
    check_result(result, ("AmplitudeRetrace", "PhaseRetrace"), 256 * 256)
    with pytest.raises(UnknownChannelError, match="'DeflectionRetrace'"):
        correlate_scan(scan, topography="height", properties=["adhesion"])


def test_real_stm_current_file() -> None:
    scan = sio.read(TEST_DATA / "pySPM" / "test.sxm")
    result = correlate_scan(scan, topography="Z", properties=["current"], segmentation="watershed")
    check_result(result, ("Current",), 256 * 256)


def test_real_peakforce_qnm_file() -> None:
    scan = sio.read(shared_path("data", "spm", "AFMReader", "sample_0.spm"))
    crop = scan.map_channels(
        lambda a: a[:256, :256]
    )  # 1024² -> 256²: the same analysis, a quarter of the time
    result = correlate_scan(crop, topography="height", properties=["adhesion", "deformation", "Dissipation"])
    assert result.topography == "ZSensor"  # the retrace topography, co-registered with the retrace properties
    check_result(result, ("Adhesion", "Deformation", "Dissipation"), 256 * 256)
    with pytest.raises(UnknownChannelError, match="'Stiffness'"):
        correlate_scan(crop, topography="height", properties=["DMTModulus"])


def test_real_force_map_export() -> None:
    scan = sio.read(shared_path("data", "spm", "AFMReader", "sample_0.gwy"))
    crop = scan.map_channels(lambda a: a[:256, :256])
    result = correlate_scan(crop, topography="height", properties=["modulus", "adhesion"])
    check_result(result, ("Stiffness", "Adhesion"), 256 * 256)
    assert result.domains.units[1:] == ("Pa", "N")
