"""The gap-analysis report section on synthetic particle images with known gaps, and on a real SEM image.

The scene is the one of ``tests/test_gaps.py``: blurred discs point-sampled at the pixel centres, here one
pair per cell of a 3 × 4 grid at random orientations, cells far enough apart that only the designed pairs are
adjacent. The truth is the paper's rule applied to the continuous noise-free image (`analytic_gap`): the
number of gaps, which ones are resolved in the target and their widths. The report is read back with the
standard library's HTML parser and PIL, and its numbers compared with the analysis and with that truth.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

from scansr.gaps import GapOptions, compare_gaps, measure_gaps
from scansr.report import Report
from scansr.report.gaps import (
    RESOLVED_COLOUR,
    RESULTS_FLOAT_FORMAT,
    UNRESOLVED_COLOUR,
    WIDTH_COLOUR,
    add_gaps_section,
    gap_overlay_figure,
)
from scansr.scan import Channel, Scan
from tests.conftest import shared_path
from tests.report.report_html import distinct_colours, read_report, table_with
from tests.test_gaps import analytic_gap, render

NM = 1e-9
PX = 5 * NM
SQUARE = (PX, PX)
LR = (2 * PX, 2 * PX)
GAPS_PX = [0.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 2.5, 7]
RADIUS_PX = 8
CELL_PX = 64  # neighbouring cells' discs are > 30 px apart, beyond max_gap: only the designed pairs count
OPTIONS = GapOptions(max_gap=20 * PX)


def _scan(data: np.ndarray, pixel_size) -> Scan:
    return Scan((Channel("SE", data, "counts"),), pixel_size)


@pytest.fixture(scope="module")
def scene():
    """Target (1 px blur), a x2 coarser input with 2.5 px blur and noise, an 'output' = target + noise."""
    rng = np.random.default_rng(5)
    r = RADIUS_PX * PX
    discs, pairs = [], []
    for k, gap in enumerate(GAPS_PX):
        cy = (k // 4 + 0.5) * CELL_PX * PX + rng.uniform(-0.5, 0.5) * PX
        cx = (k % 4 + 0.5) * CELL_PX * PX + rng.uniform(-0.5, 0.5) * PX
        angle = rng.uniform(0.0, np.pi)
        half = (2 * r + gap * PX) / 2
        discs += [
            (cy - half * np.sin(angle), cx - half * np.cos(angle), r, 200.0),
            (cy + half * np.sin(angle), cx + half * np.cos(angle), r, 180.0),
        ]
        pairs.append((2 * k, 2 * k + 1))
    shape = (3 * CELL_PX, 4 * CELL_PX)
    target = render(shape, SQUARE, discs, PX)
    low_shape = (shape[0] // 2, shape[1] // 2)
    low = render(low_shape, LR, discs, 2.5 * PX) + rng.normal(0.0, 2.0, low_shape)
    output = target + rng.normal(0.0, 2.0, shape)
    comparison = compare_gaps(
        low,
        output,
        target,
        pixel_size_input=LR,
        pixel_size_output=SQUARE,
        pixel_size_target=SQUARE,
        options=OPTIONS,
    )
    images = {"input": _scan(low, LR), "output": _scan(output, SQUARE), "target": _scan(target, SQUARE)}
    truth = [analytic_gap(discs[a], discs[b], PX, pitch=PX) for a, b in pairs]
    return images, comparison, truth


@pytest.fixture(scope="module")
def page(scene, tmp_path_factory):
    images, comparison, _ = scene
    report = Report("Gaps <test>", dpi=60)
    section = add_gaps_section(report, images=images, comparison=comparison, title="Gaps & <b>SEM</b>")
    assert section.n_figures == report.n_figures
    path = report.save(tmp_path_factory.mktemp("gaps") / "gaps.html")
    return read_report(path)


def _fmt(value: float) -> str:
    return "–" if np.isnan(value) else format(value, RESULTS_FLOAT_FORMAT)


# --------------------------------------------------------------------------------------------------- report
def test_comparison_report_has_every_figure_and_every_png_is_drawn(page) -> None:
    # 3 overlays (input, output, target) + 1 histogram + 3 gap profiles + 1 spectrum.
    assert page.n_figures == 8
    assert len(page.images) == 8
    for image in page.images:
        assert min(image.size) > 50
        assert distinct_colours(image) > 20
    assert sum("Cross-section through gap" in c for c in page.captions) == 3
    assert sum("Nyquist" in c for c in page.captions) == 1
    # Every caller's string is escaped.
    assert "Gaps &amp; &lt;b&gt;SEM&lt;/b&gt;" in page.text
    assert "<b>SEM</b>" not in page.text


def test_settings_table_lists_every_option(page, scene) -> None:
    _, comparison, _ = scene
    table = table_with(page, "settings")
    values = {row["setting"]: row["value"] for row in table.records()}
    assert list(values)[:9] == [
        "width_level",
        "resolve_level",
        "reference",
        "baseline",
        "band",
        "max_gap",
        "step",
        "smooth",
        "interpolation",
    ]
    assert values["width_level"] == "0.8"
    assert values["resolve_level"] == "0.6"
    assert values["reference"] == "higher"
    assert values["band"] == "3"
    assert values["max_gap"] == "100 nm"  # 20 px of 5 nm
    assert values["interpolation"] == "cubic"
    assert values["polarity"] == comparison.particles.polarity == "bright"
    assert values["Gaussian fit"] == "mle"


def test_results_table_shows_the_analysis_numbers(page, scene) -> None:
    _, comparison, _ = scene
    records = {row["image"]: row for row in table_with(page, "Gaps per image").records()}
    assert list(records) == ["input", "output", "target"]
    for name, result in comparison.results.items():
        row = records[name]
        widths = result.resolved_widths
        assert row["gaps"] == str(result.n)
        assert row["evaluated"] == str(result.n_valid)
        assert row["unresolved"] == str(result.n_unresolved)
        assert row["unresolved (%)"] == _fmt(100 * result.n_unresolved / result.n_valid)
        assert row["resolved widths"] == str(widths.size)
        # The MLE Gaussian: the mean and the sample std (ddof=1) of the resolved widths, in nm.
        assert row["μ (nm)"] == _fmt(np.mean(widths) / NM)
        assert row["σ (nm)"] == _fmt(np.std(widths, ddof=1) / NM)
        if name == "target":
            assert row["mean |error| vs target (nm)"] == ""
            continue
        target = comparison.results["target"]
        both = result.resolvable & target.resolvable & np.isfinite(result.width) & np.isfinite(target.width)
        assert row["n compared"] == str(int(both.sum()))
        mae = np.mean(np.abs(result.width[both] - target.width[both])) / NM
        assert row["mean |error| vs target (nm)"] == _fmt(mae)


def test_results_table_agrees_with_the_known_scene(page, scene) -> None:
    _, _, truth = scene
    records = {row["image"]: row for row in table_with(page, "Gaps per image").records()}
    target = records["target"]
    assert target["gaps"] == str(len(GAPS_PX))  # only the designed pairs are adjacent
    resolvable = np.array([t[1] for t in truth])
    assert not resolvable.all()  # the 0.5 px gap: its minimum is 74 % of the peak
    assert float(target["unresolved (%)"]) == pytest.approx(100 * (1 - resolvable.mean()), abs=0.05)
    widths = np.array([t[0] for t in truth])
    expected = widths[resolvable & np.isfinite(widths)]
    # Three significant digits in the table; widths within 0.05 px of the analytic ones (tests/test_gaps.py).
    assert float(target["μ (nm)"]) == pytest.approx(np.mean(expected) / NM, abs=0.05 * PX / NM + 0.05)
    assert float(target["σ (nm)"]) == pytest.approx(np.std(expected, ddof=1) / NM, abs=0.05 * PX / NM + 0.05)
    # The blurred coarse input loses gaps the target resolves.
    assert int(records["input"]["unresolved"]) > int(target["unresolved"])


# --------------------------------------------------------------------------------------------------- overlay
def _collections(figure) -> dict[str, LineCollection]:
    ax = figure.axes[0]
    return {c.get_label(): c for c in ax.collections if isinstance(c, LineCollection)}


@pytest.mark.parametrize("name", ["input", "target"])
def test_overlay_draws_one_line_per_gap_in_its_colour(scene, name) -> None:
    images, comparison, _ = scene
    result = comparison.results[name]
    figure = gap_overlay_figure(images[name], result, title=name)
    lines = _collections(figure)
    resolved = result.valid & result.resolvable
    unresolved = result.valid & ~result.resolvable
    assert unresolved.sum() >= 1
    by_colour: dict[str, int] = {}
    for collection in lines.values():
        colours = {to_hex(c) for c in collection.get_colors()}
        assert len(colours) == 1
        colour = colours.pop()
        by_colour[colour] = by_colour.get(colour, 0) + len(collection.get_segments())
    assert by_colour[to_hex(RESOLVED_COLOUR)] == resolved.sum()
    assert by_colour[to_hex(UNRESOLVED_COLOUR)] == unresolved.sum()
    with_width = np.isfinite(result.edge_a).all(1) & np.isfinite(result.edge_b).all(1)
    assert by_colour[to_hex(WIDTH_COLOUR)] == with_width.sum()
    # Segments are (x, y) in metres: the red ones run between the centres of the unresolved pairs.
    segments = np.array(lines["unresolved"].get_segments())
    np.testing.assert_allclose(segments[:, 0, ::-1], result.start[unresolved])
    np.testing.assert_allclose(segments[:, 1, ::-1], result.end[unresolved])
    widths = np.array(lines["width"].get_segments())
    np.testing.assert_allclose(widths[:, 0, ::-1], result.edge_a[with_width])
    # The image covers the physical field, whatever the pixel count.
    ny, nx = images[name].shape
    dy, dx = images[name].pixel_size
    np.testing.assert_allclose(figure.axes[0].get_images()[0].get_extent(), (0, nx * dx, ny * dy, 0))
    assert ny * dy == pytest.approx(3 * CELL_PX * PX)


def test_overlay_rejects_a_scan_of_another_pixel_size(scene) -> None:
    images, comparison, _ = scene
    with pytest.raises(ValueError, match="pixel size"):
        gap_overlay_figure(images["input"], comparison.results["target"])


# --------------------------------------------------------------------------------------------------- single
def test_single_image_section(scene, tmp_path) -> None:
    images, _, truth = scene
    target = images["target"]
    result = measure_gaps(target.channels[0].data, pixel_size=SQUARE, options=OPTIONS)
    report = Report("one image", dpi=50)
    add_gaps_section(report, images={"particles.tif": target}, result=result, options=OPTIONS, n_profiles=2)
    page = read_report(report.save(tmp_path / "one.html"))
    assert page.n_figures == 1 + 1 + 2 + 1  # overlay, histogram, 2 profiles, spectrum
    assert all(distinct_colours(image) > 20 for image in page.images)
    (row,) = table_with(page, "Gaps per image").records()
    assert row["image"] == "particles.tif"
    assert row["gaps"] == str(len(truth))
    assert row["μ (nm)"] == _fmt(np.mean(result.resolved_widths) / NM)
    assert "mean |error| vs target (nm)" not in row
    settings = table_with(page, "settings")
    assert "defaults" not in settings.caption
    assert {r["setting"]: r["value"] for r in settings.records()}["polarity"] == "bright (from the peaks)"


def test_least_squares_fits_and_an_unscaled_scan(scene, tmp_path) -> None:
    images, _, _ = scene
    data = {name: scan.channels[0].data for name, scan in images.items()}
    comparison = compare_gaps(
        data["input"],
        None,
        data["target"],
        pixel_size_input=LR,
        pixel_size_target=SQUARE,
        options=OPTIONS,
        fit="curve_fit",
    )
    unscaled = Scan(images["target"].channels, None)  # drawn at the pixel size the gaps were measured with
    report = Report("curve_fit", dpi=40)
    add_gaps_section(report, images={"input": images["input"], "target": unscaled}, comparison=comparison)
    page = read_report(report.save(tmp_path / "fit.html"))
    assert page.n_figures == 2 + 1 + 3 + 1
    assert all(distinct_colours(image) > 20 for image in page.images)
    records = {row["image"]: row for row in table_with(page, "Gaps per image").records()}
    assert list(records) == ["input", "target"]
    for name, h in comparison.histograms.items():
        assert records[name]["μ (nm)"] == _fmt(h.mean / NM)
        assert records[name]["σ (nm)"] == _fmt(h.std / NM)
    fits = {row["setting"]: row["value"] for row in table_with(page, "settings").records()}["Gaussian fit"]
    assert "curve_fit" in fits
    if any(h.fit == "curve_fit" for h in comparison.histograms.values()):
        assert any("least-squares" in c for c in page.captions)


def test_real_sem_image_single_result(tmp_path) -> None:
    from scansr.io import read

    scan = read(shared_path("data", "sem", "rosettasciio", "test_tiff_Zeiss_SEM_512pix.tif"))
    result = measure_gaps(scan.channels[0].data, pixel_size=scan.pixel_size)
    report = Report("Zeiss SEM", dpi=50)
    add_gaps_section(report, images={"Zeiss SEM": scan}, result=result, n_profiles=1)
    page = read_report(report.save(tmp_path / "sem.html"))
    assert page.n_figures == 4 if result.resolved_widths.size else 3
    assert all(distinct_colours(image) > 20 for image in page.images)
    (row,) = table_with(page, "Gaps per image").records()
    assert row["gaps"] == str(result.n)
    assert row["unresolved"] == str(result.n_unresolved)
    assert "defaults" in table_with(page, "settings").caption
    lines = _collections(gap_overlay_figure(scan, result))
    drawn = sum(len(c.get_segments()) for label, c in lines.items() if label != "width")
    assert drawn == result.n


# --------------------------------------------------------------------------------------------------- errors
def test_bad_arguments(scene) -> None:
    images, comparison, _ = scene
    report = Report("bad")
    with pytest.raises(ValueError, match="exactly one"):
        add_gaps_section(report, images=images)
    with pytest.raises(ValueError, match="exactly one"):
        add_gaps_section(report, images=images, comparison=comparison, result=comparison.results["target"])
    with pytest.raises(ValueError, match=r"missing \['output'\]"):
        add_gaps_section(report, images={k: images[k] for k in ("input", "target")}, comparison=comparison)
    with pytest.raises(ValueError, match="exactly one image"):
        add_gaps_section(report, images=images, result=comparison.results["target"])
    swapped = {"input": images["target"], "output": images["output"], "target": images["target"]}
    with pytest.raises(ValueError, match="pixel size"):
        add_gaps_section(report, images=swapped, comparison=comparison)
    with pytest.raises(ValueError, match="n_profiles"):
        add_gaps_section(report, images=images, comparison=comparison, n_profiles=-1)


def test_section_needs_neither_torch_nor_pyplot() -> None:
    script = """
import importlib.abc, sys
class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked")
sys.meta_path.insert(0, BlockTorch())
import scansr.report.gaps, scansr.report.correlation
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
assert not [m for m in sys.modules if m.split(".")[0] == "torch"], "torch imported"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
