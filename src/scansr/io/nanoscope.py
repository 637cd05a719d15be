r"""Bruker / Veeco / Digital Instruments NanoScope files (``.spm``, ``.001``..``.999``, ``.pfc`` images).

Hand parser, written because the Python readers available get old and new files wrong in different ways: pySPM
prints to stdout, picks a default channel that old files do not have ("Height Sensor") and does not know that
files of version 9.2 and later store every channel as 32-bit integers whatever ``Bytes/pixel`` says; AFMReader
reads only one channel per call. The rules below follow the NanoScope header as Gwyddion 2.62 interprets it
(and were checked against its conversions of every NanoScope file in the project's corpus):

- The header is text (latin-1), its length given by the first ``\Data length`` field; sections start with
  ``\*``. Each ``\*Ciao image list`` section (also ``AFM``/``STM``/``NCAFM image list``) is one channel,
  with ``Data offset``, ``Data length``, ``Samps/line``, ``Number of lines``, ``Scan size`` and
  ``\@2:Z scale``.
- Raw samples are little-endian signed integers: 32-bit from version 0x09200000 on, else 16-bit.
  ``Bytes/pixel`` (the "quantisation" size q) fixes the scale: ``value = raw / 256**q * Zscale * sens`` where
  ``Zscale`` is the hard value of ``\@2:Z scale: V [Sens. X] (... V/LSB) Zscale V`` and ``sens`` the value of
  ``\@Sens. X`` in the scanner (or scan) list, e.g. ``nm/V``. The unit is the product of the two units (nm/V
  x V = m). A sensitivity without unit gives V, or deg for ``Sens. Phase`` - as Gwyddion. Exception: Gwyddion
  also calls "V" the PeakForce channels whose Z scale is in arbitrary units (``Arb``, ``log(Arb)``) and whose
  sensitivity has no unit; scansr gives them unit ``""`` (dimensionless) with the same values, since they are
  not volts.
- Row 0 of the stored image is the bottom line: the image is flipped so row 0 is the top, as Gwyddion shows
  it.
- Channel names are the bracketed names of ``\@2:Image Data: S [ZSensor] "Height Sensor"`` (the quoted name
  when the brackets are empty), as Gwyddion titles them. ``Line Direction`` gives the direction; a channel
  recorded in both directions becomes e.g. ``"Height"`` and ``"Height retrace"``.
- Scan size ``"2 2 ~m"`` (``~`` = micro) gives the pixel size; an image list whose data length matches the
  scan list's ``Samps/line`` x ``Lines`` rather than its own, and non-square ``Aspect ratio`` images, are
  handled as Gwyddion does.

``Scan.origin`` comes from the scan list's ``X Offset`` / ``Y Offset`` (the scan centre) when ``Rotate Ang.``
is 0: the top-left corner of the top-left pixel, ``(-(Y Offset) - height/2, X Offset - width/2)`` (Gwyddion's
convention for x; height = ny*dy, width = nx*dx). scansr's frame has y growing down the rows while the
NanoScope stage y grows up the displayed image, hence the sign (the same convention is verified on a real
Asylum zoom pair in `scansr.io.nsid`; for NanoScope no zoom pair was at hand to check it). ``Rotate Ang.`` is
stored in radians (files show 1.5708 and 1.09956); it goes to ``metadata["scan_angle"]`` in degrees.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scansr.io._common import unique_names
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import PREFIX_EXPONENTS

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_MAGICS = (b"\\*File list", b"?*File list", b"\\*EC File list", b"\\*Force file list")
_IMAGE_SECTIONS = ("ciao image list", "afm image list", "stm image list", "ncafm image list", "image list")
_SCAN_SECTIONS = ("ciao scan list", "afm list", "stm list", "nc afm list")
_SCANNER_SECTIONS = ("scanner list", "microscope list")
_VERSION_32BIT = 0x09200000
_MAX_HEADER = 16 * 1024 * 1024


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` (the first bytes of a file) starts a NanoScope header, whatever the suffix.

    Parameters
    ----------
    head : bytes
        First bytes of the file.
    suffix : str
        Lower-case suffix with the dot (unused: NanoScope files are named ``.spm``, ``.001``, ``.txt``...).

    Returns
    -------
    bool
    """
    return head.startswith(_MAGICS)


# --------------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class _Value:
    """One header value. New-style ``@key: V [soft] (hard_scale units/LSB) hard_value units``."""

    text: str
    soft_scale: str | None = None
    hard_scale: float | None = None
    hard_value: float | None = None
    hard_units: str = ""


