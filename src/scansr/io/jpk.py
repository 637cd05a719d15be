"""JPK Instruments (Bruker JPK) images: ``.jpk`` scans, ``.jpk-qi-image`` QI maps and ``.h5-jpk`` HDF5 videos.

``.jpk`` and ``.jpk-qi-image`` are TIFF files (read with ``tifffile``): page 0 is a thumbnail whose private
tags hold the scan grid (tags 32832..32839: origin x0, y0, lengths u, v in metres, pixels i, j), every further
page is one channel (tag 32848 channel name, 32849 retrace flag, 32850 label). A channel's values are raw
integers with a list of "calibration slots" (tags from 32896: the number of slots, the default slot, then 48
tags per slot: name, type, parent slot, unit, scaling type, multiplier, offset). The default slot's linear
scaling applied to the raw integers gives the values in the slot's unit (its multiplier and offset already
include the parent slots, as Gwyddion's ``jpkscan`` module also reads them). Rows are flipped so that row 0 is
the top row as Gwyddion shows the file. A QI image may hold two channels with one label (e.g. "Height
(measured)" at two force levels); the second then takes the algorithm's own name from tag 32851 ("Ref. Force
Height at 40%").

``.h5-jpk`` files (JPK SPM software 8, HDF5 in the pyNSID layout, read with ``h5py``) hold a series of frames:
``/Measurement_000/Channel_NNN/<Name>`` is an array of shape (pixels, frames) with the scan grid in
``position-pattern.grid.*`` attributes and the default scaling as ``net-encoder.scaling.multiplier`` /
``offset``. Points are stored x fastest from the bottom line up (``Position_Values``); rows are flipped like
the TIFF files.

Channels are named by the file's label ("Height", "Lock-In Amplitude", ...); retrace channels get " retrace"
appended and ``direction="retrace"``. ``Scan.origin`` is the grid origin (y0, x0) as Gwyddion reports it.

AFMReader also reads these files, but one channel at a time, as nanometres for some channels and SI units for
others, with one pixel size for both axes and with names that merge the two QI height channels; the tags are
few and documented, so this module reads them itself (and the tests check it against Gwyddion's conversion).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile

from scansr.io.tiff import check_tiff_complete
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import canonical_unit

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

SUFFIXES = (".jpk", ".jpk-qi-image", ".h5-jpk")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")

# JPK TIFF tags (JPKImageSpec 2.0, as used by Gwyddion's jpkscan.c and AFMReader).
TAG_FILE_FORMAT_VERSION = 32768
TAG_START_DATE = 32771
TAG_NAME = 32772
TAG_GRID_X0, TAG_GRID_Y0, TAG_GRID_ULENGTH, TAG_GRID_VLENGTH = 32832, 32833, 32834, 32835
TAG_GRID_THETA, TAG_GRID_REFLECT, TAG_GRID_ILENGTH, TAG_GRID_JLENGTH = 32836, 32837, 32838, 32839
TAG_SCAN_DIRECTION = 32843
TAG_CHANNEL, TAG_RETRACE, TAG_CHANNEL_FANCY, TAG_CHANNEL_INFO = 32848, 32849, 32850, 32851
TAG_N_SLOTS, TAG_DEFAULT_SLOT, TAG_FIRST_SLOT, SLOT_SIZE = 32896, 32897, 32912, 48
# Offsets within a slot: name, calibration type, parent slot, unit, scaling type, multiplier, offset.
SLOT_NAME, SLOT_PARENT, SLOT_UNIT, SLOT_SCALING, SLOT_MULT, SLOT_OFFSET = 0, 2, 18, 19, 20, 21
_MAX_SLOTS = 64


# =========================================================================================== public API
def sniff(head: bytes, suffix: str) -> bool:
    """Whether the file is a JPK image: a TIFF with JPK's grid tags, or an HDF5 file called ``.h5-jpk``.

    A plain TIFF is never claimed, whatever its suffix: the first image directory must carry the JPK grid tags
    (32834 u-length and 32838 i-length) next to the JPK file-format tag 32768.
    """
    if head.startswith(HDF5_MAGIC):
        return suffix == ".h5-jpk"
    if head[:4] not in TIFF_MAGICS:
        return False
    tags = _first_ifd_tags(head)
    if tags is None:  # directory beyond the sniffed head: trust the suffix
        return suffix in (".jpk", ".jpk-qi-image")
    return {TAG_FILE_FORMAT_VERSION, TAG_GRID_ULENGTH, TAG_GRID_ILENGTH} <= tags


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read a JPK ``.jpk`` / ``.jpk-qi-image`` TIFF or a ``.h5-jpk`` HDF5 file.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Frame of a ``.h5-jpk`` series (0-based; default the first). TIFF files hold one frame.

    Returns
    -------
    Scan
        Every channel of the file (trace and retrace) in SI units.

    Raises
    ------
    ScanReadError
        Truncated or corrupt file, a channel without usable scaling, or `frame` beyond the last frame.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(HDF5_MAGIC):
        return _read_h5(path, frame)
    if magic[:4] in TIFF_MAGICS:
        return _read_tiff(path, frame)
    raise ScanReadError(
        path, "not a JPK file: neither a TIFF (.jpk, .jpk-qi-image) nor an HDF5 (.h5-jpk) file"
    )


# =========================================================================================== helpers
def _first_ifd_tags(head: bytes) -> set[int] | None:
    """Tag codes of the first image directory of a classic TIFF, if the directory lies within `head`."""
    bo = "<" if head[:2] == b"II" else ">"
    if len(head) < 8:
        return None
    offset = int.from_bytes(head[4:8], "little" if bo == "<" else "big")
    if offset + 2 > len(head):
        return None
    n = int.from_bytes(head[offset : offset + 2], "little" if bo == "<" else "big")
    if offset + 2 + 12 * n > len(head):
        return None
    order = "little" if bo == "<" else "big"
    return {int.from_bytes(head[offset + 2 + 12 * k : offset + 4 + 12 * k], order) for k in range(n)}


def _unit(text: Any) -> str:
    return "" if text is None else canonical_unit(str(text))


def _frame_index(path: Path, frame: int | None, n_frames: int) -> int:
    index = 0 if frame is None else int(frame)
    if not 0 <= index < n_frames:
        raise ScanReadError(path, f"frame {frame} does not exist; the file has {n_frames} frame(s)")
    return index


def _unique(names: list[str], alternatives: list[str | None]) -> list[str]:
    """Make channel names unique: a repeated name takes its alternative where it has one, else a number."""
    out: list[str] = []
    for name, alt in zip(names, alternatives, strict=True):
        candidate = name
        if candidate in out and alt and alt not in out and alt not in names:
            candidate = alt
        base, k = candidate, 2
        while candidate in out:
            candidate = f"{base} {k}"
            k += 1
        out.append(candidate)
    return out


def _channels(
    names: list[str], datas: list[np.ndarray], units: list[str], retraces: list[bool]
) -> tuple[Channel, ...]:
    return tuple(
        Channel(name, data, unit=unit, direction="retrace" if r else "trace")
        for name, data, unit, r in zip(names, datas, units, retraces, strict=True)
    )


# =========================================================================================== TIFF
def _tag(page: Any, code: int, default: Any = None) -> Any:
    tag = page.tags.get(code)
    return default if tag is None else tag.value


def _slot_scaling(path: Path, page: Any) -> tuple[float, float, str, str]:
    """Multiplier, offset, unit and slot name of a channel page's default calibration slot."""
    n_slots = int(_tag(page, TAG_N_SLOTS, 0) or 0)
    default = _tag(page, TAG_DEFAULT_SLOT)
    if not 0 < n_slots <= _MAX_SLOTS:
        raise ScanReadError(path, f"JPK channel page {page.index} has {n_slots} calibration slots")
    slots = {}
    for k in range(n_slots):
        base = TAG_FIRST_SLOT + k * SLOT_SIZE
        name = _tag(page, base + SLOT_NAME)
        if name is not None:
            slots[str(name)] = base
    name = str(default) if default is not None else None
    if name not in slots:
        raise ScanReadError(
            path, f"JPK channel page {page.index}: default slot {default!r} is not among {list(slots)}"
        )
    seen = set()
    while name is not None and name not in seen:
        seen.add(name)
        base = slots[name]
        scaling = _tag(page, base + SLOT_SCALING)
        if scaling == "LinearScaling":
            mult, off = _tag(page, base + SLOT_MULT), _tag(page, base + SLOT_OFFSET)
            try:
                mult, off = float(mult), float(off)
            except (TypeError, ValueError):
                raise ScanReadError(
                    path, f"JPK channel page {page.index}: slot {name!r} has no multiplier"
                ) from None
            return mult, off, _unit(_tag(page, base + SLOT_UNIT)), name
        if scaling == "NullScaling":
            return 1.0, 0.0, _unit(_tag(page, base + SLOT_UNIT)), name
        # Undefined slot (e.g. a user calibration never set): fall back to its parent.
        parent = _tag(page, base + SLOT_PARENT)
        name = str(parent) if parent is not None and str(parent) in slots else None
    raise ScanReadError(path, f"JPK channel page {page.index}: no usable scaling in slot {default!r}")


