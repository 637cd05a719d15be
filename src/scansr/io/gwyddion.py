"""Gwyddion files: native ``.gwy`` (GWYP, and the old Gwyddion 1.x GWYO) and Gwyddion Simple Field ``.gsf``.

Read: every image data field ``/N/data`` of a ``.gwy`` container becomes a channel named by ``/N/data/title``;
the field's ``si_unit_z`` is the channel unit, ``xreal/xres`` and ``yreal/yres`` the pixel size (when
``si_unit_xy`` is metres), ``xoff``/``yoff`` the origin, and the string metadata of ``/N/meta`` goes into
`Scan.metadata`. Masks, presentations, graphs, spectra and volume data are skipped. A ``.gsf`` holds one field
with a text header.

Write: ``.gwy`` with every channel of the scan as its own data field (title, units, pixel size, offsets and
the scan's metadata as ``/N/meta``), and ``.gsf`` for a scan of one channel.

The container (de)serialiser is written here rather than taken from ``gwyfile`` because ``gwyfile`` 0.3 (a)
decodes every string as UTF-8 and fails with UnicodeDecodeError on the Latin-1 metadata (``µ``, ``°``) that
many converters, Gwyddion's own Anfatec import among them, store; (b) cannot read Gwyddion 1.x (GWYO) files,
whose container stores each item as a GType number, key and value instead of a typed component; (c) checks no
size against the file, so a truncated file fails with an AssertionError or garbage arrays; and (d) guesses the
type of a one-letter string as a char when writing, which Gwyddion then refuses as a title. The format is
small and documented (Gwyddion user guide, "Gwyddion native file format"; ``libgwyddion/gwyserializable.c``,
``gwycontainer.c``); ``gwyfile`` and Gwyddion itself check this module in the tests.

Unit strings follow Gwyddion: a prefix in a stored unit (``"µm"`` in GWYO files) is dropped without scaling
the values, which is what Gwyddion 2 does when it opens such a file.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scansr.io._common import unique_name
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import split_prefix

__all__ = ["read", "sniff", "write"]

logger = logging.getLogger(__name__)

GWY_MAGIC = b"GWYP"
GWY_OLD_MAGIC = b"GWYO"
GSF_MAGIC = b"Gwyddion Simple Field 1.0\n"

# Gwyddion 1.x containers tag each item with its GLib fundamental GType number.
_GTYPE_CHAR, _GTYPE_UCHAR, _GTYPE_BOOLEAN, _GTYPE_INT, _GTYPE_INT64 = 12, 16, 20, 24, 40
_GTYPE_DOUBLE, _GTYPE_STRING, _GTYPE_OBJECT = 60, 64, 80
_ARRAY_DTYPES = {"C": np.dtype("u1"), "B": np.dtype("u1"), "I": np.dtype("<i4"), "Q": np.dtype("<i8"),
                 "D": np.dtype("<f8")}  # fmt: skip
_DATA_KEY = re.compile(r"^/(\d+)/data$")
_RETRACE = ("retrace", "bwd", "backward")
_TRACE = ("trace", "fwd", "forward")


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a Gwyddion file: ``GWYP``/``GWYO`` magic or the GSF header line."""
    return head[:4] in (GWY_MAGIC, GWY_OLD_MAGIC) or head.startswith(GSF_MAGIC.rstrip(b"\n"))


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read a ``.gwy`` or ``.gsf`` file.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Unused (single image); `scansr.io.read` rejects frames other than 0.

    Returns
    -------
    Scan
        One channel per data field, values in SI units; pixel size in metres when the lateral unit is metres.

    Raises
    ------
    ScanReadError
        Not a Gwyddion file, truncated or corrupt, or a container without image data.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:4] in (GWY_MAGIC, GWY_OLD_MAGIC):
        return _read_gwy(path, raw)
    if raw.startswith(GSF_MAGIC.rstrip(b"\n")):
        return _read_gsf(path, raw)
    raise ScanReadError(
        path, "not a Gwyddion file: it starts with neither GWYP/GWYO nor 'Gwyddion Simple Field'"
    )


