r"""Nanosurf ``.nid`` scans (easyScan 2, FlexAFM, CoreAFM, NaioAFM).

Hand parser. NSFopen reads the same data (the tests use it as an independent check) but needs pandas, decodes
the UTF-8 header as latin-1 (so "µm" and "°" arrive mangled), keeps the scan offsets only rounded to 6
decimals and does not check the data sizes against the file size. The format: an INI-style text header
(``[DataSet]`` lists groups ``Gr0-Name=Scan forward`` with their channels ``Gr0-Ch1=DataSet-0:1``; each
``[DataSet-g:c]`` section gives ``Points``, ``Lines``, ``Dim0Range`` (x size), ``Dim1Range``, ``Dim2Name``
(the channel), ``Dim2Unit``, ``Dim2Range``, ``Dim2Min``, ``SaveBits``/``SaveSign``/``SaveOrder``), then ``#!``
and the raw integers, channel after channel in group order. A value is ``Dim2Min + (raw - lowest raw) *
Dim2Range / 2**SaveBits``.

As Gwyddion 2.62 shows the files (checked on the whole corpus, values identical): the stored lines run from
the bottom, so images are flipped vertically; backward images are not mirrored. Names are the file's channel
names, a backward image being ``"<name> retrace"`` (direction ``retrace``), e.g. ``"Z-Axis"`` and ``"Z-Axis
retrace"``; Gwyddion titles them "Z-Axis forward" / "Z-Axis backward". The pixel size is ``Dim0Range/Points``
by ``Dim1Range/Lines``.

``ScanOffset`` (the scan centre, from ``[DataSet\Parameters\Imaging]``, else the rounded
``X-Pos``/``Y-Pos``) and the rotation go to metadata; when the rotation is 0, ``Scan.origin`` is the top-left
corner of the top-left pixel, ``(-(y_offset) - height/2, x_offset - width/2)``, scansr's y growing down the
rows (unverified on a zoom pair).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from scansr.io._common import finite_float, unique_names
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import length_factor, parse_quantity, split_prefix

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_MARKER = b"#!"
_MAX_HEADER = 8 * 1024 * 1024


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a Nanosurf NID header (``[DataSet]``).

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
    return head.lstrip(b"\xef\xbb\xbf").startswith(b"[DataSet]")


def _parse_ini(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def _length(text: str | None) -> float | None:
    """``"1.3µm"`` -> 1.3e-6; ``"0 m"`` -> 0.0."""
    quantity = parse_quantity(text) if text else None
    return quantity[0] if quantity is not None and quantity[1] == "m" else None


def _vector(text: str | None) -> list[float] | None:
    """``"V[1.2982e-06,-1.65728e-07,0]*[m,m,m]"`` -> [1.2982e-06, -1.65728e-07, 0.0]."""
    if not text:
        return None
    m = re.match(r"V\[([^\]]*)\]", text)
    if not m:
        return None
    try:
        return [float(v) for v in m.group(1).split(",")]
    except ValueError:
        return None


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read every image channel of a Nanosurf ``.nid`` file, forward and backward.

    Parameters
    ----------
    path : Path
        The ``.nid`` file.
    frame : int, optional
        Ignored (one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        Channels ``"Z-Axis"``, ``"Z-Axis retrace"``, ``"Amplitude"``, ... in the file's units (m, V, deg, N).

    Raises
    ------
    ScanReadError
        Not a NID file, no image channel, or a truncated/corrupt file.
    """
    path = Path(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fh:
        blob = fh.read(min(file_size, _MAX_HEADER))
    if not sniff(blob, path.suffix.lower()):
        raise ScanReadError(path, "not a Nanosurf NID file: it does not start with [DataSet]")
    marker = blob.find(_MARKER)
    if marker < 0:
        raise ScanReadError(path, "the file is truncated: the header has no end marker '#!' and no data")
    raw_header = blob[:marker]
    try:
        text = raw_header.decode("utf-8")
    except UnicodeDecodeError:
        text = raw_header.decode("latin-1")
    sections = _parse_ini(text)
    dataset = sections.get("DataSet", {})
    try:
        n_groups = int(dataset.get("GroupCount", "0"))
    except ValueError:
        raise ScanReadError(path, f"bad GroupCount {dataset.get('GroupCount')!r}") from None

    blocks = []  # (section, group name, offset)
    offset = marker + len(_MARKER)
    for g in range(n_groups):
        group = dataset.get(f"Gr{g}-Name", f"Group {g}")
        try:
            count = int(dataset.get(f"Gr{g}-Count", "0"))
        except ValueError:
            count = 0
        for c in range(max(count, 0) + 1):
            key = dataset.get(f"Gr{g}-Ch{c}")
            if key is None:
                continue
            sec = sections.get(key)
            if sec is None:
                raise ScanReadError(path, f"the header names channel section [{key}] but does not contain it")
            try:
                points, lines, bits = int(sec["Points"]), int(sec["Lines"]), int(sec.get("SaveBits", "32"))
            except (KeyError, ValueError):
                raise ScanReadError(path, f"section [{key}] lacks Points, Lines or SaveBits") from None
            if bits not in (8, 16, 32) or points < 1 or lines < 1 or points * lines > 10**9:
                raise ScanReadError(
                    path, f"section [{key}]: unsupported size {points}x{lines} or {bits} bits"
                )
            blocks.append((sec, group, offset, points, lines, bits))
            offset += points * lines * bits // 8
    if not blocks:
        raise ScanReadError(path, "the header lists no data channel")
    if offset > file_size:
        raise ScanReadError(
            path,
            f"the file is truncated: the header announces {offset - marker - 2} bytes of "
            f"data but only {file_size - marker - 2} follow it",
        )

    images = [b for b in blocks if b[1].casefold().startswith("scan")]
    if not images:
        raise ScanReadError(path, "the file holds no scan image (spectroscopy data are not supported)")
    shape = (images[0][4], images[0][3])
    channels = []
    for sec, group, start, points, lines, bits in images:
        if (lines, points) != shape:
            logger.warning(
                "%s: skipping [%s] of %dx%d (the first image is %dx%d)",
                path,
                sec.get("Dim2Name"),
                lines,
                points,
                *shape,
            )
            continue
        signed = sec.get("SaveSign", "Signed").casefold() == "signed"
        order = ">" if sec.get("SaveOrder", "Intel").casefold() == "motorola" else "<"
        dtype = np.dtype(f"{order}{'i' if signed else 'u'}{bits // 8}")
        raw = np.fromfile(path, dtype=dtype, count=points * lines, offset=start).astype(np.float64)
        zrange, zmin = finite_float(sec.get("Dim2Range")), finite_float(sec.get("Dim2Min"))
        if zrange is None or zmin is None:
            raise ScanReadError(path, f"channel {sec.get('Dim2Name')!r} has no Dim2Range/Dim2Min")
        lowest = -(2.0 ** (bits - 1)) if signed else 0.0
        unit, factor = split_prefix(sec.get("Dim2Unit", ""))  # Dim2Range and Dim2Min are in Dim2Unit
        values = (zmin + (raw - lowest) * zrange / 2.0**bits) * factor
        retrace = "backward" in group.casefold()
        base = sec.get("Dim2Name") or "Channel"
        channels.append(
            Channel(
                base + (" retrace" if retrace else ""),
                np.flipud(values.reshape(lines, points)),
                unit,
                "retrace" if retrace else "trace",
            )
        )
    names = unique_names([c.name for c in channels])
    channels = [
        c if c.name == name else c.replace(name=name) for c, name in zip(channels, names, strict=True)
    ]

    first = images[0][0]
    xrange_, yrange = finite_float(first.get("Dim0Range")), finite_float(first.get("Dim1Range"))
    x_factor, y_factor = length_factor(first.get("Dim0Unit", "m")), length_factor(first.get("Dim1Unit", "m"))
    pixel_size = None
    if x_factor and y_factor and xrange_ and yrange and xrange_ > 0 and yrange > 0:
        pixel_size = (yrange * y_factor / shape[0], xrange_ * x_factor / shape[1])

    info = sections.get("DataSet\\DataSetInfos\\Scan") or sections.get("DataSet-Info", {})
    imaging = sections.get("DataSet\\Parameters\\Imaging", {})
    meta: dict = {}
    for key in ("Date", "Time", "Scan direction", "Time/Line", "Image size"):
        if info.get(key):
            meta[key] = info[key]
    global_info = sections.get("DataSet\\DataSetInfos\\Global", {})
    for key in ("Op. mode", "Cantilever type", "Head type", "Software ver.", "Measurement environment"):
        if global_info.get(key):
            meta[key] = global_info[key]
    offset_xy = _vector(imaging.get("ScanOffset"))
    if offset_xy is None or len(offset_xy) < 2:
        x_pos, y_pos = _length(info.get("X-Pos")), _length(info.get("Y-Pos"))
        offset_xy = None if x_pos is None or y_pos is None else [x_pos, y_pos]
    rotation_vec = _vector(imaging.get("ScanRotation"))
    angle = rotation_vec[2] if rotation_vec is not None and len(rotation_vec) > 2 else None
    if angle is None:
        m = re.match(r"\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)", info.get("Rotation", ""))
        angle = float(m.group(1)) if m else None
    origin = None
    if angle is not None:
        meta["scan_angle"] = angle
    if offset_xy is not None:
        meta["scan_center_x"], meta["scan_center_y"] = offset_xy[0], offset_xy[1]
        if (
            pixel_size is not None
            and angle is not None
            and angle % 360 == 0
            and all(map(math.isfinite, offset_xy))
        ):
            height, width = shape[0] * pixel_size[0], shape[1] * pixel_size[1]
            origin = (-offset_xy[1] - height / 2, offset_xy[0] - width / 2)
    instrument = "Nanosurf"
    if global_info.get("Head type"):
        instrument = f"Nanosurf {global_info['Head type']}"
    return Scan(
        tuple(channels),
        pixel_size,
        origin=origin,
        instrument=instrument,
        metadata=meta,
        source=path,
        format="nanosurf",
    )
