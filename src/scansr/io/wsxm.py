"""Nanotec / WSxM image files (``.stp``, ``.top``, and ``.tom`` or other WSxM image files by content).

A WSxM image starts with ``WSxM file copyright ...`` / ``SxM Image file`` / ``Image header size: N``, then a
text header of ``[Section]`` blocks with ``Key: value`` lines (Latin-1), ending in ``[Header end]``; the data
follow as ``Number of rows`` x ``Number of columns`` little-endian values of ``Image Data Type`` (``double``,
``float``, ``short`` / ``integer`` = int16).

Values: a float file stores the values in the unit of ``[General Info] Z Amplitude`` (e.g. ``59.7449 nm``); an
int16 file stores levels, scaled by ``Z Amplitude / (Maximum - Minimum)`` with the level range of
``[Miscellaneous] Maximum`` / ``Minimum`` (or of the data where the header lacks it, as Gwyddion's
``wsxmfile`` does). Lateral size: ``[Control] X Amplitude`` / ``Y Amplitude`` with their own units (``nm``,
``µm``, ``Å``). Rows and columns are reversed (the image turned by 180°) so that row 0 is the top row as
Gwyddion displays the file. The channel is named by ``Acquisition channel`` (``"Topography"``); ``X scanning
direction`` ``Forward`` / ``Backward`` gives ``direction`` trace / retrace.

Gwyddion 2.62 parses the lateral size with the Z unit instead of the X one (so a ``2 µm`` scan whose Z is in
nm comes out as 2 nm wide); this reader takes each amplitude's own unit. AFMReader reads ``.stp`` / ``.top``
but stretches ``.top`` levels to 0 .. the integer part of Z Amplitude (59 for ``59.7449 nm``) and takes only
square nm / µm scans; the header is plain text, so it is parsed here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from scansr.io._common import finite_float
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import split_prefix, split_quantity

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

MAGIC = b"WSxM file copyright "
IMAGE_LINE = b"SxM Image file"
HEADER_END = b"[Header end]"
_MAX_HEADER = 1 << 20
_DTYPES = {"double": "<f8", "float": "<f4", "short": "<i2", "integer": "<i2", "int": "<i2"}


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a WSxM image file (``WSxM file copyright`` then ``SxM Image file``)."""
    if not head.startswith(MAGIC):
        return False
    lines = head.split(b"\n", 2)
    return len(lines) > 1 and lines[1].strip().startswith(IMAGE_LINE)


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read a WSxM ``.stp`` / ``.top`` image.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Unused (single image); anything but 0 is an error.

    Returns
    -------
    Scan
        One channel in SI units (``"m"`` for topography), pixel size from the X / Y amplitudes.

    Raises
    ------
    ScanReadError
        Not a WSxM image, no header end, an unknown data type, or fewer data bytes than the header promises.
    """
    path = Path(path)
    if frame not in (None, 0):
        raise ScanReadError(path, f"frame {frame} does not exist; the file has 1 frame(s)")
    raw = path.read_bytes()
    if not sniff(raw[:4096], path.suffix.lower()):
        raise ScanReadError(path, "not a WSxM image file (no 'WSxM file copyright' / 'SxM Image file' lines)")
    end = raw.find(HEADER_END, 0, _MAX_HEADER)
    if end < 0:
        raise ScanReadError(path, "WSxM header end marker '[Header end]' not found (truncated or corrupt)")
    data_start = raw.find(b"\n", end) + 1
    if data_start <= 0:
        raise ScanReadError(path, "WSxM file ends after its header")
    header = _parse_header(raw[:end].decode("latin-1"))
    general = header.get("General Info", {})
    control = header.get("Control", {})
    misc = header.get("Miscellaneous", {})
    try:
        nx, ny = int(general["Number of columns"]), int(general["Number of rows"])
    except (KeyError, ValueError):
        raise ScanReadError(path, "WSxM header without 'Number of columns' / 'Number of rows'") from None
    if nx < 1 or ny < 1:
        raise ScanReadError(path, f"WSxM header gives {nx}x{ny} pixels")
    kind = general.get("Image Data Type", "short").strip().lower()
    if kind not in _DTYPES:
        raise ScanReadError(path, f"WSxM data type {kind!r} is unknown (known: {', '.join(_DTYPES)})")
    dtype = np.dtype(_DTYPES[kind])
    need = nx * ny * dtype.itemsize
    if len(raw) - data_start < need:
        raise ScanReadError(
            path,
            f"truncated WSxM file: {nx}x{ny} {kind} values need {need} bytes, {len(raw) - data_start} left",
        )
    values = (
        np.frombuffer(raw, dtype=dtype, count=nx * ny, offset=data_start).reshape(ny, nx).astype(np.float64)
    )
    values = values[::-1, ::-1]  # Gwyddion turns WSxM images by 180 degrees

    z_text = general.get("Z Amplitude", "")
    z = _quantity(z_text)
    unit, factor, rule = "", 1.0, "no Z Amplitude: values as stored"
    if z is not None:
        z_amp, unit, z_factor = z
        if dtype.kind == "f":
            factor, rule = z_factor, "float values in the Z Amplitude unit"
        else:
            lo, hi = finite_float(misc.get("Minimum")), finite_float(misc.get("Maximum"))
            if lo is None or hi is None or not hi > lo:
                lo, hi = float(values.min()), float(values.max())
                rule = "Z Amplitude / (data max - min)"
            else:
                rule = "Z Amplitude / (header Maximum - Minimum)"
            factor = z_amp * z_factor / (hi - lo) if hi > lo else z_factor
    data = values * factor

    pixel_size = None
    x_amp, y_amp = _quantity(control.get("X Amplitude", "")), _quantity(control.get("Y Amplitude", ""))
    if x_amp is not None and x_amp[1] == "m":
        width = x_amp[0] * x_amp[2]
        height = y_amp[0] * y_amp[2] if y_amp is not None and y_amp[1] == "m" else width * ny / nx
        if width > 0 and height > 0:
            pixel_size = (height / ny, width / nx)

    name = general.get("Acquisition channel", "").strip() or "Topography"
    x_dir = general.get("X scanning direction", "").strip().lower()
    direction = {"forward": "trace", "backward": "retrace"}.get(x_dir)
    metadata: dict[str, Any] = {"z_scale_rule": rule, "data_type": kind, "z_amplitude": z_text}
    for section, key, label in (
        ("General Info", "Acquisition time", "acquisition_time"),
        ("General Info", "Head type", "head_type"),
        ("General Info", "Y scanning direction", "y_scanning_direction"),
        ("General Info", "X scanning direction", "x_scanning_direction"),
        ("Control", "X Offset", "x_offset"),
        ("Control", "Y Offset", "y_offset"),
        ("Control", "Z Offset", "z_offset"),
        ("Control", "Set Point", "set_point"),
        ("Control", "X-Frequency", "line_rate"),
        ("Control", "Angle", "scan_angle"),
        ("Head Settings", "Head Name", "head_name"),
        ("Miscellaneous", "Saved with version", "wsxm_version"),
        ("Miscellaneous", "Comments", "comments"),
    ):
        value = header.get(section, {}).get(key)
        if value:
            metadata[label] = value
    return Scan(
        channels=(Channel(name, data, unit=unit, direction=direction),),
        pixel_size=pixel_size,
        instrument="Nanotec / WSxM",
        metadata=metadata,
        source=path,
        format="wsxm",
    )


def _parse_header(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        stripped = line.strip()
        m = re.fullmatch(r"\[(.+)\]", stripped)
        if m:
            current = sections.setdefault(m.group(1).strip(), {})
        elif ":" in stripped:
            key, value = stripped.split(":", 1)
            current.setdefault(key.strip(), value.strip())
    return sections


def _quantity(text: str) -> tuple[float, str, float] | None:
    """Parse ``"59.7449 nm"`` into ``(59.7449, "m", 1e-9)``: number, SI unit, factor of the unit to SI.

    WSxM writes phase in units of pi (``"Pi"``); other units as `scansr.units.split_prefix` reads them (a bare
    ``"A"`` is the ampere of a current channel; WSxM writes ångström as ``"Å"`` or ``"Ang"``).
    """
    split = split_quantity(text or "")
    if split is None:
        return None
    value, unit = split
    if unit == "Pi":
        return value, "deg", 180.0
    return value, *split_prefix(unit)
