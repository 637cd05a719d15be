"""SPECS Nanonis ``.sxm`` scans.

Hand parser: nanonispy fails on numpy 2, and pySPM's SXM reader prints to stdout and reads one channel at a
time. The format is simple: a text header of ``:KEY:`` lines followed by their values, ending with
``:SCANIT_END:``, then the bytes ``0x1A 0x04`` and the data, channel after channel as the ``:DATA_INFO:``
table lists them, each channel as its forward image then (direction ``both``) its backward image,
``SCAN_PIXELS`` wide, line after line, big-endian float32 (``SCANIT_TYPE``). Values are already in the table's
units (m, A, V, Hz, deg).

Orientation, as Gwyddion 2.62 shows the files (checked on the corpus): lines of an upward scan (``SCAN_DIR:
up``) are stored from the bottom, so the image is flipped vertically; backward images are stored in scan order
and are mirrored left-right so that they overlay the forward ones.

Names follow the file's channel names; a backward image is named ``"<name> retrace"`` (direction ``retrace``),
e.g. ``"Z"`` and ``"Z retrace"``. ``SCAN_RANGE`` / ``SCAN_PIXELS`` gives the pixel size. ``SCAN_OFFSET`` (the
scan centre) and ``SCAN_ANGLE`` (deg) go to metadata; when the angle is 0, ``Scan.origin`` is the top-left
corner of the top-left pixel, ``(-(y_offset) - height/2, x_offset - width/2)``: scansr's y grows down the
rows, Nanonis' stage y up the image (Gwyddion reports ``y_offset - height/2`` instead, ignoring the
direction).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import canonical_unit

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_MAGIC = b":NANONIS_VERSION:"
_END = b":SCANIT_END:"
_MAX_HEADER = 4 * 1024 * 1024
_TYPES = {"FLOAT": "f4", "DOUBLE": "f8", "INT": "i4", "UINT": "u4", "SHORT": "i2"}


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a Nanonis scan header (``:NANONIS_VERSION:``).

    Parameters
    ----------
    head : bytes
        First bytes of the file.
    suffix : str
        Lower-case suffix with the dot (unused).

    Returns
    -------
    bool
    """
    return head.lstrip()[: len(_MAGIC)] == _MAGIC


def _parse_header(text: str) -> dict[str, str]:
    header: dict[str, str] = {}
    key = None
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        m = re.fullmatch(r":([^:].*?):", line.strip())
        if m and not line.startswith((" ", "\t")):
            if key is not None:
                header[key] = "\n".join(lines).strip("\n")
            key, lines = m.group(1), []
        elif key is not None:
            lines.append(line)
    if key is not None:
        header[key] = "\n".join(lines).strip("\n")
    return header


def _numbers(text: str | None, count: int) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        return None
    return values if len(values) == count else None