_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _leading_float(text: str) -> tuple[float | None, str]:
    m = _FLOAT.match(text.strip())
    if not m:
        return None, text.strip()
    return float(m.group(0)), text.strip()[m.end() :].strip()


def _closing_paren(text: str) -> int:
    """Index of the parenthesis closing ``text[0] == "("`` (units such as ``log(Arb)/LSB`` nest), or -1."""
    level = 0
    for i, ch in enumerate(text):
        level += {"(": 1, ")": -1}.get(ch, 0)
        if level == 0:
            return i
    return -1


def _parse_value(key: str, text: str) -> _Value:
    text = text.strip()
    if not key.startswith("@"):
        number, rest = _leading_float(text)
        units = rest.split("(")[0].strip() if number is not None else ""
        return _Value(text, hard_value=number, hard_units=units)
    kind, _, rest = text.partition(" ")
    rest = rest.strip()
    soft = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return _Value(text)
        soft = rest[1:close].strip() or None
        rest = rest[close + 1 :].strip()
    hard_scale = None
    if rest.startswith("("):
        close = _closing_paren(rest)
        if close < 0:
            return _Value(text, soft_scale=soft)
        hard_scale, _ = _leading_float(rest[1:close])
        rest = rest[close + 1 :].strip()
    if kind == "S":
        return _Value(rest.strip('"'), soft_scale=soft, hard_scale=hard_scale)
    number, units = _leading_float(rest)
    return _Value(rest, soft_scale=soft, hard_scale=hard_scale, hard_value=number, hard_units=units)


@dataclass
class _Section:
    name: str
    values: dict[str, _Value]

    def get(self, key: str) -> _Value | None:
        return self.values.get(key.casefold())

    def number(self, key: str) -> float | None:
        v = self.get(key)
        return None if v is None else v.hard_value

    def text(self, key: str) -> str | None:
        v = self.get(key)
        return None if v is None else v.text


def _header_length(path: Path, head: bytes, file_size: int) -> int:
    m = re.search(rb"\\Data length: *(\d+)", head[:4096])
    if not m:
        raise ScanReadError(
            path, "not a valid NanoScope file: no 'Data length' field at the start of the header"
        )
    length = int(m.group(1))
    if length > file_size:
        raise ScanReadError(
            path,
            f"the file is truncated: its header is {length} bytes long but the file has {file_size} bytes",
        )
    if length > _MAX_HEADER or length < len(m.group(0)):
        raise ScanReadError(path, f"not a valid NanoScope file: implausible header length {length}")
    return length


def _parse_header(text: str) -> list[_Section]:
    sections: list[_Section] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if len(line) < 2 or line[0] not in "\\?":
            continue
        if line[1] == "*":
            name = line[2:].strip()
            if name.casefold() == "file list end":
                break
            sections.append(_Section(name, {}))
            continue
        if not sections:
            continue
        body = line[1:]
        start = 3 if re.match(r"@\d:", body) else 0
        colon = body.find(":", start)
        if colon < 0:
            continue
        key = body[:colon].strip()
        sections[-1].values[key.casefold()] = _parse_value(key, body[colon + 1 :])
    return sections


# --------------------------------------------------------------------------------------------------- units
_BASE_UNITS = {"m", "V", "A", "N", "Pa", "Hz", "s", "F", "W", "K", "Arb", "deg", "log(Arb)", "log(Pa)", "Ohm"}
_DEGREE_SIGNS = ("\u00ba", "\u00b0")  # NanoScope writes the masculine ordinal (latin-1 0xBA) for degrees


def _parse_unit(text: str) -> tuple[int, dict[str, int]] | None:
    """Parse ``"nm/V"``, ``"N/m*Arb"``, ``"log(Pa)/log(Arb)"`` into (power of ten, {base: exponent})."""
    text = text.strip()
    for sign in _DEGREE_SIGNS:
        text = text.replace(sign, "deg")
    if not text:
        return 0, {}
    power, units = 0, {}
    parts = text.split("/")
    for i, part in enumerate(parts):
        for token in part.split("*"):
            token = token.strip()
            if not token or token == "1":
                continue
            if token in _BASE_UNITS:
                p, base = 0, token
            elif token[0] in PREFIX_EXPONENTS and token[1:] in _BASE_UNITS and token[1:] != "deg":
                p, base = PREFIX_EXPONENTS[token[0]], token[1:]
            else:
                return None
            sign = 1 if i == 0 else -1
            power += sign * p
            units[base] = units.get(base, 0) + sign
    return power, {k: v for k, v in units.items() if v}


