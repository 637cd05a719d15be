"""Agreement coefficients against the worked examples of the publications that define them."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from scansr.survey.agreement import icc, kendall_w, krippendorff_alpha

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units with
# missing values. The paper gives alpha = 0.743 (nominal), 0.815 (ordinal), 0.849 (interval), 0.797 (ratio).
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# Shrout & Fleiss (1979), Psychol. Bull. 86, 420, Table 2: 6 targets rated by 4 judges (rows: targets).
# Their Tables 2 and 4 give BMS 11.24, JMS 32.49, EMS 1.02, ICC(2,1) = .29 and ICC(2,4) = .62.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_matches_the_published_example(level, expected):
    assert_allclose(krippendorff_alpha(KRIPPENDORFF_C, level=level), expected, atol=5e-4)


def test_krippendorff_alpha_perfect_agreement_and_chance():
    perfect = np.tile(np.arange(1, 7, dtype=float), (3, 2))
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    independent = rng.integers(1, 7, size=(5, 400)).astype(float)
    assert abs(krippendorff_alpha(independent)) < 0.05  # expected 0 for raters scoring at random


def test_krippendorff_alpha_is_undefined_without_variation():
    assert np.isnan(krippendorff_alpha(np.full((3, 5), 4.0)))


def test_krippendorff_alpha_rejects_bad_input():
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(KRIPPENDORFF_C, level="likert")
    with pytest.raises(ValueError, match="scored by 2 or more raters"):
        krippendorff_alpha([[1, NAN], [NAN, 2]])


def test_icc_matches_shrout_and_fleiss():
    result = icc(SHROUT_FLEISS.T)  # (raters, items)
    assert_allclose(result.single, 0.29, atol=5e-3)
    assert_allclose(result.average, 0.62, atol=5e-3)
    assert_allclose(
        [result.between_items, result.between_raters, result.residual], [11.24, 32.49, 1.02], atol=5e-3
    )
    assert (result.n_raters, result.n_items) == (4, 6)


def test_icc_leaves_out_incomplete_items():
    data = np.hstack([SHROUT_FLEISS.T.astype(float), [[1.0], [NAN], [3.0], [4.0]]])  # one rater skipped
    assert icc(data).single == pytest.approx(icc(SHROUT_FLEISS.T).single)
    assert icc(data).n_items == 6


def test_kendall_w_matches_the_proofwiki_example():
    # ProofWiki, "Kendall's Coefficient of Concordance/Examples/Arbitrary Example 1": 4 judges rank 3
    # competitors X (1, 1, 2, 3), Y (3, 2, 3, 1), Z (2, 3, 1, 2); W = 1/16.
    ranks = np.array([[1, 1, 2, 3], [3, 2, 3, 1], [2, 3, 1, 2]]).T  # (judges, competitors)
    result = kendall_w(ranks)
    assert result.w == pytest.approx(1 / 16)
    assert result.statistic == pytest.approx(4 * 2 / 16)  # m (n - 1) W


def test_kendall_w_with_ties_equals_friedman():
    # Friedman's tie-corrected chi-square with raters as blocks is m (n - 1) W (Kendall 1948); scipy's
    # friedmanchisquare is an independent implementation of it.
    rng = np.random.default_rng(3)
    scores = rng.integers(1, 7, size=(5, 12)).astype(float)  # many ties, as 1-6 ratings have
    result = kendall_w(scores)
    friedman = sps.friedmanchisquare(*scores.T)
    assert_allclose(result.statistic, friedman.statistic, rtol=1e-12)
    assert_allclose(result.pvalue, friedman.pvalue, rtol=1e-10)
    assert_allclose(result.w, friedman.statistic / (5 * 11), rtol=1e-12)


def test_kendall_w_is_one_for_identical_rankings():
    row = np.array([6, 5, 5, 3, 2, 1], dtype=float)
    assert kendall_w(np.tile(row, (4, 1))).w == pytest.approx(1.0)


def test_agreement_needs_two_raters():
    with pytest.raises(ValueError, match="at least 2 raters"):
        kendall_w([[1, 2, 3]])
    with pytest.raises(ValueError, match="2-D"):
        icc([1, 2, 3])