def _data_info(path: Path, text: str | None) -> list[dict[str, str]]:
    if not text:
        raise ScanReadError(path, "the header has no :DATA_INFO: table")
    rows = [line.strip().split("\t") for line in text.splitlines() if line.strip()]
    columns = [c.strip() for c in rows[0]]
    table = []
    for row in rows[1:]:
        if len(row) != len(columns):
            raise ScanReadError(path, f"malformed :DATA_INFO: row {row!r}")
        table.append({c: v.strip() for c, v in zip(columns, row, strict=True)})
    if not table or not {"Name", "Unit", "Direction"} <= set(columns):
        raise ScanReadError(path, "the :DATA_INFO: table lists no channel")
    return table


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read every channel of a Nanonis ``.sxm`` scan, forward and backward.

    Parameters
    ----------
    path : Path
        The ``.sxm`` file.
    frame : int, optional
        Ignored (one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        Channels ``"Z"``, ``"Z retrace"``, ``"Current"``, ... in the file's units (m, A, V, Hz, deg).

    Raises
    ------
    ScanReadError
        Not a Nanonis scan, or a truncated/corrupt file.
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fh:
        blob = fh.read(min(file_size, _MAX_HEADER))
    if not sniff(blob, path.suffix.lower()):
        raise ScanReadError(path, "not a Nanonis scan: no :NANONIS_VERSION: header")
    end = blob.find(_END)
    if end < 0:
        raise ScanReadError(
            path, "the header has no :SCANIT_END: (the file is truncated or not a Nanonis scan)"
        )
    marker = blob.find(b"\x1a\x04", end)
    if marker < 0:
        raise ScanReadError(path, "the file is truncated: no data after the header")
    header = _parse_header(blob[:end].decode("latin-1"))
    pixels = _numbers(header.get("SCAN_PIXELS"), 2)
    if pixels is None or min(pixels) < 1 or max(pixels) > 1e6:
        raise ScanReadError(path, f"bad SCAN_PIXELS {header.get('SCAN_PIXELS')!r}")
    nx, ny = int(pixels[0]), int(pixels[1])
    kind = (header.get("SCANIT_TYPE") or "FLOAT MSBFIRST").split()
    if kind[0] not in _TYPES:
        raise ScanReadError(path, f"unsupported SCANIT_TYPE {header.get('SCANIT_TYPE')!r}")
    dtype = np.dtype(("<" if len(kind) > 1 and kind[1] == "LSBFIRST" else ">") + _TYPES[kind[0]])
    table = _data_info(path, header.get("DATA_INFO"))
    images = []
    for row in table:
        direction = row["Direction"].casefold()
        if direction == "both":
            images += [(row, "trace"), (row, "retrace")]
        elif direction in ("forward", "backward"):
            images.append((row, "trace" if direction == "forward" else "retrace"))
        else:
            raise ScanReadError(path, f"unknown direction {row['Direction']!r} in :DATA_INFO:")
    start = marker + 2
    needed = len(images) * nx * ny * dtype.itemsize
    if start + needed > file_size:
        raise ScanReadError(
            path,
            f"the file is truncated: the header announces {len(images)} images of "
            f"{nx}x{ny} ({needed} bytes) but only {file_size - start} bytes follow it",
        )
    data = np.fromfile(path, dtype=dtype, count=len(images) * nx * ny, offset=start).astype(np.float64)
    data = data.reshape(len(images), ny, nx)
    scan_up = (header.get("SCAN_DIR") or "").strip().casefold() == "up"
    channels = []
    for k, (row, direction) in enumerate(images):
        image = data[k]
        if scan_up:
            image = image[::-1]
        if direction == "retrace":
            image = image[:, ::-1]
        name = row["Name"] + (" retrace" if direction == "retrace" and row["Direction"] == "both" else "")
        channels.append(Channel(name, image, canonical_unit(row["Unit"]), direction))
    names = [c.name for c in channels]
    if len(set(names)) < len(names):
        channels = [c.replace(name=f"{c.name} ({i})") for i, c in enumerate(channels)]

    size = _numbers(header.get("SCAN_RANGE"), 2)
    pixel_size = None
    if size is not None and all(math.isfinite(v) and v > 0 for v in size):
        pixel_size = (size[1] / ny, size[0] / nx)
    meta: dict = {}
    for key in (
        "NANONIS_VERSION",
        "REC_DATE",
        "REC_TIME",
        "SCAN_DIR",
        "BIAS",
        "SCAN_FILE",
        "COMMENT",
        "ACQ_TIME",
        "REC_TEMP",
    ):
        value = (header.get(key) or "").strip()
        if value:
            try:
                meta[key.casefold()] = float(value)
            except ValueError:
                meta[key.casefold()] = value
    offset = _numbers(header.get("SCAN_OFFSET"), 2)
    angle = _numbers(header.get("SCAN_ANGLE"), 1)
    origin = None
    if angle is not None:
        meta["scan_angle"] = angle[0]
    if offset is not None:
        meta["scan_center_x"], meta["scan_center_y"] = offset
        if pixel_size is not None and angle is not None and angle[0] % 360 == 0:
            height, width = ny * pixel_size[0], nx * pixel_size[1]
            origin = (-offset[1] - height / 2, offset[0] - width / 2)
    return Scan(
        tuple(channels),
        pixel_size,
        origin=origin,
        instrument="SPECS Nanonis",
        metadata=meta,
        source=path,
        format="nanonis",
    )