def _algorithm_name(page: Any) -> str | None:
    info = _tag(page, TAG_CHANNEL_INFO)
    if not info:
        return None
    m = re.search(r"^algorithm\.object-name\.fancy-name\s*:\s*(.+)$", str(info), flags=re.MULTILINE)
    return m.group(1).strip() if m else None


def _read_tiff(path: Path, frame: int | None) -> Scan:
    _frame_index(path, frame, 1)
    check_tiff_complete(path)
    size = path.stat().st_size
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        if len(pages) < 2:
            raise ScanReadError(path, "JPK file without channel pages (only a thumbnail)")
        head = pages[0]
        ulen, vlen = _tag(head, TAG_GRID_ULENGTH), _tag(head, TAG_GRID_VLENGTH)
        ilen, jlen = _tag(head, TAG_GRID_ILENGTH), _tag(head, TAG_GRID_JLENGTH)
        labels, alternatives, retraces, datas, units = [], [], [], [], []
        for page in pages[1:]:
            if TAG_CHANNEL not in page.tags:
                continue
            for off, n in zip(page.dataoffsets or (), page.databytecounts or (), strict=False):
                if off + n > size:
                    raise ScanReadError(
                        path, f"truncated JPK file: channel page {page.index} runs past the end"
                    )
            raw = page.asarray()
            if raw.ndim != 2:
                raise ScanReadError(path, f"JPK channel page {page.index} is not a 2-D image ({raw.shape})")
            mult, off, unit, _slot = _slot_scaling(path, page)
            data = (raw.astype(np.float64) * mult + off)[::-1]
            retrace = bool(_tag(page, TAG_RETRACE, 0))
            label = str(_tag(page, TAG_CHANNEL_FANCY) or _tag(page, TAG_CHANNEL) or f"Channel {page.index}")
            labels.append(label + (" retrace" if retrace else ""))
            alt = _algorithm_name(page)
            alternatives.append(alt + (" retrace" if retrace else "") if alt else None)
            retraces.append(retrace)
            datas.append(data)
            units.append(unit)
        if not datas:
            raise ScanReadError(path, "JPK file without channel pages")
        ny, nx = datas[0].shape
        pixel_size = None
        try:
            ulen, vlen, ilen, jlen = float(ulen), float(vlen), int(ilen or nx), int(jlen or ny)
            if ulen > 0 and vlen > 0 and math.isfinite(ulen) and math.isfinite(vlen):
                pixel_size = (vlen / jlen, ulen / ilen)
        except (TypeError, ValueError):
            pixel_size = None
        x0, y0 = _tag(head, TAG_GRID_X0), _tag(head, TAG_GRID_Y0)
        origin = (float(y0), float(x0)) if x0 is not None and y0 is not None else None
        metadata = {
            "jpk_file_format_version": str(_tag(head, TAG_FILE_FORMAT_VERSION, "")),
            "start_date": str(_tag(head, TAG_START_DATE, "")),
            "name": str(_tag(head, TAG_NAME, "")),
            "grid_theta_rad": float(_tag(head, TAG_GRID_THETA, 0.0) or 0.0),
            "grid_reflect": bool(_tag(head, TAG_GRID_REFLECT, 0)),
            "slow_scan_direction": str(_tag(head, TAG_SCAN_DIRECTION, "")),
            "kind": "qi-image" if path.name.lower().endswith(".jpk-qi-image") else "image",
        }
    channels = _channels(_unique(labels, alternatives), datas, units, retraces)
    return Scan(
        channels=channels,
        pixel_size=pixel_size,
        origin=origin,
        instrument="JPK Instruments",
        metadata=metadata,
        source=path,
        format="jpk",
    )


