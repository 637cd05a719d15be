"""A small builder for one self-contained HTML report: headings, text, tables and embedded PNG figures.

Every figure is embedded as a base64 PNG ``data:`` URI, the CSS is inline, and there is no script: the file
opens anywhere, offline, years later, and can be mailed as it is. Every string that comes from the caller
(titles, file names, table cells, captions) is HTML-escaped.

Several commands can write into one report: each adds its own `Section`
(``report.add_section("Correlation")``) with the same methods as the report itself, sections nest, and the
report lists its sections in a table of contents. Figures and tables are numbered through the whole document
in the order they appear.

Example
-------
>>> report = Report("Evaluation", command=["scansr", "evaluate", "--lr", "a.spm"])
>>> section = report.add_section("Metrics")
>>> rows = [{"method": "bicubic", "PSNR": 31.2}, {"method": "VDSR", "PSNR": 32.5}]
>>> section.add_table(rows, caption="Mean over 8 images", best={"PSNR": "max"})
>>> report.save("report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import math
import re
import shlex
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scansr._atomic import atomic_write_text
from scansr.scan import OutputExistsError, ScanWriteError

__all__ = ["BEST_CHOICES", "Report", "Section"]

logger = logging.getLogger(__name__)

BEST_CHOICES = ("min", "max")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CSS_PX_PER_INCH = 96.0

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1d2129;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; min-height: 100vh; }
header { border-bottom: 2px solid #2f6db5; margin-bottom: 20px; padding-bottom: 8px; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.3em; }
h2 { font-size: 1.35em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #d9dde3; padding-bottom: 3px; }
h3 { font-size: 1.15em; margin: 1.3em 0 0.4em; }
h4, h5, h6 { font-size: 1em; margin: 1.1em 0 0.3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 0.9em;
  color: #4a5260; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f1f3f6; padding: 8px 12px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
nav.toc { background: #f1f5fb; border: 1px solid #d6e0ee; border-radius: 4px; padding: 6px 18px;
  margin: 12px 0 8px; font-size: 0.92em; }
nav.toc ul { margin: 4px 0; padding-left: 18px; }
a { color: #2f6db5; }
figure { width: fit-content; max-width: 100%; margin: 18px auto 24px; break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { contain: inline-size; font-size: 0.88em; color: #4a5260; margin-top: 6px; }
.table-wrap { overflow-x: auto; margin: 14px 0 22px; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0 auto; }
caption { caption-side: top; text-align: left; font-size: 0.95em; color: #4a5260; padding-bottom: 6px; }
th, td { border: 1px solid #d9dde3; padding: 4px 10px; }
th { background: #eef1f5; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: 700; background: #eaf5ea; }
p.label { font-weight: 600; }
@media print { body { background: #fff; } main { padding: 0; } nav.toc { display: none; } }
""".strip()


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("figure bytes are not a PNG file (bad signature or missing IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise ValueError(f"PNG has an empty size {width}x{height}")
    return width, height


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _formatter(float_format: str | Callable[[float], str]) -> Callable[[float], str]:
    if callable(float_format):
        return float_format
    if not isinstance(float_format, str):
        raise ValueError(
            f"float_format must be a format spec such as '.4g' or a callable, got {float_format!r}"
        )
    try:
        if "{" in float_format:
            float_format.format(1.5)
            return float_format.format
        format(1.5, float_format)
    except (ValueError, IndexError, KeyError) as error:
        raise ValueError(
            f"float_format {float_format!r} is not a valid format for a float: {error}"
        ) from None
    return lambda value: format(value, float_format)


def _rows_from(rows: Any, index_label: str) -> list[dict[str, Any]]:
    """Normalise the accepted table inputs to a list of row dicts (see `add_table`)."""
    if isinstance(rows, Mapping):
        if not rows:
            return []
        values = list(rows.values())
        if all(isinstance(v, Mapping) for v in values):
            return [{index_label: key, **dict(v)} for key, v in rows.items()]
        if all(isinstance(v, Sequence | np.ndarray) and not isinstance(v, str | bytes) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) > 1:
                columns = {k: len(v) for k, v in rows.items()}
                raise ValueError(f"table columns differ in length: {columns}")
            n = lengths.pop()
            return [{str(k): rows[k][i] for k in rows} for i in range(n)]
        if not any(isinstance(v, Mapping | Sequence | np.ndarray) and not isinstance(v, str) for v in values):
            return [{index_label or "name": key, "value": v} for key, v in rows.items()]
        raise ValueError(
            "a table mapping must be label -> dict, column -> sequence or name -> scalar; got mixed values"
        )
    if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
        raise ValueError(f"rows must be a list of dicts or a mapping, got {type(rows).__name__}")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i} of the table is a {type(row).__name__}, not a dict")
        out.append({str(k): v for k, v in row.items()})
    return out


