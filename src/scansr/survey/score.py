"""Score a blind survey: check the key and the answers, unblind, and test the methods' differences.

`score_survey` reads the key (its content hash must be intact, and so must every sheet lying beside it),
checks every answer file (`scansr.survey.answers.read_answer_files`), replaces each label by the method the
key hides behind it, and for each criterion (fidelity, quality) computes

- mean, standard deviation, median and n of every method's scores (`scansr.stats.summarize`), as the
  real-pair study's Fig. 4;
- Tukey's HSD across methods on all scores (`scansr.stats.tukey_hsd`), the study's test. It treats every
  score as independent, which overstates the evidence when few raters give many scores each;
- rank tests that respect the pairing (`scansr.stats.friedman_wilcoxon`, Friedman then Holm-corrected
  Wilcoxon): across raters, with each rater's mean score per method as one block (raters are the independent
  units: the conservative test), and across sheets, with every rater × sheet as a block (more power: each
  rater compares the methods side by side on every sheet);
- inter-rater agreement (`scansr.survey.agreement`) over every rated image: Kendall's W of the raters'
  rankings, ICC(2,1) / ICC(2,k) and Krippendorff's ordinal alpha; and Kendall's W of the raters' rankings of
  the methods (by their mean scores).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from scansr.stats import FriedmanResult, SummaryRow, TukeyResult, friedman_wilcoxon, summarize, tukey_hsd
from scansr.survey.agreement import icc, kendall_w, krippendorff_alpha
from scansr.survey.answers import read_answer_files
from scansr.survey.key import CRITERIA, SurveyKey, read_key, verify_sheets

__all__ = ["Agreement", "CriterionResult", "Rating", "SurveyScore", "score_survey"]

logger = logging.getLogger(__name__)


class Rating(NamedTuple):
    """One unblinded answer."""

    rater: str
    sample: str
    label: str
    method: str
    fidelity: int
    quality: int
    comment: str = ""


class Agreement(NamedTuple):
    """Inter-rater agreement of one criterion (NaN where it cannot be computed, e.g. one rater)."""

    kendall_w: float
    """Kendall's W of the raters' rankings of every rated image (tie-corrected)."""
    kendall_pvalue: float
    """Its chi-square p-value (H0: no agreement)."""
    kendall_w_methods: float
    """Kendall's W of the raters' rankings of the methods by their mean score."""
    kendall_methods_pvalue: float
    icc_single: float
    """ICC(2,1): absolute agreement of one rater's scores."""
    icc_average: float
    """ICC(2,k): absolute agreement of the raters' mean score."""
    alpha_ordinal: float
    """Krippendorff's alpha with the ordinal difference function."""
    n_raters: int
    n_items: int


@dataclass(frozen=True, eq=False)
class CriterionResult:
    """Results of one criterion (fidelity or quality).

    Attributes
    ----------
    criterion : str
        ``"fidelity"`` or ``"quality"``.
    methods : tuple of str
        Method names, in the key's order; every array and test below uses this order.
    scores : numpy.ndarray, shape (raters, samples, methods)
        Every score, unblinded.
    summary : tuple of SummaryRow
        Per method over all its scores: n, mean, std (ddof=1), median, min, max.
    rater_means : numpy.ndarray, shape (raters, methods)
        Each rater's mean score of each method.
    ranking : tuple of str
        Methods from the highest mean score to the lowest.
    tukey : TukeyResult or None
        Tukey HSD on all scores (None, with a note, where it cannot run).
    friedman_raters : FriedmanResult or None
        Friedman + Wilcoxon/Holm with raters as blocks (needs >= 3 methods and >= 2 raters).
    friedman_sheets : FriedmanResult or None
        Friedman + Wilcoxon/Holm with rater × sheet as blocks (needs >= 3 methods).
    agreement : Agreement
        Inter-rater agreement.
    notes : tuple of str
        Why a test was not run.
    """

    criterion: str
    methods: tuple[str, ...]
    scores: np.ndarray
    summary: tuple[SummaryRow, ...]
    rater_means: np.ndarray
    ranking: tuple[str, ...]
    tukey: TukeyResult | None
    friedman_raters: FriedmanResult | None
    friedman_sheets: FriedmanResult | None
    agreement: Agreement
    notes: tuple[str, ...] = ()

    @property
    def means(self) -> np.ndarray:
        """Mean score of each method."""
        return np.array([row.mean for row in self.summary])

    @property
    def stds(self) -> np.ndarray:
        """Standard deviation (ddof=1) of each method's scores."""
        return np.array([row.std for row in self.summary])

    def values(self) -> dict[str, np.ndarray]:
        """Return method → all its scores (raters × samples, flattened), e.g. for a box plot."""
        return {m: self.scores[:, :, j].ravel() for j, m in enumerate(self.methods)}


