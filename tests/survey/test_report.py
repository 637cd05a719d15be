"""The survey's section of the HTML report: tables, box plots and p-value matrices of a scored survey."""

from __future__ import annotations

import numpy as np

from scansr.report import Report
from scansr.survey import KEY_NAME, add_survey_section, make_survey, read_key, score_survey, survey_figures
from tests.survey.common import fill_answers, pair, simulated_rater


def _score(tmp_path):
    make_survey(
        [pair(0), pair(1), pair(2)], ["bicubic", "bilinear", "lanczos"], tmp_path, seed=9, dpi=20, raters=3
    )
    key = read_key(tmp_path / KEY_NAME)
    rng = np.random.default_rng(4)
    preferences = {"bicubic": 4.0, "bilinear": 2.5, "lanczos": 4.5}
    paths = [
        fill_answers(
            tmp_path / key.answer_files[r],
            tmp_path / f"{r}.csv",
            key,
            simulated_rater(preferences, rng, bias=0, noise=0.7),
        )
        for r in key.raters
    ]
    return score_survey(tmp_path / KEY_NAME, paths)


def test_report_section_holds_the_results(tmp_path):
    score = _score(tmp_path)
    figures = survey_figures(score)
    assert sorted(figures) == sorted(
        f"{c} {kind}" for c in ("fidelity", "quality") for kind in ("box", "tukey", "wilcoxon")
    )
    box = figures["fidelity box"].axes[0]
    assert box.get_ylim() == (0.6, 6.4)  # the whole 1-6 scale
    report = Report("Survey")
    section = add_survey_section(report, score)
    assert section.n_figures == 6
    html = report.render()
    for text in (
        "Blind expert survey",
        "bicubic",
        "bilinear",
        "lanczos",
        "Krippendorff",
        "ICC(2,k)",
        score.key.content_hash[:16],
    ):
        assert text in html
    saved = report.save(tmp_path / "survey.html")
    assert saved.stat().st_size > 10_000
