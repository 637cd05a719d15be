"""High-speed AFM videos in the ``.asd`` format (Kanazawa University / RIBM; Kodec, Falcon viewer), v1 and v2.

Layout (little-endian; the field list of the format description as implemented in libasd by T. Niina): a file
header of ``file_header_size`` bytes (version, sizes, the data kind of channel 1 and 2 as two ASCII letters —
``"TP"`` topography, ``"ER"`` error, ``"PH"`` phase, 0 for none —, number of frames, pixels ``x_pixel`` x
``y_pixel``, scan range in nm, frame time, sensor and phase sensitivity, AD range code and resolution, piezo
constants), then every frame of channel 1 (a ``frame_header_size``-byte frame header and ``y_pixel`` lines of
``x_pixel`` int16 levels), then every frame of channel 2.

A level becomes a voltage by the AD range (unipolar 0..1, 2.5, 5 or 10 V; bipolar +-1, 2.5 or 5 V over
``2**AD_resolution`` levels) and then a value: topography = voltage x Z piezo gain x Z piezo extension (nm/V),
error = voltage x -sensor sensitivity (nm/V), phase = voltage x -phase sensitivity (deg/V). The voltage falls
with the level (``V = V_max - span * level / 2**bits``, ``V_max`` = 0 for unipolar ranges), so that the Z
piezo contracts over higher features: AFMReader (used by TopoStats / playNano) and the NanoLocz reader compute
the same heights (AFMReader to 0.1 %: it takes the 10 V range as 9.99 V), and raised membrane patches on mica
come out raised. Heights are relative (the constant offset of a level carries no information). Rows are kept
in file order (row 0 = first stored line), as AFMReader, NanoLocz and playNano show them; Gwyddion cannot open
``.asd``, so this orientation has no independent check.

Written here instead of using AFMReader's ``load_asd`` because that returns one channel of all frames at once
in nm with one pixel size, reads the ``0x3`` range as 0..9.99 V and does not check the file size against the
header (a truncated file gives short frames); here a frame is read on its own, sizes are checked first.
Version 0 files are not supported (no example to test against).
"""

from __future__ import annotations

import logging
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

