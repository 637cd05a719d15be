"""The training loop: `train(config)` → a run folder with logs, checkpoints and saved models.

Run folder (`TrainConfig.out`)
    ``config.json`` (the effective `TrainConfig`), ``files.json`` (every image used, with its split and data
    hash), ``log.jsonl`` (one JSON record per line: ``start`` (with the loss weights), ``calibration`` (the
    measured term magnitudes and resulting weights of a loss balanced by shares, `LossConfig`), ``baseline``
    (bicubic on the validation set), ``train`` every `log_every` steps, ``val`` after each validation,
    ``end``), ``checkpoint.pt`` (everything
    needed to continue), ``model/`` (the latest weights) and ``best/`` (best mean validation PSNR), both
    written with `scansr.models.save_model` (safetensors + ``config.json``).

Exact resumption
    A batch is a pure function of the seed, the step and the sample indices (`scansr.train.data`), the
    learning rate a pure function of the step, and the checkpoint holds the weights, the optimiser state
    (momentum, Adam moments), the discriminator and its optimiser, the gradient scaler, the loss weights (a
    loss balanced by shares is measured once, at the start, and reused), and torch's and Python's global RNG
    states. ``train(config, resume=True)`` therefore continues exactly where the
    checkpoint was written: on the CPU, 10 steps + resume + 10 steps give bit-identical weights to 20 steps.
    The checkpoint is written to a temporary file and renamed over the old one (`scansr._atomic`), so a run
    killed at any moment (SIGKILL included) resumes from the last complete checkpoint; log records written
    after it are dropped on resume. ``model/`` is refreshed with every checkpoint. Data draws need no saved
    generator state: their generators are seeded by counters.

Distributed data parallel
    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), or when the caller has initialised
    ``torch.distributed``, each of the W processes computes the samples ``[r·B/W, (r+1)·B/W)`` of the global
    batch B and `DistributedDataParallel` averages the gradients: the union of the shards is the
    single-process batch, and every loss is a mean of per-sample means, so the averaged gradient equals the
    single-process gradient up to the order of floating-point additions. Backend gloo on CPU, nccl on GPU.
    Process 0 validates and writes the files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from scansr import metrics
from scansr._atomic import atomic_path, atomic_write_text
from scansr.channels import canonical_name
from scansr.models import Discriminator, ModelConfig, SRModel, build_model, save_model
from scansr.scan import OutputExistsError
from scansr.train import losses
from scansr.train.config import OptimConfig, TrainConfig
from scansr.train.data import (
    Group,
    PairSampler,
    StackValidationPair,
    ValidationPair,
    load_images,
    load_stacks,
    prepare_stack_validation,
    prepare_validation,
    resolve_degradation,
)
from scansr.train.tiled import predict_tiled

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "LOG_FILE",
    "TrainResult",
    "learning_rate",
    "train",
    "validate",
]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
FILES_FILE = "files.json"
LOG_FILE = "log.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
LAST_DIR = "model"
BEST_DIR = "best"
_CHECKPOINT_FORMAT = "scansr-train-checkpoint"
_CHECKPOINT_VERSION = 1

# Settings that may change between a run and its resumption without changing what is computed.
_RESUMABLE_CHANGES = {
    "steps",
    "out",
    "max_time_s",
    "checkpoint_every",
    "log_every",
    "threads",
    "device",
    "validation.every",
}


@dataclass(frozen=True)
class TrainResult:
    """What a call of `train` produced.

    Attributes
    ----------
    run : Path
        The run folder.
    model : Path
        ``run/model``: the latest weights (a `scansr.models.load_model` folder).
    best : Path or None
        ``run/best``: the weights with the best mean validation PSNR (None without validation).
    step : int
        Steps completed.
    finished : bool
        False when the run stopped at `TrainConfig.max_time_s` before `TrainConfig.steps`.
    best_step : int or None
        Step of `best`.
    best_psnr : float or None
        Its mean validation PSNR (dB, over images and scales).
    validation : dict or None
        The last validation record (as in ``log.jsonl``).
    elapsed_s : float
        Training wall time over all sessions of the run.
    steps_per_s : float
        Mean speed of this session.
    network : SRModel
        The trained network (last weights) on the training device, in eval mode.
    """

    run: Path
    model: Path
    best: Path | None
    step: int
    finished: bool
    best_step: int | None
    best_psnr: float | None
    validation: dict[str, Any] | None
    elapsed_s: float
    steps_per_s: float
    network: SRModel = dataclasses.field(repr=False, compare=False)


# --------------------------------------------------------------------------------------------------- helpers
def learning_rate(step: int, optim: OptimConfig, total_steps: int) -> float:
    """Return the learning rate of step `step` (0-based) of a `total_steps` run (a pure function of the step).

    ``constant``; ``step``: ``lr · gamma^(step // step_every)`` (``step_every`` None: a quarter of the run);
    ``cosine``: ``lr · (m + (1 − m)·(1 + cos(π·step/total_steps))/2)`` with ``m = min_lr_factor``; then
    times a linear warm-up over ``warmup_steps``.
    """
    if optim.schedule == "constant":
        factor = 1.0
    elif optim.schedule == "step":
        every = optim.step_every or max(1, total_steps // 4)
        factor = optim.gamma ** (step // every)
    else:
        t = min(step / total_steps, 1.0)
        factor = optim.min_lr_factor + (1 - optim.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t))
    if optim.warmup_steps and step < optim.warmup_steps:
        factor *= (step + 1) / optim.warmup_steps
    return optim.lr * factor


class _Dist:
    """Rank, world size and device of this process."""

    def __init__(self, config: TrainConfig):
        use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
        if config.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
        self.created = False
        if dist.is_available() and dist.is_initialized():
            pass
        elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group(
                backend="nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2)
            )
            self.created = True
        self.active = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.active else 0
        self.world = dist.get_world_size() if self.active else 1
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
        if use_cuda:
            index = self.local_rank % torch.cuda.device_count()
            torch.cuda.set_device(index)
            self.device = torch.device("cuda", index)
        else:
            self.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.created:
            dist.destroy_process_group()


class _GeneratorStep(nn.Module):
    """All scale groups of a batch in one forward call (DDP expects one forward per backward)."""

    def __init__(self, model: SRModel):
        super().__init__()
        self.model = model

    def forward(self, lrs: list[Tensor], scales: list[int]) -> list[Tensor]:
        return [self.model(x, s) for x, s in zip(lrs, scales, strict=True)]


class _DiscriminatorStep(nn.Module):
    def __init__(self, discriminator: Discriminator):
        super().__init__()
        self.d = discriminator

    def forward(self, images: list[Tensor]) -> list[Tensor]:
        return [self.d(x) for x in images]


def _make_optimizer(
    params: list[nn.Parameter], optim: OptimConfig, lr: float | None = None
) -> torch.optim.Optimizer:
    lr = optim.lr if lr is None else lr
    if optim.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.Adam(params, lr=lr, betas=optim.betas, weight_decay=optim.weight_decay)


def _zero_fill_grads(params: list[nn.Parameter]) -> None:
    # Every parameter always has a gradient (zeros where unused, e.g. the tail of a scale absent from a
    # batch), so that weight decay and momentum treat it the same in one process and under
    # DistributedDataParallel.
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def _clip(params: list[nn.Parameter], optim: OptimConfig, lr: float) -> float | None:
    if optim.clip == "none":
        return None
    if optim.clip_by_lr and lr <= 0:
        return None  # θ / 0: no bound
    bound = optim.clip_value / lr if optim.clip_by_lr else optim.clip_value
    if optim.clip == "norm":
        return float(torch.nn.utils.clip_grad_norm_(params, bound))
    torch.nn.utils.clip_grad_value_(params, bound)
    return None


@contextlib.contextmanager
def _torch_settings(config: TrainConfig, run: _Dist) -> Iterator[None]:
    """Thread count and deterministic algorithms for the run; torch's settings are restored afterwards."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        elif run.active and run.device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, run.local_world)))
        if config.deterministic:
            if run.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if config.precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if config.precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _finite_or_none(x: float) -> float | None:
    return x if isinstance(x, float) and math.isfinite(x) else None


# ------------------------------------------------------------------------------------------------ validation
def validate(
    model: SRModel,
    pairs: list[ValidationPair] | list[StackValidationPair],
    *,
    tile: int = 128,
    overlap: int = 16,
    ssim: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """PSNR and SSIM of `model` and of bicubic upscaling on validation pairs, in physical units.

    Each LR scan is normalised as in training, super-resolved whole (tiled), the output mapped back to
    physical units (metres for heights) and compared with the HR reference over ``data_range = HR max − min``.
    For stacked pairs every channel is normalised with its own statistics and every output channel k is
    mapped back with channel k's and scored against HR channel k; the summaries (``psnr``, ``by_scale``, the
    best model) are of output 0, the topography, and ``by_channel`` gives each output's.

    Parameters
    ----------
    model : SRModel
        The network (its mode is restored afterwards).
    pairs : list of ValidationPair or list of StackValidationPair
        From `scansr.train.data.prepare_validation` or `scansr.train.data.prepare_stack_validation`.
    tile, overlap : int
        Tiled inference (LR pixels).
    ssim : bool
        Compute SSIM too.
    device : torch.device or str
        Where the model is.

    Returns
    -------
    dict
        ``psnr``, ``ssim``, ``psnr_bicubic``, ``ssim_bicubic`` (means over images and scales; None if not
        finite), ``by_scale`` (the same per scale, with ``n``) and ``images`` (one record per image and
        scale; for stacks one per image, scale and output channel, with its ``channel`` name), and for stacks
        ``by_channel`` (the means of every output channel).
    """
    was_training = model.training
    model.eval()
    records = []
    try:
        for p in pairs:
            if isinstance(p, StackValidationPair):
                records += _validate_stack(model, p, tile=tile, overlap=overlap, ssim=ssim, device=device)
                continue
            x = torch.from_numpy(((p.lr - p.offset) / p.norm_scale).astype(np.float32))[None, None].to(device)
            y = predict_tiled(model, x, p.scale, tile=tile, overlap=overlap)
            sr = y[0, 0].to("cpu", torch.float64).numpy() * p.norm_scale + p.offset
            if np.isfinite(sr).all():
                psnr = metrics.psnr(p.hr, sr, data_range=p.data_range)
                score = (
                    metrics.ssim(p.hr, sr, data_range=p.data_range)
                    if ssim and min(p.hr.shape) >= 11
                    else math.nan
                )
            else:
                logger.warning("validation: the network's output on %s ×%d is not finite", p.name, p.scale)
                psnr = score = math.nan
            records.append(
                {
                    "image": p.name,
                    "scale": p.scale,
                    "psnr": psnr,
                    "ssim": score,
                    "psnr_bicubic": p.bicubic_psnr,
                    "ssim_bicubic": p.bicubic_ssim,
                }
            )
    finally:
        model.train(was_training)

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"):
            values = np.array([r[key] for r in rows], dtype=float)
            out[key] = _finite_or_none(float(values.mean())) if values.size else None
        return out

    main = [r for r in records if r.get("output", 0) == 0]  # the topography (output 0 of a stack)
    result = summary(main)
    result["by_scale"] = {
        str(s): {
            **summary([r for r in main if r["scale"] == s]),
            "n": sum(r["scale"] == s for r in main),
        }
        for s in sorted({r["scale"] for r in main})
    }
    if any("output" in r for r in records):
        names = {r["output"]: r["channel"] for r in records}
        result["by_channel"] = {
            names[k]: {
                **summary([r for r in records if r["output"] == k]),
                "n": sum(r["output"] == k for r in records),
            }
            for k in sorted(names)
        }
    result["images"] = [
        {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()} for r in records
    ]
    return result


def _validate_stack(
    model: SRModel, p: StackValidationPair, *, tile: int, overlap: int, ssim: bool, device: torch.device | str
) -> list[dict[str, Any]]:
    """Score one stacked validation pair: a record per output channel, each in its channel's units."""
    offset, norm_scale = p.offset[:, None, None], p.norm_scale[:, None, None]
    x = torch.from_numpy(((p.lr - offset) / norm_scale).astype(np.float32))[None].to(device)
    y = predict_tiled(model, x, p.scale, tile=tile, overlap=overlap)[0].to("cpu", torch.float64).numpy()
    if len(y) > len(p.hr):
        raise ValueError(f"the network outputs {len(y)} channels, the validation stack has {len(p.hr)}")
    records = []
    for k in range(len(y)):
        sr = y[k] * p.norm_scale[k] + p.offset[k]
        data_range = float(p.data_range[k])
        if np.isfinite(sr).all():
            psnr = metrics.psnr(p.hr[k], sr, data_range=data_range)
            score = (
                metrics.ssim(p.hr[k], sr, data_range=data_range)
                if ssim and min(p.hr.shape[1:]) >= 11
                else math.nan
            )
        else:
            logger.warning("validation: the network's output %d on %s ×%d is not finite", k, p.name, p.scale)
            psnr = score = math.nan
        records.append(
            {
                "image": p.name,
                "scale": p.scale,
                "output": k,
                "channel": p.channels[k],
                "psnr": psnr,
                "ssim": score,
                "psnr_bicubic": p.bicubic_psnr_channels[k],
                "ssim_bicubic": p.bicubic_ssim_channels[k],
            }
        )
    return records


# ----------------------------------------------------------------------------------------------- run folder
def _read_log(path: Path, *, up_to_step: int) -> list[str]:
    if not path.exists():
        return []
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and int(record.get("step", 0)) <= up_to_step:
            kept.append(line)
    return kept


class _Log:
    def __init__(self, path: Path, enabled: bool):
        self.path = path
        self.enabled = enabled

    def write(self, record: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(
            {"time": datetime.datetime.now().isoformat(timespec="seconds"), **record}, allow_nan=False
        )
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()


def _config_differences(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    prefix: str = "",
    defaults: Mapping[str, Any] | None = None,
) -> list[str]:
    # A setting that the run's own config lacks (written before scansr had it) takes its dataclass default,
    # the behaviour of the code that wrote the run: new settings must default to the old behaviour.
    if defaults is None:
        defaults = TrainConfig().to_dict()
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, defaults.get(key)), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key not in ("model_kwargs", "degradation"):
            below = defaults.get(key)
            out += _config_differences(a, b, f"{prefix}{key}.", below if isinstance(below, dict) else {})
        elif a != b and f"{prefix}{key}" not in _RESUMABLE_CHANGES:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _model_config(model: SRModel, config: TrainConfig, extra: Mapping[str, Any]) -> ModelConfig:
    """Return the ``config.json`` of a saved model: how to prepare its input, and how it was trained."""
    d = config.data
    normalisation: dict[str, Any] = {
        "kind": d.normalisation,
        "fit_on": d.normalise_from,
        "clip": list(d.clip) if d.clip else None,
        "level_plane": d.level_plane,
        "align_rows": d.align_rows,
    }
    names: tuple[str, ...] = ()
    if d.channel_mode == "stack":
        # Each input channel is prepared and normalised on its own, with its own statistics (fitted on the
        # scan being enhanced); the names are kinds where the data names were (resolved per scan by enhance).
        names = tuple(canonical_name(n) or n for n in d.channels)
        units = extra.get("units") or [[] for _ in names]
        normalisation["channels"] = [{"name": n, "units": list(u)} for n, u in zip(names, units, strict=True)]
    return ModelConfig.for_model(
        model,
        input_names=names,
        output_names=names[: model.out_channels],
        normalisation=normalisation,
        training={
            "channels": list(d.channels) or "default",
            "config": {k: v for k, v in config.to_dict().items() if k != "data"}
            | {"data": {k: v for k, v in dataclasses.asdict(d).items() if k not in ("train", "validation")}},
            **extra,
        },
    )


# ----------------------------------------------------------------------------------------------------- train
def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train a network as `config` says; write logs, checkpoints and models into ``config.out``.

    Parameters
    ----------
    config : TrainConfig
        The run (see `recipe` for the published recipes).
    resume : bool
        Continue the run in ``config.out`` from its checkpoint (exactly: see the module docstring). Without a
        checkpoint there the run starts from step 0. The configuration must equal the run's, except for
        `steps`, `max_time_s`, `checkpoint_every`, `log_every`, `validation.every`, `threads`, `device` and
        `out` (more `steps` extend the run; the cosine schedule and the step schedule without `step_every`
        stretch with them; other thread counts may change the last bits of the results).
    progress : bool
        Show a progress bar (loss, validation PSNR, steps/s, time left) on stderr.

    Returns
    -------
    TrainResult

    Raises
    ------
    OutputExistsError
        If ``config.out`` holds a run already and `resume` is false.
    ValueError
        If the data give no usable image, the resumed run's configuration differs in a setting that changes
        the computation (the message lists them), or the batch does not divide among the processes.
    FloatingPointError
        If the training loss becomes NaN or infinite (the last checkpoint is kept).
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    run = _Dist(config)
    try:
        with _torch_settings(config, run):
            return _train(config, run, resume=resume, progress=progress)
    finally:
        run.close()


def _model_kwargs(config: TrainConfig) -> dict[str, Any]:
    """Return the constructor arguments: ``model_kwargs``, with ``in_channels`` = the stacked channels."""
    kwargs = dict(config.model_kwargs)
    d = config.data
    if d.channel_mode == "stack":
        n = len(d.channels)
        if kwargs.setdefault("in_channels", n) != n:
            raise ValueError(
                f"model_kwargs.in_channels is {kwargs['in_channels']}, but data.channels stacks {n} channels "
                f"{list(d.channels)}; leave in_channels out"
            )
        if int(kwargs.get("out_channels", 1)) > n:
            raise ValueError(
                f"model_kwargs.out_channels is {kwargs['out_channels']}, but data.channels stacks only {n} "
                "channels (output k is channel k enhanced)"
            )
    return kwargs


class _Networks:
    """The generator (the SR network), the optional discriminator, their optimisers and the gradient scaler."""

    def __init__(self, config: TrainConfig, run: _Dist):
        device = run.device
        self.model = build_model(
            config.arch,
            scales=config.scales,
            generator=torch.Generator().manual_seed(config.seed),
            **_model_kwargs(config),
        ).to(device)
        self.model.train()
        self.params = list(self.model.parameters())
        self.optimizer = _make_optimizer(self.params, config.optim)
        self.disc: Discriminator | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        self.d_params: list[nn.Parameter] = []
        if config.loss.adversarial > 0:
            self.disc = Discriminator(
                self.model.out_channels,
                generator=torch.Generator().manual_seed(config.seed + 1),
                **config.loss.discriminator_kwargs,
            ).to(device)
            self.d_params = list(self.disc.parameters())
            self.d_optimizer = torch.optim.Adam(
                self.d_params, lr=config.loss.discriminator_lr or config.optim.lr, betas=config.optim.betas
            )
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=config.precision == "float16" and device.type == "cuda"
        )
        _zero_fill_grads(self.params + self.d_params)
        # What runs forward: the bare modules, or DistributedDataParallel around them (one forward per backward).
        self.g_step: nn.Module = _GeneratorStep(self.model)
        self.d_step: nn.Module | None = _DiscriminatorStep(self.disc) if self.disc is not None else None
        if run.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            # Post-upsampling nets have one tail per scale: a tail absent from a process's share is unused.
            per_scale = len(config.scales) > 1 and any(
                isinstance(m, nn.ModuleDict) for m in self.model.modules()
            )
            self.g_step = DDP(self.g_step, device_ids=ids, find_unused_parameters=per_scale)
            if self.d_step is not None:
                self.d_step = DDP(self.d_step, device_ids=ids)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "discriminator": self.disc.state_dict() if self.disc is not None else None,
            "d_optimizer": self.d_optimizer.state_dict() if self.d_optimizer is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.disc is not None and self.d_optimizer is not None:
            self.disc.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def generator_terms(
        self, sr: Tensor, hr: Tensor, weights: Mapping[str, float], *, config: TrainConfig
    ) -> dict[str, Tensor]:
        """Weighted generator loss terms of one group (the training step and the loss calibration share it)."""
        sr = sr.float()
        logits = self.disc(sr) if self.disc is not None else None
        return losses.generator_terms(sr, hr, weights, fake_logits=logits, kind=config.loss.adversarial_kind)

    @torch.no_grad()
    def measure_terms(
        self, groups: list[Group], *, config: TrainConfig, device: torch.device
    ) -> dict[str, float]:
        """Unweighted generator loss terms of the current networks on this process's share of a batch."""
        unit = {name: 1.0 for name in config.loss.terms}
        n_samples = sum(len(g.samples) for g in groups)
        sums: dict[str, float] = dict.fromkeys(unit, 0.0)
        with _autocast(config, device):
            for g in groups:
                sr = self.model(torch.from_numpy(g.lr).to(device), g.scale)
                terms = self.generator_terms(sr, torch.from_numpy(g.hr).to(device), unit, config=config)
                for k, v in terms.items():
                    sums[k] += len(g.samples) / n_samples * float(v)
        return sums

    def step(
        self,
        groups: list[Group],
        *,
        step: int,
        lr: float,
        config: TrainConfig,
        loss_weights: Mapping[str, float],
        device: torch.device,
    ) -> tuple[float, dict[str, float], float | None]:
        """One optimiser step on this process's share of the batch: ``(loss, terms, discriminator loss)``.

        `loss_weights`: the weights of the generator's loss terms (as configured, or balanced by shares).
        """
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        lrs = [torch.from_numpy(g.lr).to(device) for g in groups]
        hrs = [torch.from_numpy(g.hr).to(device) for g in groups]
        n_samples = sum(len(g.samples) for g in groups)
        weights = [len(g.samples) / n_samples for g in groups]  # every loss is a mean of per-sample means

        self.optimizer.zero_grad(set_to_none=False)
        if self.disc is not None:
            self.disc.requires_grad_(False)  # the generator's step leaves the discriminator alone
        with _autocast(config, device):
            outs = self.g_step(lrs, [g.scale for g in groups])
            terms: dict[str, Tensor] = {}
            for w, sr, hr in zip(weights, outs, hrs, strict=True):
                group_terms = self.generator_terms(sr, hr, loss_weights, config=config)
                for k, v in group_terms.items():
                    terms[k] = terms.get(k, 0.0) + w * v
            loss = sum(terms.values())
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        _clip(self.params, config.optim, lr)
        self.scaler.step(self.optimizer)

        d_value = None
        if self.disc is not None and self.d_step is not None and self.d_optimizer is not None:
            self.disc.requires_grad_(True)
            if (step + 1) % config.loss.discriminator_every == 0:
                self.d_optimizer.zero_grad(set_to_none=False)
                with _autocast(config, device):
                    logits = self.d_step([*hrs, *(o.detach().float() for o in outs)])
                    n = len(hrs)
                    d_loss = sum(
                        w * losses.discriminator_loss(real, fake, kind=config.loss.adversarial_kind)
                        for w, real, fake in zip(weights, logits[:n], logits[n:], strict=True)
                    )
                self.scaler.scale(d_loss).backward()
                self.scaler.step(self.d_optimizer)
                d_value = float(d_loss.detach())
        self.scaler.update()
        return float(loss.detach()), {k: float(v.detach()) for k, v in terms.items()}, d_value


class _Window:
    """Sums of the training losses between two ``train`` log records."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.data_s = 0.0
        self.steps = 0
        self.loss = 0.0
        self.terms: dict[str, float] = {}
        self.d_loss = 0.0
        self.d_steps = 0

    def add(self, loss: float, terms: Mapping[str, float], d_loss: float | None) -> None:
        self.steps += 1
        self.loss += loss
        for k, v in terms.items():
            self.terms[k] = self.terms.get(k, 0.0) + v
        if d_loss is not None:
            self.d_loss += d_loss
            self.d_steps += 1

    def record(self, run: _Dist, device: torch.device) -> dict[str, Any]:
        """Means over the window (the loss over the global batch); every process must call it."""
        sums = torch.tensor([self.loss, *self.terms.values()], dtype=torch.float64, device=device)
        if run.active:
            dist.all_reduce(sums)
            sums /= run.world
        means = (sums / self.steps).tolist()
        out: dict[str, Any] = {
            "loss": means[0],
            "terms": dict(zip(self.terms, means[1:], strict=True)),
            "steps_per_s": self.steps / max(time.perf_counter() - self.start, 1e-9),
            # Share of the time spent making batches (mostly degrading scans): raise data.degrade_every if high.
            "data_share": self.data_s / max(time.perf_counter() - self.start, 1e-9),
        }
        if self.d_steps:
            out["d_loss"] = self.d_loss / self.d_steps
        return out


def _train(config: TrainConfig, run: _Dist, *, resume: bool, progress: bool) -> TrainResult:
    folder = Path(config.out)
    ckpt_path = folder / CHECKPOINT_FILE
    if not resume and ((folder / CONFIG_FILE).exists() or ckpt_path.exists()):  # every process raises
        raise OutputExistsError(folder, "holds a training run; pass resume=True (--resume) to continue it")
    if run.main:
        folder.mkdir(parents=True, exist_ok=True)
    run.barrier()
    if config.data.batch_size % run.world:
        raise ValueError(
            f"data.batch_size {config.data.batch_size} must be a multiple of the {run.world} processes"
        )
    device = run.device

    # ---- data
    d = config.data
    degradation = resolve_degradation(d.degradation)
    stacked = d.channel_mode == "stack"
    load = load_stacks if stacked else load_images
    train_images = load(d.train, d, what="training")
    val_images = load(d.validation, d, what="validation") if d.validation else []
    leaked = {im.digest for im in train_images} & {im.digest for im in val_images}
    if leaked:
        names = [im.name for im in val_images if im.digest in leaked]
        raise ValueError(f"validation images {names} are also in the training set; split by file")
    sampler = PairSampler(
        train_images,
        scales=config.scales,
        config=d,
        degradation=degradation,
        seed=config.seed,
        targets=int(_model_kwargs(config).get("out_channels", 1)) if stacked else None,
    )
    pairs: list[ValidationPair] | list[StackValidationPair] = []
    if run.main and val_images:
        pairs = (prepare_stack_validation if stacked else prepare_validation)(
            val_images,
            scales=config.validation.scales or config.scales,
            config=d,
            degradation=degradation,
            seed=config.validation.seed,
            ssim=config.validation.ssim,
        )
    units = sorted({im.unit for im in train_images})
    about = {
        # the unit of the training images, which enhance checks its input against (one unit, or a list if mixed)
        "unit": units[0] if len(units) == 1 else units,
        "degradation": degradation.to_dict(),
        "train_images": [im.name for im in train_images],
        "validation_images": [im.name for im in val_images],
    }
    if stacked:  # each stacked channel's units (a guide may be in V from one instrument, in m from another)
        about["units"] = [sorted({im.units[k] for im in train_images}) for k in range(len(d.channels))]

    # ---- networks, resumed state
    nets = _Networks(config, run)
    start, elapsed_before = 0, 0.0
    best_psnr: float | None = None
    best_step: int | None = None
    last_val: dict[str, Any] | None = None
    resumed = resume and ckpt_path.exists()
    if resumed:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT or state.get("version", 0) > _CHECKPOINT_VERSION:
            raise ValueError(f"{ckpt_path}: not a scansr training checkpoint of a supported version")
        diffs = _config_differences(state["config"], config.to_dict())
        if diffs:
            raise ValueError(
                f"{folder}: the configuration differs from the run's in settings that change the training: "
                + "; ".join(diffs)
            )
        nets.load_state_dict(state)
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        start, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        best_psnr, best_step, last_val = state["best_psnr"], state["best_step"], state["last_validation"]
        logger.info("resuming %s at step %d", folder, start)
    elif resume:
        logger.info("%s has no checkpoint: starting at step 0", folder)

    # ---- loss weights: as configured, or balanced by shares on the first batches (kept in the checkpoint)
    per_rank = config.data.batch_size // run.world
    shard = range(run.rank * per_rank, (run.rank + 1) * per_rank)
    calibration: dict[str, Any] | None = None
    if config.loss.balance == "fixed":
        loss_weights = losses.fixed_weights(config.loss)
    elif resumed:
        if not isinstance(state.get("loss_weights"), Mapping):
            raise ValueError(
                f"{ckpt_path}: the checkpoint has no loss weights, which loss.balance 'shares' needs"
            )
        loss_weights = {str(k): float(v) for k, v in state["loss_weights"].items()}
        calibration = state.get("loss_calibration")
    else:
        calibration = _calibrate(nets, sampler, shard, config=config, run=run, device=device)
        loss_weights = losses.share_weights(calibration["magnitudes"], config.loss.terms)
        logger.info(
            "loss weights for the shares %s: %s (term magnitudes %s on %d batches)",
            calibration["shares"],
            loss_weights,
            calibration["magnitudes"],
            calibration["batches"],
        )
    about["loss_weights"] = loss_weights
    if calibration is not None:
        about["loss_calibration"] = calibration

    # ---- run folder
    log = _Log(folder / LOG_FILE, run.main)
    if run.main:
        atomic_write_text(folder / CONFIG_FILE, config.to_json())
        files = {
            "train": [im.describe() for im in train_images],
            "validation": [im.describe() for im in val_images],
        }
        atomic_write_text(folder / FILES_FILE, json.dumps(files, indent=1) + "\n")
        kept = _read_log(folder / LOG_FILE, up_to_step=start) if resumed else []
        atomic_write_text(folder / LOG_FILE, "".join(line + "\n" for line in kept))
        log.write(
            {
                "event": "start",
                "step": start,
                "resumed": resumed,
                "world_size": run.world,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "train_images": len(train_images),
                "validation_pairs": len(pairs),
                "parameters": sum(p.numel() for p in nets.params),
                "loss_weights": loss_weights,
            }
        )
        if calibration is not None and not resumed:
            log.write({"event": "calibration", "step": 0, **calibration, "weights": loss_weights})
        if pairs and not resumed:
            log.write({"event": "baseline", "step": 0, **validate_baseline(pairs)})

    session_start = time.perf_counter()

    def save_checkpoint(at: int) -> None:
        state = {
            "format": _CHECKPOINT_FORMAT,
            "version": _CHECKPOINT_VERSION,
            "step": at,
            "config": config.to_dict(),
            **nets.state_dict(),
            "loss_weights": loss_weights,
            "loss_calibration": calibration,
            "rng": {
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            },
            "elapsed_s": elapsed_before + time.perf_counter() - session_start,
            "best_psnr": best_psnr,
            "best_step": best_step,
            "last_validation": last_val,
            "world_size": run.world,
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
        model_config = _model_config(nets.model, config, {**about, "step": at})
        save_model(nets.model, folder / LAST_DIR, config=model_config, overwrite=True)

    # ---- loop
    from tqdm.auto import tqdm

    bar = tqdm(
        total=config.steps,
        initial=start,
        disable=not (progress and run.main),
        unit="step",
        dynamic_ncols=True,
        desc=f"{config.arch} ×{','.join(map(str, config.scales))}",
    )
    postfix: dict[str, str] = _val_postfix(last_val)
    window = _Window()
    step, stopped = start, False
    try:
        while step < config.steps and not stopped:
            lr = learning_rate(step, config.optim, config.steps)
            t0 = time.perf_counter()
            groups = sampler.batch(step, shard)
            window.data_s += time.perf_counter() - t0
            loss, terms, d_loss = nets.step(
                groups, step=step, lr=lr, config=config, loss_weights=loss_weights, device=device
            )
            step += 1
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"step {step}: the training loss is {loss}; the run diverged. Resume from the last checkpoint "
                    "with a lower learning rate (optim.lr) or gradient clipping (optim.clip)"
                )
            window.add(loss, terms, d_loss)
            bar.update(1)

            if step % config.log_every == 0 or step == config.steps:
                record = window.record(run, device)
                log.write(
                    {
                        "event": "train",
                        "step": step,
                        **record,
                        "lr": lr,
                        "elapsed_s": elapsed_before + time.perf_counter() - session_start,
                    }
                )
                postfix["loss"] = f"{record['loss']:.4g}"
                bar.set_postfix(postfix)
                window = _Window()

            # Only process 0 validates; the others wait for it in their next gradient all-reduce.
            if pairs and (step % config.validation.every == 0 or step == config.steps):
                v = config.validation
                last_val = validate(
                    nets.model, pairs, tile=v.tile, overlap=v.overlap, ssim=v.ssim, device=device
                )
                improved = last_val["psnr"] is not None and (
                    best_psnr is None or last_val["psnr"] > best_psnr
                )
                if improved:
                    best_psnr, best_step = last_val["psnr"], step
                    extra = {**about, "step": step, "validation": _brief(last_val)}
                    save_model(
                        nets.model,
                        folder / BEST_DIR,
                        config=_model_config(nets.model, config, extra),
                        overwrite=True,
                    )
                log.write({"event": "val", "step": step, "best": improved, **last_val})
                postfix.update(_val_postfix(last_val))
                bar.set_postfix(postfix)

            if config.max_time_s is not None:
                over = elapsed_before + time.perf_counter() - session_start >= config.max_time_s
                if run.active:  # process 0's clock decides for all
                    flag = torch.tensor([1.0 if over else 0.0], device=device)
                    dist.broadcast(flag, 0)
                    over = bool(flag.item())
                stopped = over and step < config.steps

            if run.main and (step % config.checkpoint_every == 0 or step == config.steps or stopped):
                save_checkpoint(step)
    finally:
        bar.close()

    elapsed = elapsed_before + time.perf_counter() - session_start
    speed = (step - start) / max(time.perf_counter() - session_start, 1e-9)
    finished = step >= config.steps
    if run.main:
        if not (folder / LAST_DIR).exists():
            save_checkpoint(step)
        log.write(
            {
                "event": "end",
                "step": step,
                "finished": finished,
                "elapsed_s": elapsed,
                "steps_per_s": speed,
                "best_step": best_step,
                "best_psnr": best_psnr,
            }
        )
    run.barrier()
    return TrainResult(
        run=folder,
        model=folder / LAST_DIR,
        best=folder / BEST_DIR if best_step is not None else None,
        step=step,
        finished=finished,
        best_step=best_step,
        best_psnr=best_psnr,
        validation=last_val,
        elapsed_s=elapsed,
        steps_per_s=speed,
        network=nets.model.eval(),
    )


def _calibrate(
    nets: _Networks,
    sampler: PairSampler,
    shard: range,
    *,
    config: TrainConfig,
    run: _Dist,
    device: torch.device,
) -> dict[str, Any]:
    """Mean unweighted generator loss terms of the untrained networks on the first training batches.

    The batches are those of steps ``0 … calibration_batches − 1`` (pure functions of the seed), each process
    measuring its share; no random state is used or changed. Returns ``{"batches", "magnitudes", "shares"}``
    (shares normalised to sum to 1), the ``calibration`` log record.
    """
    n = config.loss.calibration_batches
    names = list(config.loss.terms)
    sums = torch.zeros(len(names), dtype=torch.float64)
    for k in range(n):
        measured = nets.measure_terms(sampler.batch(k, shard), config=config, device=device)
        sums += torch.tensor([measured[name] for name in names], dtype=torch.float64)
    if run.active:
        sums = sums.to(device)
        dist.all_reduce(sums)
        sums /= run.world
    means = (sums.cpu() / n).tolist()
    total = sum(config.loss.terms.values())
    return {
        "batches": n,
        "magnitudes": dict(zip(names, means, strict=True)),
        "shares": {name: value / total for name, value in config.loss.terms.items()},
    }


def validate_baseline(pairs: list[ValidationPair]) -> dict[str, Any]:
    """Mean bicubic PSNR/SSIM of validation pairs, overall and per scale (the ``baseline`` log record)."""

    def mean(values: list[float]) -> float | None:
        return _finite_or_none(float(np.mean(values))) if values else None

    out: dict[str, Any] = {
        "psnr_bicubic": mean([p.bicubic_psnr for p in pairs]),
        "ssim_bicubic": mean([p.bicubic_ssim for p in pairs]),
    }
    out["by_scale"] = {
        str(s): {
            "psnr_bicubic": mean([p.bicubic_psnr for p in pairs if p.scale == s]),
            "ssim_bicubic": mean([p.bicubic_ssim for p in pairs if p.scale == s]),
            "n": sum(p.scale == s for p in pairs),
        }
        for s in sorted({p.scale for p in pairs})
    }
    return out


def _brief(validation: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in validation.items() if k != "images"}


def _val_postfix(validation: Mapping[str, Any] | None) -> dict[str, str]:
    if not validation or validation.get("psnr") is None:
        return {}
    gain = ""
    if validation.get("psnr_bicubic") is not None:
        gain = f" ({validation['psnr'] - validation['psnr_bicubic']:+.2f})"
    return {"val": f"{validation['psnr']:.2f} dB{gain}"}
