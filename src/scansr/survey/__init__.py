"""Blind expert surveys: make the sheets and the key, then check, unblind and score the raters' answers.

The real-pair study (Beilstein J. Nanotechnol. 2025) showed AFM experts, for each sample, the ground truth
next to unlabelled, shuffled outputs of several methods and asked for fidelity and quality scores 1-6; its
strongest result came from that survey. This package makes such a survey reproducible and tamper-evident:

- `make_survey(samples, methods, out_dir, seed=...)`: sheets (PNG + one PDF), ``survey-key.json`` sealed by
  a content hash, a blank answer sheet (CSV) per rater, a README with the scale;
- `score_survey(key_path, answer_paths)`: checks the key, the sheets and every answer (errors name file,
  row and problem), unblinds, and reports means, Tukey HSD, Friedman/Wilcoxon rank tests and inter-rater
  agreement (`scansr.survey.agreement`);
- `add_survey_section(report, score)`: the results in the HTML report.

Modules: `make`, `key`, `answers`, `score`, `agreement`, `report`. The methods compared are those of
`scansr.methods` (re-exported here: `Method`, `InterpolationMethod`, `FunctionMethod`, `resolve_methods`);
nothing here imports torch: a trained model is a `scansr.methods.ModelMethod`, which imports it when used.
"""

from __future__ import annotations

from scansr.methods import FunctionMethod, InterpolationMethod, Method, resolve_methods
from scansr.survey.agreement import ICCResult, KendallW, icc, kendall_w, krippendorff_alpha
from scansr.survey.answers import Answer, AnswerFile, blank_answer_sheet, read_answer_files
from scansr.survey.key import (
    ANCHORS,
    CRITERIA,
    KEY_NAME,
    SCORES,
    Problem,
    SheetRecord,
    SurveyError,
    SurveyKey,
    SurveyKeyError,
    read_key,
    verify_sheets,
)
from scansr.survey.make import PreparedSample, make_survey, prepare_sample, sheet_figure, shuffle_assignments
from scansr.survey.report import add_survey_section, survey_figures
from scansr.survey.score import Agreement, CriterionResult, Rating, SurveyScore, score_survey

__all__ = [
    "ANCHORS",
    "CRITERIA",
    "KEY_NAME",
    "SCORES",
    "Agreement",
    "Answer",
    "AnswerFile",
    "CriterionResult",
    "FunctionMethod",
    "ICCResult",
    "InterpolationMethod",
    "KendallW",
    "Method",
    "PreparedSample",
    "Problem",
    "Rating",
    "SheetRecord",
    "SurveyError",
    "SurveyKey",
    "SurveyKeyError",
    "SurveyScore",
    "add_survey_section",
    "blank_answer_sheet",
    "icc",
    "kendall_w",
    "krippendorff_alpha",
    "make_survey",
    "prepare_sample",
    "read_answer_files",
    "read_key",
    "resolve_methods",
    "score_survey",
    "sheet_figure",
    "shuffle_assignments",
    "survey_figures",
    "verify_sheets",
]
