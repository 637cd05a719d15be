"""The multimodal experiment: does guidance by property channels improve topography super-resolution?

Two subcommands (see training/multimodal/README.md for the whole experiment):

``split``
    Write ``training/multimodal/split.json``: the files of the default model's file-level split
    (``training/afm-default/split-multi.json``) that hold every channel of the stack (resolved by kind with
    `scansr.channels.resolve_channels`, as training does), training files among its training files and
    validation files among its validation files::

        python scripts/eval_multimodal.py split --channels height,amplitude,phase

``eval``
    Score two finished runs, a guided one (``data.channels = [height, guides...]``) and its single-channel
    baseline, on the topography of their validation files, at every scale, against bicubic and Lanczos
    upscaling of the same fixed-seed degraded scans (`scansr.train.data.prepare_stack_validation`: the
    training's own validation protocol, in metres over each HR scan's range). The script checks that both runs
    saw the same budget (steps, batch, patch, scales, seed, degradation, validation files) and that both
    networks receive bit-identical LR topographies; it prints Markdown tables (mean ± std over the validation
    scans, per scan, paired differences with Wilcoxon's signed-rank test) and writes them with ``--out``::

        python scripts/eval_multimodal.py eval /work/runs/mm-fusion /work/runs/mm-single \
            --out training/multimodal/results.md

The last weights (``RUN/model``) are scored by default: the validation set also picked ``RUN/best``, so its
score would be optimistic.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from scansr import interpolate, io, metrics
from scansr._atomic import atomic_write_text
from scansr.channels import UnresolvedChannelError, resolve_channels
from scansr.scan import ScanReadError
from scansr.train import TrainConfig, load_split, load_stacks, prepare_stack_validation, validate
from scansr.train.data import resolve_degradation

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPLIT = REPO / "training" / "afm-default" / "split-multi.json"
OUT_SPLIT = REPO / "training" / "multimodal" / "split.json"
# Settings that must agree for an equal-budget comparison (data.channels and data.require may differ).
SAME = ("arch", "scales", "steps", "seed", "optim", "loss")
SAME_DATA = (
    "patch_size", "batch_size", "scale_sampling", "scan_weighting", "augment", "degradation", "degrade_every",
    "level_plane", "align_rows", "clip", "normalisation", "normalise_from", "frames", "validation", "train",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------- split
def make_split(channels: list[str], source: Path, out: Path, *, force: bool) -> dict[str, Any]:
    """Keep the files of `source` that hold every channel of `channels`; write them as a split file."""
    split = load_split(source)
    kept: dict[str, list[str]] = {"train": [], "validation": []}
    found: dict[str, list[list[str]]] = {"train": [], "validation": []}
    for key, files in (("train", split.train), ("validation", split.validation)):
        for f in files:
            path = Path(f)
            try:
                scan = io.read(path)
                names = resolve_channels(scan, channels)
            except (UnresolvedChannelError, ScanReadError, ValueError) as exc:
                print(
                    f"  {key:<10} leave out {path.name}: {str(exc).split('. By meaning')[0]}", file=sys.stderr
                )
                continue
            kept[key].append(Path(_relative(path.resolve(), out.parent.resolve())).as_posix())
            found[key].append(list(names))
            print(f"  {key:<10} keep {path.name}: {', '.join(names)}", file=sys.stderr)
    document = {
        "comment": (
            f"Multimodal experiment (training/multimodal/README.md): the files of {_relative(source, REPO)} that "
            f"hold all of {channels} (resolved by kind, one scan direction), made by `python "
            f"scripts/eval_multimodal.py split --channels {','.join(channels)}`. Training files are the default "
            "model's training files (permissive licences only: MIT/BSD/Apache); validation files are the default "
            "model's validation files (some GPL/AGPL, never trained on). Channels per file: "
            + "; ".join(
                f"{Path(f).name}: {'+'.join(n)}"
                for key in ("train", "validation")
                for f, n in zip(kept[key], found[key], strict=True)
            )
        ),
        "train": kept["train"],
        "validation": kept["validation"],
    }
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    atomic_write_text(out, json.dumps(document, indent=1) + "\n")
    return document


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start)


# ---------------------------------------------------------------------------------------------------- eval
def _run(folder: Path, weights: str) -> tuple[TrainConfig, Any, dict[str, Any]]:
    from scansr.models import load_model

    config = TrainConfig.from_json(folder / "config.json")
    if config.data.channel_mode != "stack":
        raise ValueError(
            f"{folder}: not a stacked-channel run (data.channel_mode is {config.data.channel_mode!r})"
        )
    loaded = load_model(folder / weights)
    end: dict[str, Any] = {}
    log = folder / "log.jsonl"
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") in ("end", "start"):
                end[record["event"]] = record
            elif record.get("event") == "train" and record.get("step") == loaded.config.training.get("step"):
                end["weights"] = record  # the training time up to the weights' step
    return config, loaded, end


def _budget(a: TrainConfig, b: TrainConfig) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    problems = [f"{k}: {da[k]!r} vs {db[k]!r}" for k in SAME if da[k] != db[k]]
    problems += [
        f"data.{k}: {da['data'][k]!r} vs {db['data'][k]!r}"
        for k in SAME_DATA
        if da["data"][k] != db["data"][k]
    ]
    if da["data"]["channels"][0] != db["data"]["channels"][0]:
        problems.append(f"topography channel: {da['data']['channels'][0]!r} vs {db['data']['channels'][0]!r}")
    return problems


def _mean_std(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.isfinite(v).all():
        return "–"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def _mean_std4(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.isfinite(v).all():
        return "–"
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if v.size > 1 else f"{v.mean():.4f}"


def _wilcoxon(diffs: list[float]) -> str:
    d = np.asarray(diffs, dtype=float)
    if d.size < 2 or np.all(d == 0):
        return "–"
    return f"{sps.wilcoxon(d).pvalue:.3g}"


def evaluate_runs(
    guided_run: Path, single_run: Path, *, weights: str, scales: list[int] | None, seed: int
) -> tuple[str, dict[str, Any]]:
    """Score both runs on the topography of their validation files; return (Markdown, JSON document)."""
    g_config, g_loaded, g_log = _run(guided_run, weights)
    s_config, s_loaded, s_log = _run(single_run, weights)
    problems = _budget(g_config, s_config)
    steps = [loaded.config.training.get("step") for loaded in (g_loaded, s_loaded)]
    if steps[0] != steps[1]:
        problems.append(f"the weights are of different steps: {steps[0]} vs {steps[1]}")
    if problems:
        raise ValueError(
            "the runs differ in settings an equal-budget comparison must share: " + "; ".join(problems)
        )
    scales = scales or list(g_config.scales)
    degradation = resolve_degradation(g_config.data.degradation)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    pairs_by_run = {}
    for label, config, loaded in (("guided", g_config, g_loaded), ("single", s_config, s_loaded)):
        stacks = load_stacks(config.data.validation, config.data, what="validation")
        pairs = prepare_stack_validation(
            stacks, scales=scales, config=config.data, degradation=degradation, seed=seed, ssim=True
        )
        pairs_by_run[label] = pairs
        radius = getattr(loaded.model, "receptive_radius", 32)
        result = validate(
            loaded.model, pairs, tile=4096, overlap=radius + 1, ssim=True
        )  # whole-image inference
        for r in result["images"]:
            if r.get("output", 0) != 0:
                continue
            row = rows.setdefault((r["image"], r["scale"]), {"image": r["image"], "scale": r["scale"]})
            row[f"psnr_{label}"], row[f"ssim_{label}"] = r["psnr"], r["ssim"]
            row["psnr_bicubic"], row["ssim_bicubic"] = r["psnr_bicubic"], r["ssim_bicubic"]
    g_pairs = {(p.name, p.scale): p for p in pairs_by_run["guided"]}
    s_pairs = {(p.name, p.scale): p for p in pairs_by_run["single"]}
    if set(g_pairs) != set(s_pairs):
        raise ValueError(f"the runs validate on different images: {sorted(set(g_pairs) ^ set(s_pairs))}")
    for key, p in g_pairs.items():
        if not np.array_equal(p.lr[0], s_pairs[key].lr[0]):
            raise ValueError(
                f"{key}: the two runs' LR topographies differ; the comparison would not be paired"
            )
        lanczos = interpolate.upscale(p.lr[0], p.scale, method="lanczos")
        rows[key]["psnr_lanczos"] = metrics.psnr(p.hr[0], lanczos, data_range=float(p.data_range[0]))
        rows[key]["ssim_lanczos"] = metrics.ssim(p.hr[0], lanczos, data_range=float(p.data_range[0]))
    ordered = sorted(rows.values(), key=lambda r: (r["scale"], r["image"]))

    guides = [c for c in g_config.data.channels[1:]]
    lines = [
        f"Topography of {len({r['image'] for r in ordered})} validation scans, PSNR (dB) and SSIM in metres over each "
        f"HR scan's range, mean ± std over scans; guided = `{g_config.arch}` with {', '.join(guides)} as guides, "
        f"single = the same architecture on the topography alone; weights `{weights}/`; fixed-seed degradation "
        f"`{g_config.data.degradation}` (seed {seed}); weights of step {steps[0]} of a {g_config.steps}-step schedule "
        f"× batch {g_config.data.batch_size} × {g_config.data.patch_size}-px patches each.",
        "",
        "| scale | n | bicubic PSNR | Lanczos PSNR | single PSNR | guided PSNR | guided − single (dB) | wins | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    for s in scales:
        at = [r for r in ordered if r["scale"] == s]
        diff = [r["psnr_guided"] - r["psnr_single"] for r in at]
        wins = sum(d > 0 for d in diff)
        lines.append(
            f"| ×{s} | {len(at)} | {_mean_std([r['psnr_bicubic'] for r in at])} | "
            f"{_mean_std([r['psnr_lanczos'] for r in at])} | {_mean_std([r['psnr_single'] for r in at])} | "
            f"{_mean_std([r['psnr_guided'] for r in at])} | {_mean_std(diff)} | {wins}/{len(at)} | {_wilcoxon(diff)} |"
        )
        summary[str(s)] = {
            key: float(np.mean([r[key] for r in at])) if at else None
            for key in (
                "psnr_bicubic", "psnr_lanczos", "psnr_single", "psnr_guided",
                "ssim_bicubic", "ssim_lanczos", "ssim_single", "ssim_guided",
            )
        }  # fmt: skip
        summary[str(s)]["n"] = len(at)
    lines += [
        "",
        "| scale | bicubic SSIM | Lanczos SSIM | single SSIM | guided SSIM | guided − single | wins | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scales:
        at = [r for r in ordered if r["scale"] == s]
        diff = [r["ssim_guided"] - r["ssim_single"] for r in at]
        lines.append(
            f"| ×{s} | {_mean_std4([r['ssim_bicubic'] for r in at])} | {_mean_std4([r['ssim_lanczos'] for r in at])} | "
            f"{_mean_std4([r['ssim_single'] for r in at])} | {_mean_std4([r['ssim_guided'] for r in at])} | "
            f"{_mean_std4(diff)} | {sum(d > 0 for d in diff)}/{len(at)} | {_wilcoxon(diff)} |"
        )
    all_diff = [r["psnr_guided"] - r["psnr_single"] for r in ordered]
    lines += [
        "",
        f"All scales: guided − single = {_mean_std(all_diff)} dB, guided better in {sum(d > 0 for d in all_diff)} "
        f"of {len(all_diff)} (scan, scale) pairs (Wilcoxon p = {_wilcoxon(all_diff)}; the pairs of one scan at "
        "several scales are not independent, and with n scans per scale the smallest possible two-sided p is "
        f"2/2^n = {2 / 2 ** max(1, len(ordered) // max(1, len(scales))):.3g}).",
        "",
        "| scan | scale | bicubic | Lanczos | single | guided | guided − single |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ordered:
        lines.append(
            f"| {r['image']} | ×{r['scale']} | {r['psnr_bicubic']:.2f} | {r['psnr_lanczos']:.2f} | "
            f"{r['psnr_single']:.2f} | {r['psnr_guided']:.2f} | {r['psnr_guided'] - r['psnr_single']:+.2f} |"
        )
    timing = []
    for label, config, loaded, log in (
        ("guided", g_config, g_loaded, g_log),
        ("single", s_config, s_loaded, s_log),
    ):
        params = sum(p.numel() for p in loaded.model.parameters())
        end = log.get("weights", log.get("end", {}))
        minutes = end.get("elapsed_s", math.nan) / 60
        timing.append(
            f"| {label} | {list(config.data.channels)} | {params:,} | {end.get('step', '–')} | {minutes:.1f} | "
            f"{config.threads or 'default'} |"
        )
    lines += [
        "",
        "| run | channels | parameters | steps (of the weights) | training time to them (min) | threads |",
        "|---|---|---|---|---|---|",
        *timing,
    ]
    document = {
        "guided_run": str(guided_run),
        "single_run": str(single_run),
        "weights": weights,
        "seed": seed,
        "scales": scales,
        "summary": summary,
        "images": ordered,
    }
    return "\n".join(lines) + "\n", document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split", help="write the multimodal file split from the default model's split")
    p.add_argument("--channels", default="height,amplitude,phase", help="the stack, topography first")
    p.add_argument("--source", type=Path, default=DEFAULT_SPLIT, help="the default model's split file")
    p.add_argument("--out", type=Path, default=OUT_SPLIT, help="split file to write")
    p.add_argument("--force", action="store_true", help="replace --out")
    p = sub.add_parser("eval", help="score a guided run against its single-channel baseline")
    p.add_argument("guided", type=Path, help="run folder of the guided network")
    p.add_argument("single", type=Path, help="run folder of the single-channel baseline")
    p.add_argument(
        "--weights", choices=["model", "best"], default="model", help="last (default) or best weights"
    )
    p.add_argument("--scales", type=int, nargs="+", help="scales (default: the runs')")
    p.add_argument("--seed", type=int, default=0, help="validation degradation seed (default 0, the runs')")
    p.add_argument("--out", type=Path, help="write the Markdown tables here")
    p.add_argument("--json", type=Path, help="write every number as JSON here")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "split":
        document = make_split(
            [c.strip() for c in args.channels.split(",")], args.source, args.out, force=args.force
        )
        print(
            f"wrote {args.out}: {len(document['train'])} training and {len(document['validation'])} validation files"
        )
        return 0
    markdown, document = evaluate_runs(
        args.guided, args.single, weights=args.weights, scales=args.scales, seed=args.seed
    )
    print(markdown)
    for path, text in (
        (args.out, markdown),
        (args.json, json.dumps(document, indent=1, allow_nan=True) + "\n"),
    ):
        if path is None:
            continue
        if path.exists() and not args.force:
            raise FileExistsError(f"{path} exists; pass --force to replace it")
        atomic_write_text(path, text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
