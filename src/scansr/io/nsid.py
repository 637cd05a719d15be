"""pycroscopy HDF5 files: pyNSID (``Measurement_000/Channel_k/.../<main dataset>``) and simple USID images.

Read with h5py (pyNSID/sidpy are not needed to read the layout, and they pull in dask and friends).

pyNSID: every ``Channel_*`` group of the first ``Measurement_*`` group holds one main dataset (an HDF5 dataset
with ``quantity``/``units`` attributes and dimension scales attached, e.g. ``x``, ``y``), and an
``original_metadata`` group whose attributes are the instrument's header. The image's rows are the ``y``
dimension whatever the storage order (the DTMicroscope files store ``(x, y)``: array axis 0 = X).

Files converted from Asylum ``.ibw`` by SciFiReaders (recognised by Asylum keys in ``original_metadata``) get
the same treatment as `scansr.io.igor` gives the original wave, because SciFiReaders stores the wave layer
unchanged (``wData[:, :, k]``, axes x, y) and guesses units:

- orientation ``flipud`` of the (y, x) image, so row 0 is the top row as Gwyddion shows the ``.ibw``;
- units from the channel name (SciFiReaders writes "m" for NapPhase and UserIn channels, and puts the
  channel's unit on the x/y dimension scales, e.g. "deg" for Phase) - see `scansr.io.igor.asylum_unit`;
- pixel size from the dimension scales (``linspace(0, ScanSize, n)``, the same pitch ``ScanSize/(n-1)`` as the
  wave's own scaling);
- ``Scan.origin`` from ``XOffset``/``YOffset`` (scan centre) when ``ScanAngle`` is 0: the top-left corner of
  the top-left pixel, ``(-(YOffset) - ny*dy/2, XOffset - nx*dx/2)``, y growing down the rows while the stage y
  points up the image. Verified on the corpus: PTO_Funakubo0005 (1 um) is found by template matching in
  PTO_Funakubo0004 (3 um) with its top-left pixel at row 159, column 3; these origins predict 158.2, 3.2.

USID: ``Raw_Data`` of shape (positions, 1) with ``Position_Indices``/``Position_Values`` for two position
dimensions is read as an image, row = second position dimension; other USID data (spectra) are refused.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from scansr.io._common import unique_names
from scansr.io.igor import asylum_unit, note_metadata, origin_from_note
from scansr.scan import Channel, Scan, ScanReadError
from scansr.units import length_factor

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ASYLUM_KEYS = ("ScanPoints", "ScanLines", "FastScanSize", "XLVDTSens")


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` is an HDF5 file laid out by pyNSID or USID (``Measurement_``/``Channel_`` groups).

    Parameters
    ----------
    head : bytes
        First bytes of the file; the group names of small files are in the first kilobytes.
    suffix : str
        Lower-case suffix with the dot (unused; ``.h5``/``.hdf5`` files whose names are not in the head still
        come here by suffix).

    Returns
    -------
    bool
    """
    return head.startswith(_HDF5_MAGIC) and b"Measurement_" in head and b"Channel_" in head


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _attrs(obj) -> dict:
    out = {}
    for key, value in obj.attrs.items():
        try:
            if isinstance(value, bytes | str):
                out[key] = _text(value)
            elif np.ndim(value) == 0 and not isinstance(value, np.void):
                item = value.item() if hasattr(value, "item") else value
                out[key] = item
        except (TypeError, ValueError):
            continue
    return out


def _is_main(ds) -> bool:
    import h5py

    return (
        isinstance(ds, h5py.Dataset)
        and ds.ndim == 2
        and ds.dtype.kind in "fiu"
        and ("quantity" in ds.attrs or "DIMENSION_LIST" in ds.attrs)
    )


def _dimension(ds, axis: int) -> tuple[str, str, np.ndarray | None]:
    """(name, units, values) of dimension `axis` of a pyNSID main dataset."""
    try:
        scales = ds.dims[axis]
        if len(scales):
            scale = scales[0]
            name = _text(scale.attrs.get("name", scale.name.rsplit("/", 1)[-1]))
            units = _text(scale.attrs.get("units", ""))
            values = np.asarray(scale[()], dtype=np.float64) if scale.size <= 10**7 else None
            return name, units, values
    except (KeyError, RuntimeError, ValueError, TypeError):
        pass
    labels = ds.attrs.get("DIMENSION_LABELS")
    name = _text(labels[axis]) if labels is not None and len(labels) > axis else ""
    return name, "", None


