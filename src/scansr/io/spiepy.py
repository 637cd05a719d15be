"""SPIEPy ``.dat`` images: two little-endian uint32 (rows, columns), then rows × columns float64 values.

This is the layout of the demo images shipped with SPIEPy (``spiepy.demo.load_demo_file`` reads it with
``struct.unpack('<LL')`` and reshapes the doubles to ``(rows, columns)``). The files are STM topographs
without any metadata: no lateral scale (pixel size ``None`` unless ``scan_size`` is given to
`scansr.io.read`) and no value unit.

Value unit
    SPIEPy works on data as Omicron MATRIX files deliver them through ``access2theMatrix`` (its documented
    way of opening SPM files): metres. The demo images hold values of 0.004–0.99 × 10⁻⁹, sub-nanometre STM
    corrugation when read as metres and physically impossible in any other unit. So values are taken as
    metres; the ``value_unit`` option (``"nm"``, ``"pm"``, ``"Å"``, ``"um"``/``"µm"``, ``"m"``; other SI
    units such as ``"nA"`` also work) overrides that for files written by other programs.

Orientation
    SPIEPy displays its images with ``imshow(..., origin='lower')``: the first row of the file is the bottom
    line of the image (MATRIX "up" scans start at the bottom). scansr's row 0 is the top row as displayed, so
    the rows are flipped.

Why a hand-written reader: the format is 8 header bytes and a raw array; SPIEPy itself offers no file
reader (only the demo loader, which trusts the header and would allocate whatever it says).
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import parse_unit

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_MAX_SIDE = 1 << 16


def _expected_size(rows: int, columns: int) -> int:
    return _HEADER.size + 8 * rows * columns


def sniff(head: bytes, suffix: str) -> bool:
    """Return True when `head` starts a SPIEPy ``.dat``: plausible shape header, finite doubles after it.

    Only the head is known here, not the file size: a head shorter than 4096 bytes is the whole file and
    its size must match the header exactly; for a longer file the header must at least cover the head.
    `read` checks the exact size.
    """
    if suffix != ".dat" or len(head) < _HEADER.size + 8:
        return False
    rows, columns = _HEADER.unpack_from(head)
    if not (2 <= rows <= _MAX_SIDE and 2 <= columns <= _MAX_SIDE):
        return False
    expected = _expected_size(rows, columns)
    if len(head) < 4096 and len(head) != expected:
        return False
    if expected < len(head):
        return False
    n = (min(len(head), expected) - _HEADER.size) // 8
    values = np.frombuffer(head, dtype="<f8", count=n, offset=_HEADER.size)
    return bool(np.isfinite(values).all() and (np.abs(values) < 1e30).all())


def read(path: Path, *, frame: int | None = None, value_unit: str | None = None) -> Scan:
    """Read a SPIEPy ``.dat`` image into a one-channel `Scan` (``"Topography"``).

    Parameters
    ----------
    path : Path
        The ``.dat`` file.
    frame : int, optional
        Only ``None`` or 0 (the file holds one image).
    value_unit : str, optional
        Unit of the stored values (``"m"``, ``"nm"``, ``"pm"``, ``"Å"``, ``"um"``/``"µm"``, ...). Default:
        metres, as SPIEPy's data are (see the module notes).

    Returns
    -------
    Scan
        One channel in SI units, rows flipped to SPIEPy's display orientation, pixel size ``None``.

    Raises
    ------
    ScanReadError
        The file is shorter than the header, or its size does not match the shape in the header.
    ValueError
        `value_unit` is not a known unit, or `frame` is not 0.
    """
    path = Path(path)
    if frame not in (None, 0):
        raise ValueError(f"frame must be 0 for a SPIEPy .dat file (one image), got {frame!r}")
    if value_unit is None:
        factor, unit = 1.0, "m"
        unit_source = "assumed: metres (SPIEPy data convention)"
        logger.info(
            "%s: SPIEPy .dat holds no unit; values taken as metres (pass value_unit=... otherwise)", path
        )
    else:
        unit, factor = parse_unit(value_unit)
        unit_source = "value_unit option"
    size = path.stat().st_size
    with open(path, "rb") as fh:
        header = fh.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise ScanReadError(path, f"not a SPIEPy .dat file: {size} bytes, shorter than the 8-byte header")
        rows, columns = _HEADER.unpack(header)
        expected = _expected_size(rows, columns)
        if rows < 1 or columns < 1 or expected != size:
            hint = " (a text file? name it .txt)" if header[:1].isdigit() or header[:1] in b"+-. #" else ""
            raise ScanReadError(
                path,
                f"not a SPIEPy .dat file{hint}: the header says {rows} x {columns} doubles, which needs "
                f"{expected} bytes, but the file has {size} bytes",
            )
        data = np.fromfile(fh, dtype="<f8", count=rows * columns)
    if data.size != rows * columns:
        raise ScanReadError(path, f"truncated: {data.size} of {rows * columns} values could be read")
    data = data.reshape(rows, columns)[::-1]
    if factor != 1.0:
        data = data * factor
    metadata = {"value_unit_source": unit_source, "row_order": "flipped: file row 0 is the bottom line"}
    return Scan(
        (Channel("Topography", data, unit=unit),),
        pixel_size=None,
        instrument="STM (SPIEPy .dat)",
        metadata=metadata,
        source=path,
        format="spiepy",
    )
