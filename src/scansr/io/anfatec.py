"""Anfatec / Molecular Vista (VistaScan, PiFM) scans: a ``.txt`` parameter file and one ``.int`` per channel.

The parameter file starts with ``;ANFATEC Parameterfile``; it holds the scan parameters (``xPixel``,
``yPixel``, ``XScanRange``, ``YScanRange`` with ``XPhysUnit``, ``xCenter``/``yCenter``, ...) and one
``FileDescBegin`` ... ``FileDescEnd`` block per channel naming its ``.int`` file, ``Caption``, ``Scale`` and
``PhysUnit``. Each ``.int`` is ``yPixel`` rows of ``xPixel`` little-endian int32, top row first; a sample
``n`` is ``n * Scale`` in ``PhysUnit``.

- Reading a ``.int`` gives that channel only (the file the user pointed at); its parameter file is found
  beside it (the longest ``<prefix>.txt`` of the ``.int`` name that lists it).
- Reading the parameter ``.txt`` gives every channel it lists whose ``.int`` is present.
- ``.int.datasw`` files are VistaScan display settings (colour range, palette, masks), not data: they raise
  `UnsupportedFormatError` naming the ``.int`` to read instead. Hyperspectral ``FileDesc2`` spectrograms and
  point spectra are not images and are skipped.

Values follow Gwyddion 2.62 and SciFiReaders: the header's per-channel ``Offset`` is not added (it is kept in
the metadata); the origin is the top-left corner (x: centre minus half the range; y: minus (centre plus half
the range), since the instrument's y grows up and scansr's down); the scan ``Angle`` is in the metadata, not
applied. Parsed by hand: no maintained Python package reads these files with their units (SciFiReaders
needs sidpy and returns sidpy datasets); the layout follows Gwyddion's ``modules/file/anfatec.c`` and is
checked against Gwyddion in the tests.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scansr.io._common import unique_name
from scansr.scan import Channel, Scan, ScanReadError, UnsupportedFormatError
from scansr.units import split_prefix

__all__ = ["read", "sniff"]

logger = logging.getLogger(__name__)

MAGIC = b";ANFATEC Parameterfile"
DATASW_MAGIC = b"<datasw"
_MAGIC_WINDOW = 160  # Gwyddion looks for the magic within the first 160 bytes
_MAX_HEADER = 4 << 20


def sniff(head: bytes, suffix: str) -> bool:
    """Whether `head` is an Anfatec parameter file, or a VistaScan ``.datasw`` display-settings file.

    The parameter file is plain text ending in ``.txt``; the magic line ``;ANFATEC Parameterfile`` within its
    first 160 bytes tells it from a text height matrix. ``.int`` data files have no magic: found by suffix.
    """
    return MAGIC in head[:_MAGIC_WINDOW] or head.lstrip().startswith(DATASW_MAGIC)


@dataclass(frozen=True)
class _FileDesc:
    file_name: str
    caption: str
    scale: float
    unit: str
    offset: str


@dataclass(frozen=True)
class _Header:
    path: Path
    params: dict[str, str]
    images: tuple[_FileDesc, ...]
    other_files: tuple[str, ...]  # spectrograms and spectra: not images


def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read an Anfatec ``.int`` channel, or every channel of a parameter ``.txt``.

    Parameters
    ----------
    path : Path
        A ``.int`` data file (its parameter ``.txt`` must be beside it) or the parameter ``.txt``.
    frame : int, optional
        Unused (single image).

    Returns
    -------
    Scan
        The channel(s) in SI units, pixel size and origin in metres.

    Raises
    ------
    ScanReadError
        No parameter file found for a ``.int``, a truncated ``.int`` or a corrupt parameter file.
    UnsupportedFormatError
        A ``.datasw`` display-settings file, or a ``.int`` that holds a hyperspectral spectrogram.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_MAGIC_WINDOW)
    if head.lstrip().startswith(DATASW_MAGIC):
        data_file = path.name[: -len(".datasw")] if path.name.lower().endswith(".datasw") else "the .int file"
        raise UnsupportedFormatError(
            path,
            f"a VistaScan display-settings file (colour range, palette, masks) "
            f"with no measurement in it; read {data_file} or the parameter .txt",
        )
    if MAGIC in head:
        header = _parse_header(path)
        wanted = list(header.images)
        if not wanted:
            raise UnsupportedFormatError(
                path,
                f"the parameter file lists no image channel ({len(header.other_files)} spectrogram or "
                "spectrum file(s) only); open it in Gwyddion or VistaScan",
            )
    else:
        header = _find_header(path)
        desc = _desc_for(header, path.name)
        if desc is None:
            raise UnsupportedFormatError(
                path,
                f"{header.path.name} describes {path.name} as a spectrogram or "
                "spectrum, not an image; open it in Gwyddion or VistaScan",
            )
        wanted = [desc]
    return _scan(header, wanted, single=path if MAGIC not in head else None)


# =========================================================================================== parameter file
def _parse_header(path: Path) -> _Header:
    raw = path.read_bytes()
    if len(raw) > _MAX_HEADER:
        raise ScanReadError(path, f"{len(raw)} bytes is too large for an Anfatec parameter file")
    text = raw.decode("cp1252", errors="replace")  # VistaScan writes Windows-1252 (µ, °)
    params: dict[str, str] = {}
    blocks: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    kind = ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        begin = re.fullmatch(r"(\w*?)Begin", line)
        if begin and line != "Begin":
            if current is not None:
                raise ScanReadError(path, f"line {number}: {line} inside another {kind} block")
            kind, current = begin.group(1), {}
            continue
        end = re.fullmatch(r"(\w*?)End", line)
        if end and current is not None and end.group(1) == kind:
            blocks.append((kind, current))
            current = None
            continue
        key, sep, value = line.partition(":")
        if not sep:
            logger.debug("%s: line %d not understood: %r", path, number, line)
            continue
        (current if current is not None else params)[key.strip()] = value.strip()
    if current is not None:
        raise ScanReadError(
            path,
            f"the {kind} block of {current.get('FileName', '?')} has no {kind}End: the "
            "parameter file is truncated or corrupt",
        )
    images, others = [], []
    for kind, block in blocks:
        name = block.get("FileName", "").strip()
        if not name:
            continue
        if kind == "FileDesc":
            try:
                scale = float(block.get("Scale", "1"))
            except ValueError:
                raise ScanReadError(path, f"Scale {block['Scale']!r} of {name} is not a number") from None
            images.append(
                _FileDesc(
                    name,
                    block.get("Caption", "").strip() or Path(name).stem,
                    scale,
                    block.get("PhysUnit", ""),
                    block.get("Offset", "0"),
                )
            )
        else:
            others.append(name)
    return _Header(path, params, tuple(images), tuple(others))


def _find_header(data_path: Path) -> _Header:
    stem = data_path.name[: -len(data_path.suffix)] if data_path.suffix else data_path.name
    tried = []
    for k in range(len(stem), 0, -1):
        for suffix in (".txt", ".TXT"):
            candidate = data_path.with_name(stem[:k] + suffix)
            if not candidate.is_file():
                continue
            tried.append(candidate.name)
            with open(candidate, "rb") as fh:
                if MAGIC not in fh.read(_MAGIC_WINDOW):
                    continue
            header = _parse_header(candidate)
            names = {d.file_name.casefold() for d in header.images} | {
                n.casefold() for n in header.other_files
            }
            if data_path.name.casefold() in names:
                return header
    also = f" (checked {', '.join(tried)})" if tried else ""
    raise ScanReadError(
        data_path,
        "no Anfatec parameter file (<name>.txt starting with ';ANFATEC Parameterfile' "
        f"and listing this file) beside it{also}; it holds the scale and units, so "
        "keep the .txt with the .int files",
    )


def _desc_for(header: _Header, file_name: str) -> _FileDesc | None:
    for desc in header.images:
        if desc.file_name.casefold() == file_name.casefold():
            return desc
    return None


# =========================================================================================== data
def _number(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _param_float(header: _Header, key: str) -> float:
    try:
        return float(header.params[key].split(";")[0])
    except KeyError:
        raise ScanReadError(header.path, f"the parameter file lacks {key}") from None
    except ValueError:
        raise ScanReadError(header.path, f"{key} = {header.params[key]!r} is not a number") from None


def _data_file(header: _Header, desc: _FileDesc) -> Path | None:
    candidate = header.path.with_name(desc.file_name)
    if candidate.is_file():
        return candidate
    lowered = desc.file_name.casefold()
    for entry in header.path.parent.iterdir():
        if entry.name.casefold() == lowered and entry.is_file():
            return entry
    return None


def _direction(caption: str) -> str | None:
    low = caption.casefold()
    if low.endswith(("bwd", "backward", "retrace")):
        return "retrace"
    if low.endswith(("fwd", "forward", "trace")):
        return "trace"
    return None


def _scan(header: _Header, descs: list[_FileDesc], *, single: Path | None) -> Scan:
    path = header.path if single is None else single
    xres, yres = int(_param_float(header, "xPixel")), int(_param_float(header, "yPixel"))
    if not (0 < xres < 2**16 and 0 < yres < 2**16):
        raise ScanReadError(header.path, f"xPixel x yPixel = {xres} x {yres} is not a valid image size")
    need = 4 * xres * yres
    channels: list[Channel] = []
    metadata: dict[str, Any] = {k: _number(v) for k, v in header.params.items()}
    missing = []
    names: set[str] = set()
    for desc in descs:
        data_path = single if single is not None else _data_file(header, desc)
        if data_path is None:
            missing.append(desc.file_name)
            continue
        size = data_path.stat().st_size
        if size < need:
            raise ScanReadError(
                data_path, f"truncated: {yres}x{xres} int32 samples need {need} bytes, the file has {size}"
            )
        if size > need:
            problem = f"{size} bytes is more than one {yres}x{xres} int32 image ({need} bytes)"
            if single is not None:
                raise UnsupportedFormatError(
                    data_path, f"{problem}: not an image channel of {header.path.name}"
                )
            logger.warning("%s: skipped: %s", data_path, problem)
            continue
        counts = np.fromfile(data_path, dtype="<i4", count=xres * yres).reshape(yres, xres)
        unit, factor = split_prefix(desc.unit)
        name = unique_name(desc.caption, names)
        names.add(name)
        channels.append(Channel(name, counts * (desc.scale * factor), unit=unit, direction=_direction(name)))
        metadata[f"{name}: FileName"] = desc.file_name
        metadata[f"{name}: Offset ({desc.unit})"] = _number(desc.offset)
    if missing and channels:
        logger.warning("%s: channel files not found, skipped: %s", header.path, ", ".join(missing))
    if not channels:
        raise ScanReadError(
            header.path,
            f"none of the {len(descs)} .int files it lists is present "
            f"({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''})",
        )
    pixel_size, origin = _lateral(header, xres, yres)
    version = header.params.get("VistaScanVersion")
    instrument = f"Molecular Vista VistaScan {version}" if version else "Anfatec"
    return Scan(
        tuple(channels),
        pixel_size,
        origin=origin,
        instrument=instrument,
        metadata=metadata,
        source=path,
        format="anfatec",
    )


def _lateral(
    header: _Header, xres: int, yres: int
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    width, height = abs(_param_float(header, "XScanRange")), abs(_param_float(header, "YScanRange"))
    unit_x, factor_x = split_prefix(header.params.get("XPhysUnit", ""))
    unit_y, factor_y = split_prefix(header.params.get("YPhysUnit", header.params.get("XPhysUnit", "")))
    if unit_x != "m" or unit_y != "m" or not (width > 0 and height > 0 and math.isfinite(width * height)):
        logger.warning(
            "%s: scan range %r x %r %s/%s gives no pixel size in metres",
            header.path,
            height,
            width,
            header.params.get("YPhysUnit"),
            header.params.get("XPhysUnit"),
        )
        return None, None
    pixel = (height * factor_y / yres, width * factor_x / xres)
    try:
        x0 = (_param_float(header, "xCenter") - width / 2) * factor_x
        # Scan convention: y grows down the image; the instrument's y grows up: the top edge is centre + h/2.
        y0 = -(_param_float(header, "yCenter") + height / 2) * factor_y
    except ScanReadError:
        return pixel, None
    return pixel, (y0, x0) if math.isfinite(x0) and math.isfinite(y0) else None