def write(scan: Scan, path: Path) -> None:
    """Write `scan` as ``.gwy`` (all channels) or, when `path` ends in ``.gsf``, as Gwyddion Simple Field.

    In ``.gwy``, each channel is a data field ``/N/data`` with its title, units, size and offsets; the
    scan's metadata (and instrument) become the string metadata ``/N/meta``. Non-finite values are written as
    the mean of the finite ones and marked in a mask ``/N/mask``, as Gwyddion's own importers do (a NaN in a
    data field would break Gwyddion's statistics). In ``.gsf`` (float32) they are kept; Gwyddion masks them.

    Parameters
    ----------
    scan : Scan
        What to write. Without a pixel size the lateral unit is left empty and each pixel is 1 wide.
    path : Path
        Output file; ``.gsf`` chooses the simple field, anything else a ``.gwy`` container.

    Raises
    ------
    ValueError
        ``.gsf`` asked for a scan of several channels (GSF holds one; select one first or write ``.gwy``).
    """
    path = Path(path)
    if path.suffix.lower() == ".gsf":
        path.write_bytes(_gsf_bytes(scan))
    else:
        path.write_bytes(_gwy_bytes(scan, path))


# ======================================================================================= container parsing
@dataclass
class _GwyObject:
    """A deserialised Gwyddion object: its type name and its components (or container items) by name."""

    name: str
    items: dict[str, Any] = field(default_factory=dict)


class _Cursor:
    """Bounds-checked reading of a serialised Gwyddion object tree."""

    def __init__(self, path: Path, buf: bytes, *, old: bool):
        self.path = path
        self.buf = buf
        self.view = memoryview(buf)
        self.old = old

    def fail(self, pos: int, what: str) -> ScanReadError:
        return ScanReadError(self.path, f"corrupt or truncated Gwyddion file: {what} at byte {pos}")

    def cstring(self, pos: int, end: int) -> tuple[str, int]:
        nul = self.buf.find(b"\0", pos, end)
        if nul < 0:
            raise self.fail(pos, "unterminated string")
        raw = self.buf[pos:nul]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # Latin-1 from converters (µ, °); every byte decodes
            text = raw.decode("latin-1")
        return text, nul + 1

    def unpack(self, fmt: str, pos: int, end: int) -> tuple[Any, int]:
        size = struct.calcsize(fmt)
        if pos + size > end:
            raise self.fail(pos, f"value cut off ({size} bytes needed)")
        return struct.unpack_from(fmt, self.buf, pos)[0], pos + size

    def count(self, pos: int, end: int, itemsize: int) -> tuple[int, int]:
        n, pos = self.unpack("<I", pos, end)
        if n * itemsize > end - pos:
            raise self.fail(pos, f"array of {n} items longer than the data left ({end - pos} bytes)")
        return n, pos

    def obj(self, pos: int, end: int, depth: int = 0) -> tuple[_GwyObject, int]:
        if depth > 32:
            raise self.fail(pos, "objects nested too deep")
        name, pos = self.cstring(pos, end)
        size, pos = self.unpack("<I", pos, end)
        stop = pos + size
        if stop > end:
            raise self.fail(pos, f"object {name!r} of {size} bytes runs past the end of its parent")
        out = _GwyObject(name)
        while pos < stop:
            if self.old and name == "GwyContainer":
                key, value, pos = self.old_item(pos, stop, depth)
            else:
                key, value, pos = self.component(pos, stop, depth)
            out.items[key] = value
        return out, stop

    def component(self, pos: int, end: int, depth: int) -> tuple[str, Any, int]:
        key, pos = self.cstring(pos, end)
        if pos >= end:
            raise self.fail(pos, f"component {key!r} has no type")
        code = chr(self.buf[pos])
        pos += 1
        if code in "bc":
            if pos >= end:
                raise self.fail(pos, f"component {key!r} cut off")
            value = self.buf[pos]
            return key, (bool(value) if code == "b" else value), pos + 1
        if code in "iqd":
            value, pos = self.unpack({"i": "<i", "q": "<q", "d": "<d"}[code], pos, end)
            return key, value, pos
        if code == "s":
            value, pos = self.cstring(pos, end)
            return key, value, pos
        if code == "o":
            value, pos = self.obj(pos, end, depth + 1)
            return key, value, pos
        if code in _ARRAY_DTYPES:
            dtype = _ARRAY_DTYPES[code]
            n, pos = self.count(pos, end, dtype.itemsize)
            value = np.frombuffer(self.view, dtype=dtype, count=n, offset=pos)
            return key, value, pos + n * dtype.itemsize
        if code == "S":
            n, pos = self.count(pos, end, 1)
            strings = []
            for _ in range(n):
                text, pos = self.cstring(pos, end)
                strings.append(text)
            return key, strings, pos
        if code == "O":
            n, pos = self.count(pos, end, 5)
            objects = []
            for _ in range(n):
                value, pos = self.obj(pos, end, depth + 1)
                objects.append(value)
            return key, objects, pos
        raise self.fail(pos - 1, f"unknown type code {code!r} of component {key!r}")

    def old_item(self, pos: int, end: int, depth: int) -> tuple[str, Any, int]:
        gtype, pos = self.unpack("<I", pos, end)
        key, pos = self.cstring(pos, end)
        if gtype == _GTYPE_OBJECT:
            value, pos = self.obj(pos, end, depth + 1)
            return key, value, pos
        if gtype == _GTYPE_STRING:
            value, pos = self.cstring(pos, end)
            return key, value, pos
        if gtype in (_GTYPE_BOOLEAN, _GTYPE_CHAR, _GTYPE_UCHAR):
            if pos >= end:
                raise self.fail(pos, f"item {key!r} cut off")
            value = self.buf[pos]
            return key, (bool(value) if gtype == _GTYPE_BOOLEAN else value), pos + 1
        fmt = {_GTYPE_INT: "<i", _GTYPE_INT64: "<q", _GTYPE_DOUBLE: "<d"}.get(gtype)
        if fmt is None:
            raise self.fail(pos, f"item {key!r} has an unknown GType {gtype}")
        value, pos = self.unpack(fmt, pos, end)
        return key, value, pos


