"""Agilent / Molecular Imaging PicoView ``.mi`` image files.

A text header of fixed-width lines (key in the first 14 characters, value after), one ``bufferLabel`` block
per channel (``bufferRange``, ``bufferUnit``, ``trace``), then a ``data`` line naming the sample type
(``BINARY`` int16, ``BINARY_32`` int32) followed by the channels one after another, bottom row first. A sample
``n`` is ``n / 2**15 * bufferRange`` (int16) or ``n / 2**31 * bufferRange`` (int32) in ``bufferUnit``; rows
are flipped so that row 0 is the top row, as in Gwyddion.

The scan size is ``xLength``/``yLength`` (metres) when the header has them; some PicoView exports (the Magni
example) have neither, and Gwyddion then substitutes a dummy 1 nm field: scansr gives ``pixel_size=None``
instead, so pass ``scan_size=`` to `scansr.io.read`. A buffer flagged ``trace Retrace`` is named
``"<label> retrace"`` (``"Topography"`` and ``"Topography retrace"``). ``xOffset``/``yOffset`` stay in the
metadata (their convention is unverified). Spectroscopy ``.mi`` files and ASCII data raise
`UnsupportedFormatError`.

Written by hand because no maintained Python package reads PicoView files; the layout follows Gwyddion's
``modules/file/mifile.c`` and the scaling and orientation are checked against Gwyddion's conversion in the
tests.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from scansr.io._common import unique_name
from scansr.scan import Channel, Scan, ScanReadError, UnsupportedFormatError
from scansr.units import split_prefix

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

IMAGE_MAGIC = b"fileType      Image"
SPECTROSCOPY_MAGIC = b"fileType      Spectroscopy"
_KEY_WIDTH = 14
_SAMPLE_TYPES = {"": ("<i2", 2**15), "BINARY": ("<i2", 2**15), "BINARY_32": ("<i4", 2**31)}
_MAX_HEADER = 1 << 20


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a PicoView file (``fileType      Image`` or ``... Spectroscopy``)."""
    return head.startswith(IMAGE_MAGIC) or head.startswith(SPECTROSCOPY_MAGIC)


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read a PicoView ``.mi`` image file.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Unused (single image).

    Returns
    -------
    Scan
        One channel per buffer, values in SI units; pixel size from ``xLength``/``yLength``, else None.

    Raises
    ------
    ScanReadError
        Truncated or corrupt file.
    UnsupportedFormatError
        A spectroscopy file, or an image stored as ASCII.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(SPECTROSCOPY_MAGIC):
        raise UnsupportedFormatError(
            path,
            "a PicoView spectroscopy file (force or I-V curves), not an image; "
            "open it in Gwyddion or PicoView",
        )
    if not raw.startswith(IMAGE_MAGIC):
        raise ScanReadError(path, "not a PicoView .mi file: it does not start with 'fileType      Image'")
    header, start, sample_type = _split_header(path, raw)
    global_meta, buffers = _parse_header(header)
    if sample_type == "ASCII":
        raise UnsupportedFormatError(
            path,
            "PicoView image stored as ASCII, which scansr does not read; export it "
            "from PicoView as binary, or open it in Gwyddion and save as .gwy",
        )
    if sample_type not in _SAMPLE_TYPES:
        raise ScanReadError(path, f"unknown PicoView sample type {sample_type!r} (known: BINARY, BINARY_32)")
    dtype, full_scale = _SAMPLE_TYPES[sample_type]
    try:
        xres, yres = int(global_meta["xPixels"]), int(global_meta["yPixels"])
    except (KeyError, ValueError):
        raise ScanReadError(path, "the header lacks a valid xPixels / yPixels") from None
    if not buffers:
        raise ScanReadError(path, "the header names no channel (no bufferLabel line)")
    if xres < 1 or yres < 1:
        raise ScanReadError(path, f"the header gives an image of {xres}x{yres} pixels")
    itemsize = np.dtype(dtype).itemsize
    need = len(buffers) * xres * yres * itemsize
    if len(raw) - start < need:
        raise ScanReadError(
            path,
            f"truncated: {len(buffers)} channels of {yres}x{xres} {sample_type} samples need "
            f"{need} bytes, the file has {len(raw) - start} after the header",
        )
    if len(raw) - start > need:
        logger.warning("%s: %d bytes after the image data ignored", path, len(raw) - start - need)

    samples = np.frombuffer(raw, dtype=dtype, count=len(buffers) * xres * yres, offset=start)
    samples = samples.reshape(len(buffers), yres, xres)
    channels: list[Channel] = []
    metadata: dict[str, Any] = {k: _number(v) for k, v in global_meta.items()}
    names: set[str] = set()
    for k, buffer in enumerate(buffers):
        label = buffer.get("bufferLabel", "").strip() or f"Channel {k}"
        trace = buffer.get("trace", "").strip().casefold()
        direction = "retrace" if trace == "retrace" else "trace" if trace == "trace" else None
        name = f"{label} retrace" if direction == "retrace" else label
        name = unique_name(name, names)
        names.add(name)
        unit, factor = split_prefix(buffer.get("bufferUnit", ""))
        try:
            buffer_range = float(buffer["bufferRange"])
        except (KeyError, ValueError):
            logger.warning("%s: channel %s has no bufferRange; values left as raw counts", path, name)
            buffer_range, unit, factor = float(full_scale), "counts", 1.0
        scale = buffer_range * factor / full_scale
        channels.append(Channel(name, samples[k][::-1] * scale, unit=unit, direction=direction))
        for key, value in buffer.items():
            if key not in ("bufferLabel", "trace"):
                metadata[f"{name}: {key}"] = _number(value)
    return Scan(
        tuple(channels),
        _pixel_size(path, global_meta, xres, yres),
        instrument="Agilent PicoView",
        metadata=metadata,
        source=path,
        format="mi",
    )


def _split_header(path: Path, raw: bytes) -> tuple[str, int, str]:
    """Return the header text, the offset of the first sample and the sample type of the ``data`` line."""
    pos = 0
    limit = min(len(raw), _MAX_HEADER)
    while pos < limit:
        end = raw.find(b"\n", pos, limit)
        if end < 0:
            break
        line = raw[pos:end].rstrip(b"\r")
        if line[:_KEY_WIDTH].strip() == b"data":
            sample_type = line[_KEY_WIDTH:].strip().decode("latin-1")
            return raw[:pos].decode("latin-1"), end + 1, sample_type
        pos = end + 1
    raise ScanReadError(path, "no 'data' line ends the PicoView header (truncated or not an image file)")


def _parse_header(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    global_meta: dict[str, str] = {}
    buffers: list[dict[str, str]] = []
    current = global_meta
    for line in text.splitlines():
        if not line.strip() or line.startswith(" "):
            continue
        key, value = line[:_KEY_WIDTH].strip(), line[_KEY_WIDTH:].strip()
        if key == "bufferLabel":
            current = {}
            buffers.append(current)
        current[key] = value
    return global_meta, buffers


def _pixel_size(path: Path, meta: dict[str, str], xres: int, yres: int) -> tuple[float, float] | None:
    try:
        width, height = float(meta["xLength"]), float(meta["yLength"])
    except (KeyError, ValueError):
        logger.info("%s: the header has no xLength/yLength: no pixel size (pass scan_size=)", path)
        return None
    if not (width > 0 and height > 0 and math.isfinite(width * height)):
        logger.warning("%s: scan size %r x %r is not positive: no pixel size", path, height, width)
        return None
    return (height / yres, width / xres)
