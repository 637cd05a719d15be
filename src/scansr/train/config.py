"""Training configuration, defined once as frozen dataclasses; JSON in and out.

`TrainConfig` holds everything a run depends on: the network (`arch`, `scales`, `model_kwargs`), the data
(`DataConfig`), the optimiser and schedule (`OptimConfig`), the loss (`LossConfig`), validation
(`ValidationConfig`), and the run's own settings (steps, seed, run folder, checkpoint and log intervals). The
effective configuration is written as ``config.json`` into the run folder; `TrainConfig.from_json` reads such
a file (or a hand-written partial one) back.

`recipe` gives the published recipe of an architecture as the starting point:

- ``vdsr``: the AFM paper (Liu et al. 2019) on MATLAB's VDSR: 41×41 HR patches, batch 64, SGD with momentum
  0.9, initial learning rate 0.1, weight decay 1e-4, adjustable gradient clipping (global norm ≤ θ/lr with θ =
  0.4, as the reference PyTorch VDSR), learning rate ÷10 at each quarter of the run, L2 loss, ×2/×3/×4 in one
  network.
- ``unet`` (also named ``unet-gan``): the SEM paper's GAN (de Haan et al. 2019): generator loss
  ``α·adversarial + β·L1 + γ·TV`` (anisotropic TV, eq. 3; least-squares adversarial loss, eq. 4) with the
  weights set at the start of the run so that the terms make up 84 / 14 / 2 % of the loss (``balance=
  "shares"``: the paper gives shares, not weights); discriminator updated every 4th generator step; 128×128
  HR patches with random rotations and flips; LR by ×2 pixel size (`scansr.degrade.SEM_DEFAULT`: mostly
  aliased point sampling, beam blur, shot noise); grey levels used as measured ("counts": no plane
  levelling, row alignment or percentile clipping, which would change the intensities that shot noise and
  gap analysis depend on); Adam 1e-4 (the paper gives no optimiser settings, batch size or widths).
- every other network: EDSR's recipe (Lim et al. 2017): L1 loss, Adam lr 1e-4 halved at each quarter of the
  run, 48×48 LR patches (96×96 HR at ×2), batch 16.

Missing keys in a JSON file take the recipe of its ``arch`` (``vdsr`` if absent; a recipe alias such as
``unet-gan`` is accepted there and stored as its architecture); unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ADVERSARIAL_KINDS",
    "BALANCES",
    "CHANNEL_MODES",
    "CLIP_KINDS",
    "DEVICES",
    "FRAMES",
    "LOSS_TERMS",
    "NORMALISATIONS",
    "NORMALISE_FROM",
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPE_ALIASES",
    "SCALE_SAMPLINGS",
    "SCAN_WEIGHTINGS",
    "SCHEDULES",
    "SEM_PAPER_SHARES",
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "ValidationConfig",
    "recipe",
]

CHANNEL_MODES = ("first", "each", "stack")
FRAMES = ("first", "all")
ALIGN_METHODS = (None, "median", "mean", "polynomial")
NORMALISATIONS = ("zscore", "minmax", "none")
NORMALISE_FROM = ("lr", "hr")
SCALE_SAMPLINGS = ("mixed", "batch")
SCAN_WEIGHTINGS = ("area", "uniform")
OPTIMIZERS = ("sgd", "adam")
CLIP_KINDS = ("none", "norm", "value")
SCHEDULES = ("constant", "step", "cosine")
ADVERSARIAL_KINDS = ("nonsaturating", "lsgan")
BALANCES = ("fixed", "shares")
LOSS_TERMS = ("l1", "l2", "tv", "adversarial")
#: Recipe names that are not architectures -> the architecture they train (`recipe` accepts both).
RECIPE_ALIASES: dict[str, str] = {"unet-gan": "unet"}
#: The SEM paper's shares of its generator loss: adversarial 84 %, L1 14 %, TV 2 %.
SEM_PAPER_SHARES: dict[str, float] = {"adversarial": 0.84, "l1": 0.14, "tv": 0.02}
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bfloat16", "float16")


# --------------------------------------------------------------------------------------------------- checks
def _choice(value: Any, name: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")


def _str_tuple(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str | Path):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of strings, got {value!r}") from None
    if not all(isinstance(v, str | Path) and str(v) for v in items):
        raise ValueError(f"{name} must be a list of non-empty strings, got {value!r}")
    return tuple(str(v) for v in items)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _json_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold only JSON values: {exc}") from None


# --------------------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class DataConfig:
    """Which scans to learn from, how to prepare them, and how to cut training pairs.

    Attributes
    ----------
    train, validation : tuple of str
        Files or folders (searched recursively; files that are not scans are skipped) of the training and
        validation scans. The split is by file: a scan whose data also appear in the training set is refused.
    channels : tuple of str
        Channel names to use; empty: each scan's ``default_channel`` (the trace topography). Files without any
        of the names are skipped with a warning.
    channel_mode : {"first", "each", "stack"}
        ``"first"``: per file, the first name of `channels` that it has; ``"each"``: every listed channel it
        has, each as its own image; ``"stack"``: all of `channels` together as one multichannel image (the
        input of a guided network such as ``fusion``): each name is a channel name or a kind (``"height"``,
        ``"amplitude"``, ``"phase"``, ``"adhesion"``, ``"modulus"``, ...), resolved per file with vendor names
        mapped and all in one scan direction (`scansr.channels.resolve_channels`); files lacking one are
        skipped with a warning. The first channel is the topography: the network's target (with the next ones
        when it outputs several channels). Each channel is prepared and normalised on its own; a scan's
        channels are degraded together (`scansr.train.data.degrade_stack`).
    require : tuple of str
        ``"stack"`` only: channels a file must also have, resolved together with `channels` but not loaded.
        With ``channels=("height",)`` and ``require=("amplitude", "phase")`` a single-channel network trains
        on exactly the topography images (same files, scan direction and degradations) that a network
        stacking height, amplitude and phase sees: the baseline of an equal-budget comparison.
    frames : {"first", "all"}
        Use only the first frame of a video file, or every frame as its own image.
    level_plane : bool
        Subtract the least-squares plane first.
    align_rows : {None, "median", "mean", "polynomial"}
        Then remove scan-line offsets (`scansr.preprocess.align_rows`). The LR degradation adds line artefacts
        back, so the network learns to output aligned scans.
    clip : (float, float) or None
        Then clip to these percentiles (the AFM paper's eq. 1: 2.5, 97.5); None: no clipping.
    normalisation : {"zscore", "minmax", "none"}
        Affine normalisation of each image before it enters the network (AFM paper eq. 2: z-score).
    normalise_from : {"lr", "hr"}
        Fit the normalisation on the degraded LR scan (what enhancement can do: it has only the LR scan), or
        on the HR scan (the AFM paper's order: normalise, then degrade). LR and HR of a pair share it.
    patch_size : int
        HR patch side in pixels (41: VDSR; 128: the SEM GAN). Rounded up per scale to a multiple of the scale:
        the LR patch is ``ceil(patch_size / s)`` pixels and the HR patch ``s`` times that.
    batch_size : int
        Global batch (over all processes of a distributed run).
    scale_sampling : {"mixed", "batch"}
        ``"mixed"``: every batch holds all scales in equal shares, sample ``k`` at ``scales[k % n]`` (VDSR's
        multi-scale minibatch, stratified: the group sizes stay fixed, so the CPU's convolution kernels are
        prepared once instead of for every new group size); ``"batch"``: one scale per batch, drawn at random
        (EDSR's multi-scale training). Each scale's samples go through the network as one group.
    scan_weighting : {"area", "uniform"}
        Draw images in proportion to their LR area (every pixel equally likely) or uniformly.
    augment : bool
        Random dihedral transform (rotations, flips) of each HR scan *before* degrading it (so scan-line
        artefacts stay along the rows, as in a real scan), and random horizontal / vertical flips of each
        pair.
    degradation : str or mapping
        How LR scans are made: a name of `scansr.degrade.PRESETS` (``"afm"``, ``"sem"``, ``"bicubic"``), a
        JSON file with a `DegradationConfig`, or its dict.
    degrade_every : int
        Steps one degraded version of an HR scan is used before a new pipeline is drawn for it (the whole scan
        is degraded at once, so tip dilation, drift and scan-line noise act as on a real scan).
    """

    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    channel_mode: str = "first"
    require: tuple[str, ...] = ()
    frames: str = "first"
    level_plane: bool = True
    align_rows: str | None = "median"
    clip: tuple[float, float] | None = (2.5, 97.5)
    normalisation: str = "zscore"
    normalise_from: str = "lr"
    patch_size: int = 41
    batch_size: int = 64
    scale_sampling: str = "mixed"
    scan_weighting: str = "area"
    augment: bool = True
    degradation: str | Mapping[str, Any] = "afm"
    degrade_every: int = 100

    def __post_init__(self) -> None:
        _set(self, "train", _str_tuple(self.train, "data.train"))
        _set(self, "validation", _str_tuple(self.validation, "data.validation"))
        _set(self, "channels", _str_tuple(self.channels, "data.channels"))
        _choice(self.channel_mode, "data.channel_mode", CHANNEL_MODES)
        _set(self, "require", _str_tuple(self.require, "data.require"))
        if self.channel_mode == "stack" and not self.channels:
            raise ValueError(
                'data.channel_mode "stack" needs data.channels, e.g. ["height", "amplitude", "phase"]'
            )
        if self.require and self.channel_mode != "stack":
            raise ValueError(f'data.require is for channel_mode "stack", got {self.channel_mode!r}')
        _choice(self.frames, "data.frames", FRAMES)
        if not isinstance(self.level_plane, bool):
            raise ValueError(f"data.level_plane must be true or false, got {self.level_plane!r}")
        _choice(self.align_rows, "data.align_rows", ALIGN_METHODS)
        if self.clip is not None:
            try:
                low, high = (float(v) for v in self.clip)
            except (TypeError, ValueError):
                raise ValueError(
                    f"data.clip must be two percentages (low, high) or None, got {self.clip!r}"
                ) from None
            if not 0 <= low < high <= 100:
                raise ValueError(f"data.clip must satisfy 0 <= low < high <= 100, got {self.clip!r}")
            _set(self, "clip", (low, high))
        _choice(self.normalisation, "data.normalisation", NORMALISATIONS)
        _choice(self.normalise_from, "data.normalise_from", NORMALISE_FROM)
        _int(self.patch_size, "data.patch_size", 2)
        _int(self.batch_size, "data.batch_size", 1)
        _choice(self.scale_sampling, "data.scale_sampling", SCALE_SAMPLINGS)
        _choice(self.scan_weighting, "data.scan_weighting", SCAN_WEIGHTINGS)
        if not isinstance(self.augment, bool):
            raise ValueError(f"data.augment must be true or false, got {self.augment!r}")
        if isinstance(self.degradation, Mapping):
            _set(self, "degradation", _json_dict(self.degradation, "data.degradation"))
        elif not isinstance(self.degradation, str) or not self.degradation:
            raise ValueError(
                f"data.degradation must be a preset name, a JSON file or a dict, got {self.degradation!r}"
            )
        _int(self.degrade_every, "data.degrade_every", 1)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, gradient clipping and learning-rate schedule.

    Attributes
    ----------
    optimizer : {"sgd", "adam"}
        SGD with momentum (VDSR) or Adam.
    lr : float
        Initial learning rate.
    momentum : float
        SGD momentum (0.9).
    betas : (float, float)
        Adam's betas.
    weight_decay : float
        L2 penalty (SGD: 1e-4 as VDSR).
    clip : {"none", "norm", "value"}
        Gradient clipping: global L2 norm (``clip_grad_norm_``) or each element (``clip_grad_value_``).
    clip_value : float
        θ: the norm or value bound.
    clip_by_lr : bool
        VDSR's adjustable gradient clipping: the bound is θ / current lr, so that large learning rates train
        stably and the effective step stays ≤ θ.
    schedule : {"constant", "step", "cosine"}
        Learning-rate schedule over `TrainConfig.steps` (a pure function of the step, so resuming is exact).
    step_every : int or None
        ``"step"``: multiply by `gamma` every this many steps; None: at each quarter of the run.
    gamma : float
        ``"step"``: the factor.
    min_lr_factor : float
        ``"cosine"``: final lr as a fraction of `lr`.
    warmup_steps : int
        Linear warm-up from 0 over this many steps (0: none).
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    clip: str = "norm"
    clip_value: float = 0.4
    clip_by_lr: bool = True
    schedule: str = "step"
    step_every: int | None = None
    gamma: float = 0.1
    min_lr_factor: float = 0.0
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        _choice(self.optimizer, "optim.optimizer", OPTIMIZERS)
        _number(self.lr, "optim.lr", strict=True)
        _number(self.momentum, "optim.momentum")
        try:
            b1, b2 = (float(b) for b in self.betas)
        except (TypeError, ValueError):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {self.betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {self.betas!r}")
        _set(self, "betas", (b1, b2))
        _number(self.weight_decay, "optim.weight_decay")
        _choice(self.clip, "optim.clip", CLIP_KINDS)
        _number(self.clip_value, "optim.clip_value", strict=True)
        if not isinstance(self.clip_by_lr, bool):
            raise ValueError(f"optim.clip_by_lr must be true or false, got {self.clip_by_lr!r}")
        _choice(self.schedule, "optim.schedule", SCHEDULES)
        if self.step_every is not None:
            _int(self.step_every, "optim.step_every", 1)
        _number(self.gamma, "optim.gamma", strict=True)
        _number(self.min_lr_factor, "optim.min_lr_factor")
        _int(self.warmup_steps, "optim.warmup_steps", 0)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms and the GAN settings.

    The generator's loss is ``l1·L1 + l2·L2 + tv·TV + adversarial·ADV``: L1 / L2 the mean absolute / squared
    error to the HR patch; TV the anisotropic total variation of the output (SEM paper eq. 3, as a mean over
    pixels); ADV the generator's adversarial loss. A positive `adversarial` value trains a `Discriminator`.

    With ``balance="fixed"`` the four values are the weights. With ``balance="shares"`` they are the terms'
    *shares* of the generator loss at the start of training (the SEM paper gives its loss this way: 84 %
    adversarial, 14 % L1, 2 % TV): before the first step, the run measures the mean unweighted magnitude
    ``m_k`` of every switched-on term on the first `calibration_batches` training batches with the untrained
    generator and discriminator, and weighs term k by ``w_k = (s_k / Σ s) / m_k``, so that at the start each
    weighted term is its share of a total of 1. The measurement is deterministic (the batches are a function
    of the seed), written to ``log.jsonl`` (``calibration``), kept in the checkpoint (a resumed run reuses it)
    and in the saved models' ``config.json`` (``training.loss_weights``).

    Attributes
    ----------
    l1, l2, tv, adversarial : float
        Weights, or shares with ``balance="shares"`` (>= 0, not all zero).
    balance : {"fixed", "shares"}
        What the four values are (see above).
    calibration_batches : int
        ``balance="shares"``: batches the magnitudes are averaged over.
    adversarial_kind : {"nonsaturating", "lsgan"}
        Non-saturating GAN loss (``softplus(−D(G(x)))`` for G) or least squares (the SEM paper's eq. 4).
    discriminator_every : int
        Update the discriminator every this many generator steps (SEM paper: 4).
    discriminator_lr : float or None
        The discriminator's Adam learning rate (None: `OptimConfig.lr`).
    discriminator_kwargs : mapping
        Arguments of `scansr.models.Discriminator` (``base_channels``, ``n_blocks``, ``negative_slope``).
    """

    l1: float = 0.0
    l2: float = 1.0
    tv: float = 0.0
    adversarial: float = 0.0
    balance: str = "fixed"
    calibration_batches: int = 8
    adversarial_kind: str = "nonsaturating"
    discriminator_every: int = 4
    discriminator_lr: float | None = None
    discriminator_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in LOSS_TERMS:
            _number(getattr(self, name), f"loss.{name}")
        if self.l1 == self.l2 == self.tv == self.adversarial == 0:
            raise ValueError("loss weights l1, l2, tv and adversarial must not all be 0")
        _choice(self.balance, "loss.balance", BALANCES)
        _int(self.calibration_batches, "loss.calibration_batches", 1)
        _choice(self.adversarial_kind, "loss.adversarial_kind", ADVERSARIAL_KINDS)
        _int(self.discriminator_every, "loss.discriminator_every", 1)
        if self.discriminator_lr is not None:
            _number(self.discriminator_lr, "loss.discriminator_lr", strict=True)
        _set(self, "discriminator_kwargs", _json_dict(self.discriminator_kwargs, "loss.discriminator_kwargs"))

    @property
    def terms(self) -> dict[str, float]:
        """The switched-on terms and their values (weights or shares), in the order of `LOSS_TERMS`."""
        return {name: float(getattr(self, name)) for name in LOSS_TERMS if getattr(self, name) > 0}


@dataclass(frozen=True)
class ValidationConfig:
    """How and when the network is validated on the validation scans.

    Every validation scan is degraded once per scale with a seed fixed by `seed` and the file's name, channel
    and frame, so numbers are comparable between runs; the network runs on whole scans, tiled.

    Attributes
    ----------
    every : int
        Validate every this many steps (and after the last step).
    scales : tuple of int
        Scales to validate at; empty: every scale of the network.
    seed : int
        Seed of the validation degradations.
    tile, overlap : int
        Tiled inference (LR pixels): tile side and the margin each tile shares with its neighbours.
    ssim : bool
        Compute SSIM as well as PSNR (slower on large scans).
    """

    every: int = 500
    scales: tuple[int, ...] = ()
    seed: int = 0
    tile: int = 128
    overlap: int = 16
    ssim: bool = True

    def __post_init__(self) -> None:
        _int(self.every, "validation.every", 1)
        scales = (self.scales,) if isinstance(self.scales, int) else tuple(self.scales)
        for s in scales:
            _int(s, "each validation scale", 1)
        _set(self, "scales", tuple(int(s) for s in scales))
        _int(self.seed, "validation.seed", 0)
        _int(self.tile, "validation.tile", 1)
        _int(self.overlap, "validation.overlap", 0)
        if not isinstance(self.ssim, bool):
            raise ValueError(f"validation.ssim must be true or false, got {self.ssim!r}")


_SECTIONS = {"data": DataConfig, "optim": OptimConfig, "loss": LossConfig, "validation": ValidationConfig}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Same configuration and seed → same run.

    Attributes
    ----------
    arch : str
        Network, a key of `scansr.models.MODELS`.
    scales : tuple of int
        Scale factors trained together.
    model_kwargs : mapping
        The network's size arguments (e.g. ``{"depth": 20, "n_feats": 64}``).
    data, optim, loss, validation : DataConfig, OptimConfig, LossConfig, ValidationConfig
        The sections.
    steps : int
        Optimiser steps in all (the schedule runs over them).
    seed : int
        Seeds the initial weights and every random draw of the data.
    out : str
        Run folder: ``config.json``, ``log.jsonl``, ``files.json``, ``checkpoint.pt``, ``model/`` (last) and
        ``best/`` (best validation PSNR).
    checkpoint_every, log_every : int
        Steps between checkpoints / between training-loss records in ``log.jsonl``.
    max_time_s : float or None
        Stop (checkpoint and save) once this much training wall time has passed, counted over resumed
        sessions; the schedule still runs over `steps`. None: no limit.
    threads : int or None
        ``torch.set_num_threads`` during training; None: torch's default (in a distributed CPU run: the cores
        divided by the local processes).
    device : {"auto", "cpu", "cuda"}
        Where to train (``"auto"``: CUDA when available).
    precision : {"float32", "bfloat16", "float16"}
        Autocast precision of the forward pass (float16 only on CUDA, with a gradient scaler).
    deterministic : bool
        Ask torch for deterministic algorithms (bit-identical resumes; slower on GPU).
    """

    arch: str = "vdsr"
    scales: tuple[int, ...] = (2, 3, 4)
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    steps: int = 10_000
    seed: int = 0
    out: str = "run"
    checkpoint_every: int = 500
    log_every: int = 50
    max_time_s: float | None = None
    threads: int | None = None
    device: str = "auto"
    precision: str = "float32"
    deterministic: bool = True

    def __post_init__(self) -> None:
        from scansr.models import MODELS, SCALES

        if self.arch not in MODELS:
            raise ValueError(f"arch must be one of {tuple(MODELS)}, got {self.arch!r}")
        scales = (self.scales,) if isinstance(self.scales, int) else tuple(self.scales)
        if not scales:
            raise ValueError(f"scales must not be empty; choose from {SCALES}")
        for s in scales:
            if s not in SCALES or isinstance(s, bool):
                raise ValueError(f"each scale must be one of {SCALES}, got {s!r}")
        _set(self, "scales", tuple(sorted({int(s) for s in scales})))
        _set(self, "model_kwargs", _json_dict(self.model_kwargs, "model_kwargs"))
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        bad = [s for s in self.validation.scales if s not in self.scales]
        if bad:
            raise ValueError(f"validation.scales {bad} are not among the trained scales {self.scales}")
        _int(self.steps, "steps", 1)
        _int(self.seed, "seed", 0)
        if not isinstance(self.out, str | Path) or not str(self.out):
            raise ValueError(f"out must be a folder path, got {self.out!r}")
        _set(self, "out", str(self.out))
        _int(self.checkpoint_every, "checkpoint_every", 1)
        _int(self.log_every, "log_every", 1)
        if self.max_time_s is not None:
            _number(self.max_time_s, "max_time_s", strict=True)
        if self.threads is not None:
            _int(self.threads, "threads", 1)
        _choice(self.device, "device", DEVICES)
        _choice(self.precision, "precision", PRECISIONS)
        if not isinstance(self.deterministic, bool):
            raise ValueError(f"deterministic must be true or false, got {self.deterministic!r}")

    # ---- JSON
    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON data (tuples as lists), every field present."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build a configuration from a (possibly partial) dict; missing keys take the ``arch``'s `recipe`.

        Raises
        ------
        ValueError
            If a key is unknown (the message lists the valid ones) or a value is invalid.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a training configuration must be a JSON object, got {type(data).__name__}")
        base = recipe(data.get("arch", "vdsr"))
        if data.get("arch") in RECIPE_ALIASES:
            data = {**data, "arch": base.arch}
        return _merge(base, data, "")

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Read a configuration file written by `to_json` or by hand (partial files take the recipe's values).

        Raises
        ------
        ValueError
            If the file is not valid JSON, or a key or value is invalid.
        OSError
            If the file cannot be read.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def to_json(self) -> str:
        """Return the configuration as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"


def _merge(base: Any, data: Mapping[str, Any], prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(base)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"in {prefix.rstrip('.')} " if prefix else ""
        raise ValueError(f"unknown setting(s) {where}{unknown}; valid: {sorted(fields)}")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        current = getattr(base, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ValueError(f"{prefix}{key} must be a JSON object, got {value!r}")
            changes[key] = _merge(current, value, f"{prefix}{key}.")
        else:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------------------------------- recipes
def recipe(arch: str) -> TrainConfig:
    """Return the published training recipe for `arch` (data paths and run folder still empty).

    Change fields with `dataclasses.replace`, e.g. ``replace(cfg, steps=1000, data=replace(cfg.data,
    train=("scans/",)))``.

    Parameters
    ----------
    arch : str
        A key of `scansr.models.MODELS`, or a recipe alias of `RECIPE_ALIASES` (``"unet-gan"``: the SEM
        paper's GAN, the same as ``"unet"``).

    Returns
    -------
    TrainConfig
        ``vdsr``: the AFM paper; ``unet`` / ``unet-gan``: the SEM paper's GAN; others: EDSR's recipe (see the
        module docstring). ``TrainConfig.arch`` is always the architecture.

    Raises
    ------
    ValueError
        If `arch` is unknown (the message lists the valid ones).
    """
    from scansr.models import MODELS

    name = RECIPE_ALIASES.get(arch, arch) if isinstance(arch, str) else arch
    if name not in MODELS:
        raise ValueError(f"arch must be one of {(*MODELS, *RECIPE_ALIASES)}, got {arch!r}")
    if name == "vdsr":
        return TrainConfig(arch="vdsr")
    if name == "unet":
        return TrainConfig(
            arch="unet",
            scales=(2,),
            data=DataConfig(
                level_plane=False,
                align_rows=None,
                clip=None,
                patch_size=128,
                batch_size=8,
                scale_sampling="batch",
                augment=True,
                degradation="sem",
            ),
            optim=OptimConfig(
                optimizer="adam",
                lr=1e-4,
                weight_decay=0.0,
                clip="none",
                clip_by_lr=False,
                schedule="constant",
            ),
            loss=LossConfig(
                l2=0.0,
                **SEM_PAPER_SHARES,
                balance="shares",
                adversarial_kind="lsgan",
                discriminator_every=4,
            ),
        )
    return TrainConfig(
        arch=name,
        scales=(2,),
        data=DataConfig(patch_size=96, batch_size=16, scale_sampling="batch"),
        optim=OptimConfig(
            optimizer="adam",
            lr=1e-4,
            weight_decay=0.0,
            clip="none",
            clip_by_lr=False,
            schedule="step",
            gamma=0.5,
        ),
        loss=LossConfig(l1=1.0, l2=0.0),
    )