# =========================================================================================== HDF5
def _attr(attrs: Any, key: str, default: Any = None) -> Any:
    if key not in attrs:
        return default
    value = attrs[key]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_h5(path: Path, frame: int | None) -> Scan:
    with h5py.File(path, "r") as f:
        if "Measurement_000" not in f:
            raise ScanReadError(path, "not a JPK HDF5 file: no /Measurement_000 group")
        m = f["Measurement_000"]
        nx, ny = (
            int(_attr(m.attrs, "position-pattern.grid.ilength", 0)),
            int(_attr(m.attrs, "position-pattern.grid.jlength", 0)),
        )
        if nx < 1 or ny < 1:
            raise ScanReadError(path, f"JPK HDF5 grid of {nx}x{ny} pixels")
        labels, retraces, datas, units = [], [], [], []
        n_frames: int | None = None
        index = 0
        for key in sorted(k for k in m if k.startswith("Channel_")):
            group = m[key]
            if not isinstance(group, h5py.Group):
                continue
            arrays = [k for k, v in group.items() if isinstance(v, h5py.Dataset) and k != "thumbnail"]
            if not arrays:
                continue
            dataset = group[arrays[0]]
            if dataset.ndim != 2 or dataset.shape[0] != nx * ny:
                raise ScanReadError(
                    path, f"JPK HDF5 {key}: data of shape {dataset.shape}, expected ({nx * ny}, frames)"
                )
            if n_frames is None:
                n_frames = int(dataset.shape[1])
                index = _frame_index(path, frame, n_frames)
            elif dataset.shape[1] != n_frames:
                raise ScanReadError(
                    path, f"JPK HDF5 {key} has {dataset.shape[1]} frames, other channels {n_frames}"
                )
            raw = np.asarray(dataset[:, index], dtype=np.float64)
            mult = float(_attr(group.attrs, "net-encoder.scaling.multiplier", 1.0))
            off = float(_attr(group.attrs, "net-encoder.scaling.offset", 0.0))
            unit = _unit(_attr(group.attrs, "net-encoder.scaling.unit.unit", ""))
            retrace = str(_attr(group.attrs, "retrace", "false")).strip().lower() == "true"
            label = str(_attr(group.attrs, "channel.fancy-name") or _attr(group.attrs, "channel.name") or key)
            labels.append(label + (" retrace" if retrace else ""))
            retraces.append(retrace)
            # x runs fastest from the bottom line up; flip so that row 0 is the top line.
            datas.append((raw * mult + off).reshape(ny, nx)[::-1])
            units.append(unit)
        if not datas or n_frames is None:
            raise ScanReadError(path, "JPK HDF5 file without image channels")
        ulen = float(_attr(m.attrs, "position-pattern.grid.ulength", 0.0))
        vlen = float(_attr(m.attrs, "position-pattern.grid.vlength", 0.0))
        pixel_size = (vlen / ny, ulen / nx) if ulen > 0 and vlen > 0 else None
        xc = _attr(m.attrs, "position-pattern.grid.xcenter")
        yc = _attr(m.attrs, "position-pattern.grid.ycenter")
        origin = (float(yc) - vlen / 2, float(xc) - ulen / 2) if xc is not None and yc is not None else None
        metadata: dict[str, Any] = {
            "kind": "h5-jpk",
            "grid_theta_rad": float(_attr(m.attrs, "position-pattern.grid.theta", 0.0)),
            "line_rate_hz": float(_attr(m.attrs, "timing-settings.scanRate", float("nan"))),
            "source_software": str(_attr(m.attrs, "description.source-software", "")),
            "instrument_id": str(_attr(m.attrs, "description.instrument", "")),
            "mode": str(_attr(m.attrs, "environment.experiment-mode.name", "")),
        }
        if "meta-data/start-times" in m:
            starts = np.asarray(m["meta-data/start-times"]).reshape(-1)
            if starts.size == n_frames:
                metadata["frame_start_time_ms"] = int(starts[index])
    channels = _channels(_unique(labels, [None] * len(labels)), datas, units, retraces)
    return Scan(
        channels=channels,
        pixel_size=pixel_size,
        origin=origin,
        frame=index,
        n_frames=n_frames,
        instrument="JPK Instruments",
        metadata={k: v for k, v in metadata.items() if not (isinstance(v, float) and math.isnan(v))},
        source=path,
        format="jpk",
    )
