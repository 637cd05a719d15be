"""Plain-text height matrices: IGOR text exports, Gwyddion "ASCII data matrix" exports, CSV.

One line per image row, values separated by whitespace, tabs, commas or semicolons (a decimal comma is
recognised when the separator is a tab, space or semicolon); a delimiter at the end of a line is ignored, an
empty field inside a line is a missing value (NaN), as are ``NaN`` tokens. Row 0 of the image is the first
line of the file, as Gwyddion's text import shows it.

Header
    Gwyddion writes (with "Add informational comment header")::

        # Channel: Height
        # Width: 1.000 µm
        # Height: 1.000 µm
        # Value units: m

    The lateral size gives the pixel size; the value unit the scale of the values (SI prefixes are understood,
    so a hand-written ``# Value units: nm`` works). Other ``# Key: value`` lines go to ``Scan.metadata``.
    Without a header the pixel size is ``None`` (pass ``scan_size`` to `scansr.io.read`) and the values are
    taken as metres unless the ``value_unit`` option says otherwise (``"nm"``, ``"pm"``, ``"Å"``, ``"um"``).
    A first line of non-numeric column names (IGOR "Save Wave" with wave names) is skipped; a single name
    becomes the channel name. A file whose header has ``# Lateral units:``, or a ``.xyz`` file, with three
    columns is read as a Gwyddion XYZ export (x, y, z per line) when the points lie on a regular grid.

Igor writes one line per row of a 2-D wave, and Asylum images keep x along the rows, so an IGOR text export
of an image is usually the transpose of what Igor displays. Nothing in the file says so: scansr keeps the
file order (transpose with ``scan.map_channels(numpy.transpose)`` where needed).

Writing produces a Gwyddion-style matrix of one channel (the scan's default channel when it has several; a
header comment names the others, so nothing is dropped silently), values in SI units, nine significant digits.

Why a hand-written parser: numpy's ``loadtxt`` does the number parsing (C speed, fine for 4096² matrices);
the header, delimiter and decimal-comma detection and error messages that name the bad line are format
knowledge that no maintained library offers for these loosely defined files.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import format_length, length_factor, parse_unit

__all__ = ["read", "sniff", "write"]

logger = logging.getLogger(__name__)


def _header_unit(unit: str, what: str, path: Path) -> tuple[float, str]:
    try:
        si, factor = parse_unit(unit)
        return factor, si
    except ValueError:
        logger.warning("%s: %s %r is not a unit scansr converts; values kept as they are", path, what, unit)
        return 1.0, unit


# ---------------------------------------------------------------------------------------------------- parsing
_NUMBER = re.compile(
    r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eEdD][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE
)
_COMMENT_CHARS = ("#", "%")
_MAX_HEADER_LINES = 10_000


_ENCODING_PROBE = 1 << 16


def _encoding(head: bytes) -> str:
    """UTF-8 (Gwyddion writes it) unless the head is not valid UTF-8, then latin-1 (µ as one byte)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the probe
            return "latin-1"
    return "utf-8-sig"


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token.strip()))


def _dialect(line: str) -> tuple[str | None, bool]:
    """Delimiter (None = whitespace) and whether commas are decimal commas, from one data line."""
    s = line.strip()
    if ";" in s:
        return ";", "," in s
    if "\t" in s:
        fields = [f for f in s.split("\t") if f.strip()]
        if "," in s and "." not in s and all(f.count(",") <= 1 for f in fields):
            return "\t", True
        if "," in s:
            return ",", False
        return "\t", False
    if "," in s:
        words = s.split()
        if len(words) >= 2 and "." not in s and all(w.count(",") == 1 and _is_number(w) for w in words):
            return None, True
        return ",", False
    return None, False


def _split(line: str, delimiter: str | None) -> list[str]:
    s = line.strip()
    if delimiter is None:
        return s.split()
    s = s.rstrip(delimiter).strip()
    return [f.strip() for f in s.split(delimiter)]


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith(_COMMENT_CHARS)


class _Header:
    def __init__(self) -> None:
        self.pairs: dict[str, str] = {}
        self.comments: list[str] = []
        self.column_names: list[str] | None = None
        self.first_data_line = 0  # 0-based index of the first data line
        self.first_data: str | None = None