def _load_container(path: Path, raw: bytes) -> _GwyObject:
    cursor = _Cursor(path, raw, old=raw[:4] == GWY_OLD_MAGIC)
    top, end = cursor.obj(4, len(raw))
    if end != len(raw):
        logger.debug("%s: %d bytes after the top-level object ignored", path, len(raw) - end)
    return top


# =========================================================================================== .gwy -> Scan
def _gwyddion_unit(text: str) -> str:
    """Read a unit string as Gwyddion 2 does: an SI prefix (or Å) is dropped without scaling the values."""
    unit, factor = split_prefix(text)
    return unit if math.log10(factor).is_integer() else text.strip()


def _unit_of(path: Path, field_obj: _GwyObject, key: str) -> str | None:
    unit = field_obj.items.get(key)
    if unit is None:
        return None
    if not isinstance(unit, _GwyObject) or unit.name != "GwySIUnit":
        raise ScanReadError(path, f"data field component {key!r} is not a GwySIUnit")
    text = str(unit.items.get("unitstr", "") or "")
    canonical = _gwyddion_unit(text)
    if canonical != text:
        logger.debug(
            "%s: unit %r read as %r, as Gwyddion does (a prefix does not scale the values)",
            path,
            text,
            canonical,
        )
    return canonical


def _direction(title: str) -> str | None:
    words = re.split(r"[\s_\-:()]+", title.casefold())
    last = next((w for w in reversed(words) if w), "")
    if any(last.endswith(s) for s in _RETRACE):
        return "retrace"
    if any(last.endswith(s) for s in _TRACE):
        return "trace"
    return None


def _field_geometry(path: Path, key: str, f: _GwyObject) -> tuple[np.ndarray, dict[str, Any]]:
    items = f.items
    try:
        xres, yres = int(items["xres"]), int(items["yres"])
        data = items["data"]
    except KeyError as exc:
        raise ScanReadError(path, f"data field {key} lacks its {exc.args[0]!r} component") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.dtype("<f8"):
        raise ScanReadError(path, f"data field {key} holds no array of doubles")
    if xres < 1 or yres < 1 or data.size != xres * yres:
        raise ScanReadError(path, f"data field {key} is {xres}x{yres} but holds {data.size} values")
    geometry = {
        "xres": xres, "yres": yres,
        "xreal": float(items.get("xreal", 1.0)), "yreal": float(items.get("yreal", 1.0)),
        "xoff": items.get("xoff"), "yoff": items.get("yoff"),
        "unit_xy": _unit_of(path, f, "si_unit_xy"), "unit_z": _unit_of(path, f, "si_unit_z"),
    }  # fmt: skip
    return data.reshape(yres, xres), geometry


