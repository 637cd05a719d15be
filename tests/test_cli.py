"""The ``scansr`` command line: JSON contracts, outputs with the right pixel size, calibration, clean errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from scansr import io
from scansr.cli import main
from tests.conftest import REPO, TEST_DATA, shared_path

NID = TEST_DATA / "NSFopen" / "circles.nid"
H5 = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_has_the_documented_keys(capsys):
    code, out, err = run(capsys, "info", NID, "--json")
    assert code == 0, err
    info = json.loads(out)
    scan = io.read(NID)
    assert info["format"] == "nanosurf"
    assert info["pixel_size_m"] == pytest.approx(list(scan.pixel_size))
    assert [c["name"] for c in info["channels"]] == list(scan.names)
    assert all(set(c) >= {"name", "unit", "shape"} for c in info["channels"])
    assert info["channels"][0]["shape"] == list(scan.shape)


def test_info_text_lists_channels(capsys):
    code, out, _ = run(capsys, "info", H5)
    assert code == 0
    for name in io.read(H5).names:
        assert name in out


def test_upscale_writes_gwy_with_pixel_size_divided_by_scale(capsys, tmp_path):
    out = tmp_path / "x4.gwy"
    code, _, err = run(capsys, "upscale", NID, "--scale", "4", "--method", "bicubic", "-o", out)
    assert code == 0, err
    src, big = io.read(NID), io.read(out)
    assert big.shape == (src.shape[0] * 4, src.shape[1] * 4)
    assert big.pixel_size == pytest.approx((src.pixel_size[0] / 4, src.pixel_size[1] / 4), rel=1e-9)
    assert big.names == src.names
    assert [c.unit for c in big.channels] == [c.unit for c in src.channels]
    # the mean height is kept by interpolation (values in metres, not rescaled)
    assert big.channels[0].data.mean() == pytest.approx(src.channels[0].data.mean(), rel=1e-3)


def test_upscale_refuses_existing_output_without_force(capsys, tmp_path):
    out = tmp_path / "x2.tif"
    assert run(capsys, "upscale", NID, "--scale", "2", "-o", out)[0] == 0
    code, _, err = run(capsys, "upscale", NID, "--scale", "2", "-o", out)
    assert code == 2
    assert "exists" in err
    assert err.count("\n") == 1
    assert run(capsys, "upscale", NID, "--scale", "2", "-o", out, "--force")[0] == 0


def test_convert_round_trips_through_npz(capsys, tmp_path):
    out = tmp_path / "scan.npz"
    assert run(capsys, "convert", H5, out)[0] == 0
    a, b = io.read(H5), io.read(out)
    assert a.names == b.names
    for ca, cb in zip(a.channels, b.channels, strict=True):
        np.testing.assert_array_equal(ca.data, cb.data)
    assert b.pixel_size == a.pixel_size


def test_compare_reproduces_the_official_calibration_values(capsys):
    ref_dir = shared_path("reference", "iqa-calibration")
    with open(ref_dir / "results_official.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    table = {r[0].strip().lower(): dict(zip(header[1:], r[1:], strict=False)) for r in rows[1:]}
    images = [h for h in header[1:] if h.strip()]
    assert len(images) == 5
    for image in images:
        name = image.strip().removesuffix(".bmp")
        ref, dist = ref_dir / f"ref_{name}.bmp", ref_dir / f"dist_{name}.bmp"
        code, out, err = run(capsys, "compare", ref, dist, "--json")
        assert code == 0, err
        values = json.loads(out)
        assert values["psnr"] == pytest.approx(float(table["psnr"][image]), abs=0.01), name
        assert values["ssim"] == pytest.approx(float(table["ssim"][image]), abs=0.01), name


def test_compare_of_a_scan_with_itself_is_perfect(capsys):
    code, out, _ = run(capsys, "compare", H5, H5, "--json")
    assert code == 0
    values = json.loads(out)
    assert values["ssim"] == pytest.approx(1.0)
    assert values["psnr"] == float("inf")


def test_models_lists_every_architecture(capsys):
    from scansr.cli.models import ARCH_NAMES
    from scansr.models import MODELS

    assert set(ARCH_NAMES) == set(MODELS)
    from scansr.cli.models import RECIPE_ALIASES
    from scansr.train.config import RECIPE_ALIASES as aliases

    assert set(RECIPE_ALIASES) == set(aliases)

    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    listed = {m["name"] for m in json.loads(out)["models"]}
    assert listed == set(MODELS)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["info", "/nonexistent/scan.spm"], "no such file"),
        (["info", NID, "--channel", "Adhesion"], "no channel 'Adhesion'"),
        (["upscale", NID, "--scale", "0", "-o", "/tmp/never.gwy"], "scale"),
        (["upscale", NID, "--scale", "2", "-o", "/nonexistent-dir/x.gwy"], "does not exist"),
        (["convert", NID, "out.xyz123"], "cannot write"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert fragment in err
    assert "Traceback" not in err


def test_help_does_not_import_torch():
    script = (
        "import sys; from scansr.cli import build_parser; build_parser().format_help(); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "False"
