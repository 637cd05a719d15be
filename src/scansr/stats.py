"""Significance tests and summaries for comparing upscaling methods.

- `summarize`: mean / standard deviation / n per method, as the AFM paper's Table 1 and the real-pair study's
  Tables 1-2 report them;
- `tukey_hsd`: Tukey's honestly significant difference test across methods (`scipy.stats.tukey_hsd`), the
  test the real-pair study used; it treats the methods' values as independent samples;
- `friedman_wilcoxon`: for paired designs (every method scored on the same images, or by the same raters), the
  Friedman rank test across methods and Wilcoxon signed-rank post hoc comparisons with Holm's correction;
- `holm`: Holm-Bonferroni adjustment of a family of p-values.

Plots (box plots, p-value matrices) belong to the report package. Every result holds the method names in the
order of the input mapping, and square matrices indexed ``[i, j]`` in that order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

__all__ = [
    "FriedmanResult",
    "SummaryRow",
    "TukeyResult",
    "friedman_wilcoxon",
    "holm",
    "summarize",
    "tukey_hsd",
]

logger = logging.getLogger(__name__)


def _frozen(array) -> np.ndarray:
    out = np.array(array, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _named_samples(groups: Mapping[str, object], *, what: str, minimum: int) -> tuple[tuple[str, ...], list]:
    if not isinstance(groups, Mapping):
        raise TypeError(f"{what} must be a mapping of method name to values, got {type(groups).__name__}")
    if len(groups) < minimum:
        raise ValueError(f"{what} needs at least {minimum} methods, got {len(groups)}: {list(groups)}")
    names, samples = [], []
    for name, values in groups.items():
        array = np.asarray(values, dtype=np.float64).ravel()
        names.append(str(name))
        samples.append(array)
    return tuple(names), samples


# --------------------------------------------------------------------------------------------------- summary
class SummaryRow(NamedTuple):
    """Summary statistics of one method's values (non-finite values excluded)."""

    method: str
    n: int
    mean: float
    std: float
    """Sample standard deviation (``ddof=1``; NaN when n < 2)."""
    median: float
    min: float
    max: float
    n_nonfinite: int
    """Values left out because they were NaN or infinite (e.g. PSNR of identical images)."""


def summarize(values: Mapping[str, object]) -> tuple[SummaryRow, ...]:
    """Mean, standard deviation, n, median and range of each method's values.

    Parameters
    ----------
    values : mapping of str to array_like
        Method name → its values (one per image, in the metric's unit).

    Returns
    -------
    tuple of SummaryRow
        One row per method, in the mapping's order.

    Raises
    ------
    ValueError
        If `values` is empty.
    """
    names, samples = _named_samples(values, what="values", minimum=1)
    rows = []
    for name, sample in zip(names, samples, strict=True):
        finite = sample[np.isfinite(sample)]
        n = int(finite.size)
        nan = float("nan")
        rows.append(
            SummaryRow(
                method=name,
                n=n,
                mean=float(finite.mean()) if n else nan,
                std=float(finite.std(ddof=1)) if n > 1 else nan,
                median=float(np.median(finite)) if n else nan,
                min=float(finite.min()) if n else nan,
                max=float(finite.max()) if n else nan,
                n_nonfinite=int(sample.size - n),
            )
        )
    return tuple(rows)


