"""Training data: scans read from files and folders, prepared once, cut into aligned LR/HR patch pairs.

Images
    `load_images` reads every file (folders are searched recursively), picks the channel(s)
    (`DataConfig.channels`, default: each scan's ``default_channel``, the trace topography), optionally every
    frame of a video, and prepares each image once — plane levelling, row alignment, percentile clipping (the
    AFM paper's eq. 1) — in its physical unit (heights in metres). The prepared images stay in memory (scans
    are small). Images whose data are byte-identical to one already loaded (a header file and its channel
    files, trace saved twice) are dropped, so that the split by file cannot leak the same scan into both sets.

Degradation of whole scans
    LR images are made from the *whole* HR scan, not from patches: tip dilation, drift, scan-line offsets, 1/f
    noise and noise levels relative to the scan's range act as they do on a real scan, and the patch border
    carries no artefact of its own. Each (image, scale) pair has one degraded version at a time, drawn with
    its own pipeline (`scansr.degrade.sample_pipeline`) after a random dihedral transform of the HR scan
    (rotations and flips happen *before* the scan is "measured", so scan-line artefacts always run along the
    rows). A version is used for `DataConfig.degrade_every` steps; the versions of different images change at
    staggered steps so that the cost of re-degrading is spread evenly. An LR patch at LR pixel ``(y, x)`` of
    side ``p`` is paired with the HR patch at ``(s·y, s·x)`` of side ``s·p``: the sampling functions keep the
    top-left corner of the field of view, so the pair covers the same area (up to the sub-pixel phase of point
    sampling, which a real low-pixel scan has too).

Randomness without state
    Every random draw comes from a generator seeded by a tuple: ``(seed, tag, step, sample)`` for a patch,
    ``(seed, tag, image, scale, generation)`` for a degraded version. A batch is therefore a pure function of
    the step and the sample indices: resuming needs no data-loader state, and the processes of a distributed
    run, each drawing its own share of sample indices, together draw exactly the batch a single process would.

Validation pairs (`prepare_validation`) are degraded once per scale with a generator seeded by the validation
seed and the file's name, channel and frame, so validation numbers are comparable across runs.

Multichannel images (``DataConfig.channel_mode = "stack"``)
    `load_stacks` resolves the channels of each scan by name or kind (`scansr.channels.resolve_channels`:
    vendor names mapped, one scan direction, so the channels are co-registered) and prepares each one on its
    own (`PreparedStack`). `degrade_stack` degrades a scan's channels *together*: one pipeline is drawn, its
    geometric steps (drift with its line jitter, the sampling grid and its phase) act identically on every
    channel, tip dilation (a grey-scale dilation of heights) acts on the topography only, and the noise of
    each channel (line offsets, scars, 1/f and white noise, relative to the channel's own range) is drawn
    independently. Channel 0 comes out exactly as the single-channel degradation of the same image with the
    same generator, so a one-channel stack reproduces the single-channel data. Each channel is normalised on
    its own (``(x − μ_k) / σ_k``, fitted per channel); the HR targets are the first ``targets`` channels.
    `prepare_stack_validation` makes the fixed-seed validation pairs (`StackValidationPair`).

This module uses numpy only (no torch); batches are float32 arrays ``(n, c, h, w)`` (``c = 1`` for images).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from scansr import degrade, interpolate, io, metrics, preprocess
from scansr.channels import UnresolvedChannelError, channel_kind, resolve_channels
from scansr.scan import Scan, ScanReadError, UnsupportedFormatError
from scansr.train.config import DataConfig

__all__ = [
    "Group",
    "PairSampler",
    "PreparedImage",
    "PreparedStack",
    "Split",
    "StackValidationPair",
    "ValidationPair",
    "degrade_stack",
    "find_files",
    "fit_normalisation",
    "load_images",
    "load_split",
    "load_stacks",
    "prepare_image",
    "prepare_stack_validation",
    "prepare_validation",
    "resolve_degradation",
]

logger = logging.getLogger(__name__)

# Tags that keep the seeded streams of different purposes apart.
_PATCH, _BATCH_SCALE, _VERSION, _VALIDATION = 1, 2, 3, 4


# --------------------------------------------------------------------------------------------------- images
@dataclass(frozen=True, eq=False)
class PreparedImage:
    """One prepared image: a channel of a scan (or of one frame of a video), in its physical unit.

    Attributes
    ----------
    name : str
        ``"<file>:<channel>"`` (``"#<frame>"`` appended for frames of a video).
    source : Path
        The file.
    channel : str
        Channel name in the file.
    frame : int or None
        Frame index for videos read frame by frame.
    data : numpy.ndarray
        The prepared HR image ``(ny, nx)``, float64, read-only, in `unit`.
    unit : str
        SI unit of `data`.
    pixel_size : (float, float) or None
        ``(dy, dx)`` in metres.
    digest : str
        Hash of the channel's raw data (duplicates detection).
    """

    name: str
    source: Path
    channel: str
    frame: int | None
    data: np.ndarray
    unit: str
    pixel_size: tuple[float, float] | None
    digest: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` in pixels."""
        return self.data.shape  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        """JSON record of the image (for ``files.json``)."""
        return {
            "name": self.name,
            "source": str(self.source),
            "channel": self.channel,
            "frame": self.frame,
            "shape": list(self.shape),
            "unit": self.unit,
            "pixel_size": list(self.pixel_size) if self.pixel_size else None,
            "digest": self.digest,
        }