def _meta_strings(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, _GwyObject):
        return {}
    out: dict[str, Any] = {}
    for k, v in meta.items.items():
        if isinstance(v, str | bool | int | float) and not (isinstance(v, float) and not math.isfinite(v)):
            out[str(k)] = v
    return out


def _read_gwy(path: Path, raw: bytes) -> Scan:
    top = _load_container(path, raw)
    if top.name == "GwyDataField":  # a bare data field is a valid GWYP file too
        fields = {0: top}
        container: dict[str, Any] = {}
    elif top.name == "GwyContainer":
        container = top.items
        fields = {}
        for key, value in container.items():
            m = _DATA_KEY.match(key)
            if m and isinstance(value, _GwyObject) and value.name == "GwyDataField":
                fields[int(m.group(1))] = value
    else:
        raise ScanReadError(path, f"the file holds a {top.name}, not a Gwyddion container of images")
    if not fields:
        kinds = sorted({k.split("/")[1] for k in container if k.count("/") >= 2}) or ["nothing"]
        raise ScanReadError(path, f"the Gwyddion file holds no image data field (it has: {', '.join(kinds)})")

    channels: list[Channel] = []
    metadata: dict[str, Any] = {}
    reference: dict[str, Any] | None = None
    names: set[str] = set()
    for n in sorted(fields):
        data, geo = _field_geometry(path, f"/{n}/data", fields[n])
        title = container.get(f"/{n}/data/title")
        name = str(title).strip() if isinstance(title, str) and title.strip() else f"Channel {n}"
        name = unique_name(name, names)
        names.add(name)
        if reference is None:
            reference = geo
        elif (geo["xres"], geo["yres"]) != (reference["xres"], reference["yres"]):
            logger.warning(
                "%s: skipping /%d/data (%s): %dx%d pixels, unlike the first channel's %dx%d",
                path,
                n,
                name,
                geo["yres"],
                geo["xres"],
                reference["yres"],
                reference["xres"],
            )
            continue
        elif not np.allclose(
            [geo["xreal"], geo["yreal"]], [reference["xreal"], reference["yreal"]], rtol=1e-6
        ):
            logger.warning(
                "%s: /%d/data (%s) has another physical size than the first channel; using the first's",
                path,
                n,
                name,
            )
        channels.append(Channel(name, data, unit=geo["unit_z"] or "", direction=_direction(name)))
        for k2, v in _meta_strings(container.get(f"/{n}/meta")).items():
            if k2 not in metadata:
                metadata[k2] = v
            elif metadata[k2] != v:
                metadata[f"{name}: {k2}"] = v
    if reference is None or not channels:
        raise ScanReadError(path, "no usable image channel")
    pixel_size, origin = _lateral(path, reference)
    return Scan(tuple(channels), pixel_size, origin=origin, metadata=metadata, source=path, format="gwyddion")


