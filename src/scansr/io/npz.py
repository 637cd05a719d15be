"""NumPy ``.npz``: one float64 array per channel plus a JSON string with the rest of the `Scan`.

Layout written by scansr
    * one array per channel, named after the channel (``"Height"``, ``"Phase retrace"``); a name that cannot
      be a member name (holds a slash or backslash, or starts with ``__``) is stored as ``channel_<i>``;
    * ``__scansr__``: a 0-d unicode array holding JSON with ``channels`` (key, name, unit, direction, in
      order), ``pixel_size``, ``origin``, ``frame``, ``n_frames``, ``instrument``, ``metadata``, ``source``,
      ``format``.

So ``numpy.load("scan.npz")["Height"]`` works in any program, and reading the file back with scansr gives
the same `Scan` field by field (values bit for bit). ``source`` and ``format`` are those of the scan that
was written (the instrument file it came from), so provenance survives a round trip.

A foreign ``.npz`` (arrays only) reads with one channel per 2-D numeric array, named after its key, unit
``""`` and pixel size ``None``. Files are always loaded with ``allow_pickle=False``, and every array's size
in its ``.npy`` header is checked against the member's size before it is loaded.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError

__all__ = ["read", "sniff", "write"]

logger = logging.getLogger(__name__)

META_KEY = "__scansr__"
_LAYOUT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"


# ------------------------------------------------------------------------------------------------------ sniff
def sniff(head: bytes, suffix: str) -> bool:
    """Return True when `head` is a zip archive whose first member is a ``.npy`` array."""
    if not head.startswith(_ZIP_MAGIC) or len(head) < 30:
        return False
    name_length = int.from_bytes(head[26:28], "little")
    name = head[30 : 30 + name_length]
    return name.endswith(b".npy")


# ------------------------------------------------------------------------------------------------------ write
def _safe_key(name: str) -> bool:
    return bool(name) and not name.startswith("__") and not re.search(r"[/\\\x00]", name) and len(name) < 200


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, Path):
        return str(value)
    logger.warning("metadata value %r (%s) is not JSON data; stored as text", value, type(value).__name__)
    return str(value)


def write(scan: Scan, path: Path) -> None:
    """Write `scan` as ``.npz``: one array per channel plus JSON metadata (see the module notes).

    Parameters
    ----------
    scan : Scan
        What to write.
    path : Path
        Output file (the caller makes the write atomic); written through a file handle, so the name is kept
        whatever its suffix.
    """
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for index, channel in enumerate(scan.channels):
        key = channel.name if _safe_key(channel.name) else f"channel_{index}"
        while key in arrays or (key != channel.name and key in scan.names):
            key = f"_{key}"
        arrays[key] = np.asarray(channel.data, dtype=np.float64)
        entries.append(
            {"key": key, "name": channel.name, "unit": channel.unit, "direction": channel.direction}
        )
    info = {
        "scansr_npz": _LAYOUT_VERSION,
        "channels": entries,
        "pixel_size": None if scan.pixel_size is None else list(scan.pixel_size),
        "origin": None if scan.origin is None else list(scan.origin),
        "frame": scan.frame,
        "n_frames": scan.n_frames,
        "instrument": scan.instrument,
        "metadata": dict(scan.metadata),
        "source": None if scan.source is None else str(scan.source),
        "format": scan.format,
    }
    text = json.dumps(info, default=_json_value, ensure_ascii=False)
    arrays[META_KEY] = np.array(text)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


# ------------------------------------------------------------------------------------------------------- read
def _check_sizes(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every ``.npy`` member, after checking them against the member sizes."""
    found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    logger.debug(
                        "%s: member %s has .npy version %s; size not pre-checked", path, key, version
                    )
                    found[key] = ((), np.dtype(object))
                    continue
            needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if needed > info.file_size:
                raise ScanReadError(
                    path,
                    f"array {key!r} claims shape {shape} ({needed} bytes) but its member holds "
                    f"{info.file_size} bytes: the file is corrupt",
                )
            found[key] = (tuple(shape), dtype)
    return found


def _load(npz: Any, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        raise ScanReadError(path, f"array {key!r} cannot be loaded safely ({exc})") from exc


def _read_scansr(npz: Any, info: dict, path: Path) -> Scan:
    if not isinstance(info, dict) or "channels" not in info:
        raise ScanReadError(path, f"the {META_KEY} entry is not scansr metadata")
    version = info.get("scansr_npz")
    if version != _LAYOUT_VERSION:
        raise ScanReadError(path, f"written by another scansr version (layout {version!r}, this one reads 1)")
    channels = []
    for entry in info["channels"]:
        key = entry["key"]
        if key not in npz.files:
            raise ScanReadError(path, f"channel {entry['name']!r} is listed but its array {key!r} is missing")
        channels.append(
            Channel(entry["name"], _load(npz, key, path), unit=entry["unit"], direction=entry["direction"])
        )
    return Scan(
        tuple(channels),
        pixel_size=info["pixel_size"],
        origin=info["origin"],
        frame=info["frame"],
        n_frames=info["n_frames"],
        instrument=info["instrument"],
        metadata=info["metadata"],
        source=None if info["source"] is None else Path(info["source"]),
        format=info["format"],
    )


def _read_foreign(npz: Any, shapes: dict, path: Path) -> Scan:
    channels: list[Channel] = []
    skipped: list[str] = []
    for key in npz.files:
        shape, dtype = shapes.get(key, ((), np.dtype(object)))
        if len(shape) != 2 or dtype.kind not in "biuf" or min(shape) < 1:
            skipped.append(f"{key} {shape} {dtype}")
            continue
        if channels and shape != channels[0].shape:
            skipped.append(f"{key} {shape} (not the shape {channels[0].shape} of {channels[0].name!r})")
            continue
        channels.append(Channel(key, _load(npz, key, path), unit=""))
    if not channels:
        listed = "; ".join(skipped) or "none"
        raise ScanReadError(path, f"no 2-D numeric array to read as an image (arrays: {listed})")
    if skipped:
        logger.warning("%s: skipped arrays that are not images of one shape: %s", path, "; ".join(skipped))
    return Scan(
        tuple(channels), pixel_size=None, metadata={"npz_layout": "foreign"}, source=path, format="npz"
    )


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read an ``.npz`` written by scansr (exact round trip) or a plain one (one channel per 2-D array).

    Parameters
    ----------
    path : Path
        The ``.npz`` file.
    frame : int, optional
        ``None``, 0, or the frame number the scan had when written (the file holds one image).

    Returns
    -------
    Scan

    Raises
    ------
    ScanReadError
        Not a zip of ``.npy`` arrays, an array whose header does not fit its size, object arrays, or no 2-D
        numeric array.
    ValueError
        `frame` names another frame.
    """
    path = Path(path)
    try:
        shapes = _check_sizes(path)
    except zipfile.BadZipFile as exc:
        raise ScanReadError(path, f"not a NumPy .npz file (not a valid zip archive: {exc})") from exc
    with np.load(path, allow_pickle=False) as npz:
        if META_KEY in npz.files:
            try:
                info = json.loads(str(_load(npz, META_KEY, path)[()]))
            except json.JSONDecodeError as exc:
                raise ScanReadError(path, f"the {META_KEY} entry is not valid JSON ({exc})") from exc
            scan = _read_scansr(npz, info, path)
        else:
            scan = _read_foreign(npz, shapes, path)
    if frame not in (None, 0, scan.frame):
        raise ValueError(
            f"{path}: holds one image (frame {scan.frame} of {scan.n_frames} of its source), "
            f"got frame={frame}"
        )
    return scan