@dataclass(frozen=True, eq=False)
class SurveyScore:
    """The scored survey.

    Attributes
    ----------
    key : SurveyKey
        The verified key.
    raters : tuple of str
        Raters, in the order of the answer files.
    answer_files : tuple of Path
        The answer files, in that order.
    ratings : tuple of Rating
        Every answer with its method.
    fidelity, quality : CriterionResult
        Results per criterion.
    sheets_verified : tuple of str
        Sheets and PDF whose hashes were checked (those present beside the key).
    """

    key: SurveyKey
    raters: tuple[str, ...]
    answer_files: tuple[Path, ...]
    ratings: tuple[Rating, ...]
    fidelity: CriterionResult
    quality: CriterionResult
    sheets_verified: tuple[str, ...]

    @property
    def methods(self) -> tuple[str, ...]:
        """Method names, in the key's order."""
        return self.key.methods

    def criterion(self, name: str) -> CriterionResult:
        """Return the result of ``"fidelity"`` or ``"quality"``.

        Raises
        ------
        ValueError
            For another name.
        """
        if name not in CRITERIA:
            raise ValueError(f"criterion must be one of {tuple(CRITERIA)}, got {name!r}")
        return self.fidelity if name == "fidelity" else self.quality

    def table(self) -> list[dict[str, Any]]:
        """One row per method: n, mean and std of fidelity and quality, mean ranks across raters."""
        rows = []
        for j, method in enumerate(self.methods):
            row: dict[str, Any] = {"method": method, "n": self.fidelity.summary[j].n}
            for result in (self.fidelity, self.quality):
                row[f"{result.criterion} mean"] = result.summary[j].mean
                row[f"{result.criterion} std"] = result.summary[j].std
            rows.append(row)
        return rows