@dataclass(frozen=True, eq=False)
class PreparedStack:
    """Co-registered channels of one scan (or frame), each prepared on its own: one multichannel image.

    Attributes
    ----------
    name : str
        ``"<file>:<first channel>"`` (``"#<frame>"`` appended for frames of a video): the name of the
        topography image, so that runs stacking different guides name their images alike.
    source : Path
        The file.
    channels : tuple of str
        Channel names in the file, in the order of ``DataConfig.channels``.
    requested : tuple of str
        The names asked for (``DataConfig.channels``: channel names or kinds such as ``"height"``).
    kinds : tuple of str or None
        What each channel measures (`scansr.channels.channel_kind`), None where not recognised.
    frame : int or None
        Frame index for videos read frame by frame.
    data : numpy.ndarray
        The prepared HR channels ``(c, ny, nx)``, float64, read-only, each in its unit.
    units : tuple of str
        SI unit of each channel.
    pixel_size : (float, float) or None
        ``(dy, dx)`` in metres.
    digest : str
        Hash of the first channel's raw data (duplicates and leakage between the sets are by topography).
    """

    name: str
    source: Path
    channels: tuple[str, ...]
    requested: tuple[str, ...]
    kinds: tuple[str | None, ...]
    frame: int | None
    data: np.ndarray
    units: tuple[str, ...]
    pixel_size: tuple[float, float] | None
    digest: str

    @property
    def channel(self) -> str:
        """The first channel (the topography, the network's main target)."""
        return self.channels[0]

    @property
    def unit(self) -> str:
        """Unit of the first channel."""
        return self.units[0]

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` in pixels."""
        return self.data.shape[1:]  # type: ignore[return-value]

    @property
    def tip(self) -> tuple[bool, ...]:
        """Which channels a tip dilates (`degrade_stack`): the heights of the topography."""
        return tuple(
            kind == "height" and unit == "m" for kind, unit in zip(self.kinds, self.units, strict=True)
        )

    def describe(self) -> dict[str, Any]:
        """JSON record of the image (for ``files.json``)."""
        return {
            "name": self.name,
            "source": str(self.source),
            "channel": self.channel,
            "channels": list(self.channels),
            "requested": list(self.requested),
            "kinds": list(self.kinds),
            "frame": self.frame,
            "shape": list(self.shape),
            "units": list(self.units),
            "pixel_size": list(self.pixel_size) if self.pixel_size else None,
            "digest": self.digest,
        }


def find_files(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Expand files and folders into files.

    Parameters
    ----------
    paths : iterable of str or Path
        Files, or folders searched recursively (hidden files and folders skipped), in the order given.

    Returns
    -------
    list of (Path, bool)
        Each file once, with True when it was named explicitly (not found in a folder).

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    """
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            found = sorted(
                f
                for f in path.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            items = [(f, False) for f in found]
        else:
            items = [(path, True)]
        for f, explicit in items:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append((f, explicit))
    return out


def _select_channels(scan: Scan, config: DataConfig) -> list[str]:
    if not config.channels:
        return [scan.default_channel]
    present = [scan.channel(n).name for n in config.channels if n in scan]
    present = list(dict.fromkeys(present))
    return present[:1] if config.channel_mode == "first" else present


def prepare_image(data: np.ndarray, config: DataConfig) -> np.ndarray:
    """Level, align rows and clip one image as `config` says (the AFM paper's preparation).

    Parameters
    ----------
    data : numpy.ndarray
        Raw channel ``(ny, nx)`` in its unit.
    config : DataConfig
        ``level_plane``, ``align_rows``, ``clip``.

    Returns
    -------
    numpy.ndarray
        New float64 array, same unit.

    Raises
    ------
    ValueError
        From `scansr.preprocess` (e.g. too few finite pixels for a plane).
    """
    z = np.asarray(data, dtype=np.float64)
    if config.level_plane:
        z = preprocess.level_plane(z)
    if config.align_rows is not None:
        z = preprocess.align_rows(z, method=config.align_rows)
    if config.clip is not None:
        z = preprocess.clip_percentiles(z, low=config.clip[0], high=config.clip[1])
    return np.array(z, dtype=np.float64)


def fit_normalisation(x: np.ndarray, kind: str) -> tuple[float, float]:
    """Fit the normalisation ``(x − offset) / scale``; return ``(offset, scale)``.

    `kind` is ``"zscore"`` (AFM paper eq. 2), ``"minmax"`` or ``"none"`` (``(0, 1)``).

    Raises
    ------
    ValueError
        Unknown `kind`, or a flat image.
    """
    if kind == "none":
        return 0.0, 1.0
    if kind == "zscore":
        n = preprocess.fit_zscore(x)
    elif kind == "minmax":
        n = preprocess.fit_minmax(x)
    else:
        raise ValueError(f"kind must be one of ('zscore', 'minmax', 'none'), got {kind!r}")
    return n.offset, n.scale


def _digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def load_images(
    paths: Sequence[str | Path], config: DataConfig, *, what: str = "training"
) -> list[PreparedImage]:
    """Read and prepare the images of the files and folders `paths`.

    Files found in folders that are not scans are skipped (logged at INFO), as are unreadable ones (WARNING);
    an explicitly named file that cannot be read is an error. Scans without the requested channel(s) and
    images that cannot be prepared (non-finite values, flat) are skipped with a warning; byte-identical
    duplicates are dropped (INFO).

    Parameters
    ----------
    paths : sequence of str or Path
        Files or folders.
    config : DataConfig
        Channel selection, frames and preparation.
    what : str
        Name of the set in messages (``"training"``, ``"validation"``).

    Returns
    -------
    list of PreparedImage
        In file order.

    Raises
    ------
    ValueError
        If no image remains (the message says why files were skipped), or ``config.channel_mode`` is
        ``"stack"`` (use `load_stacks`).
    FileNotFoundError
        If a path does not exist.
    ScanReadError
        If an explicitly named file cannot be read.
    """
    if config.channel_mode == "stack":
        raise ValueError('channel_mode "stack" makes multichannel images: use load_stacks')
    if not paths:
        raise ValueError(f"no {what} files or folders given")
    images: list[PreparedImage] = []
    digests: dict[str, str] = {}
    skipped: list[str] = []
    for path, explicit in find_files(paths):
        try:
            scans = io.read_frames(path) if config.frames == "all" else [io.read(path)]
        except UnsupportedFormatError:
            if explicit:
                raise
            logger.info("%s: not a scan, skipped", path)
            continue
        except ScanReadError as exc:
            if explicit:
                raise
            logger.warning("skipping %s", exc)
            skipped.append(f"{path}: unreadable")
            continue
        for scan in scans:
            names = _select_channels(scan, config)
            if not names:
                logger.warning(
                    "%s: none of the channels %s, skipped (the file has %s)",
                    path,
                    list(config.channels),
                    list(scan.names),
                )
                skipped.append(f"{path}: no channel {list(config.channels)}")
                continue
            for name in names:
                channel = scan.channel(name)
                frame = scan.frame if scan.n_frames > 1 else None
                label = f"{path.name}:{channel.name}" + (f"#{frame}" if frame is not None else "")
                digest = _digest(channel.data)
                if digest in digests:
                    logger.info("%s has the same data as %s, skipped", label, digests[digest])
                    continue
                if not np.isfinite(channel.data).all():
                    logger.warning("%s: has missing (non-finite) pixels, skipped", label)
                    skipped.append(f"{label}: non-finite pixels")
                    continue
                try:
                    data = prepare_image(channel.data, config)
                    fit_normalisation(data, config.normalisation)
                except ValueError as exc:
                    logger.warning("%s: cannot be prepared (%s), skipped", label, exc)
                    skipped.append(f"{label}: {exc}")
                    continue
                data.setflags(write=False)
                digests[digest] = label
                images.append(
                    PreparedImage(
                        label, path, channel.name, frame, data, channel.unit, scan.pixel_size, digest
                    )
                )
    if not images:
        why = "; ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        raise ValueError(
            f"no {what} image in {[str(p) for p in paths]}"
            + (f" ({why})" if why else " (no scan files found)")
        )
    units: dict[str, list[str]] = {}
    for im in images:
        units.setdefault(im.unit, []).append(im.name)
    if len(units) > 1:
        listing = "; ".join(
            f"{len(v)} in {k!r} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
            for k, v in sorted(units.items(), key=lambda kv: -len(kv[1]))
        )
        logger.warning(
            "%s images have different units: %s. Each is normalised on its own; name the channels "
            "(data.channels) to train on one kind",
            what,
            listing,
        )
    logger.info("%s set: %d image(s) from %s", what, len(images), [str(p) for p in paths])
    return images


def _read_scans(path: Path, explicit: bool, config: DataConfig, skipped: list[str]) -> list[Scan]:
    """Return the scans (frames) of one file; [] for a non-scan or unreadable file found in a folder."""
    try:
        return io.read_frames(path) if config.frames == "all" else [io.read(path)]
    except UnsupportedFormatError:
        if explicit:
            raise
        logger.info("%s: not a scan, skipped", path)
    except ScanReadError as exc:
        if explicit:
            raise
        logger.warning("skipping %s", exc)
        skipped.append(f"{path}: unreadable")
    return []


def _prepare_stack(path: Path, scan: Scan, config: DataConfig, skipped: list[str]) -> PreparedStack | None:
    """Resolve, check and prepare the stacked channels of one scan; None (with a warning) to skip it."""
    wanted = [*config.channels, *config.require]
    try:
        resolved = resolve_channels(scan, wanted)
    except (UnresolvedChannelError, ValueError) as exc:
        logger.warning("%s: skipped, it lacks the stacked channels %s (%s)", path, wanted, exc)
        skipped.append(f"{path}: no channels {wanted}")
        return None
    names = resolved[: len(config.channels)]
    frame = scan.frame if scan.n_frames > 1 else None
    label = f"{path.name}:{names[0]}" + (f"#{frame}" if frame is not None else "")
    layers, units, kinds = [], [], []
    # The required channels are checked like the stacked ones (and dropped), so that a run that only requires
    # them skips the same scans as a run that stacks them.
    for name in resolved:
        channel = scan.channel(name)
        if not np.isfinite(channel.data).all():
            logger.warning("%s: channel %s has missing (non-finite) pixels, skipped", label, name)
            skipped.append(f"{label}: non-finite pixels in {name}")
            return None
        try:
            layer = prepare_image(channel.data, config)
            fit_normalisation(layer, config.normalisation)
        except ValueError as exc:
            logger.warning("%s: channel %s cannot be prepared (%s), skipped", label, name, exc)
            skipped.append(f"{label}: {name}: {exc}")
            return None
        if name not in names:
            continue
        layers.append(layer)
        units.append(channel.unit)
        kind = channel_kind(channel)
        kinds.append(kind.kind if kind is not None else None)
    data = np.stack(layers)
    data.setflags(write=False)
    return PreparedStack(
        label,
        path,
        tuple(names),
        tuple(config.channels),
        tuple(kinds),
        frame,
        data,
        tuple(units),
        scan.pixel_size,
        _digest(scan.channel(names[0]).data),
    )


def load_stacks(
    paths: Sequence[str | Path], config: DataConfig, *, what: str = "training"
) -> list[PreparedStack]:
    """Read the files and folders `paths` and prepare the stacked channels ``config.channels`` of each scan.

    Every name of ``config.channels`` and ``config.require`` is resolved per scan, all in one call, by
    `scansr.channels.resolve_channels` (a channel name, or a kind such as ``"height"``, ``"amplitude"``,
    ``"phase"``, ``"modulus"``, with the vendors' names mapped; all in one scan direction where the file
    allows, so that the channels are co-registered). The channels of ``config.channels`` are prepared (plane,
    rows, clip) each on its own. Files that are not scans, scans lacking a channel, and channels with missing
    pixels or flat ones are skipped with a warning; duplicates of an earlier topography are dropped (INFO).

    Parameters
    ----------
    paths : sequence of str or Path
        Files or folders.
    config : DataConfig
        ``channels`` (the stack, topography first), ``require``, frames and preparation.
    what : str
        Name of the set in messages (``"training"``, ``"validation"``).

    Returns
    -------
    list of PreparedStack
        In file order.

    Raises
    ------
    ValueError
        If ``config.channels`` is empty, or no image remains (the message says why files were skipped).
    FileNotFoundError
        If a path does not exist.
    ScanReadError
        If an explicitly named file cannot be read.
    """
    if not config.channels:
        raise ValueError("stacked images need config.channels (the topography first), got none")
    if not paths:
        raise ValueError(f"no {what} files or folders given")
    stacks: list[PreparedStack] = []
    digests: dict[str, str] = {}
    skipped: list[str] = []
    for path, explicit in find_files(paths):
        for scan in _read_scans(path, explicit, config, skipped):
            stack = _prepare_stack(path, scan, config, skipped)
            if stack is None:
                continue
            if stack.digest in digests:
                logger.info("%s has the same topography as %s, skipped", stack.name, digests[stack.digest])
                continue
            digests[stack.digest] = stack.name
            stacks.append(stack)
    if not stacks:
        why = "; ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        raise ValueError(
            f"no {what} image with the channels {list(config.channels)} in {[str(p) for p in paths]}"
            + (f" ({why})" if why else " (no scan files found)")
        )
    for k, requested in enumerate(config.channels):
        units = sorted({s.units[k] for s in stacks})
        if len(units) > 1:
            logger.info(
                "%s images: %r is in %s in different files (each is normalised on its own)",
                what,
                requested,
                units,
            )
    logger.info(
        "%s set: %d stacked image(s) %s from %s",
        what,
        len(stacks),
        list(config.channels),
        [str(p) for p in paths],
    )
    return stacks


class Split(NamedTuple):
    """A file-level train/validation split: paths of the two sets."""

    train: tuple[str, ...]
    validation: tuple[str, ...]


def load_split(path: str | Path) -> Split:
    """Read a split file: JSON ``{"train": [...], "validation": [...]}`` (``"val"`` accepted).

    Relative paths are taken relative to the split file's folder.

    Raises
    ------
    ValueError
        If the file is not such a JSON object.
    OSError
        If it cannot be read.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a split file is a JSON object with lists 'train' and 'validation'")
    val_key = "validation" if "validation" in data else "val"
    unknown = sorted(set(data) - {"train", "validation", "val", "comment"})
    if unknown or "train" not in data or val_key not in data:
        raise ValueError(
            f"{path}: a split file needs the keys 'train' and 'validation' (and optionally 'comment'), got "
            f"{sorted(data)}"
        )
    out = []
    for key in ("train", val_key):
        items = data[key]
        if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
            raise ValueError(f"{path}: {key!r} must be a list of paths")
        out.append(tuple(str(p if Path(p).is_absolute() else path.parent / p) for p in items))
    return Split(*out)


def resolve_degradation(spec: str | Mapping[str, Any]) -> degrade.DegradationConfig:
    """Return the `DegradationConfig` named by `spec` (a preset name, a JSON file or a dict).

    The same as `scansr.degrade.load_config`, which `benchmark` uses too.
    """
    return degrade.load_config(spec)


# ----------------------------------------------------------------------------------------- degraded versions
def _dihedral(a: np.ndarray, d: int) -> np.ndarray:
    """One of the 8 rotations/flips of `a` (a view)."""
    out = np.rot90(a, d % 4)
    return out[:, ::-1] if d >= 4 else out


def _without_tip(pipeline: degrade.Pipeline) -> degrade.Pipeline:
    return degrade.Pipeline(tuple(s for s in pipeline.steps if not isinstance(s, degrade.TipDilationStep)))


def _degrade(
    hr: np.ndarray,
    scale: int,
    pixel_size: tuple[float, float] | None,
    config: degrade.DegradationConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    pipeline = degrade.sample_pipeline(config, rng=rng)
    if pixel_size is None:  # a tip has a size in metres: without a lateral scale it cannot be applied
        pipeline = _without_tip(pipeline)
    return degrade.apply_pipeline(pipeline, hr, scale, pixel_size=pixel_size, rng=rng)


# The steps a drawn pipeline applies after the sampling: the electronics' noise, independent per channel.
_NOISE_STEPS = (
    degrade.ShotNoiseStep,
    degrade.LineOffsetsStep,
    degrade.ScarsStep,
    degrade.OneOverFNoiseStep,
    degrade.LineNoiseStep,
)


def _add_noise(
    steps: Sequence[Any], image: np.ndarray, *, reference: float, rng: np.random.Generator
) -> np.ndarray:
    """Apply noise steps of a drawn pipeline as `scansr.degrade.apply_pipeline` does (relative to `reference`)."""
    for step in steps:
        if isinstance(step, degrade.ShotNoiseStep):
            image = degrade.shot_noise(image, dose=step.dose, rng=rng)
        elif isinstance(step, degrade.LineOffsetsStep):
            image = degrade.line_offsets(image, sigma=step.sigma * reference, rng=rng)
        elif isinstance(step, degrade.ScarsStep):
            image = degrade.scars(
                image, rate=step.rate, height=step.height * reference, max_length=step.max_length, rng=rng
            )
        elif isinstance(step, degrade.OneOverFNoiseStep):
            image = image + degrade.one_over_f_noise(
                image.shape,
                amplitude=step.amplitude * reference,
                exponent=step.exponent,
                rng=rng,
                axis=step.axis,
            )
        elif isinstance(step, degrade.LineNoiseStep):
            image = degrade.line_noise(image, sigma=step.sigma * reference, rng=rng)
        else:
            raise ValueError(f"{step!r} is not a noise step")
    return image


def _clone(rng: np.random.Generator, state: Mapping[str, Any]) -> np.random.Generator:
    bits = type(rng.bit_generator)()
    bits.state = copy.deepcopy(dict(state))
    return np.random.Generator(bits)


def degrade_stack(
    hr: np.ndarray,
    scale: int,
    *,
    pixel_size: tuple[float, float] | None,
    config: degrade.DegradationConfig,
    rng: np.random.Generator,
    tip: Sequence[bool],
) -> np.ndarray:
    """Degrade the co-registered channels of one scan together, as one low-pixel multichannel measurement.

    One pipeline is drawn (`scansr.degrade.sample_pipeline`). Its geometric steps act identically on every
    channel: beam blur, drift (the same shear, stretch and line jitter), and the sampling (the same method and,
    for point and fast-axis sampling, the same phase of the grid). Tip dilation, a grey-scale dilation of
    heights, acts only on the channels flagged in `tip` (the topography: a property map is not a height
    profile). The noise steps (shot noise, line offsets, scars, 1/f and white noise) are drawn independently
    for every channel, each relative to that channel's own robust range.

    Channel 0 consumes `rng` exactly as ``apply_pipeline(sample_pipeline(config, rng=rng), hr[0], ...)`` does
    (without the tip when ``tip[0]`` is false or `pixel_size` is None), so it is the single-channel
    degradation of that image; the other channels replay the geometric draws from a copy of the generator's
    state and draw their noise from generators seeded by it and their index.

    Parameters
    ----------
    hr : numpy.ndarray
        ``(c, ny, nx)``: the HR channels, each in its SI unit (heights in metres).
    scale : int
        Integer factor >= 1.
    pixel_size : (float, float) or None
        HR pixel size ``(dy, dx)`` in metres; without it no tip is applied.
    config : scansr.degrade.DegradationConfig
        What to draw.
    rng : numpy.random.Generator
        Source of every draw; the same seed gives the same LR channels.
    tip : sequence of bool
        Per channel: whether tip dilation (when drawn) applies.

    Returns
    -------
    numpy.ndarray
        ``(c, ny // scale, nx // scale)`` float64, each channel in its unit.

    Raises
    ------
    ValueError
        If `hr` is not 3-D, `tip` does not have one flag per channel, or as `scansr.degrade.apply_pipeline`.
    """
    stack = np.asarray(hr)
    if stack.ndim != 3 or stack.shape[0] < 1:
        raise ValueError(f"hr must be an array (channels, ny, nx), got shape {stack.shape}")
    flags = [bool(t) for t in tip]
    if len(flags) != stack.shape[0]:
        raise ValueError(f"tip needs one flag per channel ({stack.shape[0]}), got {len(flags)}")
    pipeline = degrade.sample_pipeline(config, rng=rng)
    if pixel_size is None:  # a tip has a size in metres: without a lateral scale it cannot be applied
        pipeline = _without_tip(pipeline)
    geometry = copy.deepcopy(rng.bit_generator.state)
    first = degrade.apply_pipeline(
        pipeline if flags[0] else _without_tip(pipeline), stack[0], scale, pixel_size=pixel_size, rng=rng
    )
    out = np.empty((stack.shape[0], *first.shape))
    out[0] = first
    geometric = tuple(s for s in pipeline.steps if not isinstance(s, _NOISE_STEPS))
    noise = tuple(s for s in pipeline.steps if isinstance(s, _NOISE_STEPS))
    for k in range(1, stack.shape[0]):
        replay = _clone(rng, geometry)
        steps = degrade.Pipeline(geometric)
        lr = degrade.apply_pipeline(
            steps if flags[k] else _without_tip(steps), stack[k], scale, pixel_size=pixel_size, rng=replay
        )
        own = np.random.default_rng([int(replay.integers(2**63)), k])
        out[k] = _add_noise(noise, lr, reference=degrade.robust_range(stack[k]), rng=own)
    return out


def _dihedral_stack(a: np.ndarray, d: int) -> np.ndarray:
    """`_dihedral` of every channel of ``(c, ny, nx)`` (a view)."""
    out = np.rot90(a, d % 4, axes=(1, 2))
    return out[:, :, ::-1] if d >= 4 else out


class _Version(NamedTuple):
    generation: int
    lr: np.ndarray  # normalised, float32; (c, h, w) for a stack
    hr: np.ndarray  # physical, float64 view of the transformed HR image; (c, H, W) for a stack
    offset: Any  # float; (c, 1, 1) array for a stack
    scale: Any


class Group(NamedTuple):
    """The samples of one scale in a batch.

    Attributes
    ----------
    scale : int
        Their scale factor.
    lr : numpy.ndarray
        ``(n, c, p, p)`` float32, normalised (``c = 1`` for images, the stacked channels for stacks).
    hr : numpy.ndarray
        ``(n, t, s·p, s·p)`` float32, each channel normalised like its LR (``t``: 1 for images, the
        sampler's `targets` for stacks).
    samples : tuple of int
        Their sample indices within the global batch.
    """

    scale: int
    lr: np.ndarray
    hr: np.ndarray
    samples: tuple[int, ...]


class PairSampler:
    """Draws batches of aligned LR/HR patch pairs; a batch is a pure function of ``(seed, step, samples)``.

    Parameters
    ----------
    images : sequence of PreparedImage or sequence of PreparedStack
        Prepared HR images (`load_images`), or multichannel images (`load_stacks`: degraded with
        `degrade_stack`, each channel normalised on its own).
    scales : sequence of int
        Scale factors to train.
    config : DataConfig
        Patch size, scale sampling, weighting, augmentation, normalisation and ``degrade_every``.
    degradation : scansr.degrade.DegradationConfig
        How LR scans are made.
    seed : int
        The run's seed.
    targets : int, optional
        Stacks only: how many leading channels are HR targets (the network's outputs; default all).

    Raises
    ------
    ValueError
        If no image is large enough for some scale at this patch size, images and stacks are mixed, or
        `targets` exceeds the stacked channels.
    """

    def __init__(
        self,
        images: Sequence[PreparedImage],
        *,
        scales: Sequence[int],
        config: DataConfig,
        degradation: degrade.DegradationConfig,
        seed: int,
        targets: int | None = None,
    ):
        self.images = list(images)
        self.stacked = bool(self.images) and isinstance(self.images[0], PreparedStack)
        if any(isinstance(im, PreparedStack) != self.stacked for im in self.images):
            raise ValueError("images must be all PreparedImage or all PreparedStack, not a mix")
        depth = min((im.data.shape[0] for im in self.images), default=1) if self.stacked else 1
        if targets is not None and not 1 <= targets <= depth:
            raise ValueError(f"targets must be in 1..{depth} (the stacked channels), got {targets!r}")
        self.targets = targets if targets is not None else depth
        self.scales = tuple(sorted(scales))
        self.config = config
        self.degradation = degradation
        self.seed = int(seed)
        self.lr_patch = {s: math.ceil(config.patch_size / s) for s in self.scales}
        self._eligible: dict[int, np.ndarray] = {}
        self._weights: dict[int, np.ndarray] = {}
        for s in self.scales:
            p = self.lr_patch[s]
            ok = [i for i, im in enumerate(self.images) if min(im.shape) // s >= p]
            if not ok:
                raise ValueError(
                    f"no training image is large enough for ×{s} with {config.patch_size}-pixel HR patches "
                    f"(needs at least {p * s}×{p * s} pixels)"
                )
            self._eligible[s] = np.array(ok)
            if config.scan_weighting == "area":
                w = np.array(
                    [(self.images[i].shape[0] // s) * (self.images[i].shape[1] // s) for i in ok], float
                )
            else:
                w = np.ones(len(ok))
            self._weights[s] = w / w.sum()
        small = [
            im.name
            for im in self.images
            if min(im.shape) // max(self.scales) < self.lr_patch[max(self.scales)]
        ]
        if small:
            logger.info(
                "%d image(s) too small for ×%d patches, used at lower scales only", len(small), max(scales)
            )
        self._cache: dict[tuple[int, int], _Version] = {}

    def generation(self, image: int, step: int) -> int:
        """Which degraded version of `image` step `step` uses (staggered over the images)."""
        every = self.config.degrade_every
        return (step + (image * every) // len(self.images)) // every

    def version(self, image: int, scale: int, step: int) -> _Version:
        """Return the degraded version of (`image`, `scale`) used at `step` (cached for its generation)."""
        gen = self.generation(image, step)
        key = (image, scale)
        cached = self._cache.get(key)
        if cached is not None and cached.generation == gen:
            return cached
        im = self.images[image]
        rng = np.random.default_rng((self.seed, _VERSION, image, scale, gen))
        d = int(rng.integers(8)) if self.config.augment else 0
        ps = im.pixel_size
        if ps is not None and d % 2 == 1:
            ps = (ps[1], ps[0])
        if isinstance(im, PreparedStack):
            version = self._stack_version(im, gen, d, ps, scale, rng)
            self._cache[key] = version
            return version
        hr = _dihedral(im.data, d)
        lr = _degrade(hr, scale, ps, self.degradation, rng)
        reference = lr if self.config.normalise_from == "lr" else hr
        try:
            offset, sc = fit_normalisation(reference, self.config.normalisation)
        except ValueError:  # a degraded image flat to the last bit: fall back on the HR image's statistics
            offset, sc = fit_normalisation(hr, self.config.normalisation)
        version = _Version(gen, ((lr - offset) / sc).astype(np.float32), hr, offset, sc)
        self._cache[key] = version
        return version

    def _stack_version(
        self,
        im: PreparedStack,
        gen: int,
        d: int,
        ps: tuple[float, float] | None,
        scale: int,
        rng: np.random.Generator,
    ) -> _Version:
        hr = _dihedral_stack(im.data, d)
        lr = degrade_stack(hr, scale, pixel_size=ps, config=self.degradation, rng=rng, tip=im.tip)
        reference = lr if self.config.normalise_from == "lr" else hr
        offsets, scales = np.empty(len(lr)), np.empty(len(lr))
        for k in range(len(lr)):
            try:
                offsets[k], scales[k] = fit_normalisation(reference[k], self.config.normalisation)
            except ValueError:  # a degraded channel flat to the last bit: the HR channel's statistics
                offsets[k], scales[k] = fit_normalisation(hr[k], self.config.normalisation)
        offsets, scales = offsets[:, None, None], scales[:, None, None]
        return _Version(gen, ((lr - offsets) / scales).astype(np.float32), hr, offsets, scales)

    def batch_scale(self, step: int) -> int:
        """Return the scale of every sample at `step` when ``scale_sampling == "batch"``."""
        rng = np.random.default_rng((self.seed, _BATCH_SCALE, step))
        return self.scales[int(rng.integers(len(self.scales)))]

    def sample(self, step: int, k: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Sample `k` of the global batch at `step`: ``(scale, lr (p, p), hr (s·p, s·p))``, float32.

        For stacks: ``lr (c, p, p)`` and ``hr (targets, s·p, s·p)``.
        """
        rng = np.random.default_rng((self.seed, _PATCH, step, k))
        mixed = self.config.scale_sampling == "mixed"
        s = self.scales[k % len(self.scales)] if mixed else self.batch_scale(step)
        image = int(self._eligible[s][rng.choice(len(self._eligible[s]), p=self._weights[s])])
        v = self.version(image, s, step)
        p = self.lr_patch[s]
        y = int(rng.integers(0, v.lr.shape[-2] - p + 1))
        x = int(rng.integers(0, v.lr.shape[-1] - p + 1))
        if self.stacked:
            t = self.targets
            lr = v.lr[:, y : y + p, x : x + p]
            hr = v.hr[:t, y * s : (y + p) * s, x * s : (x + p) * s]
            hr = ((hr - v.offset[:t]) / v.scale[:t]).astype(np.float32)
            if self.config.augment:
                flip_y, flip_x = (bool(b) for b in rng.integers(0, 2, size=2))
                if flip_y:
                    lr, hr = lr[:, ::-1], hr[:, ::-1]
                if flip_x:
                    lr, hr = lr[:, :, ::-1], hr[:, :, ::-1]
            return s, lr, hr
        lr = v.lr[y : y + p, x : x + p]
        hr = ((v.hr[y * s : (y + p) * s, x * s : (x + p) * s] - v.offset) / v.scale).astype(np.float32)
        if self.config.augment:
            flip_y, flip_x = (bool(b) for b in rng.integers(0, 2, size=2))
            if flip_y:
                lr, hr = lr[::-1], hr[::-1]
            if flip_x:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
        return s, lr, hr

    def batch(self, step: int, samples: Iterable[int]) -> list[Group]:
        """Return the given samples of the global batch at `step`, grouped by scale (ascending).

        Parameters
        ----------
        step : int
            The optimiser step (0-based) the batch is for.
        samples : iterable of int
            Sample indices within the global batch (a process's share in a distributed run).

        Returns
        -------
        list of Group
        """
        by_scale: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for k in samples:
            s, lr, hr = self.sample(step, k)
            by_scale.setdefault(s, []).append((k, lr, hr))
        groups = []
        for s in sorted(by_scale):
            items = by_scale[s]
            lrs = np.stack([lr for _, lr, _ in items])
            hrs = np.stack([hr for _, _, hr in items])
            if not self.stacked:
                lrs, hrs = lrs[:, None], hrs[:, None]
            groups.append(Group(s, lrs.copy(), hrs.copy(), tuple(k for k, _, _ in items)))
        return groups


# ----------------------------------------------------------------------------------------------- validation
class ValidationPair(NamedTuple):
    """One validation image at one scale, degraded with a fixed seed.

    Attributes
    ----------
    name : str
        The image's name.
    scale : int
        Scale factor.
    lr : numpy.ndarray
        Degraded LR image in physical units.
    hr : numpy.ndarray
        Reference: the prepared HR image cropped to ``s ×`` the LR shape, physical units.
    offset, norm_scale : float
        Normalisation of the network's input (and inverse of its output).
    data_range : float
        ``hr.max() − hr.min()``, in physical units (the PSNR/SSIM range).
    bicubic_psnr, bicubic_ssim : float
        Bicubic upscaling of `lr` against `hr` (SSIM NaN when not computed).
    """

    name: str
    scale: int
    lr: np.ndarray
    hr: np.ndarray
    offset: float
    norm_scale: float
    data_range: float
    bicubic_psnr: float
    bicubic_ssim: float


def _stable_key(image: PreparedImage) -> int:
    return zlib.crc32(f"{image.source.name}:{image.channel}:{image.frame}".encode())


def prepare_validation(
    images: Sequence[PreparedImage],
    *,
    scales: Sequence[int],
    config: DataConfig,
    degradation: degrade.DegradationConfig,
    seed: int,
    ssim: bool = True,
) -> list[ValidationPair]:
    """Degrade each validation image once per scale (fixed seeds) and score bicubic upscaling.

    Parameters
    ----------
    images : sequence of PreparedImage
        Prepared validation images.
    scales : sequence of int
        Scale factors.
    config : DataConfig
        ``normalisation`` and ``normalise_from``.
    degradation : scansr.degrade.DegradationConfig
        As for training.
    seed : int
        Validation seed; with the file name, channel and frame it fixes each degradation.
    ssim : bool
        Also compute the bicubic SSIM.

    Returns
    -------
    list of ValidationPair
        Images too small for a scale (LR side < 8 pixels) are left out at that scale.
    """
    pairs = []
    for im in images:
        key = _stable_key(im)
        for s in sorted(scales):
            if min(im.shape) // s < 8:
                logger.info("validation image %s is too small for ×%d, left out at that scale", im.name, s)
                continue
            rng = np.random.default_rng((seed, _VALIDATION, key, s))
            lr = _degrade(im.data, s, im.pixel_size, degradation, rng)
            hr = np.ascontiguousarray(im.data[: lr.shape[0] * s, : lr.shape[1] * s])
            data_range = float(hr.max() - hr.min())
            reference = lr if config.normalise_from == "lr" else hr
            offset, sc = fit_normalisation(reference, config.normalisation)
            bicubic = interpolate.upscale(lr, s, method="bicubic")
            b_psnr = metrics.psnr(hr, bicubic, data_range=data_range)
            b_ssim = (
                metrics.ssim(hr, bicubic, data_range=data_range) if ssim and min(hr.shape) >= 11 else math.nan
            )
            pairs.append(ValidationPair(im.name, s, lr, hr, offset, sc, data_range, b_psnr, b_ssim))
    return pairs


class StackValidationPair(NamedTuple):
    """One stacked validation image at one scale, its channels degraded together with a fixed seed.

    Attributes
    ----------
    name : str
        The image's name (``"<file>:<topography channel>"``).
    scale : int
        Scale factor.
    channels : tuple of str
        The requested names of the channels (``DataConfig.channels``, e.g. ``("height", "phase")``).
    lr : numpy.ndarray
        ``(c, h, w)``: degraded LR channels (`degrade_stack`), physical units.
    hr : numpy.ndarray
        ``(c, s·h, s·w)``: the prepared HR channels cropped to ``s ×`` the LR shape, physical units.
    offset, norm_scale : numpy.ndarray
        ``(c,)``: per-channel normalisation of the network's input (and inverse of its outputs).
    data_range : numpy.ndarray
        ``(c,)``: ``hr[k].max() − hr[k].min()`` (the PSNR/SSIM range of channel k).
    bicubic_psnr, bicubic_ssim : float
        Bicubic upscaling of the topography (channel 0) against its HR (SSIM NaN when not computed).
    bicubic_psnr_channels, bicubic_ssim_channels : tuple of float
        The same for every channel.
    """

    name: str
    scale: int
    channels: tuple[str, ...]
    lr: np.ndarray
    hr: np.ndarray
    offset: np.ndarray
    norm_scale: np.ndarray
    data_range: np.ndarray
    bicubic_psnr: float
    bicubic_ssim: float
    bicubic_psnr_channels: tuple[float, ...]
    bicubic_ssim_channels: tuple[float, ...]


def prepare_stack_validation(
    stacks: Sequence[PreparedStack],
    *,
    scales: Sequence[int],
    config: DataConfig,
    degradation: degrade.DegradationConfig,
    seed: int,
    ssim: bool = True,
) -> list[StackValidationPair]:
    """Degrade each stacked validation image once per scale (fixed seeds) and score bicubic upscaling.

    The generator of (image, scale) is seeded by `seed`, the file name, the first channel's name and the frame
    (as `prepare_validation`), and `degrade_stack` degrades channel 0 independently of the other channels: runs
    stacking different guides on the same files validate on identical LR topographies.

    Parameters
    ----------
    stacks : sequence of PreparedStack
        Prepared validation stacks (`load_stacks`).
    scales : sequence of int
        Scale factors.
    config : DataConfig
        ``normalisation`` and ``normalise_from``.
    degradation : scansr.degrade.DegradationConfig
        As for training.
    seed : int
        Validation seed.
    ssim : bool
        Also compute the bicubic SSIM.

    Returns
    -------
    list of StackValidationPair
        Images too small for a scale (LR side < 8 pixels) are left out at that scale.
    """
    pairs = []
    for im in stacks:
        key = _stable_key(im)
        for s in sorted(scales):
            if min(im.shape) // s < 8:
                logger.info("validation image %s is too small for ×%d, left out at that scale", im.name, s)
                continue
            rng = np.random.default_rng((seed, _VALIDATION, key, s))
            lr = degrade_stack(im.data, s, pixel_size=im.pixel_size, config=degradation, rng=rng, tip=im.tip)
            hr = np.ascontiguousarray(im.data[:, : lr.shape[1] * s, : lr.shape[2] * s])
            c = len(lr)
            offset, norm_scale, data_range = np.empty(c), np.empty(c), np.empty(c)
            b_psnr, b_ssim = [], []
            for k in range(c):
                data_range[k] = float(hr[k].max() - hr[k].min())
                reference = lr[k] if config.normalise_from == "lr" else hr[k]
                offset[k], norm_scale[k] = fit_normalisation(reference, config.normalisation)
                bicubic = interpolate.upscale(lr[k], s, method="bicubic")
                b_psnr.append(metrics.psnr(hr[k], bicubic, data_range=data_range[k]))
                b_ssim.append(
                    metrics.ssim(hr[k], bicubic, data_range=data_range[k])
                    if ssim and min(hr.shape[1:]) >= 11
                    else math.nan
                )
            pairs.append(
                StackValidationPair(
                    im.name,
                    s,
                    tuple(im.requested),
                    lr,
                    hr,
                    offset,
                    norm_scale,
                    data_range,
                    b_psnr[0],
                    b_ssim[0],
                    tuple(b_psnr),
                    tuple(b_ssim),
                )
            )
    return pairs
