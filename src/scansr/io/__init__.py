"""Read instrument files into `Scan` objects and write them out: ``read``, ``read_frames``, ``write``.

One module per format family; this module only dispatches. A format is chosen by the file's magic bytes where the
format has them (so a NanoScope binary called ``.txt`` or ``.007`` is still read as NanoScope), else by suffix.

Each format module provides ``read(path: Path, *, frame: int | None = None, **options) -> Scan`` and/or
``write(scan: Scan, path: Path) -> None``. Format readers may raise anything on a corrupt file: `read` turns every
unexpected exception into a `ScanReadError` that names the file, so a user never sees a traceback from deep inside a
parser. Writers here are atomic and never replace the input file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scansr._atomic import atomic_path
from scansr.io import (
    anfatec,
    asd,
    gwyddion,
    igor,
    image,
    jpk,
    mdt,
    mi,
    nanonis,
    nanoscope,
    nanosurf,
    npz,
    nsid,
    spiepy,
    text,
    tiff,
    topostats,
    wsxm,
)
from scansr.scan import (
    OutputExistsError,
    Scan,
    ScanError,
    ScanReadError,
    ScanWriteError,
    UnsupportedFormatError,
)

__all__ = ["FORMATS", "Format", "detect_format", "read", "read_frames", "write"]

logger = logging.getLogger(__name__)

_HEAD_BYTES = 4096


@dataclass(frozen=True)
class Format:
    """One file-format family.

    Attributes
    ----------
    name : str
        Short name (``scansr info`` prints it; ``Scan.format`` holds it).
    description : str
        Vendor / instrument and what the format is.
    suffixes : tuple of str
        Lower-case suffixes, with the dot. A suffix may be a regular expression when it starts with ``re:``.
    read, write : callable or None
        The module functions.
    sniff : callable or None
        ``sniff(head: bytes, suffix: str) -> bool``: True when the first bytes prove the file is of this format.
    options : frozenset of str
        Extra keyword options of ``read`` that this format accepts (e.g. ``value_unit`` for text matrices).
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    read: Callable[..., Scan] | None = None
    write: Callable[[Scan, Path], None] | None = None
    sniff: Callable[[bytes, str], bool] | None = None
    options: frozenset[str] = frozenset()

    def matches_suffix(self, suffix: str) -> bool:
        """Whether `suffix` (lower case, with dot) is one of this format's."""
        for s in self.suffixes:
            if s.startswith("re:"):
                if re.fullmatch(s[3:], suffix):
                    return True
            elif s == suffix:
                return True
        return False


# Order matters only for sniffing: the first format whose sniff() accepts the head wins.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "nanoscope",
            "Bruker / Veeco / Digital Instruments NanoScope",
            (".spm", "re:\\.\\d{3}", ".pfc"),
            nanoscope.read,
            None,
            nanoscope.sniff,
        ),
        Format(
            "gwyddion",
            "Gwyddion native (.gwy) and Gwyddion Simple Field (.gsf)",
            (".gwy", ".gsf"),
            gwyddion.read,
            gwyddion.write,
            gwyddion.sniff,
        ),
        Format(
            "igor",
            "Asylum Research / Oxford Instruments Igor binary wave",
            (".ibw",),
            igor.read,
            None,
            igor.sniff,
        ),
        Format(
            "jpk",
            "JPK / Bruker JPK images, QI maps and HDF5 videos",
            (".jpk", ".jpk-qi-image", ".h5-jpk"),
            jpk.read,
            None,
            jpk.sniff,
        ),
        Format("asd", "High-speed AFM (RIBM / Kanazawa) .asd video", (".asd",), asd.read, None, asd.sniff),
        Format("wsxm", "Nanotec WSxM", (".stp", ".top"), wsxm.read, None, wsxm.sniff),
        Format("nanosurf", "Nanosurf NID", (".nid",), nanosurf.read, None, nanosurf.sniff),
        Format("nanonis", "SPECS Nanonis SXM", (".sxm",), nanonis.read, None, nanonis.sniff),
        Format("nsid", "pycroscopy pyNSID / USID HDF5", (".h5", ".hdf5"), nsid.read, None, nsid.sniff),
        Format(
            "topostats",
            "TopoStats HDF5 (processed crops)",
            (".topostats",),
            topostats.read,
            None,
            topostats.sniff,
        ),
        Format("mdt", "NT-MDT", (".mdt",), mdt.read, None, mdt.sniff),
        Format("mi", "Agilent / Molecular Imaging PicoView", (".mi",), mi.read, None, mi.sniff),
        Format(
            "anfatec",
            "Anfatec / Molecular Vista (PiFM) .int + .txt header",
            (".int",),
            anfatec.read,
            None,
            anfatec.sniff,
        ),
        Format(
            "tiff",
            "TIFF: Park Systems, Zeiss / FEI SEM, scansr float32",
            (".tif", ".tiff"),
            tiff.read,
            tiff.write,
            tiff.sniff,
            frozenset({"crop_info_bar"}),
        ),
        Format(
            "spiepy",
            "SPIEPy .dat (2 uint32 header + float64)",
            (".dat",),
            spiepy.read,
            None,
            spiepy.sniff,
            frozenset({"value_unit"}),
        ),
        Format("npz", "NumPy .npz with JSON metadata (scansr)", (".npz",), npz.read, npz.write, npz.sniff),
        Format(
            "image",
            "Ordinary images (PNG, BMP, JPEG); PNG preview with colour map and scale bar",
            (".png", ".bmp", ".jpg", ".jpeg"),
            image.read,
            image.write,
            image.sniff,
        ),
        Format(
            "text",
            "Plain-text height matrix (IGOR / Gwyddion ASCII export)",
            (".txt", ".asc", ".csv", ".xyz"),
            text.read,
            text.write,
            text.sniff,
            frozenset({"value_unit"}),
        ),
    )
}


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_HEAD_BYTES)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for compound in (".jpk-qi-image", ".h5-jpk"):
        if name.endswith(compound):
            return compound
    return path.suffix.lower()