def _read_header(fh, path: Path) -> _Header:
    header = _Header()
    for index, raw in enumerate(fh):
        if index > _MAX_HEADER_LINES:
            raise ScanReadError(
                path, f"no numeric data in the first {_MAX_HEADER_LINES} lines: not a text matrix"
            )
        line = raw.strip()
        if not line:
            continue
        if _is_comment(line):
            body = line.lstrip("#% \t")
            key, sep, value = body.partition(":")
            if sep and key.strip() and len(key) < 80:
                header.pairs[key.strip()] = value.strip()
            elif body:
                header.comments.append(body)
            continue
        delimiter, _ = _dialect(line)
        tokens = _split(line, delimiter)
        if header.column_names is None and tokens and not any(_is_number(t) for t in tokens if t):
            header.column_names = [t.strip("\"'") for t in tokens]
            continue
        header.first_data_line = index
        header.first_data = raw
        return header
    raise ScanReadError(path, "the file holds no numeric data: not a text matrix")


def _channel_from_columns(names: list[str] | None) -> str | None:
    if not names:
        return None
    if len(names) == 1:
        return names[0] or None
    prefix = names[0]
    for n in names[1:]:
        while prefix and not n.startswith(prefix):
            prefix = prefix[:-1]
    prefix = re.sub(r"(_C\d*|\d+)$", "", prefix).strip(" _")
    return prefix or None


def _data_lines(path: Path, encoding: str, start: int) -> Iterator[tuple[int, str]]:
    """(0-based line index, stripped line) of the non-empty, non-comment lines from line `start` on."""
    with open(path, encoding=encoding, errors="replace", newline=None) as fh:
        for index, raw in enumerate(fh):
            if index < start:
                continue
            line = raw.strip()
            if line and not _is_comment(line):
                yield index, line


def _lines(
    path: Path, encoding: str, start: int, delimiter: str | None, decimal_comma: bool
) -> Iterator[str]:
    for _, line in _data_lines(path, encoding, start):
        if delimiter is not None:
            line = line.rstrip(delimiter)
        if decimal_comma:
            line = line.replace(",", ".")
        yield line


def _slow_parse(
    path: Path, encoding: str, start: int, delimiter: str | None, decimal_comma: bool
) -> np.ndarray:
    """Line-by-line parse: fills empty fields with NaN, and names the first bad line of a broken file."""
    rows: list[list[float]] = []
    expected = None
    expected_line = 0
    for index, line in _data_lines(path, encoding, start):
        tokens = _split(line, delimiter)
        values = []
        for column, token in enumerate(tokens, start=1):
            t = token.strip().strip("\"'")
            if decimal_comma:
                t = t.replace(",", ".")
            if not t and delimiter is not None:
                values.append(math.nan)
                continue
            try:
                values.append(float(t.replace("D", "e").replace("d", "e")))
            except ValueError:
                raise ScanReadError(
                    path, f"not a numeric matrix: line {index + 1}, column {column} is {token[:40]!r}"
                ) from None
        if expected is None:
            expected, expected_line = len(values), index + 1
        elif len(values) != expected:
            raise ScanReadError(
                path,
                f"not a rectangular matrix: line {index + 1} has {len(values)} values, expected "
                f"{expected} (as on line {expected_line}); the file may be truncated or hold other text",
            )
        rows.append(values)
    if not rows:
        raise ScanReadError(path, "the file holds no numeric data: not a text matrix")
    return np.array(rows, dtype=np.float64)


def _parse_matrix(path: Path, encoding: str, header: _Header) -> tuple[np.ndarray, str | None, bool]:
    delimiter, decimal_comma = _dialect(header.first_data or "")
    start = header.first_data_line
    try:
        data = np.loadtxt(
            _lines(path, encoding, start, delimiter, decimal_comma),
            delimiter=delimiter,
            dtype=np.float64,
            ndmin=2,
            comments=None,
        )
    except ValueError:
        data = _slow_parse(path, encoding, start, delimiter, decimal_comma)
    return data, delimiter, decimal_comma


def _length(text: str, path: Path, what: str) -> float | None:
    match = re.match(r"^\s*([-+]?[\d.,]+(?:[eE][-+]?\d+)?)\s*(.*)$", text)
    if not match:
        logger.warning("%s: cannot read %s %r from the header", path, what, text)
        return None
    value = float(match.group(1).replace(",", "."))
    unit = match.group(2).strip()
    if unit in ("", "px", "pixels"):
        return None
    factor = length_factor(unit)
    if factor is None:
        logger.warning("%s: %s unit %r is not a length; no pixel size", path, what, unit)
        return None
    if not value > 0:
        logger.warning("%s: %s %r is not a positive length; no pixel size", path, what, text)
        return None
    return value * factor