# Fixed part of the version-1/2 file header (165 bytes); then operator name and comment (sizes in the header).
_HEADER = struct.Struct("<6i 2i 4i 4i ? i 6i 2i 3f i 12x i i i 6f")
_HEADER_FIELDS = (
    "file_version", "file_header_size", "frame_header_size", "text_encoding", "operator_name_size",
    "comment_size", "data_kind_1", "data_kind_2", "init_frames", "n_frames", "scan_direction", "file_id",
    "x_pixel", "y_pixel", "x_range_nm", "y_range_nm", "is_averaged", "average_window", "year", "month", "day",
    "hour", "minute", "second", "x_rounding", "y_rounding", "frame_time_ms", "sensor_sensitivity",
    "phase_sensitivity", "offset", "machine_id", "ad_range", "ad_resolution", "x_max_range_nm",
    "y_max_range_nm", "x_piezo_extension", "y_piezo_extension", "z_piezo_extension", "z_piezo_gain",
)  # fmt: skip
_FRAME_HEADER = struct.Struct(
    "<i 4h 2f ? b h i i"
)  # number, max, min, x/y offset, x/y tilt, stimulated, booked
# AD range code -> (volts at level 0, span in volts): V = v0 - span * level / 2**bits (see module docstring).
_AD_RANGES = {
    0x00000001: (0.0, 1.0), 0x00000002: (0.0, 2.5), 0x00000003: (0.0, 10.0), 0x00000004: (0.0, 5.0),
    0x00010000: (1.0, 2.0), 0x00020000: (2.5, 5.0), 0x00040000: (5.0, 10.0),
}  # fmt: skip
_DUMMY_RANGE = 0x00800000  # written by libasd for processed data: V = 160 * level / 2**bits - 80
_KINDS = {0x5054: ("Topography", "m"), 0x5245: ("Error", "m"), 0x4850: ("Phase", "deg")}
_MAX_PIXELS = 1 << 14


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` is the header of an ``.asd`` file (version 1 or 2 with a consistent header).

    The format has no magic bytes, so the header's sizes, pixel counts and data-kind codes are checked.
    """
    if len(head) < _HEADER.size:
        return False
    h = dict(zip(_HEADER_FIELDS, _HEADER.unpack_from(head, 0), strict=True))
    return (
        h["file_version"] in (1, 2)
        and h["file_header_size"] >= _HEADER.size
        and 0 < h["frame_header_size"] < 1 << 16
        and h["data_kind_1"] in _KINDS
        and (h["data_kind_2"] in _KINDS or h["data_kind_2"] == 0)
        and 0 < h["x_pixel"] <= _MAX_PIXELS
        and 0 < h["y_pixel"] <= _MAX_PIXELS
    )


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read one frame (both channels where the file has two) of an HS-AFM ``.asd`` video.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Frame to read, 0-based (default the first); ``Scan.n_frames`` says how many the file has.

    Returns
    -------
    Scan
        ``"Topography"`` in m and, where recorded, ``"Error"`` (m) or ``"Phase"`` (deg); pixel size from the
        header's scan range.

    Raises
    ------
    ScanReadError
        Not a version 1/2 ``.asd`` file, a header that does not fit the file size (truncated), an unknown AD
        range or data kind, or `frame` beyond the last frame.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(min(size, 1 << 16))
        if len(head) < 4:
            raise ScanReadError(path, "too short for an .asd header")
        version = struct.unpack_from("<i", head, 0)[0]
        if version == 0:
            raise ScanReadError(
                path,
                "version-0 .asd files are not supported; save the video again with a current Kodec viewer",
            )
        if version not in (1, 2):
            raise ScanReadError(path, f"not an .asd file of version 1 or 2 (version field {version})")
        if len(head) < _HEADER.size:
            raise ScanReadError(path, f"truncated .asd header ({len(head)} of {_HEADER.size} bytes)")
        h: dict[str, Any] = dict(zip(_HEADER_FIELDS, _HEADER.unpack_from(head, 0), strict=True))
        nx, ny, n_frames = h["x_pixel"], h["y_pixel"], h["n_frames"]
        if not (0 < nx <= _MAX_PIXELS and 0 < ny <= _MAX_PIXELS):
            raise ScanReadError(path, f"implausible .asd frame size {nx}x{ny} pixels")
        if n_frames < 1:
            raise ScanReadError(path, f"the .asd header says {n_frames} frames")
        kinds = [h["data_kind_1"]] + ([h["data_kind_2"]] if h["data_kind_2"] != 0 else [])
        for kind in kinds:
            if kind not in _KINDS:
                raise ScanReadError(path, f"unknown .asd data kind {kind:#06x} (known: 'TP', 'ER', 'PH')")
        hdr_size, fhdr_size = h["file_header_size"], h["frame_header_size"]
        if hdr_size < _HEADER.size or not 0 <= fhdr_size < 1 << 16:
            raise ScanReadError(path, f"corrupt .asd header sizes ({hdr_size}, {fhdr_size})")
        frame_bytes = fhdr_size + 2 * nx * ny
        expected = hdr_size + len(kinds) * n_frames * frame_bytes
        if size < expected:
            raise ScanReadError(
                path,
                f"truncated .asd file: the header promises {len(kinds)} channel(s) of {n_frames} frames of "
                f"{nx}x{ny} pixels ({expected} bytes) but the file has {size} bytes",
            )
        if size > expected:
            logger.warning("%s: %d bytes after the last frame ignored", path, size - expected)
        index = 0 if frame is None else int(frame)
        if not 0 <= index < n_frames:
            raise ScanReadError(path, f"frame {frame} does not exist; the file has {n_frames} frame(s)")
        volts = _level_to_volts(path, h)
        channels = []
        frame_header: tuple = ()
        for c, kind in enumerate(kinds):
            fh.seek(hdr_size + (c * n_frames + index) * frame_bytes)
            block = fh.read(frame_bytes)
            if len(block) != frame_bytes:
                raise ScanReadError(path, f"truncated .asd file: frame {index} of channel {c + 1} is cut off")
            if c == 0 and fhdr_size >= _FRAME_HEADER.size:
                frame_header = _FRAME_HEADER.unpack_from(block, 0)
            levels = np.frombuffer(block, dtype="<i2", count=nx * ny, offset=fhdr_size).reshape(ny, nx)
            name, unit = _KINDS[kind]
            channels.append(Channel(name, volts(levels) * _coefficient(kind, h), unit=unit))
    metadata = _metadata(path, head, h, index, frame_header)
    x_range, y_range = h["x_range_nm"] * 1e-9, h["y_range_nm"] * 1e-9
    pixel_size = (y_range / ny, x_range / nx) if x_range > 0 and y_range > 0 else None
    return Scan(
        channels=tuple(channels),
        pixel_size=pixel_size,
        frame=index,
        n_frames=n_frames,
        instrument="High-speed AFM (Kanazawa / RIBM .asd)",
        metadata=metadata,
        source=path,
        format="asd",
    )


def _level_to_volts(path: Path, h: dict[str, Any]) -> Any:
    bits = h["ad_resolution"]
    if not 1 <= bits <= 24:
        logger.warning("%s: AD resolution of %s bits is implausible; using 12", path, bits)
        bits = 12
    levels = float(1 << bits)
    code = h["ad_range"] & 0xFFFFFFFF
    if code == _DUMMY_RANGE:
        return lambda lv: 160.0 * lv.astype(np.float64) / levels - 80.0
    if code not in _AD_RANGES:
        known = ", ".join(f"{k:#x}" for k in (*_AD_RANGES, _DUMMY_RANGE))
        raise ScanReadError(path, f"unknown .asd AD range code {code:#x} (known: {known})")
    v0, span = _AD_RANGES[code]
    return lambda lv: v0 - span * lv.astype(np.float64) / levels


def _coefficient(kind: int, h: dict[str, Any]) -> float:
    """Return the factor from volts to SI units of a data kind (m/V: topography and error; deg/V: phase)."""
    if kind == 0x5054:
        return float(h["z_piezo_gain"]) * float(h["z_piezo_extension"]) * 1e-9
    if kind == 0x5245:
        return -float(h["sensor_sensitivity"]) * 1e-9
    return -float(h["phase_sensitivity"])


def _text(raw: bytes, encoding: int) -> str:
    codec = {932: "cp932", 65001: "utf-8", 1252: "cp1252"}.get(encoding, "latin-1")
    try:
        return raw.split(b"\x00", 1)[0].decode(codec, "replace").strip()
    except LookupError:
        return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def _metadata(path: Path, head: bytes, h: dict[str, Any], index: int, frame_header: tuple) -> dict[str, Any]:
    pos = _HEADER.size + h["operator_name_size"]
    comment = ""
    if h["comment_size"] >= 0 and pos + h["comment_size"] <= len(head):
        comment = _text(head[pos : pos + h["comment_size"]], h["text_encoding"])
    frame_time = float(h["frame_time_ms"]) * 1e-3
    metadata: dict[str, Any] = {
        "asd_version": int(h["file_version"]),
        "date": f"{h['year']:04d}-{h['month']:02d}-{h['day']:02d} "
        f"{h['hour']:02d}:{h['minute']:02d}:{h['second']:02d}",
        "channel_kinds": "/".join(_KINDS[k][0] for k in (h["data_kind_1"], h["data_kind_2"]) if k in _KINDS),
        "scan_range_x_m": h["x_range_nm"] * 1e-9,
        "scan_range_y_m": h["y_range_nm"] * 1e-9,
        "scan_direction": int(h["scan_direction"]),
        "frame_acquisition_time_s": frame_time,
        "frame_time_s": index * frame_time,
        "ad_range_code": f"{h['ad_range'] & 0xFFFFFFFF:#x}",
        "ad_resolution_bits": int(h["ad_resolution"]),
        "z_piezo_gain": float(h["z_piezo_gain"]),
        "z_piezo_extension_nm_per_v": float(h["z_piezo_extension"]),
        "x_piezo_extension_nm_per_v": float(h["x_piezo_extension"]),
        "y_piezo_extension_nm_per_v": float(h["y_piezo_extension"]),
        "sensor_sensitivity_nm_per_v": float(h["sensor_sensitivity"]),
        "phase_sensitivity_deg_per_v": float(h["phase_sensitivity"]),
        "x_rounding_percent": int(h["x_rounding"]),
        "y_rounding_percent": int(h["y_rounding"]),
        "averaged": bool(h["is_averaged"]),
        "machine_id": int(h["machine_id"]),
        "file_id": int(h["file_id"]),
    }
    if comment:
        metadata["comment"] = comment
    if frame_header:
        number, _max, _min, x_off, y_off, x_tilt, y_tilt, stimulated, *_ = frame_header
        metadata.update(
            frame_number=int(number),
            frame_x_offset=int(x_off),
            frame_y_offset=int(y_off),
            frame_x_tilt=float(x_tilt) if math.isfinite(x_tilt) else 0.0,
            frame_y_tilt=float(y_tilt) if math.isfinite(y_tilt) else 0.0,
            frame_stimulated=bool(stimulated),
        )
    return metadata