def _spacing(values: np.ndarray | None, units: str, trust_metres: bool) -> float | None:
    if values is None or values.size < 2 or not np.all(np.isfinite(values)):
        return None
    step = float(values[1] - values[0])
    if not step or not np.allclose(np.diff(values), step, rtol=1e-6, atol=0):
        return None
    scale = length_factor(units)
    if scale is None:
        # SciFiReaders puts the channel's unit on the dimension scales; Asylum positions are in metres.
        scale = 1.0 if trust_metres else None
    return None if scale is None else abs(step) * scale


def _channel_name(ds) -> str:
    name = _text(ds.attrs.get("quantity", "")).strip()
    if not name or name.casefold() in ("generic", "none"):
        name = ds.name.rsplit("/", 1)[-1]
    return name


def _direction(name: str) -> str | None:
    if name.endswith("Retrace"):
        return "retrace"
    if name.endswith("Trace"):
        return "trace"
    return None


def _read_nsid(path: Path, measurement) -> Scan:
    import h5py

    mains = []
    for key in sorted(measurement.keys(), key=_natural):
        group = measurement[key]
        if not key.startswith("Channel_") or not isinstance(group, h5py.Group):
            continue
        found = []
        group.visititems(lambda name, obj, found=found: found.append(obj) if _is_main(obj) else None)
        if group.get("original_metadata") is not None or found:
            mains.extend((ds, _find_metadata(ds)) for ds in found)
    if not mains:
        raise ScanReadError(path, "no image dataset found in the pyNSID groups")

    channels, pixel_sizes, metas = [], [], []
    for ds, meta in mains:
        asylum = all(k in meta for k in _ASYLUM_KEYS[:2])
        axes = [_dimension(ds, a) for a in (0, 1)]
        names = [a[0].casefold() for a in axes]
        data = np.asarray(ds[()], dtype=np.float64)
        x_axis = 0 if names[0] == "x" or names[1] == "y" else 1
        if x_axis == 0:
            data = data.T
            axes = axes[::-1]
        if asylum:
            data = np.flipud(data)
        name = _channel_name(ds)
        unit = (
            asylum_unit(name, {k: _text(v) for k, v in meta.items()})
            if asylum
            else _text(ds.attrs.get("units", ""))
        )
        channels.append(Channel(name, data, unit, _direction(name)))
        dy = _spacing(axes[0][2], axes[0][1], asylum)
        dx = _spacing(axes[1][2], axes[1][1], asylum)
        pixel_sizes.append((dy, dx) if dy and dx else None)
        metas.append((meta, asylum))

    shape = channels[0].shape
    keep = [i for i, c in enumerate(channels) if c.shape == shape]
    if len(keep) < len(channels):
        logger.warning(
            "%s: skipping %d channel(s) whose shape differs from %s", path, len(channels) - len(keep), shape
        )
    names = unique_names([channels[i].name for i in keep])
    kept = tuple(channels[i].replace(name=n) for i, n in zip(keep, names, strict=True))
    pixel_size = next((pixel_sizes[i] for i in keep if pixel_sizes[i] is not None), None)
    meta, asylum = metas[keep[0]]
    metadata = {"layout": "pyNSID"}
    origin = None
    instrument = None
    if asylum:
        metadata.update(note_metadata(meta, _text(meta["bname"]) if "bname" in meta else None))
        origin = origin_from_note(meta, shape, pixel_size)
        for key, out in (
            ("XOffset", "scan_center_x"),
            ("YOffset", "scan_center_y"),
            ("ScanAngle", "scan_angle"),
        ):
            if isinstance(meta.get(key), int | float) and math.isfinite(meta[key]):
                metadata[out] = float(meta[key])
        model = meta.get("MicroscopeModel")
        instrument = f"Asylum Research {_text(model)}" if model else "Asylum Research"
    return Scan(
        kept, pixel_size, origin=origin, instrument=instrument, metadata=metadata, source=path, format="nsid"
    )