def _direction(name: str) -> str | None:
    key = name.casefold().replace(" ", "")
    if key.endswith("retrace") or key.endswith("backward") or key.endswith("bwd"):
        return "retrace"
    if key.endswith("trace") or key.endswith("forward") or key.endswith("fwd"):
        return "trace"
    return None


def _value_unit(header: _Header, value_unit: str | None, path: Path) -> tuple[float, str, str]:
    """Return (factor, si_unit, where the unit came from)."""
    file_unit = header.pairs.get("Value units")
    if value_unit is not None:
        si, factor = parse_unit(value_unit)
        if file_unit is not None and _header_unit(file_unit, "value unit", path) != (factor, si):
            logger.warning(
                "%s: value_unit=%r overrides the header's value unit %r", path, value_unit, file_unit
            )
        return factor, si, "value_unit option"
    if file_unit is not None:
        factor, si = _header_unit(file_unit, "value unit", path)
        return factor, si, "file header"
    logger.info("%s: no value unit in the file; values taken as metres (pass value_unit=... otherwise)", path)
    return 1.0, "m", "assumed (no header): metres"


def _grid_from_xyz(
    xyz: np.ndarray, path: Path
) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    ux, uy = np.unique(x), np.unique(y)
    if len(ux) * len(uy) != len(z) or len(ux) < 2 or len(uy) < 2:
        raise ScanReadError(
            path,
            f"the {len(z)} XYZ points do not lie on a regular grid ({len(ux)} distinct x, {len(uy)} "
            "distinct y); scansr reads gridded data only: rasterise scattered XYZ data in Gwyddion first",
        )
    dx, dy = np.diff(ux), np.diff(uy)
    if not (np.allclose(dx, dx.mean(), rtol=1e-3) and np.allclose(dy, dy.mean(), rtol=1e-3)):
        raise ScanReadError(path, "the XYZ grid is not evenly spaced; scansr needs a regular grid")
    col, row = np.searchsorted(ux, x), np.searchsorted(uy, y)
    grid = np.full((len(uy), len(ux)), np.nan)
    grid[row, col] = z
    pitch = (float(dy.mean()), float(dx.mean()))
    origin = (float(uy[0] - pitch[0] / 2), float(ux[0] - pitch[1] / 2))
    return grid, pitch, origin


def read(path: Path, *, frame: int | None = None, value_unit: str | None = None) -> Scan:
    """Read a plain-text matrix (IGOR / Gwyddion ASCII export, CSV) into a one-channel `Scan`.

    Parameters
    ----------
    path : Path
        The text file.
    frame : int, optional
        Only ``None`` or 0 (a text matrix holds one image).
    value_unit : str, optional
        Unit of the numbers in the file (``"m"``, ``"nm"``, ``"um"``/``"µm"``, ``"pm"``, ``"Å"``, ``"V"``,
        ...); overrides the header's ``Value units``. Default: the header's unit, else metres.

    Returns
    -------
    Scan
        One channel; pixel size from the Gwyddion header, else ``None``.

    Raises
    ------
    ScanReadError
        The file is not a numeric matrix (the message names the first bad line and what is wrong with it).
    ValueError
        `value_unit` is not a known unit, or `frame` is not 0.
    """
    path = Path(path)
    if frame not in (None, 0):
        raise ValueError(f"frame must be 0 for a text matrix (one image), got {frame!r}")
    with open(path, "rb") as fh:
        head = fh.read(_ENCODING_PROBE)
    if b"\x00" in head:
        raise ScanReadError(path, "the file holds binary data (NUL bytes): not a text matrix")
    encoding = _encoding(head)
    with open(path, encoding=encoding, errors="replace", newline=None) as fh:
        header = _read_header(fh, path)
    data, delimiter, decimal_comma = _parse_matrix(path, encoding, header)
    factor, unit, unit_source = _value_unit(header, value_unit, path)

    pixel_size = None
    origin = None
    is_xyz = "Lateral units" in header.pairs or (path.suffix.lower() == ".xyz")
    if is_xyz and data.shape[1] == 3:
        lateral, _ = _header_unit(header.pairs.get("Lateral units", "m"), "lateral unit", path)
        xyz = data * np.array([lateral, lateral, 1.0])
        data, pixel_size, origin = _grid_from_xyz(xyz, path)
    elif is_xyz and "Lateral units" in header.pairs:
        raise ScanReadError(path, f"an XYZ file needs 3 columns (x, y, z), it has {data.shape[1]}")
    else:
        width = _length(header.pairs["Width"], path, "width") if "Width" in header.pairs else None
        height = _length(header.pairs["Height"], path, "height") if "Height" in header.pairs else None
        if width is not None and height is not None:
            pixel_size = (height / data.shape[0], width / data.shape[1])
        elif width is not None:
            logger.info("%s: header gives the width only; pixels taken as square", path)
            pixel_size = (width / data.shape[1], width / data.shape[1])
    if factor != 1.0:
        data = data * factor
    if unit == "m" and unit_source.startswith("assumed"):
        finite = data[np.isfinite(data)]
        if finite.size and float(np.ptp(finite)) > 1e-4:
            logger.warning(
                "%s: values taken as metres span %.3g m, more than any AFM z range; if they are in nm or µm "
                "pass value_unit='nm' (or 'um')",
                path,
                float(np.ptp(finite)),
            )

    name = header.pairs.get("Channel") or _channel_from_columns(header.column_names)
    if not name or name == "Unknown channel":
        name = "Height" if unit == "m" else "Data"
    metadata: dict[str, object] = {
        k: v for k, v in header.pairs.items() if k not in ("Channel", "Width", "Height", "Value units")
    }
    metadata.update(
        {
            "value_unit_source": unit_source,
            "delimiter": {None: "whitespace", "\t": "tab"}.get(delimiter, delimiter),
            "decimal_comma": decimal_comma,
        }
    )
    if header.comments:
        metadata["comments"] = " | ".join(header.comments)[:2000]
    if header.column_names:
        metadata["column_names"] = " ".join(header.column_names)[:2000]
    gwyddion = "Channel" in header.pairs and "Value units" in header.pairs
    instrument = "Gwyddion ASCII export" if gwyddion else None
    channel = Channel(name, data, unit=unit, direction=_direction(name))
    return Scan(
        (channel,),
        pixel_size=pixel_size,
        origin=origin,
        instrument=instrument,
        metadata=metadata,
        source=path,
        format="text",
    )


