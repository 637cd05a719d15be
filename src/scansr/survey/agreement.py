"""Inter-rater agreement: Kendall's W, the intraclass correlation ICC(2,1) / ICC(2,k), Krippendorff's alpha.

Every function takes a ``(raters, items)`` array: row ``r`` holds rater r's score of every item (in the
survey an item is one labelled image on one sheet). NaN marks an item a rater did not score.

- `kendall_w`: Kendall & Babington Smith's coefficient of concordance of the raters' rankings of the items,
  with the correction for tied ranks (Kendall 1948; Legendre 2005) and its chi-square test, which is
  Friedman's test with the raters as blocks. 0: no agreement beyond chance, 1: identical rankings.
- `icc`: two-way random-effects intraclass correlations for absolute agreement, ICC(2,1) (one rater) and
  ICC(2,k) (the mean of the k raters), from the two-way ANOVA mean squares (Shrout & Fleiss 1979, Case 2).
- `krippendorff_alpha`: Krippendorff's alpha from the coincidence matrix (Krippendorff 2011, "Computing
  Krippendorff's Alpha-Reliability"), with nominal, ordinal, interval or ratio difference functions; it
  uses every pairable value, so items scored by only some raters still count.

These are written here because scipy has none of them and the maintained packages that do (pingouin,
krippendorff) would be new dependencies for three short formulas; the tests check each against the worked
example of the publication that defines it.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

__all__ = ["ALPHA_LEVELS", "ICCResult", "KendallW", "icc", "kendall_w", "krippendorff_alpha"]

logger = logging.getLogger(__name__)

ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _ratings(ratings: object, *, minimum_raters: int = 2) -> np.ndarray:
    array = np.asarray(ratings, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"ratings must be a 2-D array (raters, items), got shape {array.shape}")
    if array.shape[0] < minimum_raters:
        raise ValueError(f"ratings need at least {minimum_raters} raters (rows), got {array.shape[0]}")
    if np.isinf(array).any():
        raise ValueError("ratings must be finite numbers or NaN (missing), got inf")
    return array


def _complete_items(array: np.ndarray, what: str) -> np.ndarray:
    complete = np.all(np.isfinite(array), axis=0)
    dropped = int(np.count_nonzero(~complete))
    if dropped:
        logger.info("%s: leaving out %d item(s) that not every rater scored", what, dropped)
    return array[:, complete]


# --------------------------------------------------------------------------------------------------- Kendall
class KendallW(NamedTuple):
    """Kendall's coefficient of concordance and its chi-square test."""

    w: float
    """Coefficient of concordance in [0, 1], corrected for ties (NaN when every rater tied every item)."""
    statistic: float
    """Chi-square statistic ``m (n - 1) W`` (m raters, n items)."""
    pvalue: float
    """Upper tail of chi-square with ``n - 1`` degrees of freedom (a large-sample approximation)."""
    n_raters: int
    n_items: int
    """Items used: those every rater scored."""


def kendall_w(ratings: object) -> KendallW:
    """Kendall's coefficient of concordance W of the raters' rankings, corrected for ties.

    Each rater's scores are turned into ranks (ties get their mean rank); with ``R_i`` the rank sum of item
    i, ``S = Σ (R_i - m (n + 1) / 2)²`` and ``T_j = Σ (t³ - t)`` over the groups of t tied scores of rater j,
    ``W = 12 S / (m² (n³ - n) - m Σ T_j)``. Its test statistic ``m (n - 1) W`` equals Friedman's
    tie-corrected chi-square with the raters as blocks.

    Parameters
    ----------
    ratings : array_like, shape (m raters, n items)
        Scores (any ordered scale). Items not scored by every rater (NaN) are left out.

    Returns
    -------
    KendallW

    Raises
    ------
    ValueError
        If `ratings` is not 2-D, has fewer than 2 raters, holds inf, or fewer than 2 items are complete.
    """
    array = _complete_items(_ratings(ratings), "Kendall's W")
    m, n = array.shape
    if n < 2:
        raise ValueError(f"Kendall's W needs at least 2 items scored by every rater, got {n}")
    ranks = sps.rankdata(array, axis=1)
    rank_sums = ranks.sum(axis=0)
    s = float(np.sum((rank_sums - m * (n + 1) / 2.0) ** 2))
    ties = 0.0
    for row in array:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts.astype(np.float64) ** 3 - counts))
    denominator = m * m * (n**3 - n) - m * ties
    if denominator <= 0:
        nan = float("nan")
        return KendallW(nan, nan, nan, m, n)
    w = 12.0 * s / denominator
    statistic = m * (n - 1) * w
    return KendallW(float(w), float(statistic), float(sps.chi2.sf(statistic, n - 1)), m, n)


# --------------------------------------------------------------------------------------------------- ICC
class ICCResult(NamedTuple):
    """Two-way random-effects intraclass correlations for absolute agreement (Shrout & Fleiss Case 2)."""

    single: float
    """ICC(2,1): reliability of one rater's score."""
    average: float
    """ICC(2,k): reliability of the mean of the k raters' scores."""
    n_raters: int
    n_items: int
    """Items used: those every rater scored."""
    between_items: float
    """Mean square between items (BMS)."""
    between_raters: float
    """Mean square between raters (JMS)."""
    residual: float
    """Residual mean square (EMS)."""


