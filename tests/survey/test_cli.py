"""`scansr survey make` and `scansr survey score` from the command line, on a real shipped scan."""

from __future__ import annotations

import json

import numpy as np

from scansr import io
from scansr.cli import main
from scansr.interpolate import downsample_scan
from scansr.survey import read_key
from tests.conftest import TEST_DATA
from tests.survey.common import fill_answers, simulated_rater


def test_make_then_score_recovers_the_raters_preference(tmp_path, capsys):
    hr = io.read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5", channel="HeightRetrace")
    lr_path, hr_path = tmp_path / "lr.npz", tmp_path / "hr.npz"
    io.write(downsample_scan(hr, 4), lr_path)
    io.write(hr, hr_path)
    out = tmp_path / "survey"
    code = main(
        [
            "survey",
            "make",
            "--lr",
            str(lr_path),
            "--hr",
            str(hr_path),
            "--methods",
            "bicubic",
            "bilinear",
            "--out",
            str(out),
            "--seed",
            "3",
            "--dpi",
            "60",
            "--raters",
            "ann,bob,cem",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "seed 3" in capsys.readouterr().out
    key = read_key(out / "survey-key.json")
    rng = np.random.default_rng(0)
    answers = []
    for rater in ("ann", "bob", "cem"):
        scorer = simulated_rater({"bicubic": 5.0, "bilinear": 2.0}, rng, bias=0.0, noise=0.3)
        blank = out / "answers" / f"answers-{rater}.csv"
        answers.append(fill_answers(blank, tmp_path / f"{rater}.csv", key, scorer))
    report = tmp_path / "survey.html"
    code = main(
        [
            "survey",
            "score",
            "--key",
            str(out / "survey-key.json"),
            "--answers",
            *map(str, answers),
            "--json",
            "--report",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out[: captured.out.rindex("}") + 1])
    assert result["ranking"]["fidelity"] == ["bicubic", "bilinear"]
    assert result["raters"] == ["ann", "bob", "cem"]
    assert report.is_file()
    assert "<figure" in report.read_text(encoding="utf-8")


def test_score_reports_a_bad_answer_file_in_one_line(tmp_path, capsys):
    hr = io.read(TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5", channel="HeightRetrace")
    io.write(downsample_scan(hr, 4), tmp_path / "lr.npz")
    io.write(hr, tmp_path / "hr.npz")
    out = tmp_path / "survey"
    assert (
        main(
            [
                "survey",
                "make",
                "--lr",
                str(tmp_path / "lr.npz"),
                "--hr",
                str(tmp_path / "hr.npz"),
                "--methods",
                "bicubic",
                "lanczos",
                "--out",
                str(out),
                "--seed",
                "1",
                "--dpi",
                "50",
                "--raters",
                "1",
            ]
        )
        == 0
    )
    capsys.readouterr()
    blank = next((out / "answers").glob("*.csv"))  # never filled in: every score is missing
    code = main(["survey", "score", "--key", str(out / "survey-key.json"), "--answers", str(blank)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert blank.name in err