# ------------------------------------------------------------------------------------------------------ sniff
def sniff(head: bytes, suffix: str) -> bool:
    """Return True when `head` is clearly a text matrix: a Gwyddion header or rows of equally many numbers."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the head, or latin-1 text
        text = head.decode("latin-1")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("# Channel:", "# XYZ data:")):
        return True
    lines = text.splitlines()
    if len(head) >= 4096 and lines:
        # the head ends inside a line: drop that line, or its last (maybe cut) number when it is the only one
        if len(lines) > 1:
            lines = lines[:-1]
        else:
            delimiter, _ = _dialect(lines[0])
            lines = [(delimiter or " ").join(_split(lines[0], delimiter)[:-1])]
    counts = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith(_COMMENT_CHARS):
            continue
        delimiter, _ = _dialect(s)
        tokens = [t for t in _split(s, delimiter) if t]
        if not tokens or not all(_is_number(t) for t in tokens):
            return False
        counts.append(len(tokens))
        if len(counts) >= 8:
            break
    if not counts:
        return False
    if len(counts) == 1:
        # one (partial) line in the head: a wide matrix; need many numbers on it
        return counts[0] >= 16
    return len(set(counts)) == 1 and counts[0] >= 2


# ------------------------------------------------------------------------------------------------------ write
def write(scan: Scan, path: Path) -> None:
    """Write the scan's default channel as a Gwyddion-style text matrix with an informational header.

    The header holds ``# Channel:``, ``# Width:``, ``# Height:`` (when the pixel size is known) and
    ``# Value units:``; values are in SI units, ``%.8e`` (nine significant digits), tab-separated, one image
    row per line. A scan with several channels writes its default channel and names the others in a header
    comment (write them with ``scan.select(name)``).

    Parameters
    ----------
    scan : Scan
        What to write.
    path : Path
        Output file (the caller makes the write atomic).
    """
    name = scan.default_channel
    channel = scan.channel(name)
    lines = [f"# Channel: {channel.name}"]
    if scan.pixel_size is not None:
        height, width = scan.size  # type: ignore[misc]
        lines += [
            f"# Width: {format_length(width, digits=15)}",
            f"# Height: {format_length(height, digits=15)}",
        ]
    lines.append(f"# Value units: {channel.unit}")
    if len(scan.channels) > 1:
        others = ", ".join(repr(n) for n in scan.names if n != name)
        lines.append(f"# Note: this file holds channel {name!r} only; the scan also had {others}")
        logger.info("%s: text matrices hold one channel; wrote %r, not %s", path, name, others)
    if scan.source is not None:
        lines.append(f"# Source: {scan.source.name}")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
        np.savetxt(fh, channel.data, fmt="%.8e", delimiter="\t")
