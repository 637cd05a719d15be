"""The training loop: `train(config)` → a run folder with logs, checkpoints and saved models.

Run folder (`TrainConfig.out`)
    ``config.json`` (the effective `TrainConfig`), ``files.json`` (every image used, with its split and data hash),
    ``log.jsonl`` (one JSON record per line: ``start``, ``baseline`` (bicubic on the validation set), ``train``
    every `log_every` steps, ``val`` after each validation, ``end``), ``checkpoint.pt`` (everything needed to
    continue), ``model/`` (the latest weights) and ``best/`` (best mean validation PSNR), both written with
    `scansr.models.save_model` (safetensors + ``config.json``).

Exact resumption
    A batch is a pure function of the seed, the step and the sample indices (`scansr.train.data`), the learning rate
    a pure function of the step, and the checkpoint holds the weights, the optimiser state (momentum, Adam moments),
    the discriminator and its optimiser, the gradient scaler, and torch's and Python's global RNG states.
    ``train(config, resume=True)`` therefore continues exactly where the checkpoint was written: on the CPU,
    10 steps + resume + 10 steps give bit-identical weights to 20 steps. The checkpoint is written to a temporary
    file and renamed over the old one (`scansr._atomic`), so a run killed at any moment (SIGKILL included) resumes
    from the last complete checkpoint; log records written after it are dropped on resume.

Distributed data parallel
    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), or when the caller has initialised
    ``torch.distributed``, each of the W processes computes the samples ``[r·B/W, (r+1)·B/W)`` of the global batch B
    and `DistributedDataParallel` averages the gradients: the union of the shards is the single-process batch, and
    every loss is a mean of per-sample means, so the averaged gradient equals the single-process gradient up to the
    order of floating-point additions. Backend gloo on CPU, nccl on GPU. Process 0 validates and writes the files.
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
from scansr.models import Discriminator, ModelConfig, SRModel, build_model, save_model
from scansr.scan import OutputExistsError
from scansr.train import losses
from scansr.train.config import OptimConfig, TrainConfig
from scansr.train.data import (
    PairSampler,
    ValidationPair,
    load_images,
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
    "steps", "out", "max_time_s", "checkpoint_every", "log_every", "threads", "device", "validation.every",
}  # fmt: skip


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


# --------------------------------------------------------------------------------------------------- helpers
def learning_rate(step: int, optim: OptimConfig, total_steps: int) -> float:
    """The learning rate of step `step` (0-based) of a `total_steps` run: a pure function of the step.

    ``constant``; ``step``: ``lr · gamma^(step // step_every)`` (``step_every`` None: a quarter of the run);
    ``cosine``: from ``lr`` to ``lr · min_lr_factor``; times a linear warm-up over ``warmup_steps``.
    """
    if optim.schedule == "constant":
        factor = 1.0
    elif optim.schedule == "step":
        every = optim.step_every or max(1, total_steps // 4)
        factor = optim.gamma ** (step // every)
    else:
        t = min(step / max(1, total_steps - 1), 1.0)
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
    """All scale groups of a batch in one forward call (DistributedDataParallel allows one forward per backward)."""

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
    # Every parameter always has a gradient (zeros where unused, e.g. the tail of a scale absent from a batch), so
    # that weight decay and momentum treat it the same in one process and under DistributedDataParallel.
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def _clip(params: list[nn.Parameter], optim: OptimConfig, lr: float) -> float | None:
    if optim.clip == "none":
        return None
    bound = optim.clip_value / lr if optim.clip_by_lr else optim.clip_value
    if optim.clip == "norm":
        return float(torch.nn.utils.clip_grad_norm_(params, bound))
    torch.nn.utils.clip_grad_value_(params, bound)
    return None


@contextlib.contextmanager
def _torch_settings(config: TrainConfig, run: _Dist) -> Iterator[None]:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
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
    pairs: list[ValidationPair],
    *,
    tile: int = 128,
    overlap: int = 16,
    ssim: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """PSNR and SSIM of `model` and of bicubic upscaling on validation pairs, in physical units.

    Each LR scan is normalised as in training, super-resolved whole (tiled), the output mapped back to physical
    units (metres for heights) and compared with the HR reference over ``data_range = HR max − min``.

    Parameters
    ----------
    model : SRModel
        The network (its mode is restored afterwards).
    pairs : list of ValidationPair
        From `scansr.train.data.prepare_validation`.
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
        finite), ``by_scale`` (the same per scale, with ``n``) and ``images`` (one record per image and scale).
    """
    was_training = model.training
    model.eval()
    records = []
    try:
        for p in pairs:
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
                {"image": p.name, "scale": p.scale, "psnr": psnr, "ssim": score,
                 "psnr_bicubic": p.bicubic_psnr, "ssim_bicubic": p.bicubic_ssim}
            )  # fmt: skip
    finally:
        model.train(was_training)

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"):
            values = np.array([r[key] for r in rows], dtype=float)
            out[key] = _finite_or_none(float(values.mean())) if values.size else None
        return out

    result = summary(records)
    result["by_scale"] = {
        str(s): {
            **summary([r for r in records if r["scale"] == s]),
            "n": sum(r["scale"] == s for r in records),
        }
        for s in sorted({r["scale"] for r in records})
    }
    result["images"] = [
        {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()} for r in records
    ]
    return result


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


def _config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key not in ("model_kwargs", "degradation"):
            out += _config_differences(a, b, f"{prefix}{key}.")
        elif a != b and f"{prefix}{key}" not in _RESUMABLE_CHANGES:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _model_config(model: SRModel, config: TrainConfig, extra: Mapping[str, Any]) -> ModelConfig:
    """The ``config.json`` of a saved model: how to prepare its input, and how it was trained."""
    d = config.data
    return ModelConfig.for_model(
        model,
        normalisation={
            "kind": d.normalisation,
            "fit_on": d.normalise_from,
            "clip": list(d.clip) if d.clip else None,
            "level_plane": d.level_plane,
            "align_rows": d.align_rows,
        },
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
        checkpoint there the run starts from step 0. The configuration must equal the run's, except for `steps`,
        `max_time_s`, `checkpoint_every`, `log_every`, `threads`, `device` and `out`.
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
        If the data give no usable image, the resumed run's configuration differs in a setting that changes the
        computation (the message lists them), or the batch does not divide among the processes.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    run = _Dist(config)
    try:
        with _torch_settings(config, run):
            return _train(config, run, resume=resume, progress=progress)
    finally:
        run.close()


def _train(config: TrainConfig, run: _Dist, *, resume: bool, progress: bool) -> TrainResult:
    folder = Path(config.out)
    ckpt_path = folder / CHECKPOINT_FILE
    if run.main:
        if not resume and ((folder / CONFIG_FILE).exists() or ckpt_path.exists()):
            raise OutputExistsError(
                folder, "holds a training run; pass resume=True (--resume) to continue it"
            )
        folder.mkdir(parents=True, exist_ok=True)
    run.barrier()
    if config.data.batch_size % run.world:
        raise ValueError(
            f"data.batch_size {config.data.batch_size} must be a multiple of the number of processes {run.world}"
        )
    device = run.device

    # ---- data
    d = config.data
    degradation = resolve_degradation(d.degradation)
    train_images = load_images(d.train, d, what="training")
    val_images = load_images(d.validation, d, what="validation") if d.validation else []
    leaked = {im.digest for im in train_images} & {im.digest for im in val_images}
    if leaked:
        names = [im.name for im in val_images if im.digest in leaked]
        raise ValueError(f"validation images {names} are also in the training set; split by file")
    sampler = PairSampler(
        train_images, scales=config.scales, config=d, degradation=degradation, seed=config.seed
    )
    val_scales = config.validation.scales or config.scales
    pairs = (
        prepare_validation(
            val_images, scales=val_scales, config=d, degradation=degradation, seed=config.validation.seed,
            ssim=config.validation.ssim,
        )
        if run.main else []
    )  # fmt: skip

    about = {
        "degradation": degradation.to_dict(),
        "train_images": [im.name for im in train_images],
        "validation_images": [im.name for im in val_images],
    }

    # ---- networks and optimisers
    model = build_model(
        config.arch,
        scales=config.scales,
        generator=torch.Generator().manual_seed(config.seed),
        **config.model_kwargs,
    ).to(device)
    model.train()
    params = list(model.parameters())
    optimizer = _make_optimizer(params, config.optim)
    adversarial = config.loss.adversarial > 0
    disc = d_optimizer = None
    d_params: list[nn.Parameter] = []
    if adversarial:
        disc = Discriminator(
            model.out_channels, generator=torch.Generator().manual_seed(config.seed + 1),
            **config.loss.discriminator_kwargs,
        ).to(device)  # fmt: skip
        d_params = list(disc.parameters())
        d_optimizer = torch.optim.Adam(
            d_params, lr=config.loss.discriminator_lr or config.optim.lr, betas=config.optim.betas
        )
    scaler = torch.amp.GradScaler(
        device.type, enabled=config.precision == "float16" and device.type == "cuda"
    )

    # ---- resume
    start = 0
    elapsed_before = 0.0
    best_psnr: float | None = None
    best_step: int | None = None
    last_val: dict[str, Any] | None = None
    resumed = False
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT or state.get("version", 0) > _CHECKPOINT_VERSION:
            raise ValueError(f"{ckpt_path}: not a scansr training checkpoint of a supported version")
        diffs = _config_differences(state["config"], config.to_dict())
        if diffs:
            raise ValueError(
                f"{folder}: the configuration differs from the run's in settings that change the training: "
                + "; ".join(diffs)
            )
        model.load_state_dict(state["model"])
        _zero_fill_grads(params)
        optimizer.load_state_dict(state["optimizer"])
        if disc is not None and d_optimizer is not None:
            disc.load_state_dict(state["discriminator"])
            _zero_fill_grads(d_params)
            d_optimizer.load_state_dict(state["d_optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        start = int(state["step"])
        elapsed_before = float(state["elapsed_s"])
        best_psnr, best_step, last_val = state["best_psnr"], state["best_step"], state["last_validation"]
        resumed = True
        logger.info("resuming %s at step %d", folder, start)
    elif resume:
        logger.info("%s has no checkpoint: starting at step 0", folder)
    _zero_fill_grads(params + d_params)

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
            {"event": "start", "step": start, "resumed": resumed, "world_size": run.world, "device": str(device),
             "threads": torch.get_num_threads(), "train_images": len(train_images), "validation_pairs": len(pairs),
             "parameters": sum(p.numel() for p in params)}
        )  # fmt: skip
        if pairs and not resumed:
            base = validate_baseline(pairs)
            log.write({"event": "baseline", "step": 0, **base})

    # ---- DDP wrappers
    g_step: nn.Module = _GeneratorStep(model)
    d_step: nn.Module | None = _DiscriminatorStep(disc) if disc is not None else None
    if run.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        per_scale = len(config.scales) > 1 and any(isinstance(m, nn.ModuleDict) for m in model.modules())
        g_step = DDP(g_step, device_ids=ids, find_unused_parameters=per_scale)
        if d_step is not None:
            d_step = DDP(d_step, device_ids=ids)

    per_rank = config.data.batch_size // run.world
    shard = range(run.rank * per_rank, (run.rank + 1) * per_rank)

    # ---- loop
    from tqdm.auto import tqdm

    bar = tqdm(
        total=config.steps, initial=start, disable=not (progress and run.main), unit="step", dynamic_ncols=True,
        desc=f"{config.arch} ×{','.join(map(str, config.scales))}",
    )  # fmt: skip
    session_start = time.perf_counter()
    window_start, window_steps = session_start, 0
    loss_sum, terms_sum, d_loss_sum, d_count = 0.0, {}, 0.0, 0
    postfix: dict[str, str] = _val_postfix(last_val)
    step = start
    finished = start >= config.steps
    stopped = False

    def save_checkpoint(at: int) -> None:
        state = {
            "format": _CHECKPOINT_FORMAT,
            "version": _CHECKPOINT_VERSION,
            "step": at,
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "discriminator": disc.state_dict() if disc is not None else None,
            "d_optimizer": d_optimizer.state_dict() if d_optimizer is not None else None,
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
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
        save_model(
            model,
            folder / LAST_DIR,
            config=_model_config(model, config, {**about, "step": at}),
            overwrite=True,
        )

    try:
        while step < config.steps and not stopped:
            lr = learning_rate(step, config.optim, config.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            groups = sampler.batch(step, shard)
            lrs = [torch.from_numpy(g.lr).to(device) for g in groups]
            hrs = [torch.from_numpy(g.hr).to(device) for g in groups]
            weights = [len(g.samples) / per_rank for g in groups]

            # generator
            optimizer.zero_grad(set_to_none=False)
            if disc is not None:
                disc.requires_grad_(False)
            with _autocast(config, device):
                outs = g_step(lrs, [g.scale for g in groups])
                terms: dict[str, Tensor] = {}
                for w, sr, hr in zip(weights, outs, hrs, strict=True):
                    sr = sr.float()
                    group_terms = losses.pixel_losses(sr, hr, config.loss)
                    if disc is not None:
                        group_terms["adversarial"] = (
                            config.loss.adversarial
                            * losses.generator_adversarial_loss(disc(sr), kind=config.loss.adversarial_kind)
                        )
                    for k, v in group_terms.items():
                        terms[k] = terms.get(k, 0.0) + w * v
                loss = sum(terms.values())
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            _clip(params, config.optim, lr)
            scaler.step(optimizer)

            # discriminator
            if disc is not None and d_step is not None and d_optimizer is not None:
                disc.requires_grad_(True)
                if (step + 1) % config.loss.discriminator_every == 0:
                    d_optimizer.zero_grad(set_to_none=False)
                    with _autocast(config, device):
                        logits = d_step([*hrs, *(o.detach().float() for o in outs)])
                        n = len(hrs)
                        d_loss = sum(
                            w * losses.discriminator_loss(real, fake, kind=config.loss.adversarial_kind)
                            for w, real, fake in zip(weights, logits[:n], logits[n:], strict=True)
                        )
                    scaler.scale(d_loss).backward()
                    scaler.step(d_optimizer)
                    d_loss_sum += float(d_loss)
                    d_count += 1
            scaler.update()

            step += 1
            window_steps += 1
            loss_sum += float(loss)
            for k, v in terms.items():
                terms_sum[k] = terms_sum.get(k, 0.0) + float(v)
            bar.update(1)

            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                record = {
                    "event": "train", "step": step, "loss": loss_sum / window_steps,
                    "terms": {k: v / window_steps for k, v in terms_sum.items()}, "lr": lr,
                    "steps_per_s": window_steps / max(now - window_start, 1e-9),
                    "elapsed_s": elapsed_before + now - session_start,
                }  # fmt: skip
                if d_count:
                    record["d_loss"] = d_loss_sum / d_count
                if not math.isfinite(record["loss"]):
                    logger.warning("step %d: the training loss is not finite (%s)", step, record["loss"])
                    record["loss"] = None
                log.write(record)
                postfix["loss"] = f"{loss_sum / window_steps:.4g}"
                bar.set_postfix(postfix)
                window_start, window_steps, loss_sum, terms_sum, d_loss_sum, d_count = now, 0, 0.0, {}, 0.0, 0

            if pairs and (step % config.validation.every == 0 or step == config.steps):
                last_val = validate(
                    model, pairs, tile=config.validation.tile, overlap=config.validation.overlap,
                    ssim=config.validation.ssim, device=device,
                )  # fmt: skip
                psnr = last_val["psnr"]
                improved = psnr is not None and (best_psnr is None or psnr > best_psnr)
                if improved:
                    best_psnr, best_step = psnr, step
                    save_model(
                        model, folder / BEST_DIR, overwrite=True,
                        config=_model_config(model, config, {**about, "step": step, "validation": _brief(last_val)}),
                    )  # fmt: skip
                log.write({"event": "val", "step": step, "best": improved, **last_val})
                postfix.update(_val_postfix(last_val))
                bar.set_postfix(postfix)
            # The other processes need no barrier here: their next gradient all-reduce waits for process 0.

            if config.max_time_s is not None:
                over = elapsed_before + time.perf_counter() - session_start >= config.max_time_s
                if run.active:
                    flag = torch.tensor([1.0 if over else 0.0], device=device)
                    dist.broadcast(flag, 0)
                    over = bool(flag.item())
                stopped = over and step < config.steps

            if run.main and (step % config.checkpoint_every == 0 or step == config.steps or stopped):
                save_checkpoint(step)
        finished = step >= config.steps
    finally:
        bar.close()

    elapsed = elapsed_before + time.perf_counter() - session_start
    session_steps = step - start
    speed = session_steps / max(time.perf_counter() - session_start, 1e-9)
    if run.main:
        if not (folder / LAST_DIR).exists():
            save_checkpoint(step)
        log.write({"event": "end", "step": step, "finished": finished, "elapsed_s": elapsed, "steps_per_s": speed,
                   "best_step": best_step, "best_psnr": best_psnr})  # fmt: skip
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
    )


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
