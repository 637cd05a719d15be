"""TIFF files: Park Systems SPM, Zeiss and FEI / Thermo Fisher SEM, scansr's own float32 TIFF, plain TIFF.

Read
----
The kind of TIFF is recognised from its tags, in this order:

- **Park Systems** (XEI / SmartScan; private tags 50432..50441, magic 0x0E031301 in tag 50432): the measured
  values are in tag 50434 (int16, int32 or float32 after the version-2 header), the binary header in tag 50435
  gives the channel name, scan size (µm), Z gain, scale, offset and unit. Value = (raw * z_scale + z_offset) *
  data_gain in the header's Z unit, converted to SI. The 8-bit page image is only a colour preview and is
  ignored. Rows are flipped so that row 0 is the top row as Gwyddion displays the file (Gwyddion's ``psia``
  module does the same).
- **scansr's own TIFF** (ImageDescription holding JSON with a ``"scansr"`` key, see Write): every page is a
  channel and the JSON restores names, units, directions, pixel size, origin and metadata exactly.
- **Zeiss SEM** (tag 34118, ``CZ_SEM``) and **FEI / Thermo Fisher SEM** (tag 34682, ``FEI_HELIOS`` /
  ``FEI_SFEG`` INI text): grey levels are kept as intensities in ``"counts"``; pages of one size are frames of
  a multi-frame file. Pixel size: Zeiss ``Pixel Size`` (given for a 1024-pixel-wide display, so scaled by 1024
  / columns, the rule of RosettaSciIO) where it agrees within 1 % with the field ``Width`` over the columns of
  the stored image (a resized copy keeps the tags), else ``Width`` / ``Height`` over columns / rows; FEI
  ``[Scan] PixelWidth`` / ``PixelHeight`` in metres. The information bar that these microscopes burn into the
  bottom of the image is cut off by default (``crop_info_bar``): FEI states the height of the scanned area
  (``[Image] ResolutionY``); for Zeiss, which does not, the bar is found in the image by `detect_info_bar`.
  The number of rows removed is recorded as ``metadata["info_bar_rows"]``.
- **Anything else**: one channel (``"Intensity"``, unit ``"counts"``) from the first page (several pages of
  one size are frames; RGB pages become ``"Red"``, ``"Green"``, ``"Blue"`` channels unless all three are
  equal). The pixel size is taken from the resolution tags only when they are in centimetres (ResolutionUnit
  3), or from an ImageJ description with a length unit; dots-per-inch of an ordinary picture are not a scale,
  so such a file gives ``pixel_size=None``.

Write
-----
`write` stores every channel as its own float32 page (values in SI units) with XResolution / YResolution in
pixels per centimetre and ResolutionUnit = centimetre, so that ImageJ / Fiji and other viewers show the scale
(non-square pixels keep their own x and y resolution), and the page name (tag 285) set to the channel name.
The first page's ImageDescription is JSON with the scan's channels (name, unit, direction), pixel size ``(dy,
dx)`` in metres, origin, instrument and metadata, so that `read` gives back the same scan (values rounded to
float32).

Parsing uses ``tifffile``; the Park header and the TIFF structure check (`check_tiff_complete`) are decoded
here because ``tifffile`` exposes the Park header only as bytes and, on a truncated file, only logs the
missing pages.
"""

from __future__ import annotations

import configparser
import itertools
import json
import logging
import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from scansr.io._common import finite_float
from scansr.scan import DIRECTIONS, Channel, Scan, ScanReadError
from scansr.units import length_factor, split_prefix

__all__ = ["check_tiff_complete", "detect_info_bar", "read", "sniff", "write"]

logger = logging.getLogger(__name__)

TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SCANSR_KEY = "scansr"
SCANSR_TIFF_VERSION = 1

