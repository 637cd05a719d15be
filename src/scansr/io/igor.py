"""Asylum Research / Oxford Instruments image files: Igor binary waves (``.ibw``, version 5), read with igor2.

An Asylum image is one 3-D wave of shape ``(points, lines, channels)`` whose layers are the channels, named by
the wave's dimension labels (``HeightTrace``, ``HeightRetrace``, ``Phase1Retrace``...). igor2 0.5 returns
those labels with stale bytes after the terminating NUL ("Phase1Retracece"), so the labels are read from the
file here, at the offset igor2's binary header gives. Everything else (data, note, wave header) comes from
igor2.

- Orientation: layer ``k`` is shown as ``flipud(wData[:, :, k].T)`` - row 0 is the last scan line in the wave,
  i.e. the top of the image as Gwyddion 2.62 shows Asylum files (checked on the corpus).
- Pixel size: the wave's own x/y scaling ``sfA`` (Asylum writes ``ScanSize / (points - 1)``, the pitch between
  first and last pixel centres spanning the scan size), as Gwyddion uses it.
- Units: Asylum writes one data unit for all layers, so units follow the channel name, as Gwyddion does:
  Height, ZSensor, Amplitude, Deflection in m; Phase in deg; Current in A; Frequency in Hz; Potential in V;
  UserIn*, Lateral and BackPackIn* as the note's ``<name>Unit`` says (V by default); a ``Nap`` prefix changes
  nothing. Exception: a ZSensor channel recorded without sensor calibration (note ``ZLVDTSens`` <= 0) holds
  volts, not metres (Gwyddion labels it m regardless); scansr labels it V.
- ``Scan.origin`` (scan angle 0 only) is the top-left corner of the top-left pixel, Gwyddion's convention for
  x offsets: ``(-(YOffset) - ny*dy/2, XOffset - nx*dx/2)``. The note's offsets are the scan centre with the
  stage y axis pointing up the image, while scansr's y grows down the rows - hence the sign (Gwyddion ignores
  that and reports ``YOffset - ny*dy/2``). Checked on the DTMicroscope PTO_Funakubo0004 / 0005 zoom pair (see
  `scansr.io.nsid`).
"""

from __future__ import annotations

import logging
import math
import re
import struct
from pathlib import Path

import numpy as np

from scansr.io._common import unique_names
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import canonical_unit, length_factor

__all__ = ["asylum_unit", "parse_note", "read", "sniff"]

logger = logging.getLogger(__name__)

_HEADER5 = 64
_WAVE5 = 320
_LABEL = 32

# Channel-name prefix -> unit of its values, longest prefixes first where they overlap.
_UNITS = (
    ("height", "m"),
    ("zsensor", "m"),
    ("amplitude", "m"),
    ("amp", "m"),
    ("deflection", "m"),
    ("defl", "m"),
    ("phase", "deg"),
    ("current", "A"),
    ("frequency", "Hz"),
    ("potential", "V"),
    ("surfacepotential", "V"),
    ("count", ""),
)
_NOTE_UNIT_PREFIXES = ("userin", "lateral", "backpackin", "usercalc")


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts an Igor binary wave of version 5 (version word and header checksum both right).

    Parameters
    ----------
    head : bytes
        First bytes of the file (at least 384 are needed).
    suffix : str
        Lower-case suffix with the dot (unused).

    Returns
    -------
    bool
    """
    size = _HEADER5 + _WAVE5
    if len(head) < size:
        return False
    for order in ("<", ">"):
        if struct.unpack_from(order + "h", head, 0)[0] == 5:
            words = struct.unpack_from(f"{order}{size // 2}h", head, 0)
            return sum(words) & 0xFFFF == 0
    return False


def parse_note(note: bytes | str) -> dict[str, str]:
    """Parse an Asylum wave note (``Key: value`` lines separated by CR) into a dict of strings.

    Parameters
    ----------
    note : bytes or str
        The note; bytes are decoded as UTF-8, else latin-1 (older Asylum software).

    Returns
    -------
    dict of str to str
        Later duplicates of a key replace earlier ones.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            note = note.decode("latin-1")
    out: dict[str, str] = {}
    for line in note.replace("\r\n", "\r").replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def _base_name(name: str) -> str:
    base = re.sub(r"(Re)?[Tt]race$", "", name)
    return re.sub(r"^Nap", "", base) or name


def asylum_unit(name: str, note: dict[str, str] | None = None) -> str:
    """SI unit of an Asylum channel's values, from its name (e.g. ``"Phase1Retrace"`` -> ``"deg"``).

    Parameters
    ----------
    name : str
        Channel name as the file gives it (``HeightTrace``, ``NapPhaseRetrace``, ``UserIn0Retrace``...).
    note : dict, optional
        The parsed wave note; names ``<channel>Unit`` for user inputs and tells whether ZSensor is calibrated.

    Returns
    -------
    str
        ``"m"``, ``"deg"``, ``"A"``, ``"Hz"``, ``"V"`` or ``""``.
    """
    note = note or {}
    base = _base_name(name)
    key = base.casefold()
    if key.startswith(_NOTE_UNIT_PREFIXES):
        unit = note.get(f"{base}Unit", "V").strip() or "V"
        return canonical_unit(unit)
    if key.startswith("zsensor"):
        sens = _number(note.get("ZLVDTSens"))
        if sens is not None and sens <= 0:
            return "V"
    for prefix, unit in _UNITS:
        if key.startswith(prefix):
            return unit
    return "V"


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    m = re.match(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)", text, re.IGNORECASE)
    return float(m.group(1)) if m else None


