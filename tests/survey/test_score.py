"""Scoring: simulated raters with known preferences, and every kind of malformed answer file or edited key.

The simulated raters see only the labels; their scores come from the method the key hides behind each label
plus their own bias and noise (seeded). A wrong unblinding would scramble the known ranking.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scansr.interpolate import upscale_scan
from scansr.scan import ScanError
from scansr.survey import (
    KEY_NAME,
    FunctionMethod,
    SurveyError,
    SurveyKeyError,
    make_survey,
    read_key,
    score_survey,
)
from tests.survey.common import fill_answers, pair, simulated_rater

RATERS = ("r1", "r2", "r3", "r4")
PREFERENCES = {"A": 5.0, "B": 3.0, "C": 2.0}


def _method(name: str, interpolation: str) -> FunctionMethod:
    return FunctionMethod(name, lambda scan, scale: upscale_scan(scan, scale, method=interpolation))


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("survey")
    methods = [_method("A", "bicubic"), _method("B", "bilinear"), _method("C", "lanczos")]
    make_survey([pair(seed) for seed in range(6)], methods, out, seed=2024, dpi=20, raters=list(RATERS))
    return out


def _copy(survey: Path, tmp_path: Path) -> Path:
    target = tmp_path / "survey"
    shutil.copytree(survey, target)
    return target


def _answers(folder: Path, preferences=PREFERENCES, *, seed: int = 0, noise: float = 0.6) -> list[Path]:
    key = read_key(folder / KEY_NAME)
    rng = np.random.default_rng(seed)
    paths = []
    for i, rater in enumerate(RATERS):
        scorer = simulated_rater(preferences, rng, bias=(-0.3, 0.0, 0.2, 0.4)[i], noise=noise)
        blank = folder / key.answer_files[rater]
        paths.append(fill_answers(blank, folder / f"filled-{rater}.csv", key, scorer))
    return paths


def _line_of(path: Path, prefix: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"no line starting with {prefix!r}")


def _edit(path: Path, prefix: str, new: str | None) -> int:
    """Replace (or delete, new=None) the line starting with `prefix`; return its line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = _line_of(path, prefix)
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return number