# Park Systems private tags (Gwyddion psia.c).
PARK_MAGIC_TAG, PARK_VERSION_TAG, PARK_DATA_TAG, PARK_HEADER_TAG = 50432, 50433, 50434, 50435
PARK_MAGIC = 0x0E031301
PARK_VERSIONS = (0x1000001, 0x1000002)
ZEISS_TAG = 34118
FEI_TAGS = (34682, 34680)  # FEI_HELIOS, FEI_SFEG
PAGE_NAME_TAG = 285
# Header entries copied into Scan.metadata: (key, metadata name) and (section, key, metadata name).
_ZEISS_KEYS = (
    ("ap_mag", "magnification"), ("ap_actualkv", "eht"), ("ap_wd", "working_distance"),
    ("ap_image_pixel_size", "image_pixel_size"), ("ap_pixel_size", "pixel_size"), ("ap_width", "width"),
    ("ap_height", "height"), ("dp_detector_channel", "detector"), ("ap_date", "date"), ("ap_time", "time"),
    ("dp_image_store", "store_resolution"),
)  # fmt: skip
_FEI_KEYS = (
    ("Beam", "HV", "hv_v"), ("Scan", "HorFieldsize", "horizontal_field_width_m"),
    ("Stage", "WorkingDistance", "working_distance_m"), ("Scan", "Dwelltime", "dwell_time_s"),
    ("User", "Date", "date"), ("User", "Time", "time"), ("Detectors", "Name", "detector"),
    ("Image", "ResolutionX", "resolution_x"), ("Image", "ResolutionY", "resolution_y"),
)  # fmt: skip

_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8,
                    17: 8, 18: 8}  # fmt: skip
_MAX_PAGES = 100_000


