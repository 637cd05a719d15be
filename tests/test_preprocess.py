"""Preprocessing on a real STM topograph (SPIEPy demo image) with known synthetic corruptions added."""

import statistics

import numpy as np
import pytest

from scansr import io
from scansr.preprocess import (
    Normalization,
    align_rows,
    clip_percentiles,
    fit_minmax,
    fit_zscore,
    level_plane,
    mark_scars,
    percentile_bounds,
    remove_scars,
)
from tests.conftest import TEST_DATA

DEFECTS = TEST_DATA / "SPIEPy" / "image_with_defects.dat"


@pytest.fixture(scope="module")
def real():
    """Si(111)-7x7 STM topograph, 256 x 256, heights in metres (about 1 nm range, tilted)."""
    return np.array(io.read(DEFECTS)["Topography"].data)


def frozen(array):
    array = np.array(array)
    array.setflags(write=False)  # any attempt to modify an input raises
    return array


def plane(shape, a, b, c):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return a + b * xx + c * yy


# -------------------------------------------------------------------------------------------------- levelling
def test_level_plane_removes_an_added_plane_exactly(real):
    tilted = frozen(real + plane(real.shape, 3e-7, 2.5e-10, -1.7e-10))
    np.testing.assert_allclose(level_plane(tilted), level_plane(real), rtol=0, atol=1e-12 * np.ptp(tilted))


def test_level_plane_of_a_plane_is_zero():
    z = plane((30, 50), 1e-6, 3e-9, -2e-9)
    np.testing.assert_allclose(level_plane(z), 0.0, atol=1e-20)


def test_level_plane_fits_only_the_mask(real):
    bump = np.zeros_like(real)
    bump[100:150, 80:200] = 5e-9
    z = frozen(plane(real.shape, 0.0, 1e-10, 2e-10) + bump)
    levelled = level_plane(z, mask=bump == 0)
    np.testing.assert_allclose(levelled, bump, atol=1e-20)
    assert np.abs(level_plane(z) - bump).max() > 1e-10  # without the mask the bump tilts the plane


def test_level_plane_ignores_nan(real):
    z = real + plane(real.shape, 0.0, 1e-10, 0.0)
    z[10:20, 10:20] = np.nan
    levelled = level_plane(frozen(z))
    assert np.isnan(levelled[10:20, 10:20]).all()
    finite = np.isfinite(z)
    expected = level_plane(real, mask=finite)
    np.testing.assert_allclose(levelled[finite], expected[finite], atol=1e-12 * np.ptp(real))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": np.ones(5)}, "2-D"),
        ({"height": np.ones((4, 4)), "mask": np.ones((4, 4))}, "boolean"),
        ({"height": np.ones((4, 4)), "mask": np.ones((3, 4), bool)}, "shape"),
        ({"height": np.full((4, 4), np.nan)}, "at least 3"),
        ({"height": np.ones((4, 4)), "mask": np.eye(4, dtype=bool)}, "one line"),
    ],
)
def test_level_plane_errors(kwargs, message):
    height = kwargs.pop("height")
    with pytest.raises(ValueError, match=message):
        level_plane(height, **kwargs)


# ------------------------------------------------------------------------------------------------------- rows
@pytest.mark.parametrize("method", ["median", "mean"])
def test_align_rows_removes_added_line_offsets(real, method):
    rng = np.random.default_rng(42)
    offsets = rng.normal(scale=3e-10, size=(real.shape[0], 1))  # streaks as large as the corrugation
    streaked = frozen(real + offsets)
    aligned = align_rows(streaked, method=method)
    # the added offsets go exactly: the result is the original minus its own per-line median / mean
    reduce = statistics.median if method == "median" else statistics.fmean
    own = np.array([reduce(row.tolist()) for row in real])[:, None]
    np.testing.assert_allclose(aligned, real - own, rtol=0, atol=1e-12 * np.ptp(real))


def test_align_rows_recovers_the_scan_up_to_a_constant(real):
    # a scan whose lines carry no offset of their own: the real one with its line medians set to a constant
    clean = real - np.median(real, axis=1, keepdims=True) + 4e-10
    offsets = np.random.default_rng(1).normal(scale=3e-10, size=(real.shape[0], 1))
    recovered = align_rows(frozen(clean + offsets))
    difference = recovered - clean
    assert np.ptp(difference) < 1e-12 * np.ptp(clean)  # one constant everywhere


