"""Making a survey: sheets that follow the key, one colour scale, scale bars, PDF pages, reproducible shuffling.

Real data: the shipped DTMicroscope PFM scan (PTO_Funakubo0005.h5, 256 x 256, 3.92 nm pixels) as ground
truth, with its x4 block-mean downsampled version as the low-resolution scan; a crop of it as a zoomed
ground truth for the registration path. Synthetic surfaces where the test is about mechanics.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

import scansr.io
from scansr.interpolate import downsample_scan, upscale_scan
from scansr.preprocess import level_plane
from scansr.scan import OutputExistsError, Scan
from scansr.survey import (
    KEY_NAME,
    FunctionMethod,
    make_survey,
    prepare_sample,
    read_key,
    resolve_methods,
    sheet_figure,
    shuffle_assignments,
)
from tests.conftest import TEST_DATA
from tests.survey.common import PIXEL, pair, surface

PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"
BASELINES = ["bicubic", "bilinear", "lanczos"]


def _pdf_pages(path) -> int:
    # page objects are plain dictionaries in matplotlib's PDF; "/Type /Pages" is the page tree
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", path.read_bytes()))


def _flat(scan: Scan, scale: int) -> Scan:
    """A method whose output is one constant value: a uniform panel, recognisable in the PNG."""
    up = upscale_scan(scan, scale)
    return up.map_channels(lambda d: np.full(d.shape, float(d.mean())))


# --------------------------------------------------------------------------------------------------- real scan
def test_survey_from_a_real_scan(tmp_path):
    hr = scansr.io.read(PTO)
    lr_path = tmp_path / "PTO_x4.npz"
    scansr.io.write(downsample_scan(hr, 4), lr_path)
    out = tmp_path / "survey"
    key = make_survey([(lr_path, PTO), (lr_path, PTO)], BASELINES, out, seed=7, dpi=100, raters=["ann", "bo"])

    assert key.methods == tuple(BASELINES)
    assert key.labels == ("1", "2", "3")
    assert key.samples == ("S01", "S02")
    sheet = key.sheets[0]
    assert sorted(sheet.mapping.values()) == sorted(BASELINES)
    assert sheet.hr_sha256 == hashlib.sha256(PTO.read_bytes()).hexdigest()
    assert sheet.details["scale"] == 4  # 256 px HR over 64 px LR of the same field
    assert sheet.details["registration"] is None
    assert sheet.details["box"] == [0, 256, 0, 256]
    assert sheet.details["channel"] == "HeightRetrace"  # the topography, HR's default channel
    # documented size: (0.82 + (1.5 + 0.06) * 4) x (0.6 + 1.5) inches at 100 dpi
    for s in key.sheets:
        with Image.open(out / s.png) as png:
            assert png.size == s.png_size == (706, 210)
    assert _pdf_pages(out / "survey.pdf") == 2
    # the key on disk verifies and equals what was returned
    assert read_key(out / KEY_NAME).content_hash == key.content_hash
    for rater in ("ann", "bo"):
        rows = [
            line
            for line in (out / key.answer_files[rater]).read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        ]
        assert rows[0] == "rater,sample,label,fidelity,quality,comment"
        assert len(rows) == 1 + 2 * 3
        assert all(r.startswith(f"{rater},S0") for r in rows[1:])
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert KEY_NAME in readme
    assert "6 = excellent" in readme


def test_zoomed_ground_truth_is_registered(tmp_path):
    # Ground truth: the central 128 x 128 of the scan (its origin moved accordingly); low resolution: the
    # whole scan at half the pixels. The outputs must land on the crop: 64 upscaled pixels in from each side.
    full = scansr.io.read(PTO).select("HeightRetrace")
    dy, dx = full.pixel_size
    hr = full.replace(
        channels=tuple(c.replace(data=c.data[64:192, 64:192]) for c in full.channels),
        origin=(full.origin[0] + 64 * dy, full.origin[1] + 64 * dx),
    )
    lr = downsample_scan(full, 2)
    prepared = prepare_sample(lr, hr, resolve_methods(["bicubic", "bilinear"]))
    assert prepared.scale == 2
    assert prepared.registration is not None
    assert_allclose(prepared.registration.matrix[:2, 2], [-64, -64], atol=0.25)
    assert prepared.registration.score > 0.95
    y0, y1, x0, x1 = prepared.box
    assert (y1 - y0, x1 - x0) == (128, 128)
    expected = upscale_scan(lr, 2, method="bilinear").channels[0].data[64 + y0 : 64 + y1, 64 + x0 : 64 + x1]
    got = prepared.outputs["bilinear"].channels[0].data
    assert np.sqrt(np.mean((got - expected) ** 2)) < 0.02 * expected.std()
    assert prepared.ground_truth.pixel_size == hr.pixel_size


# --------------------------------------------------------------------------------------------------- sheets
def test_each_panel_shows_the_method_the_key_names(tmp_path):
    methods = ["bicubic", "bilinear", FunctionMethod("flat", _flat)]
    samples = [pair(seed) for seed in range(3)]
    key = make_survey(samples, methods, tmp_path / "s", seed=3, dpi=40, raters=1)
    for sheet in key.sheets:
        with Image.open(tmp_path / "s" / sheet.png) as png:
            rgb = np.asarray(png.convert("RGB"), dtype=float)
        uniform = []
        for label, (x0, y0, x1, y1) in sheet.details["panel_boxes"].items():
            w, h = x1 - x0, y1 - y0
            inner = rgb[y0 + h // 5 : y1 - h // 3, x0 + w // 5 : x1 - w // 5]  # away from edges and scale bar
            if inner.std(axis=(0, 1)).max() < 1.0:
                uniform.append(label)
        flat_label = next(label for label, m in sheet.mapping.items() if m == "flat")
        assert uniform == [flat_label]


def test_sheet_shares_one_colour_scale_and_has_scale_bars():
    gt = surface(seed=1)
    other = surface(seed=2)
    figure = sheet_figure(gt, {"1": other, "2": gt}, percentiles=(1, 99))
    panels = [ax for ax in figure.axes if ax.get_label() != "colour bar"]
    assert [ax.get_label() for ax in sorted(panels, key=lambda a: a.get_position().x0)] == [
        "Ground truth",
        "1",
        "2",
    ]
    lo, hi = np.percentile(level_plane(gt.channels[0].data), (1, 99)) / 1e-9  # colour bar in nm
    for ax in panels:
        norm = ax.images[0].norm
        assert_allclose([norm.vmin, norm.vmax], [lo, hi], rtol=1e-12)
        # field 64 x 10 nm = 640 nm; the longest 1-2-5 length <= 0.3 x 640 nm is 100 nm
        assert [t.get_text() for t in ax.texts] == ["100 nm"]
        bars = [p for p in ax.patches if p.get_width() == pytest.approx(100e-9)]
        assert len(bars) == 1
    # levelled display: the tilt of the ground truth is gone from what is drawn
    shown = panels[0].images[0].get_array()
    assert abs(np.polyfit(np.arange(64), shown.mean(axis=0), 1)[0]) < 1e-3  # nm per pixel


def test_sheet_rejects_mismatched_panels():
    gt = surface()
    with pytest.raises(ValueError, match="must match the ground truth"):
        sheet_figure(gt, {"1": surface(32, 32)})
    with pytest.raises(ValueError, match="level must be one of"):
        sheet_figure(gt, {"1": gt}, level="poly3")


def test_crop_is_the_same_for_every_panel():
    lr, hr = pair()
    prepared = prepare_sample(lr, hr, resolve_methods(BASELINES), crop=(8, 40, 16, 48))
    assert prepared.box == (8, 40, 16, 48)
    assert_allclose(prepared.ground_truth.channels[0].data, hr.channels[0].data[8:40, 16:48])
    for name in BASELINES:
        full = upscale_scan(lr, 4, method=name).channels[0].data
        assert_allclose(prepared.outputs[name].channels[0].data, full[8:40, 16:48])
        assert prepared.outputs[name].pixel_size == (PIXEL, PIXEL)
    with pytest.raises(ValueError, match="outside the region"):
        prepare_sample(lr, hr, resolve_methods(BASELINES), crop=(8, 80, 16, 48))


# --------------------------------------------------------------------------------------------------- shuffling
def test_shuffling_is_reproducible_and_balanced():
    a = shuffle_assignments(7, 3, np.random.default_rng(11))
    b = shuffle_assignments(7, 3, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert all(sorted(row) == [0, 1, 2] for row in a)
    for block in (a[0:3], a[3:6]):  # complete blocks: a Latin square, every method once at every label
        assert all(sorted(col) == [0, 1, 2] for col in block.T)
        assert len({tuple(row) for row in block}) == 3  # consecutive sheets differ
    assert not np.array_equal(a, shuffle_assignments(7, 3, np.random.default_rng(12)))
    free = shuffle_assignments(50, 4, np.random.default_rng(0), balanced=False)
    assert all(sorted(row) == [0, 1, 2, 3] for row in free)
    assert len({tuple(row) for row in free}) > 10


def test_same_seed_same_survey_other_seed_other_order(tmp_path):
    samples = [pair(seed) for seed in range(6)]
    one = make_survey(samples, BASELINES, tmp_path / "a", seed=5, dpi=20)
    two = make_survey(samples, BASELINES, tmp_path / "b", seed=5, dpi=20)
    three = make_survey(samples, BASELINES, tmp_path / "c", seed=6, dpi=20)
    assert [s.mapping for s in one.sheets] == [s.mapping for s in two.sheets]
    assert one.content_hash == two.content_hash  # sheets and PDF byte-identical too
    assert (tmp_path / "a" / "survey.pdf").read_bytes() == (tmp_path / "b" / "survey.pdf").read_bytes()
    assert [s.mapping for s in one.sheets] != [s.mapping for s in three.sheets]
    assert len({tuple(s.mapping.values()) for s in one.sheets}) > 1  # the order changes between sheets
    stored = json.loads((tmp_path / "a" / KEY_NAME).read_text(encoding="utf-8"))
    assert stored["seed"] == 5
    assert stored["scansr_version"]


# --------------------------------------------------------------------------------------------------- checks
def test_refuses_to_overwrite_a_survey(tmp_path):
    samples = [pair()]
    make_survey(samples, BASELINES, tmp_path, seed=1, dpi=20)
    with pytest.raises(OutputExistsError, match="holds a survey already"):
        make_survey(samples, BASELINES, tmp_path, seed=2, dpi=20)
    again = make_survey(samples, BASELINES, tmp_path, seed=2, dpi=20, overwrite=True)
    assert read_key(tmp_path / KEY_NAME).content_hash == again.content_hash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ["bicubic"]}, "at least 2 methods"),
        ({"methods": ["bicubic", "nearest"]}, "interpolation must be one of"),
        ({"methods": ["bicubic", "bicubic"]}, "unique"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"crop": (0, 4, 0, 4)}, "crop"),
        ({"raters": ["ann", "Ann"]}, "unique"),
        ({"raters": ["a/b"]}, "rater name"),
        ({"register": "maybe"}, "register must be one of"),
        ({"dpi": 0}, "dpi must be"),
    ],
)
def test_bad_options_are_named(tmp_path, kwargs, message):
    args = {"methods": BASELINES, "seed": 1, "dpi": 20} | kwargs
    with pytest.raises(ValueError, match=message):
        make_survey([pair()], args.pop("methods"), tmp_path, **args)


def test_a_method_with_the_wrong_output_is_named(tmp_path):
    bad = FunctionMethod("half", lambda scan, scale: upscale_scan(scan, scale // 2))
    with pytest.raises(ValueError, match="method 'half' returned 32x32 pixels"):
        make_survey([pair()], ["bicubic", bad], tmp_path, seed=1, dpi=20)


def test_survey_package_imports_without_torch():
    script = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import scansr.survey, scansr.survey.report\n"
        "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