# --------------------------------------------------------------------------------------------------- Tukey
@dataclass(frozen=True, eq=False)
class TukeyResult:
    """Tukey HSD comparison of every pair of methods.

    Matrices are indexed ``[i, j]`` in the order of `methods`.

    Attributes
    ----------
    methods : tuple of str
        Method names.
    means : numpy.ndarray, shape (k,)
        Mean of each method.
    mean_difference : numpy.ndarray, shape (k, k)
        ``means[i] - means[j]``.
    pvalue : numpy.ndarray, shape (k, k)
        Family-wise adjusted p-value of each comparison (1 on the diagonal).
    ci_low, ci_high : numpy.ndarray, shape (k, k)
        Simultaneous confidence interval of ``means[i] - means[j]`` at `confidence_level`.
    confidence_level : float
        E.g. 0.95.
    equal_var : bool
        True: Tukey-HSD (Tukey-Kramer for unequal group sizes); False: Games-Howell.
    """

    methods: tuple[str, ...]
    means: np.ndarray
    mean_difference: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    confidence_level: float
    equal_var: bool = True

    def __post_init__(self) -> None:
        for name in ("means", "mean_difference", "pvalue", "ci_low", "ci_high"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Boolean matrix: the pair differs at family-wise level `alpha`."""
        return self.pvalue < alpha

    def pairs(self) -> list[tuple[str, str, float, float, float, float]]:
        """Each pair once (i < j): ``(method_i, method_j, mean_i - mean_j, p, ci_low, ci_high)``."""
        k = len(self.methods)
        return [
            (
                self.methods[i],
                self.methods[j],
                float(self.mean_difference[i, j]),
                float(self.pvalue[i, j]),
                float(self.ci_low[i, j]),
                float(self.ci_high[i, j]),
            )
            for i in range(k)
            for j in range(i + 1, k)
        ]


def tukey_hsd(
    groups: Mapping[str, object], *, confidence_level: float = 0.95, equal_var: bool = True
) -> TukeyResult:
    """Tukey's honestly significant difference test between every pair of methods.

    A wrapper of `scipy.stats.tukey_hsd` that keeps the method names. It assumes independent, normally
    distributed samples of equal variance (``equal_var=False``: the Games-Howell test); for the same images
    scored by every method, `friedman_wilcoxon` respects the pairing.

    Parameters
    ----------
    groups : mapping of str to array_like
        Method name → its values (at least 2 methods, at least 2 values each).
    confidence_level : float
        Level of the simultaneous confidence intervals, in (0, 1).
    equal_var : bool
        Assume equal variances (Tukey-HSD / Tukey-Kramer); False uses Games-Howell (scipy >= 1.15).

    Returns
    -------
    TukeyResult

    Raises
    ------
    ValueError
        Fewer than 2 methods, fewer than 2 values in a method, non-finite values, or a bad confidence level.
    """
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    names, samples = _named_samples(groups, what="groups", minimum=2)
    for name, sample in zip(names, samples, strict=True):
        if sample.size < 2:
            raise ValueError(
                f"method {name!r} has {sample.size} value(s); Tukey HSD needs at least 2 per method"
            )
        bad = int(np.count_nonzero(~np.isfinite(sample)))
        if bad:
            raise ValueError(
                f"method {name!r} has {bad} non-finite value(s) (NaN or inf); drop or replace them first"
            )
    try:
        result = sps.tukey_hsd(*samples, equal_var=equal_var) if not equal_var else sps.tukey_hsd(*samples)
    except TypeError as exc:  # scipy < 1.15 has no equal_var
        raise ValueError("equal_var=False (Games-Howell) needs scipy >= 1.15") from exc
    ci = result.confidence_interval(confidence_level=confidence_level)
    means = np.array([s.mean() for s in samples])
    pvalue = np.array(result.pvalue, dtype=np.float64)
    np.fill_diagonal(pvalue, 1.0)
    return TukeyResult(
        methods=names,
        means=means,
        mean_difference=np.array(result.statistic, dtype=np.float64),
        pvalue=pvalue,
        ci_low=np.array(ci.low, dtype=np.float64),
        ci_high=np.array(ci.high, dtype=np.float64),
        confidence_level=float(confidence_level),
        equal_var=bool(equal_var),
    )


# --------------------------------------------------------------------------------------------------- Holm
def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input's shape and order.

    The i-th smallest of m p-values is multiplied by ``m - i + 1`` (i from 1), then made non-decreasing in
    that order and capped at 1. Rejecting where the adjusted value is below α controls the family-wise error
    rate at α. NaN entries are left out of the family and stay NaN.

    Parameters
    ----------
    pvalues : array_like
        Unadjusted p-values in [0, 1].

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        A p-value outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {flat[ok][(flat[ok] < 0) | (flat[ok] > 1)][:5]}")
    out = np.full(flat.shape, np.nan)
    idx = np.flatnonzero(ok)
    m = idx.size
    if m:
        order = np.argsort(flat[idx], kind="stable")
        scaled = flat[idx][order] * (m - np.arange(m))
        adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
        out[idx[order]] = adjusted
    return out.reshape(p.shape)


# --------------------------------------------------------------------------------------------------- Friedman
@dataclass(frozen=True, eq=False)
class FriedmanResult:
    """Friedman test across methods on paired data, with Wilcoxon signed-rank post hoc comparisons.

    Attributes
    ----------
    methods : tuple of str
        Method names.
    n_blocks : int
        Paired observations used (images, or rater × image), after dropping blocks with a non-finite value.
    statistic : float
        Friedman's chi-square statistic (with the tie correction of `scipy.stats.friedmanchisquare`).
    pvalue : float
        P-value of the Friedman test (chi-square approximation).
    mean_ranks : numpy.ndarray, shape (k,)
        Mean rank of each method within a block (1 = smallest value, ties averaged).
    wilcoxon_statistic : numpy.ndarray, shape (k, k)
        Wilcoxon signed-rank statistic of each pair (as `scipy.stats.wilcoxon` reports it).
    pvalue_raw : numpy.ndarray, shape (k, k)
        Unadjusted two-sided Wilcoxon p-values (1 on the diagonal).
    pvalue_adjusted : numpy.ndarray, shape (k, k)
        Holm-adjusted p-values over the k(k-1)/2 comparisons (1 on the diagonal).
    """

    methods: tuple[str, ...]
    n_blocks: int
    statistic: float
    pvalue: float
    mean_ranks: np.ndarray
    wilcoxon_statistic: np.ndarray
    pvalue_raw: np.ndarray
    pvalue_adjusted: np.ndarray

    def __post_init__(self) -> None:
        for name in ("mean_ranks", "wilcoxon_statistic", "pvalue_raw", "pvalue_adjusted"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Boolean matrix: the pair differs at family-wise level `alpha` (Holm-adjusted)."""
        return self.pvalue_adjusted < alpha


def friedman_wilcoxon(values: Mapping[str, object], *, zero_method: str = "wilcox") -> FriedmanResult:
    """Friedman test across methods, then Holm-corrected Wilcoxon signed-rank tests of pairs (paired data).

    Use it when every method was applied to the same images (or the same raters scored every method, e.g. the
    real-pair study's expert survey): position ``b`` of every array belongs to block ``b``. Rank tests need no
    normality and suit ordinal scores such as 1-6 ratings.

    Parameters
    ----------
    values : mapping of str to array_like
        Method name → one value per block; all of one size (at least 3 methods, at least 2 blocks). Arrays of
        any shape are flattened (e.g. raters × images). Blocks holding a non-finite value are dropped.
    zero_method : {"wilcox", "pratt", "zsplit"}
        Treatment of zero differences in the Wilcoxon tests (`scipy.stats.wilcoxon`).

    Returns
    -------
    FriedmanResult

    Raises
    ------
    ValueError
        Fewer than 3 methods, arrays of different sizes, fewer than 2 complete blocks, or a bad `zero_method`.
    """
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ValueError(f"zero_method must be one of ('wilcox', 'pratt', 'zsplit'), got {zero_method!r}")
    names, samples = _named_samples(values, what="values", minimum=3)
    sizes = {s.size for s in samples}
    if len(sizes) != 1:
        listed = ", ".join(f"{n!r}: {s.size}" for n, s in zip(names, samples, strict=True))
        raise ValueError(f"paired data need one value per block for every method; sizes are {listed}")
    table = np.column_stack(samples)  # blocks × methods
    complete = np.all(np.isfinite(table), axis=1)
    if not complete.all():
        logger.warning("dropping %d block(s) with a non-finite value", int(np.count_nonzero(~complete)))
        table = table[complete]
    n, k = table.shape
    if n < 2:
        raise ValueError(f"need at least 2 complete blocks (images / raters), got {n}")
    friedman = sps.friedmanchisquare(*table.T)
    ranks = sps.rankdata(table, axis=1)
    w_stat = np.zeros((k, k))
    p_raw = np.ones((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            diff = table[:, i] - table[:, j]
            if np.all(diff == 0):
                stat, p = 0.0, 1.0
            else:
                res = sps.wilcoxon(table[:, i], table[:, j], zero_method=zero_method)
                stat, p = float(res.statistic), float(res.pvalue)
            w_stat[i, j] = w_stat[j, i] = stat
            p_raw[i, j] = p_raw[j, i] = p
    upper = np.triu_indices(k, 1)
    p_adj = np.ones((k, k))
    p_adj[upper] = holm(p_raw[upper])
    p_adj.T[upper] = p_adj[upper]
    statistic = float(friedman.statistic)
    return FriedmanResult(
        methods=names,
        n_blocks=int(n),
        statistic=statistic,
        pvalue=float(friedman.pvalue) if math.isfinite(statistic) else float("nan"),
        mean_ranks=ranks.mean(axis=0),
        wilcoxon_statistic=w_stat,
        pvalue_raw=p_raw,
        pvalue_adjusted=p_adj,
    )