def test_align_rows_polynomial_removes_line_tilts(real):
    rng = np.random.default_rng(7)
    x = np.arange(real.shape[1])
    ramps = (
        rng.normal(scale=3e-10, size=(real.shape[0], 1))
        + rng.normal(scale=2e-12, size=(real.shape[0], 1)) * x
    )
    aligned = align_rows(frozen(real + ramps), method="polynomial", degree=1)
    np.testing.assert_allclose(
        aligned, align_rows(real, method="polynomial", degree=1), atol=1e-12 * np.ptp(real)
    )
    # each line of the result has zero mean and no slope
    assert np.abs(aligned.mean(axis=1)).max() < 1e-12 * np.ptp(real)
    slopes = np.polyfit(x, aligned.T, 1)[0]
    assert np.abs(slopes).max() < 1e-14 * np.ptp(real)


def test_align_rows_with_mask_and_nan(real):
    z = real + np.arange(real.shape[0])[:, None] * 1e-11
    z[5, :] = np.nan  # a lost line stays lost
    mask = np.ones(z.shape, bool)
    mask[:, :100] = False
    aligned = align_rows(frozen(z), method="median", mask=mask)
    assert np.isnan(aligned[5]).all()
    np.testing.assert_allclose(np.median(aligned[6:, 100:], axis=1), 0.0, atol=1e-12 * np.ptp(real))
    aligned_poly = align_rows(z, method="polynomial", degree=2, mask=mask)
    assert np.isnan(aligned_poly[5]).all()
    assert np.isfinite(aligned_poly[6:]).all()


def test_align_rows_validates_its_options(real):
    with pytest.raises(ValueError, match=r"method must be one of \('median', 'mean', 'polynomial'\)"):
        align_rows(real, method="linear")
    with pytest.raises(ValueError, match="degree"):
        align_rows(real, method="polynomial", degree=-1)
    with pytest.raises(ValueError, match="degree"):
        align_rows(real, method="polynomial", degree=1.5)


# ------------------------------------------------------------------------------------------------------ scars
def add_scar(z, rows, cols, step):
    scarred = z.copy()
    scarred[rows, cols] += step
    return scarred


@pytest.mark.parametrize(
    ("rows", "step"), [(slice(100, 101), 6e-10), (slice(60, 61), -6e-10), (slice(180, 182), 6e-10)]
)
def test_remove_scars_on_a_real_scan(real, rows, step):
    cols = slice(40, 120)
    scarred = frozen(add_scar(real, rows, cols, step))
    expected_mask = np.zeros(real.shape, bool)
    expected_mask[rows, cols] = True
    np.testing.assert_array_equal(mark_scars(scarred), expected_mask)
    repaired = remove_scars(scarred)
    # everything but the scar is untouched
    np.testing.assert_array_equal(repaired[~expected_mask], real[~expected_mask])
    # the scar is replaced by the straight line between the rows above and below
    above, below = rows.start - 1, rows.stop
    width = rows.stop - rows.start
    for k, row in enumerate(range(rows.start, rows.stop)):
        t = (k + 1) / (width + 1)
        np.testing.assert_allclose(
            repaired[row, cols], (1 - t) * real[above, cols] + t * real[below, cols], rtol=1e-14
        )
    # and is back near the original surface: far closer than the scar height
    assert np.abs(repaired[rows, cols] - real[rows, cols]).mean() < 0.25 * abs(step)


def test_clean_real_scan_has_no_scars(real):
    assert not mark_scars(real).any()
    np.testing.assert_array_equal(remove_scars(real), real)


def test_short_scar_is_kept(real):
    scarred = add_scar(real, slice(100, 101), slice(40, 50), 6e-10)  # 10 px < min_length 16
    assert not mark_scars(scarred).any()
    assert mark_scars(scarred, min_length=8).sum() == 10


def test_scar_options_are_validated(real):
    with pytest.raises(ValueError, match="threshold"):
        remove_scars(real, threshold=0)
    with pytest.raises(ValueError, match="max_width"):
        remove_scars(real, max_width=0)
    with pytest.raises(ValueError, match="min_length"):
        mark_scars(real, min_length=2.5)