def icc(ratings: object) -> ICCResult:
    """Intraclass correlations ICC(2,1) and ICC(2,k): two-way random effects, absolute agreement.

    From the two-way ANOVA of n items × k raters (one score per cell): ``ICC(2,1) = (BMS - EMS) / (BMS +
    (k - 1) EMS + k (JMS - EMS) / n)`` and ``ICC(2,k) = (BMS - EMS) / (BMS + (JMS - EMS) / n)`` (Shrout &
    Fleiss 1979, Psychol. Bull. 86, 420, Table 2). Raters and items are both taken as random samples, and a
    rater who scores everything one point higher lowers the agreement.

    Parameters
    ----------
    ratings : array_like, shape (k raters, n items)
        Scores on an interval scale. Items not scored by every rater (NaN) are left out.

    Returns
    -------
    ICCResult
        NaN coefficients when every score is identical (no variance to explain).

    Raises
    ------
    ValueError
        If `ratings` is not 2-D, has fewer than 2 raters, holds inf, or fewer than 2 items are complete.
    """
    array = _complete_items(_ratings(ratings), "ICC")
    k, n = array.shape
    if n < 2:
        raise ValueError(f"the ICC needs at least 2 items scored by every rater, got {n}")
    grand = array.mean()
    ss_items = k * float(np.sum((array.mean(axis=0) - grand) ** 2))
    ss_raters = n * float(np.sum((array.mean(axis=1) - grand) ** 2))
    ss_total = float(np.sum((array - grand) ** 2))
    ss_error = max(ss_total - ss_items - ss_raters, 0.0)
    bms = ss_items / (n - 1)
    jms = ss_raters / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    single_den = bms + (k - 1) * ems + k * (jms - ems) / n
    average_den = bms + (jms - ems) / n
    single = (bms - ems) / single_den if single_den > 0 else float("nan")
    average = (bms - ems) / average_den if average_den > 0 else float("nan")
    return ICCResult(float(single), float(average), k, n, float(bms), float(jms), float(ems))


# --------------------------------------------------------------------------------------------------- alpha
def _difference(level: str, values: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Squared difference δ²(c, k) between every pair of the sorted distinct values."""
    c = values[:, None]
    k = values[None, :]
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ((c - k) / (c + k)) ** 2
        return np.where((c + k) == 0, 0.0, out)
    # ordinal: (Σ_{g=c..k} n_g - (n_c + n_k) / 2)², the values between c and k counted by their frequency
    cumulative = np.concatenate([[0.0], np.cumsum(totals)])
    i = np.arange(values.size)
    lo = np.minimum(i[:, None], i[None, :])
    hi = np.maximum(i[:, None], i[None, :])
    between = cumulative[hi + 1] - cumulative[lo]
    return (between - (totals[:, None] + totals[None, :]) / 2.0) ** 2


def krippendorff_alpha(ratings: object, *, level: str = "ordinal") -> float:
    """Krippendorff's alpha reliability coefficient, ``1 - D_o / D_e``.

    Built from the coincidence matrix ``o_ck`` (every ordered pair of values given to one item by two
    different raters, weighted ``1 / (m_u - 1)`` where ``m_u`` raters scored the item), as in Krippendorff
    (2011) "Computing Krippendorff's Alpha-Reliability", section C (any number of raters, missing values).
    Items scored by fewer than 2 raters are not pairable and are left out.

    Parameters
    ----------
    ratings : array_like, shape (raters, items)
        Scores; NaN where a rater gave none.
    level : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement, which sets the difference function. 1-6 ratings are ordinal.

    Returns
    -------
    float
        1 for perfect agreement, 0 for agreement at chance level, negative for systematic disagreement;
        NaN when all pairable values are equal (no expected disagreement).

    Raises
    ------
    ValueError
        If `level` is unknown, `ratings` is not 2-D, has fewer than 2 raters or holds inf, or no item was
        scored by 2 raters.
    """
    if level not in ALPHA_LEVELS:
        raise ValueError(f"level must be one of {ALPHA_LEVELS}, got {level!r}")
    array = _ratings(ratings)
    pairable = np.count_nonzero(np.isfinite(array), axis=0) >= 2
    array = array[:, pairable]
    if array.shape[1] == 0:
        raise ValueError("Krippendorff's alpha needs at least one item scored by 2 or more raters")
    values = np.unique(array[np.isfinite(array)])
    index = {float(v): i for i, v in enumerate(values)}
    coincidence = np.zeros((values.size, values.size))
    for column in array.T:
        present = column[np.isfinite(column)]
        counts = np.zeros(values.size)
        for v in present:
            counts[index[float(v)]] += 1.0
        # ordered pairs of different raters: n_c n_k off the diagonal, n_c (n_c - 1) on it
        pairs = np.outer(counts, counts) - np.diag(counts)
        coincidence += pairs / (present.size - 1)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    delta = _difference(level, values, totals)
    observed = float(np.sum(coincidence * delta))
    expected = float(np.sum(np.outer(totals, totals) * delta)) / (n - 1)
    if expected <= 0 or not math.isfinite(expected):
        return float("nan")
    return 1.0 - observed / expected
