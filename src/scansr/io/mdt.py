"""NT-MDT ``.mdt`` files (Nova / Nova Px, NTEGRA, Solver): the image frames, in SI units.

An MDT file is a 33-byte header followed by frames. Two frame kinds hold images and are read here:

- *scanned* frames (type 0, older Nova software): int16 samples with an offset/step/unit per axis;
- *MDA* frames (type 106, Nova Px) with two dimensions and one measurand: samples of any integer or float type
  with a bias/scale/unit per axis, and an XML comment holding the scan parameters (put into `Scan.metadata`).

Spectroscopy, curve, text, palette and Raman frames are skipped (logged). Rows are stored bottom row first;
they are flipped so that row 0 is the top row, as Gwyddion displays the file.

An MDT file may hold several scans. Consecutive image frames on the same grid (shape and pixel size) with
distinct names form one `Scan` (e.g. ``1F:Iprobe`` and ``1B:Iprobe``, forward and backward); each further
grid, or a repeated name, starts a new frame: ``read(path, frame=k)`` selects one and ``read_frames`` returns
them all.

Pixel size: for MDA frames it is the axis *scale*, the distance between neighbouring samples. Gwyddion 2.62
sets the field width to ``scale * (n - 1)`` (the distance between the first and last sample centres, which the
NT-MDT software reports as the scan size) and so gives a pixel ``(n - 1)/n`` of this one (0.4 % less for 256
pixels). `Scan.origin` for MDA frames follows `Scan`'s convention (top-left pixel corner, y growing down): the
axis bias is the coordinate of the first sample centre and the instrument's y grows up the image, so the
origin is minus the y of the last stored row's top edge, and the x of the first sample's left edge.

No maintained Python reader opens MDT files with their units (SciFiReaders' reader reads MDA headers only), so
the parser is written here from the layout in Gwyddion's ``modules/file/nt-mdt.c`` and checked against
Gwyddion's conversion in the tests. Every size is checked against the file before use.
"""

from __future__ import annotations

import logging
import math
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError, UnsupportedFormatError
from scansr.units import split_prefix

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

MAGIC = b"\x01\xb0\x93\xff"
_FILE_HEADER = 33  # the documented header is 32 bytes, but frame 0 starts at byte 33 in real files
_FRAME_HEADER = 22
_SCANNED, _SPECTROSCOPY, _TEXT, _OLD_MDA, _MDA, _PALETTE, _CURVES = 0, 1, 3, 105, 106, 107, 201
_FRAME_KINDS = {_SPECTROSCOPY: "spectroscopy", _TEXT: "text", _OLD_MDA: "old MDA", _PALETTE: "palette",
                _CURVES: "curves", 190: "curves (new)"}  # fmt: skip

# MDT unit codes of scanned frames: (unit, factor to that SI unit).
_UNITS = {
    -5: ("m", 1.0), -4: ("m", 1e-2), -3: ("m", 1e-3), -2: ("m", 1e-6), -1: ("m", 1e-9), 0: ("m", 1e-10),
    1: ("A", 1e-9), 2: ("V", 1.0), 3: ("", 1.0), 4: ("Hz", 1e3), 5: ("deg", 1.0), 6: ("", 1e-2),
    7: ("degC", 1.0), 8: ("V", 1.0), 9: ("s", 1.0), 10: ("s", 1e-3), 11: ("s", 1e-6), 12: ("s", 1e-9),
    13: ("counts", 1.0), 14: ("px", 1.0), 20: ("A", 1.0), 21: ("A", 1e-3), 22: ("A", 1e-6), 23: ("A", 1e-9),
    24: ("A", 1e-12), 25: ("V", 1.0), 26: ("V", 1e-3), 27: ("V", 1e-6), 28: ("V", 1e-9), 29: ("V", 1e-12),
    30: ("N", 1.0), 31: ("N", 1e-3), 32: ("N", 1e-6), 33: ("N", 1e-9), 34: ("N", 1e-12),
}  # fmt: skip
# MDA calibrations without a unit string give an SI code instead.
_SI_CODES = {0x1: "", 0x101: "m", 0x100001: "A", 0xFFFD010200: "V", 0x1000001: "s"}
_MDA_DTYPES = {-1: "i1", 1: "u1", -2: "<i2", 2: "<u2", -4: "<i4", 4: "<u4", -8: "<i8", 8: "<u8",
               -(4 + 23 * 256): "<f4",
               -(8 + 52 * 256): "<f8"}  # fmt: skip