# --------------------------------------------------------------------------------------------------- analysis
def _quiet(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a scipy-based test, silencing its warnings about degenerate data (all-equal scores)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def _agreement(scores: np.ndarray, rater_means: np.ndarray, notes: list[str], criterion: str) -> Agreement:
    n_raters = scores.shape[0]
    items = scores.reshape(n_raters, -1)
    nan = float("nan")
    if n_raters < 2:
        notes.append(f"{criterion}: inter-rater agreement needs at least 2 raters")
        return Agreement(nan, nan, nan, nan, nan, nan, nan, n_raters, items.shape[1])
    w_items = _quiet(kendall_w, items)
    w_methods = _quiet(kendall_w, rater_means)
    coefficients = _quiet(icc, items)
    try:
        alpha = _quiet(krippendorff_alpha, items, level="ordinal")
    except ValueError as exc:  # pragma: no cover - items always pairable with >= 2 complete raters
        notes.append(f"{criterion}: Krippendorff's alpha: {exc}")
        alpha = nan
    return Agreement(
        w_items.w,
        w_items.pvalue,
        w_methods.w,
        w_methods.pvalue,
        coefficients.single,
        coefficients.average,
        float(alpha),
        n_raters,
        items.shape[1],
    )


def _criterion(criterion: str, methods: tuple[str, ...], scores: np.ndarray) -> CriterionResult:
    notes: list[str] = []
    n_raters, n_samples, k = scores.shape
    values = {m: scores[:, :, j].ravel() for j, m in enumerate(methods)}
    summary = summarize(values)
    rater_means = scores.mean(axis=1)
    means = np.array([row.mean for row in summary])
    ranking = tuple(methods[j] for j in np.argsort(-means, kind="stable"))
    tukey = None
    if n_raters * n_samples < 2:
        notes.append(f"{criterion}: Tukey HSD needs at least 2 scores per method")
    elif np.ptp(scores) == 0:
        notes.append(f"{criterion}: every score is the same; no test can separate the methods")
    else:
        tukey = _quiet(tukey_hsd, values)
    friedman_raters = friedman_sheets = None
    if k < 3:
        notes.append(f"{criterion}: the Friedman test needs at least 3 methods (got {k})")
    else:
        if n_raters >= 2:
            try:
                friedman_raters = _quiet(
                    friedman_wilcoxon, {m: rater_means[:, j] for j, m in enumerate(methods)}
                )
            except ValueError as exc:
                notes.append(f"{criterion}: Friedman across raters: {exc}")
        else:
            notes.append(f"{criterion}: the Friedman test across raters needs at least 2 raters")
        if n_raters * n_samples >= 2:
            try:
                friedman_sheets = _quiet(friedman_wilcoxon, values)
            except ValueError as exc:
                notes.append(f"{criterion}: Friedman across sheets: {exc}")
    agreement = _agreement(scores, rater_means, notes, criterion)
    return CriterionResult(
        criterion=criterion,
        methods=methods,
        scores=scores.copy(),
        summary=summary,
        rater_means=rater_means,
        ranking=ranking,
        tukey=tukey,
        friedman_raters=friedman_raters,
        friedman_sheets=friedman_sheets,
        agreement=agreement,
        notes=tuple(notes),
    )


def score_survey(key_path: str | Path, answer_paths: Sequence[str | Path]) -> SurveyScore:
    """Check, unblind and analyse the answers of a blind survey.

    Parameters
    ----------
    key_path : str or Path
        The survey's ``survey-key.json``.
    answer_paths : sequence of str or Path
        The filled answer sheets, one per rater.

    Returns
    -------
    SurveyScore

    Raises
    ------
    SurveyKeyError
        If the key is unreadable or was edited, or a sheet (PNG or PDF) beside it differs from the one the key
        was made with.
    SurveyError
        If any answer file has a problem; the message lists every problem with its file and row (scores not
        whole numbers 1-6, images not answered or answered twice, unknown samples or labels, a file that mixes
        raters, a rater name used in two files, a sheet of another survey, a missing header).
    ValueError
        If no answer file is given.
    """
    key = read_key(key_path)
    verified = verify_sheets(key)
    files = read_answer_files(answer_paths, key)
    raters = tuple(f.rater for f in files)
    methods = key.methods
    sample_index = {s: i for i, s in enumerate(key.samples)}
    method_index = {m: j for j, m in enumerate(methods)}
    arrays = {c: np.full((len(files), len(key.samples), len(methods)), np.nan) for c in CRITERIA}
    ratings = []
    for r, answer_file in enumerate(files):
        for a in answer_file.answers:
            method = key.unblind(a.sample, a.label)
            i, j = sample_index[a.sample], method_index[method]
            arrays["fidelity"][r, i, j] = a.fidelity
            arrays["quality"][r, i, j] = a.quality
            ratings.append(Rating(a.rater, a.sample, a.label, method, a.fidelity, a.quality, a.comment))
    for c, array in arrays.items():  # read_answer_files guarantees completeness; keep the invariant visible
        if not np.isfinite(array).all():  # pragma: no cover
            raise RuntimeError(f"incomplete {c} scores after checking the answers")
    results = {c: _criterion(c, methods, arrays[c]) for c in CRITERIA}
    logger.info(
        "scored %d rater(s) x %d sheet(s) x %d method(s); fidelity ranking %s, quality ranking %s",
        len(raters),
        len(key.samples),
        len(methods),
        results["fidelity"].ranking,
        results["quality"].ranking,
    )
    return SurveyScore(
        key=key,
        raters=raters,
        answer_files=tuple(f.path for f in files),
        ratings=tuple(ratings),
        fidelity=results["fidelity"],
        quality=results["quality"],
        sheets_verified=verified,
    )