def _lateral(
    path: Path, geo: Mapping[str, Any]
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    xreal, yreal = geo["xreal"], geo["yreal"]
    if geo["unit_xy"] != "m":
        logger.info("%s: lateral unit is %r, not metres: no pixel size", path, geo["unit_xy"])
        return None, None
    if not (math.isfinite(xreal) and math.isfinite(yreal) and xreal > 0 and yreal > 0):
        logger.warning("%s: physical size %r x %r m is not positive: no pixel size", path, yreal, xreal)
        return None, None
    pixel = (yreal / geo["yres"], xreal / geo["xres"])
    xoff, yoff = geo["xoff"], geo["yoff"]
    origin = None
    if xoff is not None or yoff is not None:
        origin = (float(yoff or 0.0), float(xoff or 0.0))
        if not all(math.isfinite(v) for v in origin):
            origin = None
    return pixel, origin


# =========================================================================================== .gsf -> Scan
_GSF_KNOWN = ("XRes", "YRes", "XReal", "YReal", "XOffset", "YOffset", "XYUnits", "ZUnits", "Title")


def _gsf_float(path: Path, header: Mapping[str, str], key: str, default: float) -> float:
    if key not in header:
        return default
    try:
        value = float(header[key])
    except ValueError:
        raise ScanReadError(path, f"GSF header value {key} = {header[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise ScanReadError(path, f"GSF header value {key} = {header[key]!r} is not finite")
    return value


def _read_gsf(path: Path, raw: bytes) -> Scan:
    end = raw.find(b"\0")
    if end < 0:
        raise ScanReadError(path, "GSF header is not terminated by a NUL byte (truncated file?)")
    text = raw[:end].decode("utf-8", errors="replace")
    header: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ScanReadError(path, f"GSF header line {line!r} is not of the form 'name = value'")
        header[key.strip()] = value.strip()
    try:
        xres, yres = int(header["XRes"]), int(header["YRes"])
    except KeyError as exc:
        raise ScanReadError(path, f"GSF header lacks the mandatory {exc.args[0]}") from None
    except ValueError:
        raise ScanReadError(
            path, f"GSF XRes/YRes {header['XRes']!r}/{header['YRes']!r} are not integers"
        ) from None
    if xres < 1 or yres < 1:
        raise ScanReadError(path, f"GSF size {xres}x{yres} is not positive")
    start = (end + 4) // 4 * 4  # one to four NULs align the data to a multiple of 4
    if raw[end:start].strip(b"\0"):
        raise ScanReadError(path, "GSF header padding is not all NUL bytes")
    need = 4 * xres * yres
    if len(raw) - start < need:
        raise ScanReadError(
            path,
            f"GSF data cut off: {xres}x{yres} floats need {need} bytes, "
            f"the file has {len(raw) - start} after the header",
        )
    if len(raw) - start > need:
        logger.warning("%s: %d bytes after the GSF data ignored", path, len(raw) - start - need)
    data = np.frombuffer(raw, dtype="<f4", count=xres * yres, offset=start).reshape(yres, xres)
    unit_xy = _gwyddion_unit(header.get("XYUnits", ""))
    geo = {
        "xres": xres, "yres": yres, "unit_xy": unit_xy,
        "xreal": _gsf_float(path, header, "XReal", 1.0), "yreal": _gsf_float(path, header, "YReal", 1.0),
        "xoff": _gsf_float(path, header, "XOffset", 0.0) if "XOffset" in header else None,
        "yoff": _gsf_float(path, header, "YOffset", 0.0) if "YOffset" in header else None,
    }  # fmt: skip
    pixel_size, origin = _lateral(path, geo)
    title = header.get("Title", "").strip() or "Data"
    channel = Channel(title, data, unit=_gwyddion_unit(header.get("ZUnits", "")), direction=_direction(title))
    metadata = {k: v for k, v in header.items() if k not in _GSF_KNOWN}
    return Scan((channel,), pixel_size, origin=origin, metadata=metadata, source=path, format="gwyddion")


# =========================================================================================== writing
def _ser_string(text: str) -> bytes:
    encoded = text.encode("utf-8")
    if b"\0" in encoded:
        raise ValueError(f"a Gwyddion string cannot contain a NUL character: {text!r}")
    return encoded + b"\0"


def _ser_object(name: str, components: list[tuple[str, str, Any]]) -> bytes:
    body = b"".join(_ser_component(key, code, value) for key, code, value in components)
    return _ser_string(name) + struct.pack("<I", len(body)) + body


def _ser_component(key: str, code: str, value: Any) -> bytes:
    head = _ser_string(key) + code.encode("ascii")
    if code == "s":
        return head + _ser_string(value)
    if code == "o":
        return head + value
    if code == "b":
        return head + bytes([1 if value else 0])
    if code in "iqd":
        return head + struct.pack("<" + code, value)
    if code == "D":
        array = np.ascontiguousarray(value, dtype="<f8").ravel()
        return head + struct.pack("<I", array.size) + array.tobytes()
    raise ValueError(f"cannot serialise type code {code!r}")


def _si_unit(unit: str) -> bytes:
    return _ser_object("GwySIUnit", [("unitstr", "s", unit)])


def _geometry_for_writing(scan: Scan) -> tuple[float, float, str]:
    ny, nx = scan.shape
    if scan.pixel_size is None:
        return float(ny), float(nx), ""  # one unit per pixel, no lateral unit
    return ny * scan.pixel_size[0], nx * scan.pixel_size[1], "m"


def _meta_container(scan: Scan) -> bytes | None:
    items: list[tuple[str, str, Any]] = []
    if scan.instrument:
        items.append(("Instrument", "s", str(scan.instrument)))
    for key, value in scan.metadata.items():
        if isinstance(value, bool | int | float | str) and str(key):
            items.append((str(key).replace("\0", " "), "s", str(value).replace("\0", " ")))
    return _ser_object("GwyContainer", items) if items else None


def _gwy_bytes(scan: Scan, path: Path) -> bytes:
    yreal, xreal, unit_xy = _geometry_for_writing(scan)
    meta = _meta_container(scan)
    components: list[tuple[str, str, Any]] = []
    for n, channel in enumerate(scan.channels):
        ny, nx = channel.shape
        field_components: list[tuple[str, str, Any]] = [
            ("xres", "i", nx), ("yres", "i", ny), ("xreal", "d", xreal), ("yreal", "d", yreal),
        ]  # fmt: skip
        if scan.origin is not None:
            field_components += [("xoff", "d", scan.origin[1]), ("yoff", "d", scan.origin[0])]
        invalid = ~np.isfinite(channel.data)
        data = channel.data
        if invalid.any():
            # Gwyddion's own importers replace invalid samples and mark them in a mask; do the same
            fill = float(np.mean(data[~invalid])) if not invalid.all() else 0.0
            data = np.where(invalid, fill, data)
            logger.warning(
                "%s: channel %s: %d non-finite value(s) written as %g, marked in the Gwyddion mask /%d/mask",
                path,
                channel.name,
                int(invalid.sum()),
                fill,
                n,
            )
        common = [*field_components, ("si_unit_xy", "o", _si_unit(unit_xy))]
        field_bytes = _ser_object(
            "GwyDataField", [*common, ("si_unit_z", "o", _si_unit(channel.unit)), ("data", "D", data)]
        )
        components.append((f"/{n}/data", "o", field_bytes))
        components.append((f"/{n}/data/title", "s", channel.name))
        if invalid.any():
            mask = _ser_object(
                "GwyDataField",
                [*common, ("si_unit_z", "o", _si_unit("")), ("data", "D", invalid.astype(np.float64))],
            )
            components.append((f"/{n}/mask", "o", mask))
        if meta is not None:
            components.append((f"/{n}/meta", "o", meta))
    return GWY_MAGIC + _ser_object("GwyContainer", components)


def _gsf_bytes(scan: Scan) -> bytes:
    if len(scan.channels) != 1:
        raise ValueError(
            f"a Gwyddion Simple Field (.gsf) holds one channel; this scan has {len(scan.channels)} "
            f"({', '.join(scan.names)}): select one, or write .gwy to keep them all"
        )
    channel = scan.channels[0]
    ny, nx = channel.shape
    yreal, xreal, unit_xy = _geometry_for_writing(scan)
    lines = [
        "Gwyddion Simple Field 1.0",
        f"XRes = {nx}",
        f"YRes = {ny}",
        f"XReal = {xreal!r}",
        f"YReal = {yreal!r}",
    ]
    if scan.origin is not None:
        lines += [f"XOffset = {scan.origin[1]!r}", f"YOffset = {scan.origin[0]!r}"]
    if unit_xy:
        lines.append(f"XYUnits = {unit_xy}")
    if channel.unit:
        lines.append(f"ZUnits = {channel.unit}")
    lines.append(f"Title = {_one_line(channel.name)}")
    for key, value in scan.metadata.items():
        clean = re.sub(r"[^A-Za-z0-9_]", "_", str(key))
        if (
            clean
            and clean[0].isalpha()
            and clean not in _GSF_KNOWN
            and isinstance(value, bool | int | float | str)
        ):
            lines.append(f"{clean} = {_one_line(str(value))}")
    header = ("\n".join(lines) + "\n").encode("utf-8")
    padding = b"\0" * (4 - len(header) % 4)
    return header + padding + np.ascontiguousarray(channel.data, dtype="<f4").tobytes()


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n\0]+", " ", text).strip()
