"""Commands on networks: ``models``, ``train``, ``enhance`` (files, folders, resumable batches) and ``export``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from scansr.cli._common import add_force, add_read_options, comma_list, print_json, read_scan
from scansr.enhance import DOWNSAMPLE_METHODS

# Recipe names that are not architectures (scansr.train.config.RECIPE_ALIASES; a test checks they agree).
RECIPE_ALIASES = ("unet-gan",)

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
    "fusion",
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
    from scansr.train.config import RECIPE_ALIASES as aliases

    if args.arch and aliases.get(args.arch, args.arch) != cfg.arch:
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


def _enhance_options(args: argparse.Namespace) -> dict:
    if args.channel and args.channels:
        raise ValueError("give --channel NAME (repeatable) or --channels A,B,..., not both")
    return {
        "channels": args.channels or args.channel or None,
        "tta": args.tta,
        "back_projection": args.back_projection,
        "downsample": args.downsample,
        "uncertainty": not args.no_uncertainty,
        "other_channels": args.other_channels,
    }


def _read_options(args: argparse.Namespace) -> dict:
    options = {"frame": args.frame, "scan_size": args.scan_size, "value_unit": args.value_unit}
    return {k: v for k, v in options.items() if v is not None}


def _enhance(args: argparse.Namespace) -> int:
    import sys

    if args.output:
        if len(args.inputs) > 1 or Path(args.inputs[0]).is_dir():
            raise ValueError(
                "-o names one output file for one input scan: use --out-dir DIR for several or a folder"
            )
        return _enhance_one(args)
    if not args.out_dir:
        raise ValueError("give -o OUT (one input) or --out-dir DIR")
    from scansr.batch import BatchSettings, run_batch, summarise

    settings = BatchSettings(
        scale=args.scale,
        model=args.model,
        suffix=args.format,
        enhance=_enhance_options(args),
        read=_read_options(args),
        force=args.force,
        device=args.device,
        threads=args.threads,
    )
    try:
        result = run_batch(
            args.inputs,
            args.out_dir,
            settings,
            recursive=args.recursive,
            include=args.include or (),
            workers=args.workers,
            dask=args.dask or args.scheduler is not None,
            scheduler=args.scheduler,
            retries=args.retries,
            progress=not args.quiet,
        )
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    for line in summarise(result):
        print(line, file=sys.stderr if line.startswith("  failed") else sys.stdout)
    return 0 if result.ok else 1


def _enhance_one(args: argparse.Namespace) -> int:
    from scansr.enhance import enhance, write_enhanced

    scan = read_scan(args.inputs[0], args)
    result = enhance(scan, scale=args.scale, model=args.model, device=args.device, **_enhance_options(args))
    for written in write_enhanced(result, args.output, force=args.force):
        print(f"wrote {written}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from scansr.enhance import resolve_model
    from scansr.export import export_onnx

    model, out = args.onnx
    loaded = resolve_model(model, device="cpu")
    scale = args.scale
    if scale is None:
        if len(loaded.config.scales) != 1:
            raise ValueError(f"give --scale: the model has scales {loaded.config.scales}")
        scale = loaded.config.scales[0]
    size = tuple(args.static) if args.static else (64, 64)
    try:
        path = export_onnx(
            loaded,
            out,
            scale=scale,
            opset=args.opset,
            dynamic=not args.static,
            input_size=size,
            exporter=args.exporter,
            force=args.force,
        )
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    print(f"wrote {path} ({loaded.config.arch} x{scale})")
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
    p.add_argument(
        "--arch",
        choices=ARCH_NAMES + RECIPE_ALIASES,
        help="architecture, with its recipe (optimiser, patches, losses); unet-gan: the SEM paper's GAN (= unet)",
    )
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
        "enhance",
        help="super-resolve scans with a trained network (heights in metres, pixel size / scale); folders, "
        "resumable batches, local workers or a Dask cluster",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="scan files and folders")
    p.add_argument("--scale", type=int, required=True, choices=[2, 3, 4, 8], help="upscaling factor")
    p.add_argument("--model", default="default", help="'default' (shipped AFM model) or a model folder")
    p.add_argument(
        "--channel", action="append", help="channel to enhance (repeatable; default: the topography)"
    )
    p.add_argument(
        "--channels",
        type=comma_list,
        metavar="A,B,...",
        help="a multichannel model's inputs in its order, topography first, e.g. Height,Adhesion,DMTModulus "
        "(names or kinds; default: the inputs the model names, found by kind); a single-channel model "
        "enhances each on its own",
    )
    p.add_argument("--tta", action="store_true", help="average the 8 flip/rotation self-ensemble members")
    p.add_argument(
        "--back-projection",
        type=int,
        default=0,
        metavar="K",
        help="K back-projection steps enforcing consistency",
    )
    p.add_argument(
        "--downsample",
        choices=list(DOWNSAMPLE_METHODS),
        default="area",
        help="the instrument's low-resolution model, for the consistency map and back-projection: a pixel "
        "averages its area (default), MATLAB bicubic decimation, or point sampling",
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
    out.add_argument(
        "--out-dir",
        help="output folder: mirrors the input folders, names INPUT.xSCALE.FORMAT, writes a manifest beside "
        "each output and skips complete outputs on a rerun",
    )
    p.add_argument("--format", default=".gwy", help="output format with --out-dir (default .gwy)")
    p.add_argument("-r", "--recursive", action="store_true", help="search the sub-folders of input folders")
    p.add_argument(
        "--include", action="append", metavar="PATTERN", help="only files matching, e.g. '*.spm' (repeatable)"
    )
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per worker (default cores / N)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument(
        "--dask", action="store_true", help="run one task per file on Dask (a local cluster of N workers)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler to run on, e.g. tcp://head:8786 (implies --dask; paths must be shared)",
    )
    p.add_argument(
        "--retries", type=int, default=2, help="rerun a file this often after its worker died (default 2)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--force", action="store_true", help="replace existing outputs (with --out-dir: redo every file)"
    )
    add_read_options(p, channel=False)
    p.set_defaults(func=_enhance)

    p = sub.add_parser("export", help="export a network at one scale to ONNX (for ONNX Runtime)")
    p.add_argument(
        "--onnx",
        nargs=2,
        required=True,
        metavar=("MODEL", "OUT"),
        help="model ('default' or folder), .onnx file",
    )
    p.add_argument("--scale", type=int, choices=[2, 3, 4, 8], help="scale baked into the graph")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--static",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="fix the input size (default: any size, dynamic axes)",
    )
    p.add_argument(
        "--exporter",
        choices=["torchscript", "dynamo"],
        default="torchscript",
        help="torch's exporter (default torchscript; dynamo needs onnxscript)",
    )
    add_force(p)
    p.set_defaults(func=_export)