_ADC_MODES = (
    "Height", "DFL", "Lateral F", "Bias V", "Current", "FB-Out", "MAG", "MAG*Sin", "MAG*Cos", "RMS",
    "CalcMag", "Phase1", "Phase2", "CalcPhase", "Ex1", "Ex2", "HvX", "HvY", "Snap Back",
)  # fmt: skip
_MAX_METADATA = 2000


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts with the NT-MDT magic bytes ``01 b0 93 ff``."""
    return head.startswith(MAGIC)


@dataclass
class _Image:
    name: str
    data: np.ndarray  # top row first, SI units
    unit: str
    pixel_size: tuple[float, float] | None
    origin: tuple[float, float] | None
    metadata: dict[str, Any] = field(default_factory=dict)


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read the image frames of an NT-MDT ``.mdt`` file.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Which group of same-grid images to return (0-based, default 0); see the module notes.

    Returns
    -------
    Scan
        Channels in SI units (A, m, V, ...), pixel size in metres; ``n_frames`` is the number of image groups.

    Raises
    ------
    ScanReadError
        Truncated or corrupt file.
    UnsupportedFormatError
        The file holds no image frame (only spectroscopy curves, text, or Raman data).
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        raise ScanReadError(path, "not an NT-MDT file: the magic bytes 01 b0 93 ff are missing")
    if len(raw) < _FILE_HEADER:
        raise ScanReadError(
            path, f"the file is {len(raw)} bytes, shorter than the {_FILE_HEADER}-byte MDT header"
        )
    declared = struct.unpack_from("<I", raw, 4)[0] + _FILE_HEADER
    last_frame = struct.unpack_from("<H", raw, 12)[0]
    if declared > len(raw):
        raise ScanReadError(path, f"truncated: the header declares {declared} bytes, the file has {len(raw)}")
    if declared < len(raw):
        logger.warning(
            "%s: %d bytes after the declared end of the MDT data ignored", path, len(raw) - declared
        )

    images: list[_Image] = []
    skipped: dict[str, int] = {}
    pos = _FILE_HEADER
    for index in range(last_frame + 1):
        if pos + _FRAME_HEADER > declared:
            raise ScanReadError(
                path, f"truncated: frame {index} of {last_frame + 1} starts past the end of the data"
            )
        size, kind = struct.unpack_from("<IH", raw, pos)
        if size < _FRAME_HEADER or pos + size > declared:
            raise ScanReadError(path, f"frame {index} declares {size} bytes, which do not fit in the file")
        frame_bytes = memoryview(raw)[pos : pos + size]
        if kind == _SCANNED:
            images.append(_scanned_frame(path, index, frame_bytes))
        elif kind == _MDA:
            image = _mda_frame(path, index, frame_bytes)
            if image is None:
                skipped["MDA spectra / Raman"] = skipped.get("MDA spectra / Raman", 0) + 1
            else:
                images.append(image)
        else:
            what = _FRAME_KINDS.get(kind, f"type {kind}")
            skipped[what] = skipped.get(what, 0) + 1
        pos += size
    if skipped:
        logger.info("%s: skipped non-image frames: %s", path, skipped)
    if not images:
        kinds = ", ".join(f"{n} {k}" for k, n in skipped.items()) or "none"
        raise UnsupportedFormatError(
            path,
            f"the MDT file holds no image frame (frames: {kinds}); scansr reads "
            "images only: open the file in Gwyddion for spectra and curves",
        )
    groups = _group(images)
    index = 0 if frame is None else frame
    chosen = groups[index] if index < len(groups) else groups[0]
    return _scan(path, chosen, frame=index if index < len(groups) else 0, n_frames=len(groups))


# =========================================================================================== frames
def _direction(name: str) -> str | None:
    match = re.match(r"^\s*\d*\s*([FB])\s*:", name)
    if match:
        return "trace" if match.group(1) == "F" else "retrace"
    low = name.casefold()
    if low.endswith(("backward", "bwd", "retrace")):
        return "retrace"
    if low.endswith(("forward", "fwd", "trace")):
        return "trace"
    return None


def _text(buf: memoryview | bytes, encoding: str) -> str:
    return bytes(buf).decode(encoding, errors="replace").rstrip("\0").strip()


def _check(path: Path, index: int, need: int, have: int, what: str) -> None:
    if need > have:
        raise ScanReadError(
            path, f"frame {index} is too short for its {what} ({need} bytes needed, {have} left)"
        )


def _scanned_frame(path: Path, index: int, f: memoryview) -> _Image:
    var_size = struct.unpack_from("<H", f, 20)[0]
    _check(path, index, _FRAME_HEADER + 30 + 77, len(f), "scan parameters")
    _check(path, index, _FRAME_HEADER + var_size + 8, len(f), "frame mode")
    p = _FRAME_HEADER
    scales = [struct.unpack_from("<ffh", f, p + 10 * i) for i in range(3)]  # (offset, step, unit) x, y, z
    p += 30
    adc_mode, mode, xres0, yres0 = struct.unpack_from("<bBHH", f, p)
    velocity, setpoint, bias = struct.unpack_from("<fff", f, p + 20)
    p = _FRAME_HEADER + var_size
    _fm_mode, xres, yres, ndots = struct.unpack_from("<4H", f, p)
    p += 8
    if ndots:
        p += 14 + 16 * ndots
    _check(path, index, p + 2 * xres * yres, len(f), f"{xres}x{yres} int16 samples")
    if xres < 1 or yres < 1:
        raise ScanReadError(path, f"frame {index} has an empty {xres}x{yres} image")
    counts = np.frombuffer(f, dtype="<i2", count=xres * yres, offset=p).reshape(yres, xres)
    p += 2 * xres * yres
    title = ""
    if len(f) - p > 4:
        n = struct.unpack_from("<I", f, p)[0]
        p += 4
        if 0 < n <= len(f) - p:
            title = _text(f[p : p + n], "cp1251")
            p += n
    xml = ""
    if len(f) - p > 4:
        n = struct.unpack_from("<I", f, p)[0]
        p += 4
        if 0 < n <= len(f) - p:
            xml = _text(f[p : p + n], "utf-16-le")

    (x_off, x_step, x_unit), (y_off, y_step, y_unit), (z_off, z_step, z_unit) = scales
    unit_z, factor_z = _UNITS.get(z_unit, ("", 1.0))
    if z_step == 0:
        z_step = 1.0
    data = (z_off + z_step * counts.astype(np.float64)) * factor_z
    unit_xy, factor_xy = _UNITS.get(x_unit, ("", 1.0))
    dx, dy = abs(x_step) * factor_xy, abs(y_step) * _UNITS.get(y_unit, ("", 1.0))[1]
    pixel = (dy, dx) if unit_xy == "m" and dx > 0 and dy > 0 and math.isfinite(dx * dy) else None
    adc_name = _ADC_MODES[adc_mode] if 0 <= adc_mode < len(_ADC_MODES) else None
    if not title:
        title = adc_name or f"Frame {index}"
    metadata: dict[str, Any] = {
        "Frame": index, "Date": _frame_date(f), "ADC mode": adc_name or adc_mode,
        "Mode": mode, "Scan velocity (m/s)": velocity * 1e-10, "Setpoint (A)": setpoint * 1e-9,
        "Bias voltage (V)": bias, "X offset": x_off * factor_xy, "Y offset": y_off * factor_xy,
        "Resolution in header": f"{xres0}x{yres0}",
    }  # fmt: skip
    metadata.update(_xml_metadata(xml))
    return _Image(title, data[::-1], unit_z, pixel, None, _finite_only(metadata))


def _frame_date(f: memoryview) -> str:
    year, month, day, hour, minute, second = struct.unpack_from("<6H", f, 8)
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


@dataclass
class _Calibration:
    name: str
    unit: str
    si_code: int
    bias: float
    scale: float
    min_index: int
    max_index: int
    data_type: int


def _calibration(path: Path, index: int, f: memoryview, p: int) -> tuple[_Calibration, int]:
    _check(path, index, p + 8, len(f), "axis calibration")
    total, struct_len = struct.unpack_from("<II", f, p)
    _check(path, index, p + max(total, 8 + struct_len, 8 + 84), len(f), "axis calibration")
    q = p + 8
    name_len, comment_len, unit_len = struct.unpack_from("<3I", f, q)
    si_code, _accuracy = struct.unpack_from("<Qd", f, q + 12)
    bias, scale = struct.unpack_from("<dd", f, q + 36)
    min_index, max_index = struct.unpack_from("<QQ", f, q + 52)
    data_type, author_len = struct.unpack_from("<iI", f, q + 68)
    s = p + 8 + struct_len
    _check(path, index, s + name_len + comment_len + unit_len + author_len, len(f), "axis names")
    name = _text(f[s : s + name_len], "cp1251")
    s += name_len + comment_len
    unit = _text(f[s : s + unit_len], "cp1251")
    return _Calibration(name, unit, si_code, bias, scale, min_index, max_index, data_type), p + total


def _unit_of(cal: _Calibration) -> tuple[str, float]:
    if cal.unit:
        return split_prefix(cal.unit)
    return _SI_CODES.get(cal.si_code, ""), 1.0


def _mda_frame(path: Path, index: int, f: memoryview) -> _Image | None:
    p = _FRAME_HEADER
    _check(path, index, p + 76, len(f), "MDA header")
    head_size = struct.unpack_from("<I", f, p)[0]
    name_size, comment_size, view_size, spec_size, source_size, _var_size = struct.unpack_from(
        "<6I", f, p + 44
    )
    p += head_size
    _check(path, index, p + name_size + comment_size + spec_size + view_size + source_size + 8, len(f),
           "MDA name and comment")  # fmt: skip
    title = _text(f[p : p + name_size], "cp1251")
    p += name_size
    xml = _text(f[p : p + comment_size], "utf-16-le")
    p += comment_size + spec_size + view_size + source_size + 4
    struct_len = struct.unpack_from("<I", f, p)[0]
    p += 4
    _check(path, index, p + max(struct_len, 20), len(f), "MDA array description")
    _cells, _cell_size, n_dims, n_meas = struct.unpack_from("<QIII", f, p)
    p += struct_len
    if n_dims > 16 or n_meas > 16:
        raise ScanReadError(path, f"frame {index} declares {n_dims} dimensions and {n_meas} measurands")
    dims, meas = [], []
    for _ in range(n_dims):
        cal, p = _calibration(path, index, f, p)
        dims.append(cal)
    for _ in range(n_meas):
        cal, p = _calibration(path, index, f, p)
        meas.append(cal)
    if n_dims != 2 or n_meas != 1:
        return None
    xaxis, yaxis, zaxis = dims[0], dims[1], meas[0]
    xres, yres = xaxis.max_index - xaxis.min_index + 1, yaxis.max_index - yaxis.min_index + 1
    if not (0 < xres < 2**20 and 0 < yres < 2**20):
        raise ScanReadError(path, f"frame {index} declares an image of {yres}x{xres} samples")
    dtype = _MDA_DTYPES.get(zaxis.data_type)
    if dtype is None:
        raise ScanReadError(path, f"frame {index} has an unknown sample type code {zaxis.data_type}")
    itemsize = np.dtype(dtype).itemsize
    _check(path, index, p + itemsize * xres * yres, len(f), f"{yres}x{xres} samples")
    samples = np.frombuffer(f, dtype=dtype, count=xres * yres, offset=p).reshape(yres, xres)
    unit_z, factor_z = _unit_of(zaxis)
    data = (zaxis.bias + zaxis.scale * samples.astype(np.float64)) * factor_z
    unit_x, factor_x = _unit_of(xaxis)
    unit_y, factor_y = _unit_of(yaxis)
    dx, dy = abs(xaxis.scale) * factor_x, abs(yaxis.scale) * factor_y
    pixel = origin = None
    if unit_x == unit_y == "m" and dx > 0 and dy > 0 and math.isfinite(dx * dy):
        pixel = (dy, dx)
        # The axis bias is the centre of the first sample and the instrument's y grows up the image; scansr's
        # origin is the top-left pixel's corner with y growing down (see Scan): hence sign and half pixels.
        top_y = (yaxis.bias + (yres - 1) * yaxis.scale) * factor_y
        origin = (-top_y - dy / 2, xaxis.bias * factor_x - dx / 2)
        if not all(math.isfinite(v) for v in origin):
            origin = None
    metadata: dict[str, Any] = {"Frame": index, "Date": _frame_date(f)}
    metadata.update(_xml_metadata(xml))
    return _Image(title or f"Frame {index}", data[::-1], unit_z, pixel, origin, _finite_only(metadata))


def _xml_metadata(xml: str) -> dict[str, Any]:
    """Leaf elements of an MDT frame comment as ``{"Scan/ScanMode": "Spreading Resistance", ...}``."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        logger.debug("unreadable MDT frame XML: %s", exc)
        return {}
    out: dict[str, Any] = {}

    def walk(element: ET.Element, prefix: str) -> None:
        for child in element:
            if len(out) >= _MAX_METADATA:
                return
            key = f"{prefix}/{child.tag}" if prefix else child.tag
            if len(child):
                walk(child, key)
            else:
                text = (child.text or "").strip()
                if text:
                    out[key] = text
            for attr, value in child.attrib.items():
                out[f"{key}@{attr}"] = value

    parameters = root.find("Parameters")
    walk(parameters if parameters is not None else root, "")
    comment = (root.findtext("TextComment") or "").strip()
    if comment:
        out["Comment"] = comment
    return out


