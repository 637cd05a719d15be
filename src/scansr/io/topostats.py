"""TopoStats ``.topostats`` HDF5 files: processed crops written by TopoStats (heights in nm).

Read with h5py: only the root datasets ``image`` (the processed height image, nm), ``image_original`` (before
TopoStats' flattening, nm; file version 0.2 and later) and ``pixel_to_nm_scaling`` (nm per pixel, square
pixels) are needed. AFMReader's ``load_topostats`` reads the same values but loads every group of the file
(grain masks, traces, statistics) and logs each call at INFO level, so it is used only in the tests, as an
independent check.

These files are derived data, not instrument files: they carry no scan offset, and the arrays are stored in
TopoStats' display orientation (row 0 at the top), so no flip is applied.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NM = 1e-9


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` is an HDF5 file with TopoStats' root datasets named in its first bytes.

    Parameters
    ----------
    head : bytes
        First bytes of the file.
    suffix : str
        Lower-case suffix with the dot (unused; ``.topostats`` files whose names are not in the head still
        come here by suffix).

    Returns
    -------
    bool
    """
    return head.startswith(_HDF5_MAGIC) and (
        b"topostats_file_version" in head or b"pixel_to_nm_scaling" in head
    )


def _scalar(fh, key: str):
    if key not in fh:
        return None
    value = fh[key][()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read the height image(s) of a TopoStats file.

    Parameters
    ----------
    path : Path
        The ``.topostats`` file.
    frame : int, optional
        Ignored (one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        ``"Height"`` (TopoStats' processed image) and, where stored, ``"Height original"`` (before
        flattening), in metres; square pixels of ``pixel_to_nm_scaling`` nm.

    Raises
    ------
    ScanReadError
        Not HDF5, no ``image`` dataset, a bad pixel scaling, or a truncated/corrupt file.
    """
    import h5py  # lazy: only HDF5 readers need it

    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(8) != _HDF5_MAGIC:
            raise ScanReadError(path, "not an HDF5 file, so not a TopoStats file")
    try:
        fh5 = h5py.File(path, "r")
    except OSError as exc:
        raise ScanReadError(path, f"the HDF5 file cannot be opened (truncated or corrupt): {exc}") from None
    with fh5:
        if "image" not in fh5 or not isinstance(fh5["image"], h5py.Dataset) or fh5["image"].ndim != 2:
            raise ScanReadError(path, "no 2-D 'image' dataset: not a TopoStats file")
        channels = [Channel("Height", np.asarray(fh5["image"][()], dtype=np.float64) * _NM, "m")]
        original = fh5.get("image_original")
        if isinstance(original, h5py.Dataset) and original.shape == fh5["image"].shape:
            channels.append(Channel("Height original", np.asarray(original[()], dtype=np.float64) * _NM, "m"))
        scaling = _scalar(fh5, "pixel_to_nm_scaling")
        version = _scalar(fh5, "topostats_file_version")
        filename = _scalar(fh5, "filename")
    pixel_size = None
    if scaling is not None:
        try:
            scaling = float(scaling)
        except (TypeError, ValueError):
            raise ScanReadError(path, f"pixel_to_nm_scaling is not a number: {scaling!r}") from None
        if not (scaling > 0 and math.isfinite(scaling)):
            raise ScanReadError(path, f"pixel_to_nm_scaling must be positive, got {scaling}")
        pixel_size = (scaling * _NM, scaling * _NM)
    else:
        logger.warning("%s: no pixel_to_nm_scaling; the scan has no lateral scale", path)
    meta: dict = {}
    if version is not None:
        meta["topostats_file_version"] = version if isinstance(version, int | float | str) else str(version)
    if isinstance(filename, str):
        meta["original_filename"] = filename
    return Scan(
        tuple(channels),
        pixel_size,
        instrument="TopoStats (processed)",
        metadata=meta,
        source=path,
        format="topostats",
    )