def _unit_text(chars) -> str:
    """Join igor2's array of single characters (``[b'm', b'', b'', b'']``) into a unit string."""
    return b"".join(bytes(c) for c in np.atleast_1d(chars)).split(b"\0")[0].decode("latin-1").strip()


def _direction(name: str) -> str | None:
    if name.endswith("Retrace"):
        return "retrace"
    if name.endswith("Trace"):
        return "trace"
    return None


def _labels(path: Path, bin_header: dict, n_layers: int) -> list[str]:
    """Dimension labels of the layers (dimension 2), read from the file: 32-byte NUL-terminated fields."""
    sizes = [int(s) for s in bin_header["dimLabelsSize"]]
    if sizes[2] == 0:
        return []
    start = (
        _HEADER5
        + int(bin_header["wfmSize"])
        + int(bin_header["formulaSize"])
        + int(bin_header["noteSize"])
        + int(bin_header["dataEUnitsSize"])
        + int(np.sum(bin_header["dimEUnitsSize"]))
        + sizes[0]
        + sizes[1]
    )
    with open(path, "rb") as fh:
        fh.seek(start)
        raw = fh.read(sizes[2])
    if len(raw) != sizes[2]:
        raise ScanReadError(path, "the file is truncated: its channel labels are missing")
    fields = [raw[i : i + _LABEL].split(b"\0")[0].decode("latin-1") for i in range(0, len(raw), _LABEL)]
    # The first label names the dimension as a whole; one label per layer follows.
    return fields[1 : 1 + n_layers]


def note_metadata(note: dict, wave_name: str | None = None) -> dict:
    """Pick useful Asylum note values (scan size, rate, mode, offsets...) as JSON-serialisable scalars."""
    meta: dict = {} if wave_name is None else {"wave_name": wave_name}
    for key in (
        "ImagingMode",
        "MicroscopeModel",
        "Version",
        "ScanRate",
        "ScanSize",
        "FastScanSize",
        "SlowScanSize",
        "ScanPoints",
        "ScanLines",
        "ScanAngle",
        "XOffset",
        "YOffset",
        "ScanDown",
        "SpringConstant",
        "InvOLS",
        "AmpInvOLS",
        "DriveFrequency",
        "Date",
        "Time",
        "ImageNote",
        "BaseName",
    ):
        value = note.get(key)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if value is None or value == "" or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            meta[key] = str(value)
            continue
        meta[key] = number if math.isfinite(number) else str(value)
    return meta


def origin_from_note(
    note: dict, shape: tuple[int, int], pixel_size: tuple[float, float] | None
) -> tuple | None:
    """Scan origin ``(y0, x0)`` in metres from Asylum note values, or None (rotated scan, missing values).

    Parameters
    ----------
    note : dict
        Note values (strings or numbers) with ``XOffset``, ``YOffset`` and ``ScanAngle``.
    shape : (int, int)
        Image shape ``(ny, nx)``.
    pixel_size : (float, float) or None
        ``(dy, dx)`` in metres.

    Returns
    -------
    (float, float) or None
        Top-left corner of the top-left pixel (its centre is half a pixel further in), y growing down the rows
        (the stage y axis points up the image).
    """
    x_off = _number(str(note.get("XOffset"))) if note.get("XOffset") is not None else None
    y_off = _number(str(note.get("YOffset"))) if note.get("YOffset") is not None else None
    angle = _number(str(note.get("ScanAngle", 0))) or 0.0
    if x_off is None or y_off is None or pixel_size is None or angle % 360 != 0:
        return None
    if not (math.isfinite(x_off) and math.isfinite(y_off)):
        return None
    # Pixel centres span (n - 1) pitches around the centre; the field's corner is half a pitch further out.
    height = shape[0] * pixel_size[0]
    width = shape[1] * pixel_size[1]
    return (-y_off - height / 2, x_off - width / 2)