def _finite_only(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if not (isinstance(v, float) and not math.isfinite(v))}


# =========================================================================================== grouping
def _same_grid(a: _Image, b: _Image) -> bool:
    if a.data.shape != b.data.shape:
        return False
    if a.pixel_size is None or b.pixel_size is None:
        return a.pixel_size is b.pixel_size
    return bool(np.allclose(a.pixel_size, b.pixel_size, rtol=1e-6))


def _group(images: list[_Image]) -> list[list[_Image]]:
    groups: list[list[_Image]] = []
    for image in images:
        current = groups[-1] if groups else None
        if current and _same_grid(current[0], image) and image.name not in {i.name for i in current}:
            current.append(image)
        else:
            groups.append([image])
    return groups


def _scan(path: Path, images: list[_Image], *, frame: int, n_frames: int) -> Scan:
    first = images[0]
    channels = tuple(Channel(i.name, i.data, unit=i.unit, direction=_direction(i.name)) for i in images)
    metadata = dict(first.metadata)
    for image in images[1:]:
        for key, value in image.metadata.items():
            if key not in metadata:
                metadata[key] = value
            elif metadata[key] != value:
                metadata[f"{image.name}: {key}"] = value
    metadata["Frames in file"] = ", ".join(str(i.metadata.get("Frame")) for i in images)
    metadata.pop("Frame", None)
    return Scan(
        channels,
        first.pixel_size,
        origin=first.origin,
        frame=frame if n_frames > 1 else None,
        n_frames=n_frames,
        instrument="NT-MDT",
        metadata=metadata,
        source=path,
        format="mdt",
    )
