"""The survey's results in the HTML report: summary table, box plots, p-value matrices, agreement.

`survey_figures` returns the figures (built with `scansr.report.figures`), `add_survey_section` puts
them with the tables into a `scansr.report.Report` (or one of its sections)::

    report = Report("Blind survey", command=sys.argv)
    add_survey_section(report, score_survey(key, answers))
    report.save("survey.html")
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from scansr.report.figures import box_plot_figure, pvalue_figure
from scansr.report.html import Section
from scansr.survey.key import CRITERIA, SCORES
from scansr.survey.score import SurveyScore

__all__ = ["add_survey_section", "survey_figures"]


def survey_figures(score: SurveyScore, *, alpha: float = 0.05) -> dict[str, Figure]:
    """Figures of a scored survey, keyed by a short name.

    For each criterion ``c``: ``"c box"`` (box plot of every score per method, points overlaid), ``"c
    tukey"`` (Tukey HSD p-values) and, with 3 or more methods, ``"c wilcoxon"`` (Holm-adjusted Wilcoxon
    p-values with rater × sheet blocks).

    Parameters
    ----------
    score : SurveyScore
        From `score_survey`.
    alpha : float
        Significance level marked in the p-value matrices.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
    """
    figures: dict[str, Figure] = {}
    for criterion in CRITERIA:
        result = score.criterion(criterion)
        figure = box_plot_figure(
            result.values(), metric=f"{criterion} score ({SCORES[0]}-{SCORES[-1]})", lower_is_better=False
        )
        figure.axes[0].set_ylim(SCORES[0] - 0.4, SCORES[-1] + 0.4)
        figures[f"{criterion} box"] = figure
        if result.tukey is not None:
            figures[f"{criterion} tukey"] = pvalue_figure(
                result.tukey.pvalue, result.methods, alpha=alpha, title=f"{criterion}: Tukey HSD"
            )
        if result.friedman_sheets is not None:
            figures[f"{criterion} wilcoxon"] = pvalue_figure(
                result.friedman_sheets.pvalue_adjusted,
                result.methods,
                alpha=alpha,
                title=f"{criterion}: Wilcoxon, Holm",
            )
    return figures


def _friedman_row(label: str, result: Any) -> dict[str, Any]:
    if result is None:
        return {"test": label, "blocks": None, "chi-square": None, "p": None}
    return {"test": label, "blocks": result.n_blocks, "chi-square": result.statistic, "p": result.pvalue}


def add_survey_section(
    parent: Any, score: SurveyScore, *, alpha: float = 0.05, title: str = "Blind expert survey"
) -> Section:
    """Add a section with the survey's design, results, tests and agreement to a report.

    Parameters
    ----------
    parent : Report or Section
        Where the section goes (anything with ``add_section``).
    score : SurveyScore
        From `score_survey`.
    alpha : float
        Significance level marked in the p-value matrices.
    title : str
        Section title.

    Returns
    -------
    Section
    """
    key = score.key
    section = parent.add_section(title)
    section.add_text(
        f"{len(score.raters)} rater(s) ({', '.join(score.raters)}) scored {len(key.labels)} unlabelled outputs "
        f"next to the ground truth on each of {len(key.sheets)} sheet(s), for fidelity (agreement with the "
        f"ground truth) and quality, from {SCORES[0]} (low) to {SCORES[-1]} (high). Label order shuffled with "
        f"seed {key.seed}{' (position-balanced)' if key.balanced else ''}. Key content hash "
        f"{key.content_hash[:16]}... verified; {len(score.sheets_verified)} sheet file(s) verified against "
        "the key."
    )
    rows = []
    for j, method in enumerate(score.methods):
        row: dict[str, Any] = {"method": method, "n": score.fidelity.summary[j].n}
        for criterion in CRITERIA:
            result = score.criterion(criterion)
            row[f"{criterion} mean"] = result.summary[j].mean
            row[f"{criterion} std"] = result.summary[j].std
            if result.friedman_raters is not None:
                row[f"{criterion} mean rank (raters)"] = float(result.friedman_raters.mean_ranks[j])
        rows.append(row)
    section.add_table(
        rows,
        caption="Scores per method over all raters and sheets (std with ddof = 1); mean rank 1 = lowest score",
        float_format=".2f",
        best={"fidelity mean": "max", "quality mean": "max"},
    )
    figures = survey_figures(score, alpha=alpha)
    for criterion in CRITERIA:
        result = score.criterion(criterion)
        section.add_heading(criterion.capitalize())
        section.add_figure(
            figures[f"{criterion} box"], caption=f"{criterion.capitalize()} scores per method."
        )
        tests = [
            _friedman_row("Friedman, raters as blocks (rater means)", result.friedman_raters),
            _friedman_row("Friedman, rater x sheet as blocks", result.friedman_sheets),
        ]
        section.add_table(tests, caption=f"{criterion}: rank tests across methods", float_format=".3g")
        if f"{criterion} tukey" in figures:
            section.add_figure(
                figures[f"{criterion} tukey"],
                caption=f"{criterion}: Tukey HSD p-values on all scores (treats scores as independent).",
            )
        if f"{criterion} wilcoxon" in figures:
            section.add_figure(
                figures[f"{criterion} wilcoxon"],
                caption=f"{criterion}: Wilcoxon signed-rank p-values, rater x sheet blocks, Holm-adjusted.",
            )
        per_rater = {
            rater: {m: float(result.rater_means[r, j]) for j, m in enumerate(result.methods)}
            for r, rater in enumerate(score.raters)
        }
        section.add_table(
            per_rater, caption=f"{criterion}: mean score per rater", float_format=".2f", index_label="rater"
        )
        for note in result.notes:
            section.add_text(note)
    agreement = {
        criterion: {
            "Kendall W (images)": score.criterion(criterion).agreement.kendall_w,
            "p (W images)": score.criterion(criterion).agreement.kendall_pvalue,
            "Kendall W (methods)": score.criterion(criterion).agreement.kendall_w_methods,
            "ICC(2,1)": score.criterion(criterion).agreement.icc_single,
            "ICC(2,k)": score.criterion(criterion).agreement.icc_average,
            "Krippendorff alpha (ordinal)": score.criterion(criterion).agreement.alpha_ordinal,
        }
        for criterion in CRITERIA
    }
    section.add_table(
        agreement,
        caption="Inter-rater agreement (1 = perfect; W and alpha 0 = chance level)",
        float_format=".3g",
        index_label="criterion",
    )
    return section
