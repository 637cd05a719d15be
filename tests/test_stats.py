"""Tests of scansr.stats against published values and hand-computed truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scansr.stats import friedman_wilcoxon, holm, summarize, tukey_hsd

# The scipy documentation's tukey_hsd example (headache-relief times, adapted from a SAS tutorial), whose
# printed table is the reference:
# https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.tukey_hsd.html
HEADACHE = {
    "group0": [24.5, 23.5, 26.4, 27.1, 29.9],
    "group1": [28.4, 34.2, 29.5, 32.2, 30.1],
    "group2": [26.1, 28.3, 24.3, 26.2, 27.8],
}


def test_tukey_matches_scipy_documentation_table():
    res = tukey_hsd(HEADACHE)
    assert res.methods == ("group0", "group1", "group2")
    # printed with 3 decimals in the documentation
    assert_allclose(res.mean_difference[0, 1], -4.600, atol=5e-4)
    assert_allclose(res.mean_difference[0, 2], -0.260, atol=5e-4)
    assert_allclose(res.mean_difference[1, 2], 4.340, atol=5e-4)
    assert_allclose(res.pvalue[0, 1], 0.014, atol=5e-4)
    assert_allclose(res.pvalue[0, 2], 0.980, atol=5e-4)
    assert_allclose(res.pvalue[1, 2], 0.020, atol=5e-4)
    assert_allclose([res.ci_low[0, 1], res.ci_high[0, 1]], [-8.249, -0.951], atol=5e-4)
    assert_allclose([res.ci_low[1, 2], res.ci_high[1, 2]], [0.691, 7.989], atol=5e-4)
    assert_allclose(res.pvalue, res.pvalue.T)
    assert_allclose(np.diag(res.pvalue), 1.0)
    # the group means, by hand: 26.28, 30.88, 26.54
    assert_allclose(res.means, [26.28, 30.88, 26.54], rtol=1e-12)


def test_tukey_confidence_level_matches_documentation_99_percent():
    res = tukey_hsd(HEADACHE, confidence_level=0.99)
    assert_allclose([res.ci_low[0, 1], res.ci_high[0, 1]], [-9.480, 0.280], atol=5e-4)
    assert_allclose([res.ci_low[1, 2], res.ci_high[1, 2]], [-0.540, 9.220], atol=5e-4)
    assert res.confidence_level == 0.99


def test_tukey_significance_follows_a_known_ordering():
    rng = np.random.default_rng(0)
    groups = {
        "bilinear": rng.normal(28.0, 0.3, 25),
        "bicubic": rng.normal(29.0, 0.3, 25),
        "model": rng.normal(30.0, 0.3, 25),
    }
    res = tukey_hsd(groups)
    assert res.significant(0.001)[np.triu_indices(3, 1)].all()
    assert res.mean_difference[0, 1] < 0 < res.mean_difference[2, 1]
    assert (res.ci_low[2, 0] > 1.5) & (res.ci_high[2, 0] < 2.5)  # true difference 2.0
    pairs = res.pairs()
    assert [(a, b) for a, b, *_ in pairs] == [
        ("bilinear", "bicubic"),
        ("bilinear", "model"),
        ("bicubic", "model"),
    ]


def test_tukey_rejects_nonfinite_values():
    with pytest.raises(ValueError, match="non-finite"):
        tukey_hsd({"a": [1.0, 2.0, np.inf], "b": [1.0, 2.0, 3.0]})


def test_tukey_needs_two_methods():
    with pytest.raises(ValueError, match="at least 2 methods"):
        tukey_hsd({"a": [1.0, 2.0]})


def test_summarize_by_hand():
    rows = summarize({"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, np.nan, 14.0, np.inf]})
    a, b = rows
    assert (a.method, a.n, a.mean, a.median, a.min, a.max, a.n_nonfinite) == ("a", 4, 2.5, 2.5, 1.0, 4.0, 0)
    assert a.std == pytest.approx(math.sqrt(5.0 / 3.0))  # sample std: sum of squares 5, ddof 1
    assert (b.n, b.mean, b.n_nonfinite) == (2, 12.0, 2)
    assert b.std == pytest.approx(math.sqrt(8.0))


def test_holm_matches_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06 (as R's p.adjust)
    assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    out = holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1])
    assert_allclose(out[[0, 2]], [0.02, 0.02])


def test_holm_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_friedman_consistent_ranking_by_hand():
    # 5 images, 3 methods, every image ranks them a < b < c: rank sums 5, 10, 15, so
    # chi2 = 12 / (n k (k+1)) * sum(R^2) - 3 n (k+1) = 12/60 * 350 - 60 = 10 and p = exp(-10/2) (2 d.o.f.)
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    res = friedman_wilcoxon({"a": a, "b": a + 10.5, "c": a + 20.25})
    assert res.statistic == pytest.approx(10.0)
    assert res.pvalue == pytest.approx(math.exp(-5.0))
    assert_allclose(res.mean_ranks, [1.0, 2.0, 3.0])
    assert res.n_blocks == 5
    # each pair: 5 differences of one sign -> exact two-sided Wilcoxon p = 2 / 2^5; Holm over 3 -> 3 * 0.0625
    upper = np.triu_indices(3, 1)
    assert_allclose(res.pvalue_raw[upper], 0.0625)
    assert_allclose(res.pvalue_adjusted[upper], 0.1875)
    assert not res.significant(0.05).any()


def test_friedman_matches_scipy_documentation_example():
    # scipy.stats.friedmanchisquare docstring: rng seed 18, 6 groups of 10 -> (11.428571428571416,
    # 0.0435145...)
    rng = np.random.default_rng(seed=18)
    x = rng.random((6, 10))
    res = friedman_wilcoxon({f"m{i}": x[i] for i in range(6)})
    assert res.statistic == pytest.approx(11.428571428571416, rel=1e-12)
    assert res.pvalue == pytest.approx(0.043514520866727614, rel=1e-10)


def test_friedman_detects_a_clear_winner_among_raters():
    # 3 raters x 12 images, scores 1-6: the model is rated about 2 points higher, with ties
    rng = np.random.default_rng(3)
    base = rng.integers(1, 4, size=(3, 12)).astype(float)
    res = friedman_wilcoxon(
        {"bicubic": base, "RDN": base + 2, "RCAN": np.minimum(base + 2 + (rng.random((3, 12)) > 0.5), 6)}
    )
    assert res.pvalue < 1e-6
    assert res.n_blocks == 36
    assert res.mean_ranks[0] == pytest.approx(1.0)
    assert res.pvalue_adjusted[0, 1] < 1e-4
    assert res.pvalue_adjusted[0, 2] < 1e-4


def test_friedman_drops_incomplete_blocks():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    res = friedman_wilcoxon({"a": a, "b": a + 1, "c": a + 2})
    assert res.n_blocks == 5


def test_friedman_needs_paired_sizes():
    with pytest.raises(ValueError, match="one value per block"):
        friedman_wilcoxon({"a": [1, 2, 3], "b": [1, 2], "c": [1, 2, 3]})
