"""Measure training throughput (HR pixels per second) of every architecture and write docs/benchmarks-train.md.

Each architecture trains with its published recipe (`scansr.train.recipe`: batch, patch size, scales, loss,
optimiser; the GAN with its discriminator) through the real engine (`scansr.train.train`: data sampling, whole-scan
degradation, forward, backward, optimiser step) on the small real scans in tests/data, without validation. The
first steps (warm-up, first degradations) are not timed; the speed is that of the fastest timed step (the least
disturbed by other jobs), with the median beside it.

Networks of more than 5 M parameters (EDSR, RCAN, RDN, NinaSR-B2, the U-Net) train with a smaller batch
(``--big-batch``, default 4): the recipes' batch of 16 needs more than 10 GB of memory for RCAN and RDN. Pixels per
second hardly depend on the batch once it holds a few patches.

Usage: python scripts/bench_train.py [--archs vdsr edsr-baseline ...] [--steps 5] [--warmup 2]
                                     [--big-batch 4] [--threads N] [--out docs/benchmarks-train.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from scansr.models import MODELS
from scansr.train import recipe, train

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
TRAIN_FILES = [
    DATA / "DTMicroscope" / "PTO_Funakubo0005.h5",
    DATA / "NSFopen" / "circles.nid",
    DATA / "SciFiDatasets" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw",
    DATA / "afm-cbir-examples" / "CL 0deg xcal.0_00000.spm",
    DATA / "pySPM" / "test.sxm",
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hr_pixels_per_sample(config) -> float:
    """Mean HR patch area over the trained scales (each scale equally likely)."""
    p = config.data.patch_size
    return sum((s * math.ceil(p / s)) ** 2 for s in config.scales) / len(config.scales)


BIG = 5_000_000


def bench(arch: str, *, steps: int, warmup: int, threads: int | None, big_batch: int) -> dict:
    base = recipe(arch)
    params = sum(p.numel() for p in MODELS[arch](scales=base.scales, **base.model_kwargs).parameters())
    batch = min(base.data.batch_size, big_batch) if params > BIG else base.data.batch_size
    config = dataclasses.replace(
        base,
        data=dataclasses.replace(
            base.data, train=tuple(map(str, TRAIN_FILES)), validation=(), batch_size=batch
        ),
        steps=warmup + steps,
        log_every=1,
        checkpoint_every=10**9,
        threads=threads,
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = dataclasses.replace(config, out=str(Path(tmp) / "run"))
        start = time.perf_counter()
        train(config, progress=False)
        wall = time.perf_counter() - start
        log = [json.loads(line) for line in (Path(tmp) / "run" / "log.jsonl").read_text().splitlines()]
    times = [1 / r["steps_per_s"] for r in log if r["event"] == "train" and r["step"] > warmup]
    step_s = min(times)  # the least disturbed by other jobs on a shared machine
    median_s = statistics.median(times)
    px = hr_pixels_per_sample(config) * config.data.batch_size
    return {
        "arch": arch,
        "params": params,
        "scales": config.scales,
        "batch": config.data.batch_size,
        "patch": config.data.patch_size,
        "gan": config.loss.adversarial > 0,
        "step_s": step_s,
        "median_s": median_s,
        "steps_per_s": 1 / step_s,
        "hr_px_per_s": px / step_s,
        "wall_s": wall,
    }


def write(rows: list[dict], out: Path, *, command: str, threads: int) -> None:
    lines = [
        "# Training throughput on this machine",
        "",
        f"Measured {date.today().isoformat()} with `{command}`.",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch threads: {threads}",
        f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.system()} {platform.machine()}",
        f"- CUDA: {'yes, ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no (CPU only)'}",
        "",
        "Each architecture trains with its recipe (`scansr.train.recipe`) through `scansr.train.train` on the small",
        "real scans of `tests/data` (whole-scan AFM degradation, patch sampling, forward, backward, optimiser step;",
        "the U-Net GAN with its discriminator updated every 4th step), without validation. One step = one",
        "optimiser step on the global batch; HR pixels/s = batch × mean HR patch area over the scales ÷ step time;",
        "steps/s and HR pixels/s use the fastest timed step (the least disturbed by other jobs); the median",
        "step time is given beside it.",
        f"Networks of more than {BIG // 1_000_000} M parameters ran with a smaller batch than their recipe (the",
        "recipe's 16 needs > 10 GB for RCAN and RDN); pixels/s hardly depend on the batch.",
        "The machine was shared with other jobs while measuring: treat differences below ~30 % as noise.",
        "",
        "| arch | parameters | scales | batch | HR patch¹ | step (s), fastest | median | steps/s | HR Mpx/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = r["arch"] + (" (GAN)" if r["gan"] else "")
        lines.append(
            f"| {name} | {r['params'] / 1e6:.2f} M | {','.join(map(str, r['scales']))} | {r['batch']} | "
            f"{r['patch']} | {r['step_s']:.2f} | {r['median_s']:.2f} | {r['steps_per_s']:.3f} | "
            f"{r['hr_px_per_s'] / 1e6:.3f} |"
        )
    lines += [
        "",
        "¹ `data.patch_size`: each scale's HR patch is rounded up to a multiple of the scale (VDSR's 41 gives",
        "42, 42 and 44 pixels at ×2, ×3 and ×4).",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per architecture")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--big-batch", type=int, default=4, help=f"batch of nets over {BIG // 10**6} M parameters"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-train.md")
    args = parser.parse_args()
    rows = []
    for arch in args.archs:
        row = bench(
            arch, steps=args.steps, warmup=args.warmup, threads=args.threads, big_batch=args.big_batch
        )
        print(
            f"{arch:14s} {row['steps_per_s']:8.3f} steps/s {row['hr_px_per_s'] / 1e6:8.3f} HR Mpx/s",
            flush=True,
        )
        rows.append(row)
    command = "python scripts/bench_train.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    write(rows, args.out, command=command.strip(), threads=args.threads or torch.get_num_threads())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