# --------------------------------------------------------------------------------------------------- clipping
def test_percentile_bounds_hand_computed_n40():
    # N = 40 values 0.1 .. 4.0 in scrambled order. Eq. 1: a_2.5% = floor(0.025 * 40) = 1 -> f(1) = 0.1;
    # a_97.5% = floor(0.975 * 40) = 39 -> f(39) = 3.9. (numpy.percentile would interpolate: 0.1975, 3.9025.)
    values = np.random.default_rng(0).permutation(np.arange(1, 41) / 10.0)
    assert percentile_bounds(values) == (0.1, 3.9)
    clipped = clip_percentiles(values)
    assert clipped.max() == 3.9
    assert np.count_nonzero(clipped == 3.9) == 2
    np.testing.assert_array_equal(clipped[values < 3.9], values[values < 3.9])


def test_percentile_bounds_hand_computed_n200_with_ties():
    # N = 200: ranks floor(5) = 5 and floor(195) = 195. Sorted: four -9 (ranks 1-4), 1.0 (rank 5), 2.0 (6),
    # then 3 .. 194 at ranks 7 .. 198 (rank r holds r - 4), 500, 600. So f(5) = 1.0 and f(195) = 191.0.
    values = np.concatenate(
        [np.full(4, -9.0), [1.0, 2.0], np.arange(3, 197, dtype=float)[:192], [500.0, 600.0]]
    )
    assert values.size == 200
    assert percentile_bounds(values) == (1.0, 191.0)


def test_percentile_bounds_small_n_uses_the_minimum():
    # N = 39 < 40: floor(0.975) = 0 -> rank 1, the minimum; floor(38.025) = 38 -> the second largest.
    values = np.arange(39, dtype=float)[::-1]
    assert percentile_bounds(values) == (0.0, 37.0)
    assert percentile_bounds(np.array([[7.0]])) == (7.0, 7.0)


def test_percentile_bounds_ignores_nan_and_takes_any_shape(real):
    with_nan = real.copy()
    with_nan[:, :56] = np.nan  # 256 * 200 finite values remain
    finite = np.sort(real[:, 56:].ravel())
    n = finite.size
    assert percentile_bounds(with_nan) == (finite[int(0.025 * n) - 1], finite[int(0.975 * n) - 1])
    clipped = clip_percentiles(frozen(with_nan))
    assert np.isnan(clipped[:, :56]).all()


def test_percentile_extremes_and_errors():
    values = np.array([3.0, 1.0, 2.0])
    assert percentile_bounds(values, low=0, high=100) == (1.0, 3.0)
    with pytest.raises(ValueError, match="low must not exceed high"):
        percentile_bounds(values, low=90, high=10)
    with pytest.raises(ValueError, match="percentage"):
        percentile_bounds(values, high=101)
    with pytest.raises(ValueError, match="no finite value"):
        percentile_bounds(np.array([np.nan]))


# ---------------------------------------------------------------------------------------------- normalisation
def test_zscore_matches_eq2_and_inverts(real):
    norm = fit_zscore(frozen(real))
    values = real.ravel().tolist()
    assert norm.kind == "zscore"
    assert norm.offset == pytest.approx(statistics.fmean(values), rel=1e-12)
    assert norm.scale == pytest.approx(statistics.stdev(values), rel=1e-12)  # N - 1, like MATLAB zscore
    y = norm.apply(real)
    assert abs(y.mean()) < 1e-12
    assert y.std(ddof=1) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(norm.invert(y), real, rtol=1e-12)


def test_minmax_maps_to_unit_interval_and_inverts(real):
    norm = fit_minmax(real)
    y = norm.apply(real)
    assert y.min() == 0.0
    assert y.max() == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(norm.invert(y), real, rtol=1e-12)


def test_fit_with_mask_and_nan(real):
    mask = np.zeros(real.shape, bool)
    mask[:128] = True
    z = real.copy()
    z[0, 0] = np.nan
    norm = fit_zscore(z, mask=mask)
    used = real[:128].ravel()[1:]
    assert norm.offset == pytest.approx(used.mean(), rel=1e-12)
    assert np.isnan(norm.apply(z)[0, 0])


def test_flat_image_cannot_be_zscored():
    with pytest.raises(ValueError, match="flat"):
        fit_zscore(np.full((16, 16), 2.5e-9))
    with pytest.raises(ValueError, match="flat"):
        fit_minmax(np.full((16, 16), 2.5e-9))


def test_normalization_is_validated_and_frozen():
    with pytest.raises(ValueError, match="kind must be one of"):
        Normalization(0.0, 1.0, "robust")
    with pytest.raises(ValueError, match="scale"):
        Normalization(0.0, 0.0, "zscore")
    norm = Normalization(1e-9, 2e-10, "zscore")
    with pytest.raises(AttributeError):
        norm.scale = 1.0
