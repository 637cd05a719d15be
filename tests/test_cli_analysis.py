"""`scansr correlate` and `scansr gaps` from the command line (the libraries have their own tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scansr import io
from scansr.cli import main
from scansr.gaps import measure_gaps
from scansr.scan import Channel, Scan
from tests.conftest import TEST_DATA
from tests.test_gaps import pair_scene, render

PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"


def test_correlate_prints_one_row_per_property_and_writes_json_and_report(tmp_path, capsys):
    out_json, report = tmp_path / "corr.json", tmp_path / "corr.html"
    code = main(
        [
            "correlate",
            str(PTO),
            "--topography",
            "height",
            "--properties",
            "amplitude,phase",
            "--json-out",
            str(out_json),
            "--report",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "AmplitudeRetrace" in captured.out
    assert "PhaseRetrace" in captured.out
    data = json.loads(out_json.read_text())
    rows = data["correlations"]
    assert [r["property"] for r in rows] == ["AmplitudeRetrace", "PhaseRetrace"]
    assert all(-1 <= r["pearson_r"] <= 1 and 0 <= r["pearson_p_adjusted"] <= 1 for r in rows)
    assert report.read_text(encoding="utf-8").count("<figure") >= 3


def test_correlate_with_a_missing_property_lists_the_channels(capsys):
    code = main(["correlate", str(PTO), "--properties", "adhesion"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "AmplitudeRetrace" in err


@pytest.fixture
def particle_pair(tmp_path):
    """A sharp particle image (target) and a blurred ×2-coarser version (input), as .npz scans."""
    px = 2 * 1e-9
    discs, _, shape = pair_scene([3, 6, 10, 14], px=px, pixel_size=(px, px), radius=8, sigma=0.8 * px)
    target = render(shape, (px, px), discs, 0.8 * px)
    coarse = render((shape[0] // 2, shape[1] // 2), (2 * px, 2 * px), discs, 3.0 * px)
    paths = []
    for name, image, size in (("input", coarse, 2 * px), ("target", target, px)):
        path = tmp_path / f"{name}.npz"
        io.write(Scan((Channel("SE", image, "counts"),), (size, size)), path)
        paths.append(path)
    return paths


def test_gaps_with_a_target_reports_every_image(particle_pair, tmp_path, capsys):
    inp, target = particle_pair
    report = tmp_path / "gaps.html"
    code = main(["gaps", str(inp), "--target", str(target), "--json", "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out[: captured.out.rindex("}") + 1])
    assert set(summary) >= {"input", "target", "mean_abs_error_m"}
    # the blurred, coarser input resolves no more gaps than the sharp target
    assert summary["input"]["unresolved_percent"] >= summary["target"]["unresolved_percent"]
    # the target's numbers are those of the library on the same image
    scan = io.read(target)
    direct = measure_gaps(scan.channels[0].data, pixel_size=scan.pixel_size)
    assert summary["target"]["unresolved"] == direct.n_unresolved
    assert report.is_file()


def test_gaps_needs_a_pixel_size(tmp_path, capsys):
    path = tmp_path / "noscale.npz"
    io.write(Scan((Channel("SE", np.random.default_rng(0).uniform(size=(40, 40)), "counts"),), None), path)
    code = main(["gaps", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "pixel size" in err