def _format_unit(units: dict[str, int]) -> str:
    num = [k if v == 1 else f"{k}^{v}" for k, v in units.items() if v > 0]
    den = [k if v == -1 else f"{k}^{-v}" for k, v in units.items() if v < 0]
    text = "*".join(num) if num else ("1" if den else "")
    return text + ("/" + "/".join(den) if den else "")


def _lateral_scale(unit: str) -> float | None:
    parsed = _parse_unit(unit)
    if parsed is None or parsed[1] != {"m": 1}:
        return None
    return 10.0 ** parsed[0]


def _value_scale(section: _Section, lookups: Iterable[_Section]) -> tuple[float, str, str]:
    """Return (factor per full-scale LSB fraction, SI unit, unit as written in the file) for one channel."""
    zscale = section.get("@4:Z scale") or section.get("@2:Z scale")
    if zscale is None:
        old = section.get("Z scale")
        if old is None or old.hard_value is None:
            raise ValueError("the channel has no 'Z scale' field")
        parsed = _parse_unit(old.hard_units)
        if parsed is None:
            return old.hard_value, "", old.hard_units
        return old.hard_value * 10.0 ** parsed[0], _format_unit(parsed[1]), old.hard_units
    if zscale.hard_value is None:
        raise ValueError("the channel's 'Z scale' has no value")
    if zscale.soft_scale is None:
        parsed = _parse_unit(zscale.hard_units)
        if parsed is None:
            return zscale.hard_value, "", zscale.hard_units
        return zscale.hard_value * 10.0 ** parsed[0], _format_unit(parsed[1]), zscale.hard_units
    sens = None
    for lookup in lookups:
        sens = lookup.get("@" + zscale.soft_scale)
        if sens is not None:
            break
    if sens is None or sens.hard_value is None:
        logger.warning(
            "NanoScope sensitivity '%s' not found; values left in the Z scale's units", zscale.soft_scale
        )
        parsed = _parse_unit(zscale.hard_units) or (0, {})
        return zscale.hard_value * 10.0 ** parsed[0], _format_unit(parsed[1]), zscale.hard_units
    written = f"{sens.hard_units} x {zscale.hard_units}".strip(" x")
    if not sens.hard_units:
        # Sensitivity without unit: Gwyddion calls it V (deg for phase); arbitrary units stay unitless.
        hard = _parse_unit(zscale.hard_units) or (0, {})
        if zscale.soft_scale == "Sens. Phase" or hard[1] == {"deg": 1}:
            unit = "deg"
        elif hard[1] in ({}, {"V": 1}):
            unit = "V"
        else:
            unit = ""
        return zscale.hard_value * sens.hard_value, unit, written
    sens_unit = _parse_unit(sens.hard_units)
    hard_unit = _parse_unit(zscale.hard_units) if zscale.hard_units else (0, {"V": 1})
    if sens_unit is None or hard_unit is None:
        logger.warning("NanoScope units '%s' not understood; channel left without unit", written)
        return zscale.hard_value * sens.hard_value, "", written
    units = dict(sens_unit[1])
    for k, v in hard_unit[1].items():
        units[k] = units.get(k, 0) + v
    units = {k: v for k, v in units.items() if v}
    factor = zscale.hard_value * sens.hard_value * 10.0 ** (sens_unit[0] + hard_unit[0])
    return factor, _format_unit(units), written


# --------------------------------------------------------------------------------------------------- reading
def _find(sections: list[_Section], names: tuple[str, ...]) -> _Section | None:
    for s in sections:
        if s.name.casefold() in names:
            return s
    return None


def _scan_size(section: _Section) -> tuple[float, float, str] | None:
    text = section.text("Scan size") or section.text("Scan Size")
    if not text:
        return None
    numbers = _FLOAT.findall(text)
    unit = text.split()[-1] if text.split() else ""
    if not numbers or _FLOAT.fullmatch(unit):
        return None
    x = float(numbers[0])
    y = float(numbers[1]) if len(numbers) > 1 and len(text.split()) > 2 else x
    return x, y, unit


def _nonsquare(section: _Section | None) -> bool:
    if section is None:
        return False
    text = section.text("Aspect ratio")
    if not text or text.strip() == "1:1":
        return False
    number, _ = _leading_float(text)
    return number is not None and number > 0 and number != 1.0


