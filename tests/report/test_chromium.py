"""Render a report in headless Chromium (Debian ``chromium``): every figure loads, nothing is blank.

Two runs of the browser, no extra Python package:

1. the report exactly as saved (it holds no script, so nothing it shows can depend on one) to a screenshot
   that must show the figures (many distinct colours, a share of strongly coloured pixels);
2. a copy of the report with a small script appended that, on ``load``, counts the ``<img>`` elements that
   decoded (``complete`` and ``naturalWidth > 0``) and have a rendered size, and writes the counts into the
   DOM; ``--dump-dom`` prints that DOM. (A PNG with a valid header but damaged data still reports its natural
   size, so each embedded PNG is also fully decoded here.)

Each embedded PNG is also decoded here and must not be blank. Skips with the reason when Chromium is absent
(``.ci/run`` installs it).
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from scansr.interpolate import downsample, upscale
from scansr.report import Report
from scansr.report import figures as F
from scansr.scan import Channel, Scan

CHROMIUM_NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
COUNT_SCRIPT = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) {
    var box = img.getBoundingClientRect();
    return img.complete && img.naturalWidth > 0 && img.naturalHeight > 0 && box.width > 0 && box.height > 0;
  });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded.length));
});
</script>"""


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "Chromium is not installed (Debian: apt-get install chromium); the report render test needs it"
    )


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium did not finish within 60 s: {' '.join(command)}")
    assert result.returncode == 0, f"Chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return result


def _report(path: Path) -> Report:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    height = 4e-9 * np.sin(xx / 6.0) * np.cos(yy / 8.0) + 0.4e-9 * rng.standard_normal(xx.shape)
    pixel = (3e-9, 2.5e-9)
    hr = Scan((Channel("Height", height, "m"),), pixel)
    lr_data = downsample(height, 4)
    lr = Scan((Channel("Height", lr_data, "m"),), (4 * pixel[0], 4 * pixel[1]))
    bicubic = Scan((Channel("Height", upscale(lr_data, 4), "m"),), pixel)
    images = {"LR": lr, "HR": hr, "bicubic": bicubic}
    start, end = (20e-9, 10e-9), (250e-9, 300e-9)

    def sample(image, a, b, *, pixel_size):  # bilinear, 80 points, as a profile function would
        rows, cols = np.linspace(a[0], b[0], 80), np.linspace(a[1], b[1], 80)
        values = ndimage.map_coordinates(image, [rows, cols], order=1, mode="nearest")
        return np.hypot((rows - rows[0]) * pixel_size[0], (cols - cols[0]) * pixel_size[1]), values

    report = Report("Chromium <render> test", command=["scansr", "evaluate", "--report", path.name], dpi=80)
    section = report.add_section("Images")
    section.add_figure(
        F.comparison_figure(images, zoom=F.detail_region(hr), line=(start, end), reference="HR"),
        caption="LR, HR and bicubic",
    )
    section.add_figure(
        F.profile_figure(F.line_profiles(images, start, end, sample=sample)), caption="profile"
    )
    section.add_figure(F.surface_figure({"HR": hr}, max_size=48), caption="surface")
    stats = report.add_section("Statistics")
    stats.add_table(
        [{"method": "bicubic", "PSNR": 30.1}, {"method": "VDSR", "PSNR": 31.4}], best={"PSNR": "max"}
    )
    stats.add_figure(
        F.pvalue_figure(np.array([[1, 0.02], [0.02, 1]]), ["bicubic", "VDSR"]), caption="p-values"
    )
    stats.add_figure(
        F.histogram_figure({"input": rng.normal(2e-8, 3e-9, 80)}, quantity="gap width"), caption="gaps"
    )
    return report


def _colourful_fraction(image: Image.Image) -> float:
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return float(np.mean(rgb.max(axis=2) - rgb.min(axis=2) > 60))


def test_report_renders_in_headless_chromium(tmp_path):
    chromium = _chromium()
    page = tmp_path / "report.html"
    report = _report(page)
    report.save(page)
    text = page.read_text(encoding="utf-8")
    n_figures = report.n_figures
    assert n_figures == 5

    # every embedded PNG decodes and is not blank
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', text)
    assert len(sources) == n_figures
    for encoded in sources:
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        image.load()
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colours) > 16
        assert max(count for count, _ in colours) < 0.97 * image.width * image.height  # not one flat colour

    # 1. the report as it is (no script in it): the screenshot shows the figures
    assert "<script" not in text
    shot = tmp_path / "shot.png"
    _run(
        chromium,
        tmp_path / "profile-1",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    screenshot = Image.open(shot)
    assert screenshot.size == (1280, 2400)
    # the page without its figures shows about a thousand colours (anti-aliased text) and almost no saturated
    # pixels; the colour-mapped figures bring tens of thousands of colours and a few percent saturated
    assert len(screenshot.convert("RGB").getcolors(maxcolors=1 << 22)) > 5000
    assert _colourful_fraction(screenshot) > 0.01

    # 2. a copy with a counting script: every <img> decoded and has a rendered size
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", COUNT_SCRIPT + "</body>"), encoding="utf-8")
    dom = _run(
        chromium, tmp_path / "profile-2", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()
    ).stdout
    total = re.search(r'data-images-total="(\d+)"', dom)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert total is not None, f"the counting script did not run; DOM starts {dom[:300]!r}"
    assert loaded is not None
    assert int(total.group(1)) == n_figures
    assert int(loaded.group(1)) == n_figures
