"""The HTML report builder: self-contained output, escaping, tables, numbering, atomic save, no overwrite."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scansr
from scansr.report import Report
from scansr.report import figures as F
from scansr.scan import OutputExistsError, ScanWriteError

HOSTILE = '<script>alert("x")</script> & <img src="http://evil.example/a.png">'


class _Elements(HTMLParser):
    """Collect every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def of(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def _parse(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    parser.close()
    return parser


def _png(width: int = 40, height: int = 30) -> bytes:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)
    rgb[..., 2] = np.linspace(255, 0, height, dtype=np.uint8)[:, None]
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _figure():
    distance = np.linspace(0, 1e-6, 50)
    return F.profile_figure({"HR": (distance, 1e-9 * np.sin(distance * 1e7))})


# --------------------------------------------------------------------------------------------------- content
def test_report_is_self_contained():
    report = Report("Self-contained")
    png = _png()
    report.add_figure(png, caption="bytes")
    report.add_figure(_figure(), caption="matplotlib")
    report.add_section("More").add_figure(_png(8, 8), caption="nested")
    text = report.render()
    page = _parse(text)
    images = page.of("img")
    assert len(images) == report.n_figures == 3
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(images[0]["src"].split(",", 1)[1]) == png
    # no script, no external stylesheet, frame or object; no attribute points outside the file
    assert not [tag for tag, _ in page.tags if tag in {"script", "link", "iframe", "object", "embed"}]
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "data"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:60])
    assert not re.search(r"(?i)(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)
    assert "@import" not in text
    assert "url(" not in text


def test_user_strings_are_escaped():
    report = Report(HOSTILE, command=["scansr", "evaluate", "--lr", HOSTILE])
    report.add_heading(HOSTILE)
    report.add_text(HOSTILE)
    report.add_code(HOSTILE)
    report.add_list([HOSTILE])
    report.add_table([{HOSTILE: HOSTILE}], caption=HOSTILE)
    report.add_figure(_png(), caption=HOSTILE, alt=HOSTILE)
    report.add_section(HOSTILE).add_text("inside")
    report.add_section(HOSTILE)  # a second one: the table of contents lists both titles
    text = report.render()
    assert "<script" not in text
    assert 'src="http' not in text
    page = _parse(text)
    assert not page.of("script")
    assert len(page.of("img")) == 1  # only the figure itself; the hostile <img> stayed text
    assert page.of("img")[0]["alt"] == HOSTILE  # the parser un-escapes the attribute: same string back
    assert sum(HOSTILE in chunk for chunk in page.text) >= 8


def test_header_records_version_date_and_command():
    created = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.UTC)
    argv = ["scansr", "evaluate", "--lr", "my scan <1>.spm", "--report", "r.html"]
    text = Report("Header", command=argv, created=created).render()
    assert f"scansr {scansr.__version__}" in text
    assert "2026-03-01 12:30:05+00:00" in text
    page = _parse(text)
    assert shlex.join(argv) in "".join(page.text)
    assert shlex.split(shlex.join(argv)) == argv  # quoted so that it can be pasted back into a shell
    assert "<title>Header</title>" in text


def test_figures_and_tables_are_numbered_through_the_document_and_sections_listed():
    report = Report("Numbering")
    first = report.add_section("Images")
    first.add_figure(_png(), caption="one")
    first.add_table({"a": 1.0}, caption="t1")
    sub = first.add_section("Zoom")
    sub.add_figure(_png(), caption="two")
    second = report.add_section("Images")  # same title: anchors must stay unique
    second.add_figure(_png(), caption="three")
    second.add_table({"a": 2.0})
    text = report.render()
    assert re.findall(r"<b>Figure (\d+)\.</b> (\w+)", text) == [("1", "one"), ("2", "two"), ("3", "three")]
    assert re.findall(r"<caption>Table (\d+)\.", text) == ["1", "2"]
    ids = [attrs["id"] for attrs in _parse(text).of("section")]
    assert ids == ["images", "zoom", "images-2"]
    links = [attrs["href"] for attrs in _parse(text).of("a")]
    assert links == ["#images", "#zoom", "#images-2"]
    assert "<h2>Images</h2>" in text
    assert "<h3>Zoom</h3>" in text


def test_figure_display_size():
    report = Report("Sizes", dpi=100)
    figure = _figure()
    report.add_figure(figure, caption="fig")
    report.add_figure(_png(40, 30), caption="png")
    report.add_figure(_png(40, 30), caption="png", width=80)
    widths = [(int(a["width"]), int(a["height"])) for a in _parse(report.render()).of("img")]
    inches = figure.get_size_inches()
    assert widths[0] == (round(inches[0] * 96), round(inches[1] * 96))
    assert widths[1:] == [(40, 30), (80, 60)]


