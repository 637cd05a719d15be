"""Commands on networks: ``models`` (list the architectures) and ``train``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from scansr.cli._common import add_force, add_read_options, print_json, read_scan

# The keys of scansr.models.MODELS, listed here so that `scansr --help` does not import torch (a test checks).
ARCH_NAMES = (
    "vdsr",
    "edsr-baseline",
    "edsr",
    "rcan",
    "rdn",
    "carn",
    "carn-m",
    "ninasr-b0",
    "ninasr-b1",
    "ninasr-b2",
    "unet",
)


def _models(args: argparse.Namespace) -> int:
    from scansr.models import describe_models

    infos = describe_models(scale=args.scale)
    if args.json:
        print_json({"scale": args.scale, "models": [info._asdict() for info in infos]})
        return 0
    print(f"{'architecture':<15} {'parameters':>12} {f'FLOPs/px x{args.scale}':>14}  scales     description")
    for info in infos:
        scales = ",".join(str(s) for s in info.default_scales)
        print(
            f"{info.name:<15} {info.parameters:>12,} {info.flops_per_pixel:>14,.0f}  {scales:<10} {info.description}"
        )
    return 0


def _train_config(args: argparse.Namespace):
    """Build the effective `TrainConfig`: a recipe or a config file, then the command-line flags on top."""
    from scansr.train import TrainConfig, load_split, recipe

    run_config = Path(args.out) / "config.json"
    if args.config:
        cfg = TrainConfig.from_json(args.config)
    elif args.resume and run_config.exists():
        cfg = TrainConfig.from_json(run_config)  # `scansr train --resume --out RUN` alone continues the run
    elif args.arch:
        cfg = recipe(args.arch)  # the architecture's own recipe (optimiser, patch size, losses)
    else:
        raise ValueError("give --arch (or --config FILE, or --resume with an existing --out RUN)")
    if args.arch and args.arch != cfg.arch:
        raise ValueError(f"--arch {args.arch} differs from the config's architecture {cfg.arch!r}")
    top, data, optim, validation = {}, {}, {}, {}
    if args.split:
        split = load_split(args.split)
        data.update(
            train=tuple(str(p) for p in split.train), validation=tuple(str(p) for p in split.validation)
        )
    if args.data:
        data["train"] = tuple(args.data)
    if args.val:
        data["validation"] = tuple(args.val)
    for flag, field, target in (
        ("channel", "channels", data),
        ("degradation", "degradation", data),
        ("batch", "batch_size", data),
        ("patch", "patch_size", data),
        ("lr", "lr", optim),
        ("val_every", "every", validation),
        ("scales", "scales", top),
        ("steps", "steps", top),
        ("seed", "seed", top),
        ("checkpoint_every", "checkpoint_every", top),
        ("threads", "threads", top),
        ("device", "device", top),
        ("max_time", "max_time_s", top),
    ):
        value = getattr(args, flag)
        if value is not None:
            target[field] = tuple(value) if isinstance(value, list) else value
    top["out"] = str(args.out)
    return dataclasses.replace(
        cfg,
        **top,
        data=dataclasses.replace(cfg.data, **data),
        optim=dataclasses.replace(cfg.optim, **optim),
        validation=dataclasses.replace(cfg.validation, **validation),
    )


def _train(args: argparse.Namespace) -> int:
    from scansr.train import train

    config = _train_config(args)
    result = train(config, resume=args.resume, progress=not args.quiet)
    state = "finished" if result.finished else f"stopped at step {result.step} (resume with --resume)"
    best = (
        f", best validation PSNR {result.best_psnr:.2f} dB at step {result.best_step}" if result.best else ""
    )
    print(f"{config.arch}: {state} in {result.elapsed_s / 60:.1f} min{best}")
    print(f"model: {result.model}" + (f"   best: {result.best}" if result.best else ""))
    return 0


def _enhance_output(path: str, args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    suffix = args.format if args.format.startswith(".") else f".{args.format}"
    return Path(args.out_dir) / f"{Path(path).stem}.x{args.scale}{suffix}"


def _enhance(args: argparse.Namespace) -> int:
    import sys

    from scansr.enhance import enhance, write_enhanced
    from scansr.scan import ScanError

    if args.output and len(args.inputs) > 1:
        raise ValueError(
            f"-o names one output file but {len(args.inputs)} inputs were given: use --out-dir DIR"
        )
    if not args.output and not args.out_dir:
        raise ValueError("give -o OUT (one input) or --out-dir DIR")
    if args.out_dir:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    failures = []
    for path in args.inputs:
        try:
            scan = read_scan(path, args)
            result = enhance(
                scan,
                scale=args.scale,
                model=args.model,
                channels=args.channel or None,
                tta=args.tta,
                back_projection=args.back_projection,
                uncertainty=not args.no_uncertainty,
                other_channels=args.other_channels,
            )
            for written in write_enhanced(result, _enhance_output(path, args), force=args.force):
                print(f"wrote {written}")
        except (ScanError, ValueError, OSError) as exc:
            if len(args.inputs) == 1:
                raise
            failures.append(path)
            print(f"scansr enhance: error: {' '.join(str(exc).split())}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(args.inputs)} files failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``scansr`` parser."""
    p = sub.add_parser(
        "models", help="list the network architectures with parameters and FLOPs per output pixel"
    )
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4, 8], help="scale for the FLOP count")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_models)

    p = sub.add_parser(
        "train", help="train a network on your scans (resumable; data-parallel under torchrun)"
    )
    p.add_argument("--arch", choices=ARCH_NAMES, help="architecture (its recipe: optimiser, patches, losses)")
    p.add_argument("--config", metavar="FILE", help="a TrainConfig JSON file (e.g. a run's config.json)")
    p.add_argument("--data", nargs="+", metavar="PATH", help="training scans or folders")
    p.add_argument("--val", nargs="+", metavar="PATH", help="validation scans or folders (never trained on)")
    p.add_argument("--split", metavar="FILE", help='JSON {"train": [...], "validation": [...]} instead')
    p.add_argument("--scales", nargs="+", type=int, help="scales trained together, e.g. 2 3 4")
    p.add_argument("--steps", type=int, help="optimiser steps in all")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder (checkpoints, log, models)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument(
        "--channel", action="append", help="channel name to train on (repeatable; default topography)"
    )
    p.add_argument("--degradation", help="low-resolution model: bicubic, area, afm, sem or a JSON file")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--patch", type=int, help="high-resolution patch size in pixels")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seed", type=int, help="seed (the same seed reproduces the run)")
    p.add_argument("--val-every", type=int, help="validate every N steps")
    p.add_argument("--checkpoint-every", type=int, help="write a checkpoint every N steps")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument("--max-time", type=float, metavar="SECONDS", help="stop cleanly after this wall time")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "enhance", help="super-resolve scans with a trained network (heights in metres, pixel size / scale)"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="scan files")
    p.add_argument("--scale", type=int, required=True, choices=[2, 3, 4, 8], help="upscaling factor")
    p.add_argument("--model", default="default", help="'default' (shipped AFM model) or a model folder")
    p.add_argument(
        "--channel", action="append", help="channel to enhance (repeatable; default: the topography)"
    )
    p.add_argument("--tta", action="store_true", help="average the 8 flip/rotation self-ensemble members")
    p.add_argument(
        "--back-projection",
        type=int,
        default=0,
        metavar="K",
        help="K back-projection steps enforcing consistency",
    )
    p.add_argument("--no-uncertainty", action="store_true", help="skip the uncertainty map (8x faster)")
    p.add_argument(
        "--other-channels",
        choices=["drop", "bicubic"],
        default="drop",
        help="channels not enhanced: leave out (default) or upscale with bicubic",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="output file (.gwy .npz .tif hold the maps as extra channels)")
    out.add_argument("--out-dir", help="folder for the outputs, named INPUT.xSCALE.FORMAT")
    p.add_argument("--format", default=".gwy", help="output format with --out-dir (default .gwy)")
    add_force(p)
    add_read_options(p, channel=False)
    p.set_defaults(func=_enhance)