def _check_size(path: Path) -> None:
    """Raise `ScanReadError` unless the file holds every section its binary header announces.

    Asylum software appends 128x128 byte previews of the channels after the wave, closed by a text footer
    ending in ``" NNNN MFP3D"`` (NNNN = footer length) that gives each preview's start: when bytes follow the
    wave, that footer must be present and consistent, else the file was cut short.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_HEADER5)
        order = "<" if struct.unpack_from("<h", head, 0)[0] == 5 else ">"
        fields = struct.unpack_from(order + "hhiiii4i4iiii", head, 0)
        sizes = fields[2:15]  # wfm, formula, note, data units, 4 dim units, 4 dim labels, string indices
        if any(v < 0 for v in sizes):
            raise ScanReadError(path, "corrupt Igor header: negative section size")
        end = _HEADER5 + sum(sizes)
        if end > size:
            raise ScanReadError(
                path, f"the file is truncated: its header announces {end} bytes, the file has {size}"
            )
        if end == size:
            return
        fh.seek(max(end, size - 4096))
        tail = fh.read().decode("latin-1")
    m = re.search(r" (\d{4}) MFP3D$", tail)
    starts = [int(v) for v in re.findall(r"FileStart:(\d+);", tail)]
    length = re.search(r"DataLength:(\d+);", tail)
    if m is None or not starts or length is None:
        raise ScanReadError(
            path,
            f"the file is truncated or corrupt: {size - end} bytes follow the wave but "
            "Asylum's preview footer is missing",
        )
    if max(starts) + int(length.group(1)) + int(m.group(1)) != size:
        raise ScanReadError(
            path, "the file is truncated or corrupt: Asylum's preview footer does not match the file size"
        )


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read every channel of an Asylum Research ``.ibw`` image.

    Parameters
    ----------
    path : Path
        The ``.ibw`` file.
    frame : int, optional
        Ignored (one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        Channels named as in the file (``HeightRetrace``...), heights in m, phase in deg.

    Raises
    ------
    ScanReadError
        Not an Igor wave, not a 2-D/3-D image wave, or a truncated/corrupt file.
    """
    from igor2 import binarywave  # lazy: igor2 is only needed for .ibw files

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEADER5 + _WAVE5)
    if not sniff(head, path.suffix.lower()):
        raise ScanReadError(path, "not an Igor binary wave of version 5 (the header check fails)")
    _check_size(path)
    wave = binarywave.load(str(path))["wave"]
    header = wave["wave_header"]
    bin_header = wave["bin_header"]
    n_dim = [int(n) for n in header["nDim"]]
    npnts = int(header["npnts"])
    data = np.asarray(wave["wData"])
    expected = int(np.prod([n for n in n_dim if n] or [0]))
    if data.size != npnts or npnts != expected or data.size == 0:
        raise ScanReadError(
            path,
            f"the file is truncated or corrupt: the wave should hold {expected} values, "
            f"{data.size} were read",
        )
    if n_dim[3] or not (n_dim[0] and n_dim[1]):
        raise ScanReadError(path, f"not an image wave: dimensions {n_dim} (force curves are not supported)")
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if np.iscomplexobj(data) or data.dtype.kind not in "fiu":
        raise ScanReadError(path, f"unsupported wave data type {data.dtype}")
    n_layers = data.shape[2]
    note = parse_note(wave["note"])
    labels = _labels(path, bin_header, n_layers)
    names = [labels[k] if k < len(labels) and labels[k] else f"Channel {k}" for k in range(n_layers)]
    names = unique_names(names)
    channels = []
    for k, name in enumerate(names):
        image = np.flipud(np.asarray(data[:, :, k], dtype=np.float64).T)
        unit = asylum_unit(name, note)
        if unit == "V" and _base_name(name).casefold().startswith("zsensor"):
            logger.warning(
                "%s: %s was recorded without Z sensor calibration (ZLVDTSens %s); its unit is V",
                path,
                name,
                note.get("ZLVDTSens"),
            )
        channels.append(Channel(name, image, unit, _direction(name)))

    dim_units = [_unit_text(header["dimUnits"][d]) for d in (0, 1)]
    pixel_size = None
    sfa = [float(v) for v in header["sfA"][:2]]
    scale = [length_factor(u) for u in dim_units]
    if scale[0] and scale[1] and all(math.isfinite(v) and v != 0 for v in sfa):
        pixel_size = (abs(sfa[1]) * scale[1], abs(sfa[0]) * scale[0])
    else:
        fast, slow = _number(note.get("FastScanSize")), _number(note.get("SlowScanSize"))
        ny, nx = channels[0].shape
        if fast and slow and fast > 0 and slow > 0 and nx > 1 and ny > 1:
            pixel_size = (slow / (ny - 1), fast / (nx - 1))
    shape = channels[0].shape
    meta = note_metadata(
        note,
        header["bname"].decode("latin-1") if isinstance(header["bname"], bytes) else str(header["bname"]),
    )
    origin = origin_from_note(note, shape, pixel_size)
    x_off, y_off = _number(note.get("XOffset")), _number(note.get("YOffset"))
    if x_off is not None and y_off is not None:
        meta["scan_center_x"], meta["scan_center_y"] = x_off, y_off
    angle = _number(note.get("ScanAngle"))
    if angle is not None:
        meta["scan_angle"] = angle
    model = note.get("MicroscopeModel")
    instrument = f"Asylum Research {model}" if model else "Asylum Research"
    return Scan(
        tuple(channels),
        pixel_size,
        origin=origin,
        instrument=instrument,
        metadata=meta,
        source=path,
        format="igor",
    )