def _find_metadata(ds) -> dict:
    """Return the ``original_metadata`` attributes next to (or above) a main dataset."""
    group = ds.parent
    for _ in range(3):
        om = group.get("original_metadata")
        if om is not None:
            return _attrs(om)
        if group.name == "/":
            break
        group = group.parent
    return {}


def _natural(key: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key))


def _read_usid(path: Path, channel_group) -> Scan:
    raw = channel_group["Raw_Data"]
    pos_ind = np.asarray(channel_group["Position_Indices"][()])
    pos_val = np.asarray(channel_group["Position_Values"][()], dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != 1 or pos_ind.ndim != 2 or pos_ind.shape[1] != 2:
        raise ScanReadError(
            path,
            f"USID data of shape {raw.shape} with {pos_ind.shape[-1]} position dimension(s) "
            "is not an image (spectra are not supported)",
        )
    if pos_ind.shape[0] != raw.shape[0] or pos_val.shape != pos_ind.shape:
        raise ScanReadError(path, "USID position tables do not match Raw_Data")
    labels = [_text(v) for v in channel_group["Position_Indices"].attrs.get("labels", ["X", "Y"])]
    units = [_text(v) for v in channel_group["Position_Indices"].attrs.get("units", ["", ""])]
    nx, ny = int(pos_ind[:, 0].max()) + 1, int(pos_ind[:, 1].max()) + 1
    if nx * ny != raw.shape[0] or pos_ind.min() < 0:
        raise ScanReadError(path, "USID position indices do not form a full grid")
    image = np.full((ny, nx), np.nan)
    image[pos_ind[:, 1], pos_ind[:, 0]] = np.asarray(raw[:, 0], dtype=np.float64)
    steps = []
    for axis, n in ((1, ny), (0, nx)):
        values = np.unique(pos_val[:, axis])
        scale = length_factor(units[axis]) if axis < len(units) else None
        steps.append(float(values[1] - values[0]) * scale if n > 1 and values.size == n and scale else None)
    pixel_size = (steps[0], steps[1]) if steps[0] and steps[1] else None
    name = _text(raw.attrs.get("quantity", "Raw_Data")) or "Raw_Data"
    unit = _text(raw.attrs.get("units", ""))
    meta = {"layout": "USID", "position_labels": ",".join(labels)}
    return Scan((Channel(name, image, unit),), pixel_size, metadata=meta, source=path, format="nsid")


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    """Read the image channels of a pyNSID (or simple USID) HDF5 file.

    Parameters
    ----------
    path : Path
        The ``.h5`` file.
    frame : int, optional
        Ignored (one frame); `scansr.io.read` rejects frames other than 0.
    **options
        None are accepted.

    Returns
    -------
    Scan
        One channel per pyNSID channel group (first measurement group only).

    Raises
    ------
    ScanReadError
        Not HDF5, no pyNSID/USID image, or a truncated/corrupt file.
    """
    import h5py  # lazy: only HDF5 readers need it

    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(8) != _HDF5_MAGIC:
            raise ScanReadError(path, "not an HDF5 file")
    try:
        fh5 = h5py.File(path, "r")
    except OSError as exc:
        raise ScanReadError(path, f"the HDF5 file cannot be opened (truncated or corrupt): {exc}") from None
    with fh5:
        measurements = sorted((k for k in fh5 if k.startswith("Measurement_")), key=_natural)
        if not measurements:
            raise ScanReadError(path, "no 'Measurement_*' group: not a pyNSID/USID file")
        measurement = fh5[measurements[0]]
        if len(measurements) > 1:
            logger.warning(
                "%s: reading %s only of %d measurement groups", path, measurements[0], len(measurements)
            )
        for key in sorted(measurement.keys(), key=_natural):
            group = measurement[key]
            if isinstance(group, h5py.Group) and "Raw_Data" in group and "Position_Indices" in group:
                return _read_usid(path, group)
        return _read_nsid(path, measurement)