def test_add_figure_rejects_what_is_not_a_png_or_figure():
    report = Report("Bad")
    with pytest.raises(ValueError, match="PNG"):
        report.add_figure(b"GIF89a not a png at all", caption="x")
    with pytest.raises(TypeError, match="Figure or PNG"):
        report.add_figure("figure.png", caption="x")


# --------------------------------------------------------------------------------------------------- tables
def _cells(text: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", text)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in rows]


def test_table_from_rows_columns_labels_and_scalars():
    rows = [{"method": "bicubic", "PSNR": 30.12345, "n": 8}, {"method": "VDSR", "PSNR": float("nan"), "n": 8}]
    by_columns = {"method": ["bicubic", "VDSR"], "PSNR": [30.12345, np.nan], "n": [8, 8]}
    by_label = {"bicubic": {"PSNR": 30.12345, "n": 8}, "VDSR": {"PSNR": float("nan"), "n": 8}}
    expected = [["method", "PSNR", "n"], ["bicubic", "30.12", "8"], ["VDSR", "–", "8"]]
    for rows_in in (rows, by_columns):
        report = Report("T")
        report.add_table(rows_in, float_format=".4g")
        assert _cells(report.render()) == expected
    report = Report("T")
    report.add_table(by_label, float_format="{:.2f}", index_label="method")
    assert _cells(report.render()) == expected
    report = Report("T")
    report.add_table({"pixel size": "3.9 nm", "scale": 4, "ok": True})
    assert _cells(report.render()) == [
        ["name", "value"],
        ["pixel size", "3.9 nm"],
        ["scale", "4"],
        ["ok", "yes"],
    ]


def test_table_column_choice_best_cells_and_float_callable():
    rows = [{"method": "a", "PSNR": 30.0, "LPIPS": 0.2}, {"method": "b", "PSNR": 31.0, "LPIPS": 0.3}]
    report = Report("T")
    report.add_table(
        rows,
        ["method", "LPIPS", "PSNR"],
        best={"PSNR": "max", "LPIPS": "min"},
        float_format=lambda v: f"<{v}>",
    )
    text = report.render()
    assert _cells(text)[0] == ["method", "LPIPS", "PSNR"]
    assert re.findall(r'<td class="num best">(.*?)</td>', text) == ["&lt;0.2&gt;", "&lt;31.0&gt;"]


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([{"a": 1}], {"columns": ["b"]}, "in no row"),
        ({"a": [1, 2], "b": [1]}, {}, "differ in length"),
        ([{"a": 1}], {"float_format": ".4q"}, "float_format"),
        ([{"a": 1}], {"best": {"b": "max"}}, "best names column"),
        ([{"a": 1}], {"best": {"a": "largest"}}, "min"),
        ("a,b", {}, "list of dicts"),
        ([{"a": 1}, 5], {}, "row 1"),
    ],
)
def test_table_input_errors(rows, kwargs, message):
    report = Report("T")
    with pytest.raises(ValueError, match=message):
        report.add_table(rows, **kwargs)


# --------------------------------------------------------------------------------------------------- save
def test_save_writes_atomically_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "report.html"
    report = Report("Saved")
    report.add_figure(_png(), caption="c")
    assert report.save(target) == target
    written = target.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>")
    assert written.rstrip().endswith("</html>")
    with pytest.raises(OutputExistsError, match="exists"):
        Report("Other").save(target)
    assert target.read_text(encoding="utf-8") == written
    Report("Other").save(target, force=True)
    assert "<title>Other</title>" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ScanWriteError, match="disk full"):
        Report("New").save(target, force=True)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_save_to_a_folder_or_missing_folder_is_refused(tmp_path):
    with pytest.raises(ScanWriteError, match="folder"):
        Report("x").save(tmp_path, force=True)
    with pytest.raises(ScanWriteError, match="does not exist"):
        Report("x").save(tmp_path / "missing" / "r.html")


def test_report_options_are_checked():
    with pytest.raises(ValueError, match="dpi"):
        Report("x", dpi=0)
    with pytest.raises(ValueError, match="level"):
        Report("x").add_heading("h", level=1)


def test_saved_figures_decode_to_the_pngs(tmp_path):
    report = Report("Round trip")
    pngs = [_png(10 + i, 10) for i in range(3)]
    for i, png in enumerate(pngs):
        report.add_figure(png, caption=f"c{i}")
    path = report.save(tmp_path / "r.html")
    sources = [a["src"] for a in _parse(Path(path).read_text(encoding="utf-8")).of("img")]
    assert [base64.b64decode(s.split(",", 1)[1]) for s in sources] == pngs