# =========================================================================================== public API
def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` starts a TIFF (classic or BigTIFF, either byte order).

    Formats that are TIFF inside but need their own reader (JPK) come earlier in the dispatch table and claim
    their files first; every other TIFF is read here.
    """
    return head[:4] in TIFF_MAGICS


def read(path: Path, *, frame: int | None = None, crop_info_bar: bool = True) -> Scan:
    """Read a Park Systems, Zeiss / FEI SEM, scansr or plain TIFF.

    Parameters
    ----------
    path : Path
        The file.
    frame : int, optional
        Page (frame) of a multi-page SEM or plain TIFF, 0-based; default the first.
    crop_info_bar : bool
        Cut off the information bar that SEMs burn into the bottom of the image (default). The number of rows
        removed is recorded as ``metadata["info_bar_rows"]`` (0 where no bar was found).

    Returns
    -------
    Scan
        Values in SI units (Park, scansr) or grey levels in ``"counts"`` (SEM, plain TIFF).

    Raises
    ------
    ScanReadError
        Truncated or corrupt file, a Park header that does not fit the data, or `frame` beyond the last frame.
    """
    path = Path(path)
    check_tiff_complete(path)
    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ScanReadError(path, "the TIFF holds no image")
        tags = tif.pages[0].tags
        if PARK_MAGIC_TAG in tags:
            return _read_park(path, tif, frame)
        description = _description(tif.pages[0])
        info = _scansr_info(description)
        if info is not None:
            return _read_scansr(path, tif, info, frame)
        if ZEISS_TAG in tags:
            return _read_sem(path, tif, frame, "zeiss", crop_info_bar)
        if any(t in tags for t in FEI_TAGS):
            return _read_sem(path, tif, frame, "fei", crop_info_bar)
        return _read_plain(path, tif, frame, description)


def write(scan: Scan, path: Path) -> None:
    """Write `scan` as a float32 TIFF: one page per channel, resolution tags, metadata as JSON.

    Parameters
    ----------
    scan : Scan
        What to write. Without a pixel size the resolution tags are left out.
    path : Path
        Output file (`scansr.io.write` makes the write atomic).

    Raises
    ------
    ValueError
        A value of `scan.metadata` that JSON cannot hold.
    """
    path = Path(path)
    info: dict[str, Any] = {
        SCANSR_KEY: SCANSR_TIFF_VERSION,
        "channels": [{"name": c.name, "unit": c.unit, "direction": c.direction} for c in scan.channels],
        "pixel_size": list(scan.pixel_size) if scan.pixel_size is not None else None,
        "origin": list(scan.origin) if scan.origin is not None else None,
        "frame": scan.frame,
        "n_frames": scan.n_frames,
        "instrument": scan.instrument,
        "metadata": dict(scan.metadata),
    }
    try:
        description = json.dumps(info, ensure_ascii=True, allow_nan=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scan metadata cannot be written as JSON: {exc}") from exc
    resolution: dict[str, Any] = {}
    if scan.pixel_size is not None:
        per_cm = (1e-2 / scan.pixel_size[1], 1e-2 / scan.pixel_size[0])
        # Pixels per centimetre as TIFF rationals (32-bit numbers); the JSON keeps the exact pixel size.
        if all(1e-9 < r < 4e9 for r in per_cm):
            resolution = {"resolution": per_cm, "resolutionunit": tifffile.RESUNIT.CENTIMETER}
        else:
            logger.warning("%s: pixel size %s m does not fit TIFF resolution tags", path, scan.pixel_size)
    with tifffile.TiffWriter(path, bigtiff=False) as tw:
        for i, channel in enumerate(scan.channels):
            tw.write(
                np.ascontiguousarray(channel.data, dtype=np.float32),
                photometric="minisblack",
                description=description if i == 0 else None,
                metadata=None,
                extratags=[(PAGE_NAME_TAG, "s", 0, channel.name.encode("ascii", "replace").decode(), True)],
                software="scansr",
                **resolution,
            )


def check_tiff_complete(path: str | Path) -> None:
    """Check that every IFD and every tag value of a TIFF lies inside the file.

    ``tifffile`` only logs a page offset beyond the end of a truncated file and then reports fewer pages; this
    walk of the IFD chain turns that into an error. Image data offsets are checked by the readers.

    Parameters
    ----------
    path : str or Path
        The file.

    Raises
    ------
    ScanReadError
        Not a TIFF, or an IFD, a tag value or the IFD chain runs past the end of the file or loops.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        buf = fh.read()
    size = len(buf)
    if size < 8 or buf[:4] not in TIFF_MAGICS:
        raise ScanReadError(path, "not a TIFF file (no II*/MM* magic)")
    bo = "<" if buf[:2] == b"II" else ">"
    big = buf[2:4] in (b"+\x00", b"\x00+")
    if big:
        if size < 16:
            raise ScanReadError(path, "truncated BigTIFF header")
        count_fmt, entry_size, off_fmt, inline = "Q", 20, "Q", 8
        offset = struct.unpack_from(bo + "Q", buf, 8)[0]
    else:
        count_fmt, entry_size, off_fmt, inline = "H", 12, "I", 4
        offset = struct.unpack_from(bo + "I", buf, 4)[0]
    count_size = struct.calcsize(count_fmt)
    off_size = struct.calcsize(off_fmt)
    seen: set[int] = set()
    pages = 0
    while offset:
        if offset in seen or pages >= _MAX_PAGES:
            raise ScanReadError(path, "corrupt TIFF: the chain of image directories loops")
        seen.add(offset)
        if offset + count_size > size:
            raise ScanReadError(path, f"truncated TIFF: image directory {pages} is past the end of the file")
        n = struct.unpack_from(bo + count_fmt, buf, offset)[0]
        end = offset + count_size + n * entry_size + off_size
        if end > size:
            raise ScanReadError(
                path, f"truncated TIFF: image directory {pages} runs past the end of the file"
            )
        for k in range(n):
            entry = offset + count_size + k * entry_size
            code, dtype = struct.unpack_from(bo + "HH", buf, entry)
            count = struct.unpack_from(bo + ("Q" if big else "I"), buf, entry + 4)[0]
            nbytes = count * _TIFF_TYPE_SIZES.get(dtype, 1)
            if nbytes > inline:
                value_offset = struct.unpack_from(bo + off_fmt, buf, entry + 4 + (8 if big else 4))[0]
                if value_offset + nbytes > size:
                    raise ScanReadError(
                        path,
                        f"truncated TIFF: tag {code} of image directory {pages} runs past the end of file",
                    )
        offset = struct.unpack_from(bo + off_fmt, buf, end - off_size)[0]
        pages += 1
    if pages == 0:
        raise ScanReadError(path, "the TIFF holds no image directory")


def detect_info_bar(image: np.ndarray) -> int:
    """Find the information bar that an SEM burned into the bottom of `image`; return its height in rows.

    The bar (Zeiss SmartSEM "data zone" and similar) is a panel of one grey level with text, bounded on top by
    a row of one extreme grey level (a black or white line) across the whole image. The search looks in the
    bottom quarter for the highest such border row below which every row is mostly the panel's grey level (at
    least half of each row within 2 % of the grey range of it) and the block holds both dark and light pixels
    (text on a panel, not a dark or saturated region of the specimen).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Grey levels (any real dtype).

    Returns
    -------
    int
        Rows to remove from the bottom (0 when no bar is found).

    Raises
    ------
    ValueError
        If `image` is not 2-D.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    ny, nx = img.shape
    lo, hi = float(np.min(img)), float(np.max(img))
    span = hi - lo
    if ny < 16 or nx < 16 or not span > 0:
        return 0
    tol = max(0.02 * span, 1e-12)
    first = ny - max(4, ny // 4)
    block = img[first:]
    # A border row: >= 95 % of its pixels at one extreme grey level (within 5 % of the range).
    dark = np.mean(block <= lo + 0.05 * span, axis=1)
    bright = np.mean(block >= hi - 0.05 * span, axis=1)
    border = (dark >= 0.95) | (bright >= 0.95)
    # Only the top row of each run of border rows can be the bar's edge (keeps a dark bottom region cheap).
    starts = np.flatnonzero(border & ~np.concatenate(([False], border[:-1])))
    for top in (first + int(i) for i in starts):  # highest first
        panel_rows = img[top + 1 :]
        if panel_rows.shape[0] < max(3, ny // 100):
            continue
        panel = float(np.median(panel_rows))
        near = np.mean(np.abs(panel_rows - panel) <= tol, axis=1)
        edge = np.mean(np.abs(panel_rows - panel_rows.mean(axis=1, keepdims=True)) <= tol, axis=1)
        # Each row below the border: mostly panel grey, or itself a border line; the last row or two may be
        # scan lines that the bar did not cover.
        ok = (near >= 0.5) | (edge >= 0.95)
        tail = len(ok)
        while tail > 0 and not ok[tail - 1] and len(ok) - tail < 2:
            tail -= 1
        if tail < 3 or not ok[:tail].all():
            continue
        zone = img[top:]
        has_dark = np.mean(zone <= lo + 0.25 * span) >= 0.01
        has_light = np.mean(zone >= hi - 0.25 * span) >= 0.01
        if has_dark and has_light:
            return ny - top
    return 0


# =========================================================================================== helpers
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _description(page: Any) -> str:
    tag = page.tags.get(270)
    if tag is None:
        return ""
    value = tag.value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _scansr_info(description: str) -> dict | None:
    text = description.strip()
    if not text.startswith("{") or f'"{SCANSR_KEY}"' not in text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) and SCANSR_KEY in info else None


def _check_page_data(path: Path, page: Any, size: int) -> None:
    offsets = tuple(page.dataoffsets or ())
    counts = tuple(page.databytecounts or ())
    for off, n in zip(offsets, counts, strict=False):
        if off + n > size:
            raise ScanReadError(
                path,
                f"truncated TIFF: image data of page {page.index} runs past the end of the file ({size} B)",
            )


def _page_array(path: Path, page: Any) -> np.ndarray:
    _check_page_data(path, page, path.stat().st_size)
    return page.asarray()


def _frame_index(path: Path, frame: int | None, n_frames: int) -> int:
    index = 0 if frame is None else int(frame)
    if not 0 <= index < n_frames:
        raise ScanReadError(path, f"frame {frame} does not exist; the file has {n_frames} frame(s)")
    return index


def _length(value: Any, unit: str) -> float | None:
    """Return `value` in `unit` as metres, or None if the unit is no length or the value not positive."""
    factor = length_factor(unit)
    if factor is None:
        return None
    try:
        metres = float(value) * factor
    except (TypeError, ValueError):
        return None
    return metres if math.isfinite(metres) and metres > 0 else None


def _grey_channels(path: Path, data: np.ndarray, page: Any) -> list[tuple[str, np.ndarray]]:
    """Split a page array into named grey-level channels."""
    if data.ndim == 2:
        return [("Intensity", data)]
    if data.ndim == 3 and data.shape[-1] in (3, 4) and page.samplesperpixel in (3, 4):
        rgb = data[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return [("Intensity", rgb[..., 0])]
        return [("Red", rgb[..., 0]), ("Green", rgb[..., 1]), ("Blue", rgb[..., 2])]
    if data.ndim == 3 and page.samplesperpixel == 1:
        return [("Intensity", data[0])]
    raise ScanReadError(path, f"unsupported TIFF page layout {data.shape}")


def _frame_pages(tif: Any) -> list[Any]:
    """Pages that are frames: full-resolution pages of the size of the first page (thumbnails skipped)."""
    first = tif.pages[0]
    pages = []
    for page in tif.pages:
        if getattr(page, "is_reduced", False):
            continue
        if page.shape == first.shape and page.dtype == first.dtype:
            pages.append(page)
    return pages or [first]


# =========================================================================================== Park Systems
def _utf16(buf: bytes, pos: int, nchars: int) -> tuple[str, int]:
    raw = buf[pos : pos + 2 * nchars]
    text = raw.decode("utf-16-le", "replace").split("\x00", 1)[0].strip()
    return text, pos + 2 * nchars


def _park_header(path: Path, buf: bytes, version: int) -> dict[str, Any]:
    need = 580 if version == PARK_VERSIONS[1] else 356
    if len(buf) < need:
        raise ScanReadError(
            path, f"Park header is {len(buf)} bytes, a version-{version & 0xFF} header has {need}"
        )
    h: dict[str, Any] = {}
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        value = struct.unpack_from("<" + fmt, buf, pos)[0]
        pos += struct.calcsize("<" + fmt)
        return value

    h["image_type"] = take("I")
    h["source_name"], pos = _utf16(buf, pos, 32)
    h["image_mode"], pos = _utf16(buf, pos, 8)
    h["lpf_strength"] = take("d")
    h["auto_flatten"] = take("I")
    h["ac_track"] = take("I")
    h["xres"] = take("I")
    h["yres"] = take("I")
    h["angle"] = take("d")
    h["sine_scan"] = take("I")
    h["overscan_rate"] = take("d")
    h["forward"] = take("I")
    h["scan_up"] = take("I")
    h["swap_xy"] = take("I")
    h["xreal_um"] = take("d")
    h["yreal_um"] = take("d")
    h["xoff_um"] = take("d")
    h["yoff_um"] = take("d")
    h["scan_rate"] = take("d")
    h["set_point"] = take("d")
    h["set_point_unit"], pos = _utf16(buf, pos, 8)
    h["tip_bias"] = take("d")
    h["sample_bias"] = take("d")
    h["data_gain"] = take("d")
    h["z_scale"] = take("d")
    h["z_offset"] = take("d")
    h["z_unit"], pos = _utf16(buf, pos, 8)
    h["data_min"] = take("i")
    h["data_max"] = take("i")
    h["data_avg"] = take("i")
    h["compression"] = take("I")
    h["logscale"] = take("I")
    h["square"] = take("I")
    h["data_type"] = 0
    if version == PARK_VERSIONS[1]:
        h["z_servo_gain"] = take("d")
        h["z_scanner_range"] = take("d")
        h["xy_voltage_mode"], pos = _utf16(buf, pos, 8)
        h["z_voltage_mode"], pos = _utf16(buf, pos, 8)
        h["xy_servo_mode"], pos = _utf16(buf, pos, 8)
        h["data_type"] = take("I")
        take("I")
        take("I")
        h["ncm_amplitude"] = take("d")
        h["ncm_frequency"] = take("d")
        h["cantilever_name"], pos = _utf16(buf, pos, 16)
    return h


def _read_park(path: Path, tif: Any, frame: int | None) -> Scan:
    _frame_index(path, frame, 1)
    # The page image is only a preview, but a file cut short there is still a damaged file.
    _check_page_data(path, tif.pages[0], path.stat().st_size)
    tags = tif.pages[0].tags
    magic = int(tags[PARK_MAGIC_TAG].value)
    version = int(tags[PARK_VERSION_TAG].value) if PARK_VERSION_TAG in tags else 0
    if magic != PARK_MAGIC or version not in PARK_VERSIONS:
        raise ScanReadError(path, f"Park Systems TIFF of unknown magic/version {magic:#x}/{version:#x}")
    if PARK_DATA_TAG not in tags or PARK_HEADER_TAG not in tags:
        raise ScanReadError(path, "Park Systems TIFF without its data (tag 50434) or header (tag 50435)")
    h = _park_header(path, bytes(tags[PARK_HEADER_TAG].value), version)
    if h["image_type"] not in (0, 2):
        raise ScanReadError(
            path, f"Park Systems file of image type {h['image_type']} (a line profile) holds no image"
        )
    dtype = {0: "<i2", 1: "<i4", 2: "<f4"}.get(h["data_type"])
    if dtype is None:
        raise ScanReadError(
            path, f"Park Systems data type {h['data_type']} is unknown (0, 1, 2 are int16, int32, float32)"
        )
    raw = bytes(tags[PARK_DATA_TAG].value)
    nx, ny = int(h["xres"]), int(h["yres"])
    itemsize = np.dtype(dtype).itemsize
    if nx < 1 or ny < 1 or nx * ny * itemsize != len(raw):
        raise ScanReadError(
            path,
            f"Park header says {nx}x{ny} values of {itemsize} bytes but the data tag holds {len(raw)} bytes",
        )
    values = np.frombuffer(raw, dtype=dtype).reshape(ny, nx).astype(np.float64)
    z_unit = h["z_unit"] or "um"
    unit, factor = split_prefix(z_unit)
    z_scale = h["z_scale"] if h["z_scale"] != 0 else 1.0
    data = (values * z_scale + h["z_offset"]) * h["data_gain"] * factor
    data = data[::-1]  # Park stores the bottom line first; Gwyddion shows it flipped.
    xreal, yreal = abs(h["xreal_um"]) * 1e-6, abs(h["yreal_um"]) * 1e-6
    pixel_size = (yreal / ny, xreal / nx) if xreal > 0 and yreal > 0 else None
    name = h["source_name"] or "Topography"
    direction = "trace" if h["forward"] else "retrace"
    metadata = {
        "park_version": f"{version >> 24}.{(version >> 12) & 0xFFF}.{version & 0xFFF}",
        "image_mode": h["image_mode"],
        "image_type": int(h["image_type"]),
        "scan_angle_deg": float(h["angle"]),
        "fast_axis": "y" if h["swap_xy"] else "x",
        "slow_scan": "up" if h["scan_up"] else "down",
        "overscan_percent": 100.0 * float(h["overscan_rate"]),
        "scan_rate_hz": float(h["scan_rate"]),
        "set_point": float(h["set_point"]),
        "set_point_unit": h["set_point_unit"],
        "tip_bias_v": float(h["tip_bias"]),
        "sample_bias_v": float(h["sample_bias"]),
        "data_gain": float(h["data_gain"]),
        "z_scale": float(z_scale),
        "z_offset": float(h["z_offset"]),
        "z_unit": z_unit,
        "x_offset_m": float(h["xoff_um"]) * 1e-6,
        "y_offset_m": float(h["yoff_um"]) * 1e-6,
    }
    if "cantilever_name" in h:
        metadata["cantilever"] = h["cantilever_name"]
        metadata["ncm_frequency_hz"] = float(h["ncm_frequency"])
    software = tags[305].value if 305 in tags else "Park Systems"
    return Scan(
        channels=(Channel(name, data, unit=unit, direction=direction),),
        pixel_size=pixel_size,
        instrument=str(software).strip() or "Park Systems",
        metadata=metadata,
        source=path,
        format="tiff",
    )


# =========================================================================================== scansr TIFF
def _read_scansr(path: Path, tif: Any, info: dict, frame: int | None) -> Scan:
    _frame_index(path, frame, 1)
    described = info.get("channels") or []
    pages = list(tif.pages)
    if len(described) != len(pages):
        raise ScanReadError(
            path, f"scansr TIFF describes {len(described)} channel(s) but holds {len(pages)} page(s)"
        )
    channels = []
    for page, desc in zip(pages, described, strict=True):
        data = _page_array(path, page)
        if data.ndim != 2:
            raise ScanReadError(path, f"scansr TIFF page {page.index} is not a single-channel image")
        direction = desc.get("direction")
        channels.append(
            Channel(
                str(desc.get("name") or f"Channel {page.index}"),
                data.astype(np.float64),
                unit=str(desc.get("unit") or ""),
                direction=direction if direction in DIRECTIONS else None,
            )
        )
    pixel_size = info.get("pixel_size")
    origin = info.get("origin")
    metadata = dict(info.get("metadata") or {})
    # The file holds one frame; where the scan came from a video, say which frame it was.
    if int(info.get("n_frames") or 1) > 1 and info.get("frame") is not None:
        metadata.setdefault("source_frame", int(info["frame"]))
        metadata.setdefault("source_n_frames", int(info["n_frames"]))
    return Scan(
        channels=tuple(channels),
        pixel_size=tuple(pixel_size) if pixel_size is not None else None,
        origin=tuple(origin) if origin is not None else None,
        instrument=info.get("instrument"),
        metadata=metadata,
        source=path,
        format="tiff",
    )


# =========================================================================================== SEM
def _zeiss_metadata(tag_value: Any) -> dict[str, tuple]:
    """Zeiss CZ_SEM entries as ``{key: (label, value[, unit])}``; tifffile parses the tag into such a dict."""
    if isinstance(tag_value, dict):
        return {str(k): v if isinstance(v, tuple) else (str(k), v) for k, v in tag_value.items()}
    text = tag_value.decode("latin-1") if isinstance(tag_value, bytes) else str(tag_value)
    out: dict[str, tuple] = {}
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    for key, line in itertools.pairwise(lines):
        if re.fullmatch(r"[A-Z]{2}_[A-Z0-9_]+", key) and "=" in line:
            label, value = (s.strip() for s in line.split("=", 1))
            m = re.fullmatch(r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(\S*)", value)
            out[key.lower()] = (label, float(m.group(1)), m.group(2)) if m else (label, value)
    return out


def _zeiss_quantity(meta: dict[str, tuple], key: str) -> float | None:
    entry = meta.get(key)
    if entry is None or len(entry) < 3:
        return None
    return _length(entry[1], str(entry[2]))


def _zeiss_pixel_size(meta: dict[str, tuple], ny: int, nx: int) -> tuple[tuple[float, float] | None, str]:
    # "Pixel Size" refers to a 1024-pixel-wide display (the rule of RosettaSciIO); the unnamed first entry
    # holds it with 7 digits. Check it against the field width over the stored columns (which survives a
    # resized copy of the file).
    width, height = _zeiss_quantity(meta, "ap_width"), _zeiss_quantity(meta, "ap_height")
    display_px = _zeiss_quantity(meta, "ap_pixel_size")
    primary = meta.get("")
    if primary and len(primary) > 3 and isinstance(primary[3], float) and primary[3] > 0:
        display_px = primary[3]
    if display_px is not None:
        px = display_px * 1024 / nx
        if width is None or abs(px * nx / width - 1) < 0.01:
            return (px, px), "Pixel Size x 1024 / columns"
    if width is not None and height is not None:
        return (height / ny, width / nx), "Width / Height"
    image_px = _zeiss_quantity(meta, "ap_image_pixel_size")
    if image_px is not None:
        return (image_px, image_px), "Image Pixel Size"
    return None, "none"


def _fei_metadata(text: Any) -> dict[str, dict[str, str]]:
    if isinstance(text, dict):
        return {
            str(s): {str(k): str(v) for k, v in d.items()} for s, d in text.items() if isinstance(d, dict)
        }
    raw = text.decode("latin-1") if isinstance(text, bytes) else str(text)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(raw[raw.find("[") :] if "[" in raw else raw)
    except configparser.Error:
        return {}
    return {s: dict(parser[s]) for s in parser.sections()}


def _read_sem(path: Path, tif: Any, frame: int | None, vendor: str, crop_info_bar: bool) -> Scan:
    pages = _frame_pages(tif)
    index = _frame_index(path, frame, len(pages))
    page = pages[index]
    data = _page_array(path, page)
    named = _grey_channels(path, data, page)
    ny, nx = named[0][1].shape
    # Each page of a multi-frame file carries its own acquisition record (time, stage); use the frame's.
    own = ZEISS_TAG in page.tags if vendor == "zeiss" else any(t in page.tags for t in FEI_TAGS)
    tags = page.tags if own else tif.pages[0].tags
    metadata: dict[str, Any] = {"vendor": vendor}
    instrument: str | None
    data_rows: int | None = None
    if vendor == "zeiss":
        meta = _zeiss_metadata(tags[ZEISS_TAG].value)
        pixel_size, rule = _zeiss_pixel_size(meta, ny, nx)
        metadata["pixel_size_from"] = rule
        for key, name in _ZEISS_KEYS:
            if key in meta and len(meta[key]) >= 2:
                value = meta[key][1]
                unit = meta[key][2] if len(meta[key]) > 2 else ""
                metadata[name] = f"{value} {unit}".strip() if not isinstance(value, bool) else value
        system = meta.get("sv_serial_number") or meta.get("dp_sem")
        instrument = f"Zeiss {system[1]}" if system and len(system) > 1 else "Zeiss SEM"
        detector = meta.get("dp_detector_channel")
        channel_name = (
            str(detector[1]) if detector and len(detector) > 1 and str(detector[1]).strip() else None
        )
    else:
        tag = next(tags[t] for t in FEI_TAGS if t in tags)
        meta_fei = _fei_metadata(tag.value)
        scan = meta_fei.get("Scan", {})
        pw, ph = finite_float(scan.get("PixelWidth")), finite_float(scan.get("PixelHeight"))
        pixel_size = (ph, pw) if pw and ph and pw > 0 and ph > 0 else None
        metadata["pixel_size_from"] = "[Scan] PixelWidth / PixelHeight" if pixel_size else "none"
        image = meta_fei.get("Image", {})
        res_y = finite_float(image.get("ResolutionY"))
        if res_y is not None and 0 < res_y <= ny:
            data_rows = int(res_y)
        for section, key, name in _FEI_KEYS:
            value = meta_fei.get(section, {}).get(key)
            if value is not None:
                metadata[name] = value
        system = meta_fei.get("System", {}).get("SystemType")
        instrument = f"FEI / Thermo Fisher {system}" if system else "FEI / Thermo Fisher SEM"
        detector_name = meta_fei.get("Detectors", {}).get("Name")
        channel_name = detector_name.strip() if detector_name and detector_name.strip() else None
    bar = 0
    if crop_info_bar:
        if data_rows is not None:
            bar = ny - data_rows
            metadata["info_bar_found_by"] = "metadata" if bar else "none"
        else:
            bar = detect_info_bar(named[0][1] if len(named) == 1 else np.mean([d for _, d in named], axis=0))
            metadata["info_bar_found_by"] = "image" if bar else "none"
        if bar >= ny - 1:
            bar = 0
    metadata["info_bar_rows"] = int(bar)
    metadata["rows_in_file"] = int(ny)
    channels = []
    for name, array in named:
        label = channel_name if (channel_name and len(named) == 1) else name
        channels.append(Channel(label, array[: ny - bar].astype(np.float64), unit="counts"))
    return Scan(
        channels=tuple(channels),
        pixel_size=pixel_size,
        frame=index,
        n_frames=len(pages),
        instrument=instrument,
        metadata=metadata,
        source=path,
        format="tiff",
    )


# =========================================================================================== plain TIFF
def _plain_pixel_size(path: Path, page: Any, description: str) -> tuple[tuple[float, float] | None, str]:
    tags = page.tags
    if 282 not in tags or 283 not in tags:
        return None, "none"

    def per_unit(tag: Any) -> float | None:
        value = tag.value
        try:
            num, den = value if isinstance(value, tuple) else (value, 1)
            result = float(num) / float(den)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return result if math.isfinite(result) and result > 0 else None

    xres, yres = per_unit(tags[282]), per_unit(tags[283])
    if xres is None or yres is None:
        return None, "none"
    unit_tag = int(tags[296].value) if 296 in tags else 2
    if description.startswith("ImageJ="):
        m = re.search(r"^unit=(.+)$", description, flags=re.MULTILINE)
        if m:
            unit = m.group(1).strip().replace("\\u00B5", "µ")
            metres = _length(1.0, unit)
            if metres is not None:
                return (metres / yres, metres / xres), f"ImageJ resolution ({unit})"
        return None, "none"
    if unit_tag == 3:  # centimetre
        return (1e-2 / yres, 1e-2 / xres), "resolution tags (pixels per cm)"
    return None, "none"


def _read_plain(path: Path, tif: Any, frame: int | None, description: str) -> Scan:
    pages = _frame_pages(tif)
    index = _frame_index(path, frame, len(pages))
    page = pages[index]
    data = _page_array(path, page)
    named = _grey_channels(path, data, page)
    pixel_size, rule = _plain_pixel_size(path, tif.pages[0], description)
    metadata: dict[str, Any] = {"pixel_size_from": rule, "dtype": str(data.dtype)}
    software = tif.pages[0].tags.get(305)
    if software is not None:
        metadata["software"] = str(software.value)
    return Scan(
        channels=tuple(Channel(name, array.astype(np.float64), unit="counts") for name, array in named),
        pixel_size=pixel_size,
        frame=index,
        n_frames=len(pages),
        metadata=metadata,
        source=path,
        format="tiff",
    )