# --------------------------------------------------------------------------------------------------- round trip
def test_simulated_raters_recover_their_ranking(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    score = score_survey(folder / KEY_NAME, _answers(folder))
    assert score.raters == RATERS
    assert len(score.ratings) == 4 * 6 * 3
    assert set(score.sheets_verified) == {f"sheets/S0{i}.png" for i in range(1, 7)} | {"survey.pdf"}
    for result in (score.fidelity, score.quality):
        assert result.ranking == ("A", "B", "C")
        # true means 5, 3, 2 plus the raters' mean bias 0.075; rounding and clipping at 6 pull A down a little
        np.testing.assert_allclose(result.means, [5.0, 3.0, 2.0], atol=0.5)  # SE of a mean ~0.15
        assert all(row.n == 24 for row in result.summary)
        # expected t of B - C (1 point, sd ~0.8, 24 scores each) is about 4: p ~ 1e-3; A is 2-3 points away
        assert result.tukey.significant(0.01)[np.triu_indices(3, 1)].all()
        assert result.tukey.pvalue[0, 1] < 1e-6
        assert result.tukey.pvalue[0, 2] < 1e-6
        assert result.tukey.mean_difference[0, 1] > 1.5
        # raters as blocks: 4 raters agreeing on A > B > C give Friedman chi2 = 8, p = e^-4 = 0.018
        assert result.friedman_raters.n_blocks == 4
        assert result.friedman_raters.pvalue == pytest.approx(np.exp(-4.0), rel=1e-9)
        np.testing.assert_allclose(result.friedman_raters.mean_ranks, [3.0, 2.0, 1.0])
        assert result.friedman_sheets.n_blocks == 24
        assert result.friedman_sheets.significant(0.01)[np.triu_indices(3, 1)].all()
        agreement = result.agreement
        assert agreement.kendall_w_methods == pytest.approx(1.0)
        assert agreement.alpha_ordinal > 0.6
        assert agreement.icc_average > 0.8
        assert agreement.n_raters == 4
        assert agreement.n_items == 18
    table = score.table()
    assert [row["method"] for row in table] == ["A", "B", "C"]


def test_raters_without_preference_find_no_difference(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    score = score_survey(
        folder / KEY_NAME, _answers(folder, {"A": 4.0, "B": 4.0, "C": 4.0}, seed=5, noise=1.0)
    )
    for result in (score.fidelity, score.quality):
        assert (result.tukey.pvalue[np.triu_indices(3, 1)] > 0.01).all()
        assert result.friedman_sheets.pvalue > 0.01
        assert abs(result.agreement.alpha_ordinal) < 0.3  # independent noise: agreement at chance level


def test_spreadsheet_variants_are_read(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    reference = score_survey(folder / KEY_NAME, paths)
    # what a spreadsheet may make of the file: BOM, semicolons, "5.0", quoted cells, rows reordered
    path = paths[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line and not line.startswith("#")]
    header, rows = body[0], body[1:]
    converted = []
    for row in reversed(rows):
        rater, sample, label, fidelity, quality, comment = row.split(",")
        converted.append(f'"{rater}";{sample};{label};{fidelity}.0;{quality};{comment}')
    text = "# comment;;;;;\r\n" + header.replace(",", ";") + "\r\n" + "\r\n".join(converted) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    again = score_survey(folder / KEY_NAME, paths)
    np.testing.assert_array_equal(again.fidelity.scores, reference.fidelity.scores)
    np.testing.assert_array_equal(again.quality.scores, reference.quality.scores)


# --------------------------------------------------------------------------------------------------- bad answers
@pytest.mark.parametrize(
    ("new_row", "code", "words"),
    [
        ("r1,S02,2,0,4,", "out_of_range", "fidelity score 0 is outside the scale 1..6"),
        ("r1,S02,2,4,7,", "out_of_range", "quality score 7 is outside the scale 1..6"),
        ("r1,S02,2,x,4,", "not_integer", "fidelity score 'x' is not a whole number"),
        ("r1,S02,2,4.5,4,", "not_integer", "fidelity score '4.5' is not a whole number"),
        ("r1,S02,2,4,,", "missing_score", "no quality score"),
        ("r2,S02,2,4,4,", "rater_mismatch", "rater 'r2' differs from 'r1'"),
        (",S02,2,4,4,", "missing_rater", "the rater column is empty"),
    ],
)
def test_a_bad_cell_names_file_row_and_problem(survey, tmp_path, new_row, code, words):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    row = _edit(paths[0], "r1,S02,2,", new_row)
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == (code,)
    problem = caught.value.problems[0]
    assert (problem.file, problem.row) == (str(paths[0]), row)
    assert words in problem.message
    assert f"{paths[0]}, row {row}: " in str(caught.value)


def test_a_missing_answer_is_named(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    _edit(paths[1], "r2,S03,3,", None)
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("missing_item",)
    assert caught.value.problems[0].file == str(paths[1])
    assert "no answer for sample S03, image 3" in str(caught.value)


def test_a_duplicate_answer_names_both_rows(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    first = _line_of(paths[0], "r1,S04,1,")
    with paths[0].open("a", encoding="utf-8") as fh:
        fh.write("r1,S04,1,3,3,\r\n")
    last = len(paths[0].read_text(encoding="utf-8").splitlines())
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("duplicate_item",)
    assert caught.value.problems[0].row == last
    assert f"answered twice (also in row {first})" in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "what"), [("r3,S01,4,3,3,", "label '4'"), ("r3,S99,1,3,3,", "sample 'S99'")]
)
def test_an_unknown_item_is_named(survey, tmp_path, extra, what):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    with paths[2].open("a", encoding="utf-8") as fh:
        fh.write(extra + "\r\n")
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("unknown_item",)
    assert f"unknown {what}" in str(caught.value)


def test_a_rater_name_used_twice_is_named(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    text = paths[3].read_text(encoding="utf-8").replace("\nr4,", "\nR1,")  # r4 signs as r1 (any case)
    paths[3].write_text(text, encoding="utf-8")
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("duplicate_rater",)
    assert caught.value.problems[0].file == str(paths[3])
    assert str(paths[0]) in caught.value.problems[0].message
    with pytest.raises(SurveyError, match="also answered in"):
        score_survey(folder / KEY_NAME, [paths[0], paths[0]])


def test_a_bad_header_is_named(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    row = _edit(paths[0], "rater,sample", "rater,sample,label,fidel,quality,comment")
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("bad_header",)
    assert caught.value.problems[0].row == row
    assert "lacks column(s) ['fidelity']" in str(caught.value)


def test_an_answer_sheet_of_another_survey_is_refused(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    _edit(paths[0], "# survey-key:", "# survey-key: 0123456789abcdef")
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("wrong_survey",)


def test_every_problem_of_every_file_is_reported_together(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    _edit(paths[0], "r1,S01,1,", "r1,S01,1,9,x,")
    _edit(paths[1], "r2,S05,2,", "r2,S05,2,0,2,")
    blank = read_key(folder / KEY_NAME).answer_files["r3"]
    paths[2] = folder / blank  # r3 returned the blank sheet: 36 missing scores
    with pytest.raises(SurveyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    error = caught.value
    assert error.codes[:3] == ("out_of_range", "not_integer", "out_of_range")
    assert error.codes.count("missing_score") == 6 * 3 * 2
    assert "problem(s) in 3 file(s)" in str(error)
    assert "... and 9 more" in str(error)  # 39 problems, 30 listed
    assert isinstance(error, ScanError)
    assert isinstance(error, ValueError)


# --------------------------------------------------------------------------------------------------- the key
def test_an_edited_key_is_detected(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    key_path = folder / KEY_NAME
    document = json.loads(key_path.read_text(encoding="utf-8"))
    mapping = document["sheets"][0]["mapping"]
    mapping["1"], mapping["2"] = mapping["2"], mapping["1"]  # a "small correction" of the key
    key_path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    with pytest.raises(SurveyKeyError) as caught:
        score_survey(key_path, paths)
    assert caught.value.codes == ("key_hash",)
    assert "edited after the survey was made" in str(caught.value)


def test_a_reformatted_key_is_still_valid(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    key_path = folder / KEY_NAME
    document = json.loads(key_path.read_text(encoding="utf-8"))
    key_path.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")  # same content, other layout
    assert score_survey(key_path, _answers(folder)).fidelity.ranking == ("A", "B", "C")


@pytest.mark.parametrize("target", ["sheets/S03.png", "survey.pdf"])
def test_an_edited_sheet_is_detected(survey, tmp_path, target):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    with (folder / target).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(SurveyKeyError) as caught:
        score_survey(folder / KEY_NAME, paths)
    assert caught.value.codes == ("sheet_hash",)
    assert caught.value.problems[0].file == str(folder / target)


def test_a_key_kept_apart_from_its_sheets_scores(survey, tmp_path):
    folder = _copy(survey, tmp_path)
    paths = _answers(folder)
    alone = tmp_path / "vault"
    alone.mkdir()
    shutil.copy(folder / KEY_NAME, alone / KEY_NAME)
    score = score_survey(alone / KEY_NAME, paths)
    assert score.sheets_verified == ()
    assert score.quality.ranking == ("A", "B", "C")


def test_a_missing_or_foreign_key_is_named(tmp_path):
    with pytest.raises(SurveyKeyError, match="cannot read the survey key"):
        score_survey(tmp_path / "nope.json", [tmp_path / "a.csv"])
    (tmp_path / "other.json").write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(SurveyKeyError, match="not a scansr survey key"):
        score_survey(tmp_path / "other.json", [tmp_path / "a.csv"])


def test_two_methods_skip_the_friedman_test(tmp_path):
    make_survey([pair(0), pair(1)], ["bicubic", "bilinear"], tmp_path, seed=1, dpi=20, raters=2)
    key = read_key(tmp_path / KEY_NAME)
    rng = np.random.default_rng(1)
    paths = [
        fill_answers(
            tmp_path / key.answer_files[r],
            tmp_path / f"{r}.csv",
            key,
            simulated_rater({"bicubic": 4, "bilinear": 3}, rng, bias=0, noise=0.5),
        )
        for r in key.raters
    ]
    score = score_survey(tmp_path / KEY_NAME, paths)
    assert score.fidelity.friedman_raters is None
    assert score.fidelity.friedman_sheets is None
    assert any("at least 3 methods" in note for note in score.fidelity.notes)
    assert score.fidelity.tukey is not None
