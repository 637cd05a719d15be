"""Read a saved report back: its tables (caption, header, cell text), its figures and their decoded images.

Shared by the section tests (``test_gaps_section.py``, ``test_correlation_section.py``); the standard
library's HTML parser and PIL are the independent readers.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image


@dataclass
class Table:
    caption: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        """One dict column -> cell text per body row."""
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.images: list[str] = []
        self.captions: list[str] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._in: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(Table())
        elif tag == "tr" and self.tables:
            self._cell = []
        elif tag in ("td", "th", "caption", "figcaption", "p"):
            self._in, self._buffer = tag, []
        elif tag == "img":
            self.images.append(attrs.get("src") or "")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._in == tag:
            text = "".join(self._buffer)
            if tag == "th":
                self.tables[-1].header.append(text)
            else:
                self._cell.append(text)
            self._in = None
        elif tag == "tr" and self._cell:
            self.tables[-1].rows.append(self._cell)
            self._cell = None
        elif tag == "caption" and self._in == "caption":
            self.tables[-1].caption = "".join(self._buffer)
            self._in = None
        elif tag == "figcaption" and self._in == "figcaption":
            self.captions.append("".join(self._buffer))
            self._in = None
        elif tag == "p" and self._in == "p":
            self.paragraphs.append("".join(self._buffer))
            self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self._buffer.append(data)


@dataclass
class Page:
    text: str
    tables: list[Table]
    images: list[Image.Image]
    captions: list[str]
    paragraphs: list[str]

    @property
    def n_figures(self) -> int:
        return self.text.count("<figure")


def read_report(path: Path) -> Page:
    """Parse a saved report; every embedded PNG is decoded (PIL raises on a broken one)."""
    text = Path(path).read_text(encoding="utf-8")
    reader = _Reader()
    reader.feed(text)
    reader.close()
    images = []
    prefix = "data:image/png;base64,"
    for src in reader.images:
        assert src.startswith(prefix), src[:40]
        image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
        image.load()
        images.append(image.convert("RGB"))
    return Page(text, reader.tables, images, reader.captions, reader.paragraphs)


def distinct_colours(image: Image.Image) -> int:
    """Number of distinct RGB colours (a blank or failed render has one or two)."""
    return len(image.getcolors(maxcolors=1 << 22) or [])


def table_with(page: Page, caption_part: str) -> Table:
    """The one table whose caption contains `caption_part`."""
    found = [t for t in page.tables if caption_part in t.caption]
    assert len(found) == 1, [t.caption for t in page.tables]
    return found[0]