# --------------------------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class _Heading:
    text: str
    level: int


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Code:
    text: str


@dataclass(frozen=True)
class _List:
    items: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]
    cells: tuple[tuple[tuple[str, bool, bool], ...], ...]  # (text, numeric, best) per cell, already formatted
    caption: str | None


@dataclass(frozen=True)
class _Figure:
    png: bytes
    width: int  # CSS pixels
    height: int
    caption: str
    alt: str


class _Container:
    """Shared methods of `Report` and `Section`: content is kept in order and rendered on `Report.render`."""

    def __init__(self, level: int, dpi: float) -> None:
        self._level = level  # heading level of this container's own title (report: 1, its sections: 2, ...)
        self._dpi = dpi
        self._items: list[Any] = []

    # ---- content
    def add_heading(self, text: str, *, level: int | None = None) -> None:
        """Add a heading inside this container (default: one level below the container's title).

        Parameters
        ----------
        text : str
            Heading text (escaped).
        level : int, optional
            HTML heading level 2..6.

        Raises
        ------
        ValueError
            If `level` is not in 2..6.
        """
        level = min(self._level + 1, 6) if level is None else level
        if level not in range(2, 7):
            raise ValueError(f"level must be one of 2..6, got {level!r}")
        self._items.append(_Heading(str(text), level))

    def add_text(self, text: str) -> None:
        """Add prose; blank lines separate paragraphs. The text is escaped (no markup)."""
        self._items.append(_Text(str(text)))

    def add_code(self, text: str) -> None:
        """Add preformatted text (a command line, a configuration) in a monospace block."""
        self._items.append(_Code(str(text)))

    def add_list(self, items: Iterable[Any]) -> None:
        """Add a bulleted list (each item converted with ``str`` and escaped)."""
        self._items.append(_List(tuple(str(i) for i in items)))

    def add_table(
        self,
        rows: Any,
        columns: Sequence[str] | None = None,
        *,
        caption: str | None = None,
        float_format: str | Callable[[float], str] = ".4g",
        best: Mapping[str, str] | None = None,
        index_label: str = "",
    ) -> None:
        """Add a table.

        Parameters
        ----------
        rows : list of dict or mapping
            One of: a list of row dicts (``[{"method": "bicubic", "PSNR": 31.2}, ...]``); a mapping column ->
            sequence of values (all the same length); a mapping row label -> row dict (the label goes in a
            first column named `index_label`); a mapping name -> scalar (a two-column name / value table).
        columns : sequence of str, optional
            Columns to show, in order; default: every key in the order first seen. Missing cells are empty.
        caption : str, optional
            Caption above the table, after its number ("Table 2. ...").
        float_format : str or callable
            Format of non-integer numbers: a format spec (``".4g"``, ``".2f"``), a ``"{:.3f}"`` template or a
            function ``float -> str``. NaN shows as "–", integers as they are.
        best : mapping of str to {"min", "max"}, optional
            Column -> which numeric value is best; the best cell(s) of that column are set in bold (e.g. from
            a metric's lower-is-better flag).
        index_label : str
            Header of the row-label column for a mapping of row dicts.

        Raises
        ------
        ValueError
            If `rows` has none of the accepted shapes, `columns` names a column no row has, `float_format` is
            invalid, or `best` names an unknown column or choice.
        """
        table_rows = _rows_from(rows, index_label)
        fmt = _formatter(float_format)
        seen: dict[str, None] = {}
        for row in table_rows:
            for key in row:
                seen.setdefault(key, None)
        if columns is None:
            columns = list(seen)
        else:
            columns = [str(c) for c in columns]
            unknown = [c for c in columns if c not in seen]
            if unknown and table_rows:
                raise ValueError(f"columns {unknown} are in no row; the rows have {list(seen)}")
        best = dict(best or {})
        for column, choice in best.items():
            if column not in columns:
                raise ValueError(f"best names column {column!r}, but the columns are {list(columns)}")
            if choice not in BEST_CHOICES:
                raise ValueError(f"best[{column!r}] must be one of {BEST_CHOICES}, got {choice!r}")
        winners: dict[str, float] = {}
        for column, choice in best.items():
            numbers = [
                float(row[column])
                for row in table_rows
                if _is_number(row.get(column)) and math.isfinite(float(row[column]))
            ]
            if numbers:
                winners[column] = min(numbers) if choice == "min" else max(numbers)
        cells = []
        for row in table_rows:
            line = []
            for column in columns:
                value = row.get(column)
                numeric = _is_number(value)
                is_best = numeric and column in winners and float(value) == winners[column]
                line.append((self._cell_text(value, fmt), numeric, is_best))
            cells.append(tuple(line))
        self._items.append(_Table(tuple(columns), tuple(cells), None if caption is None else str(caption)))

    @staticmethod
    def _cell_text(value: Any, fmt: Callable[[float], str]) -> str:
        if value is None:
            return ""
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        if isinstance(value, int | np.integer):
            return str(int(value))
        if isinstance(value, float | np.floating):
            return (
                fmt(float(value))
                if math.isfinite(float(value))
                else ("–" if math.isnan(value) else str(value))
            )
        return str(value)

    def add_figure(
        self,
        figure: Any,
        *,
        caption: str,
        alt: str | None = None,
        width: int | None = None,
    ) -> None:
        """Add a figure, embedded as a PNG, with a numbered caption.

        Parameters
        ----------
        figure : matplotlib.figure.Figure or bytes
            A figure (rendered here at the report's dpi, shown at its size in inches) or the bytes of a PNG
            file (shown at its pixel size).
        caption : str
            Caption under the figure, after its number ("Figure 3. ...").
        alt : str, optional
            Text alternative for screen readers; default: the caption.
        width : int, optional
            Display width in CSS pixels (the height follows).

        Raises
        ------
        ValueError
            If the bytes are not a PNG file or `width` is not positive.
        TypeError
            If `figure` is neither a figure nor bytes.
        """
        if isinstance(figure, bytes | bytearray | memoryview):
            png = bytes(figure)
            pixel_w, pixel_h = _png_size(png)
            css_w, css_h = float(pixel_w), float(pixel_h)
        elif hasattr(figure, "savefig") and hasattr(figure, "get_size_inches"):
            from scansr.report.figures import to_png  # matplotlib is imported only when a figure is added

            png = to_png(figure, dpi=self._dpi)
            pixel_w, pixel_h = _png_size(png)
            css_w = pixel_w * _CSS_PX_PER_INCH / self._dpi
            css_h = pixel_h * _CSS_PX_PER_INCH / self._dpi
        else:
            raise TypeError(f"figure must be a matplotlib Figure or PNG bytes, got {type(figure).__name__}")
        if width is not None:
            if not (isinstance(width, int | np.integer) and width > 0):
                raise ValueError(f"width must be a positive number of CSS pixels, got {width!r}")
            css_h, css_w = css_h * width / css_w, float(width)
        caption = str(caption)
        self._items.append(
            _Figure(
                png, max(1, round(css_w)), max(1, round(css_h)), caption, caption if alt is None else str(alt)
            )
        )

    def add_section(self, title: str, *, anchor: str | None = None) -> Section:
        """Add a section (listed in the table of contents) and return it to fill.

        Parameters
        ----------
        title : str
            Section title (escaped).
        anchor : str, optional
            Fragment id for links (``report.html#metrics``); default: made from the title. Made unique.

        Returns
        -------
        Section
            Has the same ``add_*`` methods; its own sections nest one heading level deeper (down to h6).
        """
        section = Section(str(title), level=min(self._level + 1, 6), dpi=self._dpi, anchor=anchor)
        self._items.append(section)
        return section

    @property
    def sections(self) -> tuple[Section, ...]:
        """The sections added directly to this container, in order."""
        return tuple(item for item in self._items if isinstance(item, Section))

    @property
    def n_figures(self) -> int:
        """Number of figures in this container and its sections."""
        return sum(
            1 if isinstance(i, _Figure) else i.n_figures if isinstance(i, Section) else 0 for i in self._items
        )

    # ---- rendering
    def _render_items(self, out: list[str], state: _RenderState) -> None:
        for item in self._items:
            if isinstance(item, Section):
                item._render(out, state)
            elif isinstance(item, _Heading):
                out.append(f"<h{item.level}>{_esc(item.text)}</h{item.level}>")
            elif isinstance(item, _Text):
                for paragraph in re.split(r"\n\s*\n", item.text.strip()):
                    if paragraph.strip():
                        out.append(f"<p>{_esc(' '.join(paragraph.split()))}</p>")
            elif isinstance(item, _Code):
                out.append(f"<pre><code>{_esc(item.text)}</code></pre>")
            elif isinstance(item, _List):
                out.append("<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in item.items) + "</ul>")
            elif isinstance(item, _Table):
                state.tables += 1
                out.append(_render_table(item, state.tables))
            elif isinstance(item, _Figure):
                state.figures += 1
                out.append(_render_figure(item, state.figures))


class _RenderState:
    def __init__(self) -> None:
        self.figures = 0
        self.tables = 0
        self.anchors: set[str] = set()

    def unique_anchor(self, wanted: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", wanted.casefold()).strip("-") or "section"
        anchor, k = base, 2
        while anchor in self.anchors:
            anchor, k = f"{base}-{k}", k + 1
        self.anchors.add(anchor)
        return anchor


def _render_table(table: _Table, number: int) -> str:
    out = ['<div class="table-wrap"><table>']
    caption = f"Table {number}." + (f" {_esc(table.caption)}" if table.caption else "")
    out.append(f"<caption>{caption}</caption>")
    out.append(
        "<thead><tr>" + "".join(f'<th scope="col">{_esc(c)}</th>' for c in table.columns) + "</tr></thead>"
    )
    out.append("<tbody>")
    for row in table.cells:
        cells = []
        for text, numeric, best in row:
            classes = " ".join(c for c, on in (("num", numeric), ("best", best)) if on)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{_esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _render_figure(figure: _Figure, number: int) -> str:
    encoded = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure id="figure-{number}"><img src="data:image/png;base64,{encoded}" alt="{_esc(figure.alt)}" '
        f'width="{figure.width}" height="{figure.height}">'
        f"<figcaption><b>Figure {number}.</b> {_esc(figure.caption)}</figcaption></figure>"
    )


class Section(_Container):
    """A titled part of a report; created by `Report.add_section` or `Section.add_section`."""

    def __init__(self, title: str, *, level: int, dpi: float, anchor: str | None = None) -> None:
        super().__init__(level, dpi)
        self.title = title
        self._anchor = anchor
        self._rendered_anchor: str | None = None

    def _render(self, out: list[str], state: _RenderState) -> None:
        self._rendered_anchor = state.unique_anchor(self._anchor or self.title)
        out.append(f'<section id="{_esc(self._rendered_anchor)}">')
        out.append(f"<h{self._level}>{_esc(self.title)}</h{self._level}>")
        self._render_items(out, state)
        out.append("</section>")

    def _toc(self) -> str:
        children = "".join(s._toc() for s in self.sections)
        inner = f"<ul>{children}</ul>" if children else ""
        return f'<li><a href="#{_esc(self._rendered_anchor)}">{_esc(self.title)}</a>{inner}</li>'


class Report(_Container):
    """A self-contained HTML report.

    Parameters
    ----------
    title : str
        Document title (escaped).
    command : str or sequence of str, optional
        The command line that produced the report (a list is quoted with ``shlex.join``), recorded in the
        header.
    created : datetime.datetime, optional
        Time recorded in the header; default: now, in local time with its UTC offset.
    dpi : float
        Resolution at which matplotlib figures are rendered (they are shown at their size in inches).

    Raises
    ------
    ValueError
        If `dpi` is not positive.
    """

    def __init__(
        self,
        title: str,
        *,
        command: str | Sequence[str] | None = None,
        created: _dt.datetime | None = None,
        dpi: float = 150,
    ) -> None:
        if not (isinstance(dpi, int | float) and dpi > 0):
            raise ValueError(f"dpi must be positive, got {dpi!r}")
        super().__init__(1, float(dpi))
        self.title = str(title)
        if command is not None and not isinstance(command, str):
            command = shlex.join(str(c) for c in command)
        self.command = command
        self.created = created if created is not None else _dt.datetime.now().astimezone()

    def render(self) -> str:
        """Return the whole document as an HTML string."""
        from scansr import __version__

        state = _RenderState()
        body: list[str] = []
        self._render_items(body, state)
        meta = [
            ("Generated by", f"scansr {__version__}"),
            ("Date", self.created.isoformat(sep=" ", timespec="seconds")),
        ]
        if self.command:
            meta.append(("Command", self.command))
        header = ["<header>", f"<h1>{_esc(self.title)}</h1>", '<dl class="meta">']
        for key, value in meta:
            shown = f"<code>{_esc(value)}</code>" if key == "Command" else _esc(value)
            header.append(f"<dt>{_esc(key)}</dt><dd>{shown}</dd>")
        header.append("</dl></header>")
        toc = ""
        if len(self.sections) >= 2 or any(s.sections for s in self.sections):
            toc = (
                '<nav class="toc"><b>Contents</b><ul>'
                + "".join(s._toc() for s in self.sections)
                + "</ul></nav>"
            )
        return "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f'<meta name="generator" content="scansr {_esc(__version__)}">',
                f"<title>{_esc(self.title)}</title>",
                f"<style>\n{_CSS}\n</style>",
                "</head>",
                "<body><main>",
                "".join(header),
                toc,
                "\n".join(body),
                "</main></body>",
                "</html>",
                "",
            ]
        )

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the report to `path` atomically (a temporary file renamed into place).

        Parameters
        ----------
        path : str or Path
            The HTML file to write.
        force : bool
            Replace an existing file.

        Returns
        -------
        Path
            The file written.

        Raises
        ------
        OutputExistsError
            If `path` exists and `force` is false.
        ScanWriteError
            If `path` is a folder or its folder does not exist, or writing fails.
        """
        path = Path(path)
        if path.is_dir():
            raise ScanWriteError(path, "is a folder; give a file name such as report.html")
        if path.exists() and not force:
            raise OutputExistsError(path, "exists already; choose another name or pass force=True (--force)")
        if not path.parent.is_dir():
            raise ScanWriteError(path, f"folder {path.parent} does not exist")
        text = self.render()
        try:
            atomic_write_text(path, text)
        except OSError as error:
            raise ScanWriteError(path, f"could not write the report: {error}") from error
        logger.info("wrote report %s (%d figures, %.1f MB)", path, self.n_figures, len(text) / 1e6)
        return path
