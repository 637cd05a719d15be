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

This module uses numpy only (no torch); batches are float32 arrays ``(n, 1, h, w)``.
"""

from __future__ import annotations

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
from scansr.scan import Scan, ScanReadError, UnsupportedFormatError
from scansr.train.config import DataConfig

__all__ = [
    "Group",
    "PairSampler",
    "PreparedImage",
    "Split",
    "ValidationPair",
    "find_files",
    "fit_normalisation",
    "load_images",
    "load_split",
    "prepare_image",
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
        If no image remains (the message says why files were skipped).
    FileNotFoundError
        If a path does not exist.
    ScanReadError
        If an explicitly named file cannot be read.
    """
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
    """Return the `DegradationConfig` named by `spec`: a preset name, a JSON file, or a dict.

    Raises
    ------
    ValueError
        If `spec` is neither a preset nor an existing file (the message lists the presets), or its content is
        invalid.
    """
    if isinstance(spec, Mapping):
        return degrade.DegradationConfig.from_dict(spec)
    if spec in degrade.PRESETS:
        return degrade.PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"degradation must be one of {tuple(degrade.PRESETS)} or a JSON file, got {spec!r}")
    try:
        return degrade.DegradationConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None


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


class _Version(NamedTuple):
    generation: int
    lr: np.ndarray  # normalised, float32
    hr: np.ndarray  # physical, float64 view of the transformed HR image
    offset: float
    scale: float


class Group(NamedTuple):
    """The samples of one scale in a batch.

    Attributes
    ----------
    scale : int
        Their scale factor.
    lr : numpy.ndarray
        ``(n, 1, p, p)`` float32, normalised.
    hr : numpy.ndarray
        ``(n, 1, s·p, s·p)`` float32, normalised like the LR.
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
    images : sequence of PreparedImage
        Prepared HR images (`load_images`).
    scales : sequence of int
        Scale factors to train.
    config : DataConfig
        Patch size, scale sampling, weighting, augmentation, normalisation and ``degrade_every``.
    degradation : scansr.degrade.DegradationConfig
        How LR scans are made.
    seed : int
        The run's seed.

    Raises
    ------
    ValueError
        If no image is large enough for some scale at this patch size.
    """

    def __init__(
        self,
        images: Sequence[PreparedImage],
        *,
        scales: Sequence[int],
        config: DataConfig,
        degradation: degrade.DegradationConfig,
        seed: int,
    ):
        self.images = list(images)
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
        hr = _dihedral(im.data, d)
        ps = im.pixel_size
        if ps is not None and d % 2 == 1:
            ps = (ps[1], ps[0])
        lr = _degrade(hr, scale, ps, self.degradation, rng)
        reference = lr if self.config.normalise_from == "lr" else hr
        try:
            offset, sc = fit_normalisation(reference, self.config.normalisation)
        except ValueError:  # a degraded image flat to the last bit: fall back on the HR image's statistics
            offset, sc = fit_normalisation(hr, self.config.normalisation)
        version = _Version(gen, ((lr - offset) / sc).astype(np.float32), hr, offset, sc)
        self._cache[key] = version
        return version

    def batch_scale(self, step: int) -> int:
        """Return the scale of every sample at `step` when ``scale_sampling == "batch"``."""
        rng = np.random.default_rng((self.seed, _BATCH_SCALE, step))
        return self.scales[int(rng.integers(len(self.scales)))]

    def sample(self, step: int, k: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Sample `k` of the global batch at `step`: ``(scale, lr (p, p), hr (s·p, s·p))``, float32."""
        rng = np.random.default_rng((self.seed, _PATCH, step, k))
        mixed = self.config.scale_sampling == "mixed"
        s = self.scales[k % len(self.scales)] if mixed else self.batch_scale(step)
        image = int(self._eligible[s][rng.choice(len(self._eligible[s]), p=self._weights[s])])
        v = self.version(image, s, step)
        p = self.lr_patch[s]
        y = int(rng.integers(0, v.lr.shape[0] - p + 1))
        x = int(rng.integers(0, v.lr.shape[1] - p + 1))
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
            groups.append(
                Group(
                    s,
                    np.stack([lr for _, lr, _ in items])[:, None].copy(),
                    np.stack([hr for _, _, hr in items])[:, None].copy(),
                    tuple(k for k, _, _ in items),
                )
            )
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