def _unsupported_message(path: Path) -> str:
    known = sorted({s for f in FORMATS.values() if f.read for s in f.suffixes if not s.startswith("re:")})
    return (
        f"unknown file format (suffix {_suffix(path)!r}); scansr reads {', '.join(known)} and NanoScope .00x files. "
        "Gwyddion (gwyddion.net) opens many more formats: open the file there and save it as .gwy"
    )


def detect_format(path: str | Path) -> str:
    """Return the name of the format of `path` (a key of `FORMATS`): magic bytes first, then the suffix.

    Raises
    ------
    ScanReadError
        If the path does not exist, is not a file, or is empty.
    UnsupportedFormatError
        If neither the content nor the suffix is a known format.
    """
    path = Path(path)
    _check_readable(path)
    head = _head(path)
    suffix = _suffix(path)
    for f in FORMATS.values():
        if f.read is not None and f.sniff is not None and f.sniff(head, suffix):
            return f.name
    for f in FORMATS.values():
        if f.read is not None and f.matches_suffix(suffix):
            return f.name
    raise UnsupportedFormatError(path, _unsupported_message(path))


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ScanReadError(path, "no such file")
    if path.is_dir():
        raise ScanReadError(path, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise ScanReadError(path, "the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ScanReadError(path, "permission denied")


def _call_reader(fmt: Format, path: Path, frame: int | None, options: dict) -> Scan:
    unknown = sorted(set(options) - fmt.options)
    if unknown:
        raise ValueError(
            f"option(s) {unknown} do not apply to {fmt.name} files ({path}); they apply to "
            f"{sorted(f.name for f in FORMATS.values() if set(unknown) <= f.options)}"
        )
    try:
        scan = fmt.read(path, frame=frame, **options)
    except ScanError:
        raise
    except MemoryError:
        raise ScanReadError(
            path, f"not a valid {fmt.description} file: sizes in the header do not fit in memory"
        ) from None
    except Exception as exc:  # a parser's own failure on a corrupt file: say so, naming the file
        logger.debug("reader %s failed on %s", fmt.name, path, exc_info=True)
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ScanReadError(
            path,
            f"not a valid {fmt.description} file, or it is truncated or corrupt "
            f"({type(exc).__name__}{': ' + detail if detail else ''})",
        ) from exc
    if not isinstance(scan, Scan):
        raise TypeError(f"reader {fmt.name} returned {type(scan).__name__}, not Scan")
    return scan


def _finish(
    scan: Scan,
    path: Path,
    fmt: Format,
    channel: str | Sequence[str] | None,
    scan_size: tuple[float, float] | None,
) -> Scan:
    if scan.source is None or scan.format is None:
        scan = scan.replace(source=scan.source or path, format=scan.format or fmt.name)
    if channel is not None:
        scan = scan.select(channel)
    bad = [c.name for c in scan.channels if not np.isfinite(c.data).any()]
    if bad and len(bad) == len(scan.channels):
        raise ScanReadError(path, f"channel(s) {bad} hold no finite value (all NaN or infinite)")
    if bad:
        logger.warning("%s: dropping channel(s) %s: no finite value", path, bad)
        scan = scan.replace(channels=tuple(c for c in scan.channels if c.name not in bad))
    if min(scan.shape) < 2:
        raise ScanReadError(
            path, f"the image is {scan.shape[0]}x{scan.shape[1]} pixels; scansr needs at least 2x2"
        )
    if scan_size is not None:
        height, width = _pair(scan_size, "scan_size")
        new = (height / scan.shape[0], width / scan.shape[1])
        if scan.pixel_size is not None and not np.allclose(new, scan.pixel_size, rtol=1e-6):
            logger.warning(
                "%s: scan_size %s overrides the file's pixel size %s", path, scan_size, scan.pixel_size
            )
        scan = scan.replace(pixel_size=new)
    return scan


def _pair(value, what: str) -> tuple[float, float]:
    if np.isscalar(value):
        value = (value, value)
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be a number or a pair (height, width) in metres, got {value!r}"
        ) from None
    if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return a, b


def read(
    path: str | Path,
    *,
    channel: str | Sequence[str] | None = None,
    frame: int | None = None,
    scan_size: float | tuple[float, float] | None = None,
    **options,
) -> Scan:
    """Read an instrument or image file into a `Scan`, values in SI units.

    Parameters
    ----------
    path : str or Path
        The file.
    channel : str or sequence of str, optional
        Keep only these channels (default: all). Matching is exact, then case-insensitive.
    frame : int, optional
        Frame of a video file (0-based; default: the first). Ignored for single-image files except that a frame
        other than 0 is an error.
    scan_size : float or (float, float), optional
        Physical size ``(height, width)`` of the image in metres; sets the pixel size of files that have none
        (plain-text matrices, SPIEPy .dat) and overrides the file's otherwise.
    **options
        Format-specific options, e.g. ``value_unit="nm"`` for plain-text matrices whose values are not in metres.

    Returns
    -------
    Scan

    Raises
    ------
    ScanReadError
        Missing, empty, truncated or corrupt file, or no usable channel; the message names the file and the problem.
    UnsupportedFormatError
        The format is not one scansr reads; the message says how to convert the file.
    UnknownChannelError
        A requested channel is not in the file; the message lists the channels.
    ValueError
        A bad argument (frame out of range, an option the format does not take).
    """
    path = Path(path)
    if frame is not None and (not isinstance(frame, int | np.integer) or frame < 0):
        raise ValueError(f"frame must be a non-negative integer, got {frame!r}")
    fmt = FORMATS[detect_format(path)]
    scan = _call_reader(fmt, path, frame, options)
    if frame is not None and frame >= scan.n_frames:
        raise ValueError(f"{path}: frame {frame} does not exist; the file has {scan.n_frames} frame(s)")
    return _finish(scan, path, fmt, channel, scan_size)


def read_frames(
    path: str | Path,
    *,
    channel: str | Sequence[str] | None = None,
    scan_size: float | tuple[float, float] | None = None,
    **options,
) -> list[Scan]:
    """Read every frame of a file (a video such as HS-AFM .asd; a single scan gives one frame).

    Parameters and errors as for `read`.
    """
    first = read(path, channel=channel, frame=0, scan_size=scan_size, **options)
    return [first] + [
        read(path, channel=channel, frame=i, scan_size=scan_size, **options) for i in range(1, first.n_frames)
    ]


def _writer_for(path: Path, format: str | None) -> Format:
    if format is not None:
        if format not in FORMATS or FORMATS[format].write is None:
            valid = sorted(n for n, f in FORMATS.items() if f.write)
            raise ValueError(f"format must be one of {valid}, got {format!r}")
        return FORMATS[format]
    suffix = _suffix(path)
    for f in FORMATS.values():
        if f.write is not None and f.matches_suffix(suffix):
            return f
    valid = sorted({s for f in FORMATS.values() if f.write for s in f.suffixes})
    raise ScanWriteError(path, f"cannot write files with suffix {suffix!r}; scansr writes {', '.join(valid)}")


def write(scan: Scan, path: str | Path, *, force: bool = False, format: str | None = None) -> Path:
    """Write `scan` to `path` atomically, the format chosen by the suffix.

    Writes ``.gwy``/``.gsf`` (Gwyddion, with units and pixel size), ``.tif``/``.tiff`` (float32 with resolution),
    ``.npz`` (arrays + JSON metadata), ``.txt``/``.asc`` (text matrix with a Gwyddion-style header) and ``.png``
    (preview with colour map and scale bar).

    Parameters
    ----------
    scan : Scan
        What to write.
    path : str or Path
        Output file; its folder must exist.
    force : bool
        Replace an existing output file. The scan's own source file is never replaced.
    format : str, optional
        Format name overriding the suffix (a key of `FORMATS` with a writer).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputExistsError
        `path` exists and `force` is false, or `path` is the scan's source file.
    ScanWriteError
        Unknown suffix, missing folder, or the writer failed (nothing is left behind).
    """
    path = Path(path)
    fmt = _writer_for(path, format)
    if scan.source is not None and path.exists() and _same_file(path, scan.source):
        raise OutputExistsError(path, "is the input file of this scan; scansr never overwrites its input")
    if path.exists() and not force:
        raise OutputExistsError(path, "exists already; choose another name or pass force=True (--force)")
    if path.is_dir():
        raise ScanWriteError(path, "is a folder")
    if not path.parent.is_dir():
        raise ScanWriteError(path, f"the folder {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:
            fmt.write(scan, tmp)
    except ScanError:
        raise
    except OSError as exc:
        raise ScanWriteError(path, f"could not write: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ScanWriteError(path, str(exc)) from exc
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