def _channel_name(section: _Section, index: int) -> str:
    for key in ("@2:Image Data", "@3:Image Data", "@4:Image Data"):
        v = section.get(key)
        if v is not None:
            return v.soft_scale or v.text or f"Channel {index}"
    v = section.get("Image data")
    return v.text if v is not None and v.text else f"Channel {index}"


def _direction(section: _Section) -> str | None:
    text = (section.text("Line Direction") or "").casefold()
    return {"trace": "trace", "retrace": "retrace"}.get(text)


def _unique_names(items: list[tuple[str, str | None, bool]]) -> list[str]:
    """Name channels from (base name, direction, interleave) triples: unique, keeping the file's names."""
    bases = [b + (" interleave" if inter else "") for b, _, inter in items]
    names = []
    for (_, direction, _), full in zip(items, bases, strict=True):
        both = {d for (_, d, _), f2 in zip(items, bases, strict=True) if f2 == full}
        names.append(full + " retrace" if direction == "retrace" and "trace" in both else full)
    return unique_names(names)


def _metadata(sections: list[_Section], version: int) -> dict:
    meta: dict = {"nanoscope_version": f"0x{version:08x}"}
    wanted = {
        "file list": ("Date", "Start context"),
        "equipment list": ("Description", "Controller", "Microscope"),
        "scanner list": ("Scanner type", "Serial Number"),
        "ciao scan list": (
            "Operating mode",
            "Scan Rate",
            "Samps/line",
            "Lines",
            "Rotate Ang.",
            "X Offset",
            "Y Offset",
            "Capture direction",
            "Tip Serial Number",
            "Peak Force Amplitude",
        ),
    }
    for s in sections:
        for key in wanted.get(s.name.casefold(), ()):
            v = s.get(key)
            if v is None or not v.text:
                continue
            meta[key] = v.hard_value if (v.hard_value is not None and not v.hard_units) else v.text
    return meta


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read every image channel of a NanoScope file.

    Parameters
    ----------
    path : Path
        The file (``.spm``, ``.001``, ``.pfc``, or any name: the header is recognised by content).
    frame : int, optional
        Ignored (a NanoScope image file holds one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        Channels in SI units (heights in m, phase in deg, deflection/amplitude in m or V as the file's
        sensitivities allow), pixel size from the scan size, origin from the scan offset.

    Raises
    ------
    ScanReadError
        Not a NanoScope image file, a text export, a force-curve file without images, or a truncated/corrupt
        file.
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if head.startswith(b"?*File list"):
            raise ScanReadError(
                path,
                "NanoScope text (ASCII) exports are not supported; export the file as "
                "binary from NanoScope, or open it in Gwyddion and save it as .gwy",
            )
        if not sniff(head, path.suffix.lower()):
            raise ScanReadError(path, "not a NanoScope file: it does not start with '\\*File list'")
        length = _header_length(path, head, file_size)
        fh.seek(0)
        header = fh.read(length).decode("latin-1")
    sections = _parse_header(header)
    file_list = _find(sections, ("file list", "ec file list", "force file list"))
    version_text = (file_list.text("Version") if file_list else None) or "0"
    try:
        version = int(version_text, 16)
    except ValueError:
        version = 0
    scanner = _find(sections, _SCANNER_SECTIONS)
    scan_list = _find(sections, _SCAN_SECTIONS)
    equipment = _find(sections, ("equipment list",))
    lookups = [s for s in (scanner, scan_list) if s is not None]
    gxres = int(scan_list.number("Samps/line") or 0) if scan_list else 0
    gyres = int(scan_list.number("Lines") or 0) if scan_list else 0
    global_nonsquare = _nonsquare(scan_list)
    storage_bpp = 4 if version >= _VERSION_32BIT else 2

    images = [s for s in sections if s.name.casefold() in _IMAGE_SECTIONS]
    if not images:
        raise ScanReadError(
            path, "the file holds no image channel (force curves and spectra are not supported)"
        )

    arrays, items, units, pixel_sizes, written_units = [], [], [], [], {}
    for index, sec in enumerate(images):
        name = _channel_name(sec, index)
        xres = int(sec.number("Samps/line") or 0)
        yres = int(sec.number("Number of lines") or 0)
        offset = sec.number("Data offset")
        size = sec.number("Data length")
        if xres < 1 or yres < 1 or offset is None or size is None:
            raise ScanReadError(
                path, f"channel {name!r}: the header lacks its size, 'Data offset' or 'Data length'"
            )
        offset, size = int(offset), int(size)
        qbpp = int(sec.number("Bytes/pixel") or 2)
        if qbpp not in (1, 2, 4):
            raise ScanReadError(path, f"channel {name!r}: unsupported Bytes/pixel {qbpp}")
        bpp = storage_bpp
        if size != bpp * xres * yres and size == qbpp * xres * yres:
            bpp = qbpp
        if offset < 0 or size < 0 or offset + size > file_size:
            raise ScanReadError(
                path,
                f"the file is truncated: channel {name!r} needs bytes {offset}..{offset + size}"
                f" but the file has {file_size} bytes",
            )
        sizes = _scan_size(sec) or (_scan_size(scan_list) if scan_list else None)
        xreal = yreal = None
        if sizes is not None:
            q = _lateral_scale(sizes[2])
            if q is not None:
                xreal, yreal = sizes[0] * q, sizes[1] * q
        if size != bpp * xres * yres and gxres and gyres and size == bpp * gxres * gyres:
            # Some files give the true size only in the scan list (seen in version 0x05300001).
            if xreal is not None:
                xreal *= gxres / xres
                yreal *= gyres / yres
            xres, yres = gxres, gyres
        elif size < bpp * xres * yres:
            raise ScanReadError(
                path, f"channel {name!r}: {size} bytes of data cannot hold {xres}x{yres} pixels"
            )
        elif _nonsquare(sec) and yreal is not None:
            # "Scan size" gives the fast-scan size twice; the slow size follows from the line count.
            yreal = yreal * yres / (xres if global_nonsquare else (gyres or yres))
        try:
            factor, unit, written = _value_scale(sec, lookups)
        except ValueError as exc:
            raise ScanReadError(path, f"channel {name!r}: {exc}") from None
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(bpp * xres * yres)
        if len(raw) != bpp * xres * yres:
            raise ScanReadError(path, f"the file is truncated in channel {name!r}")
        dtype = {1: "i1", 2: "<i2", 4: "<i4"}[bpp]
        data = np.frombuffer(raw, dtype=dtype).astype(np.float64).reshape(yres, xres)
        data *= factor / 256.0**qbpp
        arrays.append(np.flipud(data))
        interleave = (sec.text("Scan Line") or "").casefold() == "interleave"
        items.append((name, _direction(sec), interleave))
        units.append(unit)
        written_units[name] = written
        pixel_sizes.append(None if xreal is None else (abs(yreal) / yres, abs(xreal) / xres))

    shape = arrays[0].shape
    keep = [i for i, a in enumerate(arrays) if a.shape == shape]
    if len(keep) < len(arrays):
        logger.warning(
            "%s: skipping %d channel(s) whose size differs from the first channel's %s",
            path,
            len(arrays) - len(keep),
            shape,
        )
    names = _unique_names([items[i] for i in keep])
    channels = tuple(Channel(names[j], arrays[i], units[i], items[i][1]) for j, i in enumerate(keep))
    pixel_size = pixel_sizes[keep[0]]
    if pixel_size is not None and not all(p > 0 and math.isfinite(p) for p in pixel_size):
        pixel_size = None

    meta = _metadata(sections, version)
    for name, written in written_units.items():
        if written:
            meta[f"unit in file: {name}"] = written
    origin = None
    angle = scan_list.number("Rotate Ang.") if scan_list else None
    if angle is not None:
        meta["scan_angle"] = math.degrees(angle)
    x_off = _offset(scan_list, "X Offset") if scan_list else None
    y_off = _offset(scan_list, "Y Offset") if scan_list else None
    if x_off is not None and y_off is not None:
        meta["scan_center_x"], meta["scan_center_y"] = x_off, y_off
        if pixel_size is not None and not angle:
            height, width = shape[0] * pixel_size[0], shape[1] * pixel_size[1]
            origin = (-y_off - height / 2, x_off - width / 2)
    instrument = "Bruker/Veeco NanoScope"
    if equipment is not None and equipment.text("Description"):
        instrument = f"Bruker/Veeco NanoScope: {equipment.text('Description')}"
    return Scan(
        channels,
        pixel_size,
        origin=origin,
        instrument=instrument,
        metadata=meta,
        source=path,
        format="nanoscope",
    )


def _offset(section: _Section, key: str) -> float | None:
    v = section.get(key)
    if v is None or v.hard_value is None:
        return None
    q = _lateral_scale(v.hard_units) if v.hard_units else None
    return None if q is None else v.hard_value * q
