"""The `Scan` type: named 2-D channels in SI units with their pixel size, and scansr's exceptions.

Everything in scansr passes scans around as `Scan` objects, never as loose ``(array, pixel_size)`` tuples.
This module imports numpy only, so every other module may import it.

Conventions
-----------
- ``Channel.data`` is a read-only ``float64`` array of shape ``(ny, nx)`` in SI base units: heights in metres,
  potentials in volts, phase in degrees, forces in newtons, moduli in pascals, currents in amperes, SEM grey levels
  in ``"counts"``. Row 0 is the top row of the image as Gwyddion displays it; x grows along a row, y down the rows.
- ``Scan.pixel_size`` is ``(dy, dx)`` in metres (non-square pixels are real), or ``None`` when the file truly holds no
  lateral scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DIRECTIONS",
    "Channel",
    "OutputExistsError",
    "Scan",
    "ScanError",
    "ScanReadError",
    "ScanWriteError",
    "UnknownChannelError",
    "UnsupportedFormatError",
]

DIRECTIONS = ("trace", "retrace")

# Name fragments (lower case, spaces/underscores removed) that mark a topography channel, best first.
_TOPOGRAPHY_NAMES = (
    "height",
    "topography",
    "heightsensor",
    "zsensor",
    "z",
    "zfwd",
    "zbwd",
)


# --------------------------------------------------------------------------------------------------- exceptions
class ScanError(Exception):
    """Base class of every error scansr raises on purpose."""


class ScanReadError(ScanError, ValueError):
    """A file could not be read as a scan. The message names the file and the problem.

    Parameters
    ----------
    path : str or Path
        The file that failed.
    problem : str
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsupportedFormatError(ScanReadError):
    """The file is of a format scansr cannot read; the message says how to convert it."""


class ScanWriteError(ScanError, OSError):
    """A scan could not be written. The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class OutputExistsError(ScanWriteError, FileExistsError):
    """The output file exists and overwriting was not asked for, or it is the input itself."""


class UnknownChannelError(ScanError, ValueError):
    """A channel name that the scan does not have. The message lists the channels it does have.

    Parameters
    ----------
    name : str
        The requested channel.
    available : iterable of str
        The channels the scan has.
    source : str or Path, optional
        The file the scan came from, named in the message when given.
    """

    def __init__(self, name: str, available: Iterable[str], source: str | Path | None = None):
        self.name = name
        self.available = tuple(available)
        where = f"{source}: " if source is not None else ""
        listed = ", ".join(repr(a) for a in self.available) or "none"
        super().__init__(f"{where}no channel {name!r}; the channels are {listed}")


# --------------------------------------------------------------------------------------------------- Channel
def _frozen_float_array(data: Any, what: str) -> np.ndarray:
    array = np.array(data, dtype=np.float64, copy=True, order="C")
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{what} must not be empty, got shape {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Channel:
    """One image channel of a scan.

    Parameters
    ----------
    name : str
        Channel name, unique within its scan (e.g. ``"Height"``, ``"Height retrace"``, ``"Adhesion"``).
    data : array_like, shape (ny, nx)
        Values in SI base units; copied to a read-only ``float64`` array.
    unit : str
        SI unit symbol of ``data`` (``"m"``, ``"V"``, ``"deg"``, ``"N"``, ``"Pa"``, ``"A"``, ``"counts"``, ``""``).
    direction : {"trace", "retrace"} or None
        Fast-scan direction of the line scans, where the file says.
    """

    name: str
    data: np.ndarray
    unit: str = ""
    direction: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"channel name must be a non-empty string, got {self.name!r}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS} or None, got {self.direction!r}")
        object.__setattr__(self, "data", _frozen_float_array(self.data, f"channel {self.name!r}"))

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(ny, nx)`` in pixels."""
        return self.data.shape  # type: ignore[return-value]

    def replace(self, **changes: Any) -> Channel:
        """Return a copy with some fields changed (e.g. ``data=...``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        d = f", {self.direction}" if self.direction else ""
        return f"Channel({self.name!r}, {self.shape[0]}x{self.shape[1]}, unit={self.unit!r}{d})"


# --------------------------------------------------------------------------------------------------- Scan
def _check_pair(value: Any, what: str, *, positive: bool) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be a pair of numbers (dy, dx) in metres or None, got {value!r}"
        ) from None
    if not (np.isfinite(a) and np.isfinite(b)) or (positive and (a <= 0 or b <= 0)):
        kind = "positive finite" if positive else "finite"
        raise ValueError(f"{what} must be {kind} numbers in metres, got {value!r}")
    return (a, b)


@dataclass(frozen=True, eq=False)
class Scan:
    """A scanning-probe or SEM image: named channels on one pixel grid, in SI units.

    Parameters
    ----------
    channels : sequence of Channel
        At least one channel; names unique; all of the same shape.
    pixel_size : (float, float) or None
        ``(dy, dx)``: pixel pitch along rows (y) and along a line (x), in metres. ``None`` only where the file
        holds no lateral scale.
    origin : (float, float) or None
        ``(y0, x0)``: position of the top-left corner of the top-left pixel in the instrument's scan coordinates,
        in metres, where the file records the scan offset. As Gwyddion's ``xoff``/``yoff``: x grows along a row,
        y grows DOWN the image (readers of instruments whose y axis points up negate it), so the centre of pixel
        ``(i, j)`` is at ``(y0 + (i + 0.5)·dy, x0 + (j + 0.5)·dx)``.
    frame : int or None
        Index of this frame within a video file (0-based), else ``None``.
    n_frames : int
        Number of frames in the source file (1 for an ordinary scan).
    instrument : str or None
        Instrument / vendor as the file names it.
    metadata : mapping
        Further header values from the file (JSON-serialisable: str, number, bool).
    source : Path or None
        The file the scan was read from.
    format : str or None
        Name of the reader that produced the scan (a key of ``scansr.io.READERS``).
    """

    channels: tuple[Channel, ...]
    pixel_size: tuple[float, float] | None
    origin: tuple[float, float] | None = None
    frame: int | None = None
    n_frames: int = 1
    instrument: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        channels = tuple(self.channels)
        if not channels:
            raise ValueError("a scan needs at least one channel")
        for c in channels:
            if not isinstance(c, Channel):
                raise TypeError(f"channels must be Channel objects, got {type(c).__name__}")
        names = [c.name for c in channels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"channel names must be unique, repeated: {duplicates}")
        shapes = {c.shape for c in channels}
        if len(shapes) > 1:
            raise ValueError(f"all channels of a scan must have one shape, got {sorted(shapes)}")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "pixel_size", _check_pair(self.pixel_size, "pixel_size", positive=True))
        object.__setattr__(self, "origin", _check_pair(self.origin, "origin", positive=False))
        if self.n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {self.n_frames}")
        if self.frame is not None and not 0 <= self.frame < self.n_frames:
            raise ValueError(f"frame must be in 0..{self.n_frames - 1}, got {self.frame}")
        if self.source is not None:
            object.__setattr__(self, "source", Path(self.source))
        object.__setattr__(self, "metadata", dict(self.metadata))

    # ---- access
    @property
    def names(self) -> tuple[str, ...]:
        """Channel names in file order."""
        return tuple(c.name for c in self.channels)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(ny, nx)`` in pixels, shared by every channel."""
        return self.channels[0].shape

    @property
    def size(self) -> tuple[float, float] | None:
        """Physical size ``(height, width)`` of the image in metres, or ``None`` without a pixel size."""
        if self.pixel_size is None:
            return None
        return (self.shape[0] * self.pixel_size[0], self.shape[1] * self.pixel_size[1])

    def channel(self, name: str) -> Channel:
        """Return the channel called `name` (exact match first, then case-insensitive).

        Raises
        ------
        UnknownChannelError
            If no channel has that name; the message lists the channels.
        """
        for c in self.channels:
            if c.name == name:
                return c
        matches = [c for c in self.channels if c.name.casefold() == str(name).casefold()]
        if len(matches) == 1:
            return matches[0]
        raise UnknownChannelError(name, self.names, self.source)

    def __getitem__(self, name: str) -> Channel:
        return self.channel(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(c.name.casefold() == name.casefold() for c in self.channels)

    def __iter__(self) -> Iterator[Channel]:
        return iter(self.channels)

    def __len__(self) -> int:
        return len(self.channels)

    @property
    def default_channel(self) -> str:
        """Name of the channel a command uses when none is given: the trace topography, else the first channel.

        Topography is recognised by name (Height, Topography, Height Sensor, ZSensor, Z) among channels in metres.
        """

        def key(c: Channel) -> str:
            return c.name.casefold().replace(" ", "").replace("_", "").replace("-", "")

        in_metres = [c for c in self.channels if c.unit == "m"]
        for fragment in _TOPOGRAPHY_NAMES:
            for c in in_metres:
                if key(c).startswith(fragment) and c.direction != "retrace":
                    return c.name
        for fragment in _TOPOGRAPHY_NAMES:
            for c in in_metres:
                if key(c).startswith(fragment):
                    return c.name
        return self.channels[0].name

    # ---- derived scans
    def replace(self, **changes: Any) -> Scan:
        """Return a copy with some fields changed (``channels=...``, ``pixel_size=...``, ...)."""
        return dataclasses.replace(self, **changes)

    def select(self, names: str | Iterable[str]) -> Scan:
        """Return a scan holding only the named channels, in the order given.

        Raises
        ------
        UnknownChannelError
            If a name is not a channel of this scan.
        """
        if isinstance(names, str):
            names = [names]
        return self.replace(channels=tuple(self.channel(n) for n in names))

    def map_channels(self, func: Any, *, pixel_size: tuple[float, float] | str | None = "same") -> Scan:
        """Apply ``func(data) -> new 2-D array`` to every channel; return a new scan.

        Parameters
        ----------
        func : callable
            Maps one channel's 2-D array to a new 2-D array (same shape for every channel).
        pixel_size : (float, float), None or "same"
            Pixel size of the result; ``"same"`` keeps this scan's.
        """
        new = tuple(c.replace(data=func(c.data)) for c in self.channels)
        ps = self.pixel_size if isinstance(pixel_size, str) and pixel_size == "same" else pixel_size
        return self.replace(channels=new, pixel_size=ps)

    def __repr__(self) -> str:
        ps = (
            "no scale"
            if self.pixel_size is None
            else f"pixel {self.pixel_size[0]:.4g} x {self.pixel_size[1]:.4g} m"
        )
        fr = f", frame {self.frame}/{self.n_frames}" if self.n_frames > 1 else ""
        return f"Scan({self.shape[0]}x{self.shape[1]}, {ps}, channels={list(self.names)}{fr})"
