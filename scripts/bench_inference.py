"""Measure ×4 enhancement speed and memory (default model, every architecture, bicubic, ONNX Runtime); write the doc.

What is measured, each case in a fresh Python process (so that its peak resident memory is its own):

- the machine: a 3×3 convolution of 64 → 64 channels on a 256² image (4.83 GFLOP), 1 thread and all cores,
  NCHW and channels-last: the best GFLOP/s, the yardstick for the networks;
- `scansr.enhance.enhance(scan, scale=4, uncertainty=False)` on a real scan (the shipped NSFopen ``circles.nid``
  topography, mirrored to the size) of 512² and 2048² pixels: wall time of the whole call (normalisation,
  tiled network under ``torch.inference_mode``, background, consistency map), best of the timed runs after
  one warm-up (median beside it); output Mpx/s; useful GFLOP/s = FLOPs per output pixel
  (`scansr.models.flops_per_pixel`) × output pixels / time, and its share of the machine's convolution rate
  (tiling overlap is extra work not counted as useful); peak resident memory (``ru_maxrss``) and its increase
  over the process after imports and model load;
- for the default model (and the architectures fast enough, ``--variant-budget``): 1 thread against all cores,
  channels-last weights, ``torch.compile`` (skipped with the reason if it fails), and the ONNX Runtime path
  (`scansr.export.export_onnx` + `scansr.export.OnnxRunner.enhance`, the same preparation as `enhance`);
  the default model with its uncertainty map (8 self-ensemble passes, `enhance`'s default); the network's
  forward pass on one 128² tile with autograd, ``no_grad`` and ``inference_mode``;
- bicubic (`scansr.interpolate.upscale`), 1 thread and all cores;
- memory: a 1024² scan to a 4096² output with the default model (tiled).

The architectures run with random weights at their default sizes (speed does not depend on the weights); a case
whose estimated time exceeds ``--budget`` seconds is not run and is listed with its estimate: the time measured
at the previous size scaled by the pixels, or before that FLOPs ÷ half the machine's convolution rate.

Usage
    python scripts/bench_inference.py --model RUN/model --write            # the full run
    python scripts/bench_inference.py --model RUN/model --quick --write    # a reduced check (minutes)
Options: --archs A B ..., --sizes 512 2048, --budget SECONDS, --repeat N, --out docs/benchmarks.md, --json FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCAN = REPO / "tests" / "data" / "NSFopen" / "circles.nid"
SCALE = 4
STANDARD = {
    "kind": "zscore",
    "fit_on": "lr",
    "clip": [2.5, 97.5],
    "level_plane": True,
    "align_rows": "median",
}
CONV = (1, 64, 256, 256)  # N, C, H, W of the yardstick convolution (64 → 64, 3×3)
CONV_FLOP = 2 * CONV[1] * 64 * 9 * CONV[2] * CONV[3]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# ------------------------------------------------------------------------------------------------ one case
def make_scan(size: int):
    import numpy as np

    from scansr import io

    scan = io.read(SCAN)
    scan = scan.select(scan.default_channel)
    z = scan.channels[0].data
    ny, nx = z.shape
    big = np.pad(z, ((0, max(0, size - ny)), (0, max(0, size - nx))), mode="symmetric")[:size, :size]
    return scan.replace(channels=(scan.channels[0].replace(data=np.ascontiguousarray(big)),))


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def case_conv(case: dict) -> dict:
    import torch

    torch.set_num_threads(case["threads"])
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(CONV)
    if case["channels_last"]:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        conv(x)
        times = timed(lambda: conv(x), case["repeat"])
    return {"times": times, "gflops": CONV_FLOP / min(times) / 1e9}


def case_bicubic(case: dict) -> dict:
    import cv2

    from scansr import interpolate

    cv2.setNumThreads(case["threads"])
    z = make_scan(case["size"]).channels[0].data
    base = rss_mb()
    interpolate.upscale(z[:64, :64], SCALE)
    times = timed(lambda: interpolate.upscale(z, SCALE, method="bicubic"), case["repeat"])
    return {"times": times, "base_rss_mb": base}


def case_enhance(case: dict) -> dict:
    import torch

    from scansr.enhance import enhance, resolve_model
    from scansr.models import LoadedModel

    torch.set_num_threads(case["threads"])
    scan = make_scan(case["size"])
    notes = []
    if case.get("backend") == "onnx":
        from scansr.export import OnnxRunner

        runner = OnnxRunner(case["onnx"], threads=case["threads"])

        def run(s=scan):
            return runner.enhance(s, uncertainty=case["uncertainty"])
    else:
        loaded = resolve_model(case["model"], device="cpu")
        net = loaded.model
        if case.get("channels_last"):
            net = net.to(memory_format=torch.channels_last)
        if case.get("compile"):
            net = torch.compile(net)
        model = LoadedModel(net, loaded.config)

        def run(s=scan):
            return enhance(s, scale=SCALE, model=model, uncertainty=case["uncertainty"])

    base = rss_mb()
    t0 = time.perf_counter()
    # Warm-up: compile needs the real window sizes; otherwise a small crop does (first-call overheads).
    run(scan if case.get("compile") else make_scan(min(case["size"], 96)))
    warm = time.perf_counter() - t0
    if case.get("compile"):
        notes.append(f"compile + first run {warm:.1f} s")
    times = timed(run, case["repeat"])
    return {"times": times, "base_rss_mb": base, "warmup_s": warm, "notes": notes}


def case_forward(case: dict) -> dict:
    import contextlib

    import torch

    from scansr.enhance import resolve_model

    torch.set_num_threads(case["threads"])
    net = resolve_model(case["model"], device="cpu").model
    x = torch.randn(1, 1, 128, 128)
    mode = {
        "autograd": contextlib.nullcontext,
        "no_grad": torch.no_grad,
        "inference_mode": torch.inference_mode,
    }[case["mode"]]
    with mode():
        net(x, SCALE)
        times = timed(lambda: net(x, SCALE), case["repeat"])
    return {"times": times}


def run_case_here(case: dict) -> dict:
    fn = {"conv": case_conv, "bicubic": case_bicubic, "enhance": case_enhance, "forward": case_forward}[
        case["kind"]
    ]
    try:
        out = fn(case)
    except Exception as exc:  # a failed variant (e.g. torch.compile without a compiler) is a result too
        return {**case, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
    out["peak_rss_mb"] = rss_mb()
    return {**case, **out}


def run_case(case: dict, *, timeout: float) -> dict:
    """Run `case` in a fresh process; return its record (with ``error`` when it failed or timed out)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", json.dumps(case)]
    env = {**os.environ, "OMP_NUM_THREADS": str(case.get("threads", cores()))}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {**case, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = " ".join(done.stderr.split())[-300:]
    return {**case, "error": f"exit code {done.returncode}: {tail}"}


# ------------------------------------------------------------------------------------------------ plan
def machine() -> dict:
    import onnxruntime
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": cores(),
        "memory_gib": round(mem, 1),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "load_start": os.getloadavg(),
    }


def prepare_models(args: argparse.Namespace, tmp: Path) -> list[dict]:
    """The models to measure: the default model (``--model``) and each architecture with random weights."""
    import torch

    from scansr.enhance import default_model_folder, resolve_model
    from scansr.models import ModelConfig, build_model, flops_per_pixel, save_model

    models = []
    folder = args.model
    if folder is None:
        try:
            folder = str(default_model_folder())
        except Exception as exc:
            print(f"no default model: {exc}", file=sys.stderr)
    if folder is not None:
        loaded = resolve_model(folder, device="cpu")
        models.append(
            {
                "name": "default"
                if args.model is None
                else f"default ({Path(folder).parent.name}/{Path(folder).name})",
                "arch": loaded.config.arch,
                "folder": str(folder),
                "params": sum(p.numel() for p in loaded.model.parameters()),
                "flops_px": flops_per_pixel(loaded.model, SCALE),
                "default": True,
            }
        )
    for arch in args.archs:
        try:
            net = build_model(arch, scales=(SCALE,), generator=torch.Generator().manual_seed(0))
        except Exception as exc:
            print(f"{arch}: cannot build at ×{SCALE}: {exc}", file=sys.stderr)
            continue
        if net.in_channels != 1:
            print(f"{arch}: {net.in_channels} input channels: left out (enhance runs single-channel nets)")
            continue
        config = ModelConfig.for_model(net, normalisation=STANDARD, training={"channels": "default"})
        path = save_model(net, tmp / arch, config=config)
        models.append(
            {
                "name": arch,
                "arch": arch,
                "folder": str(path),
                "params": sum(p.numel() for p in net.parameters()),
                "flops_px": flops_per_pixel(net, SCALE),
                "default": False,
            }
        )
        del net
    return models


def estimate_s(model: dict, size: int, gflops: float) -> float:
    return model["flops_px"] * (size * SCALE) ** 2 / (0.5 * gflops * 1e9) + 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--model", help="the default model's folder (default: the installed default model)")
    parser.add_argument("--archs", nargs="+", help="architectures (default: all single-channel ones)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 2048], help="input sides in pixels")
    parser.add_argument("--budget", type=float, default=300, help="skip cases estimated longer (s)")
    parser.add_argument(
        "--variant-budget", type=float, default=30, help="variants for nets faster than this (s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (1 for cases over 20 s)")
    parser.add_argument("--memory-size", type=int, default=1024, help="input side of the memory case")
    parser.add_argument("--quick", action="store_true", help="a reduced set: 256² scans, one light net")
    parser.add_argument(
        "--write", nargs="?", const=str(REPO / "docs" / "benchmarks.md"), help="write the doc"
    )
    parser.add_argument("--json", help="also write the raw records here")
    parser.add_argument(
        "--from-json", metavar="FILE", help="only write the doc from the records of an earlier run"
    )
    args = parser.parse_args()
    if args.case:
        print("RESULT " + json.dumps(run_case_here(json.loads(args.case))), flush=True)
        return
    if args.from_json:
        write_doc(
            json.loads(Path(args.from_json).read_text()), Path(args.write or REPO / "docs" / "benchmarks.md")
        )
        return

    from scansr.models import MODELS

    if args.archs is None:
        args.archs = ["ninasr-b0"] if args.quick else list(MODELS)
    if args.quick:
        args.sizes, args.repeat, args.memory_size, args.budget = [256], 1, 512, min(args.budget, 60)
    n = cores()
    threads = sorted({1, n})
    records: list[dict] = []
    info = machine()
    started = time.perf_counter()

    def record(case: dict, timeout: float = 1800) -> dict:
        r = run_case(case, timeout=timeout)
        records.append(r)
        if "error" in r:
            print(f"  {case['kind']:8s} {case.get('name', '')}: {r['error']}", flush=True)
        else:
            t = min(r["times"])
            print(
                f"  {case['kind']:8s} {case.get('name', ''):22s} {json.dumps(_brief(case))}: {t:.3f} s",
                flush=True,
            )
        return r

    print("machine convolution rate", flush=True)
    for t in threads:
        for cl in (False, True):
            record({"kind": "conv", "threads": t, "channels_last": cl, "repeat": 5})
    # The machine's rate: the best convolution over thread counts and layouts (estimates use all cores).
    gflops = max(r.get("gflops", 0) for r in records if r["kind"] == "conv")

    print("bicubic", flush=True)
    for size in dict.fromkeys([*args.sizes, args.memory_size]):
        for t in threads:
            record({"kind": "bicubic", "name": "bicubic", "size": size, "threads": t, "repeat": args.repeat})

    with tempfile.TemporaryDirectory() as tmp:
        models = prepare_models(args, Path(tmp))
        for m in models:
            print(f"{m['name']} ({m['params']:,} parameters, {m['flops_px']:,.0f} FLOPs/px)", flush=True)
            fast = estimate_s(m, args.sizes[0], gflops) <= args.variant_budget
            measured = None  # seconds per output pixel, once a size has run
            for size in args.sizes:
                est = estimate_s(m, size, gflops) if measured is None else measured * (size * SCALE) ** 2
                base = {
                    "kind": "enhance",
                    "name": m["name"],
                    "model": m["folder"],
                    "size": size,
                    "threads": n,
                    "uncertainty": False,
                    "estimate_s": est,
                    "repeat": args.repeat if est < 20 else 1,
                }
                if est > args.budget:
                    records.append(
                        {**base, "error": f"not run: estimated {est:.0f} s > budget {args.budget:.0f} s"}
                    )
                    print(f"  skipped {m['name']} {size}²: estimated {est:.0f} s", flush=True)
                    continue
                timeout = max(600, 10 * est * (base["repeat"] + 1))
                done = record(base, timeout)
                if "times" in done:
                    measured = min(done["times"]) / (size * SCALE) ** 2
                if not (m["default"] or fast) or (size != args.sizes[0] and not m["default"]):
                    continue
                if n > 1:
                    record({**base, "threads": 1}, timeout * n)
                record({**base, "channels_last": True}, timeout)
                if m["default"] or not args.quick:
                    record({**base, "compile": True}, timeout + 900)
                onnx = Path(tmp) / f"{m['arch']}-{len(records)}.onnx"
                try:
                    from scansr.export import export_onnx

                    export_onnx(m["folder"], onnx, scale=SCALE)
                    record({**base, "backend": "onnx", "onnx": str(onnx)}, timeout)
                    if n > 1:
                        record({**base, "backend": "onnx", "onnx": str(onnx), "threads": 1}, timeout * n)
                except Exception as exc:
                    records.append({**base, "backend": "onnx", "error": f"export failed: {exc}"})
            if m["default"]:
                size = args.sizes[0]
                est = 8 * estimate_s(m, size, gflops)
                case = {
                    "kind": "enhance",
                    "name": m["name"],
                    "model": m["folder"],
                    "size": size,
                    "threads": n,
                    "uncertainty": True,
                    "repeat": 1,
                    "estimate_s": est,
                }
                if est <= args.budget:
                    record(case, max(600, 20 * est))
                mem = {**case, "size": args.memory_size, "uncertainty": False, "memory": True}
                mem["estimate_s"] = estimate_s(m, args.memory_size, gflops)
                if mem["estimate_s"] <= 4 * args.budget:
                    record(mem, max(1200, 10 * mem["estimate_s"]))
                else:
                    records.append({**mem, "error": f"not run: estimated {mem['estimate_s']:.0f} s"})
                for mode in ("autograd", "no_grad", "inference_mode"):
                    record(
                        {
                            "kind": "forward",
                            "name": m["name"],
                            "model": m["folder"],
                            "threads": n,
                            "mode": mode,
                            "repeat": 3,
                        }
                    )
    info["load_end"] = os.getloadavg()
    info["wall_min"] = (time.perf_counter() - started) / 60
    command = "python scripts/bench_inference.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run = {
        "machine": info,
        "records": records,
        "models": models,
        "command": command.strip(),
        "quick": args.quick,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=1))
    if args.write:
        write_doc(run, Path(args.write))


def write_doc(run: dict, path: Path) -> None:
    gflops = max(r.get("gflops", 0) for r in run["records"] if r["kind"] == "conv")
    text = render(
        run["machine"],
        run["records"],
        run["models"],
        command=run["command"],
        quick=run["quick"],
        gflops=gflops,
    )
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def _brief(case: dict) -> dict:
    keys = ("size", "threads", "channels_last", "compile", "backend", "uncertainty", "mode")
    return {k: case[k] for k in keys if case.get(k) not in (None, False) or k == "threads"}


# ------------------------------------------------------------------------------------------------ the doc
def _variant(r: dict) -> str:
    parts = []
    if r.get("backend") == "onnx":
        parts.append("ONNX Runtime")
    if r.get("channels_last"):
        parts.append("channels-last")
    if r.get("compile"):
        parts.append("torch.compile")
    if r.get("uncertainty"):
        parts.append("+ uncertainty (8 passes)")
    return ", ".join(parts) or "eager"


def render(
    info: dict, records: list[dict], models: list[dict], *, command: str, quick: bool, gflops: float
) -> str:
    flops = {m["name"]: m for m in models}
    lines = ["# Inference speed and memory (×4 enhancement)", ""]
    if quick:
        lines += [
            "> **QUICK CHECK ON A BUSY MACHINE — NOT THE FINAL MEASUREMENT.** These numbers come from",
            "> `--quick` (256² scans, the default model and NinaSR-B0, one timed run) while other jobs used the",
            "> cores; they only show that the script works. Rows that use all cores suffer most (their threads",
            "> wait for cores that other jobs hold), so the thread comparison here says nothing. The full run is",
            "> pending: `python scripts/bench_inference.py --model MODEL --write` on a quiet machine.",
            "",
        ]
    load = ", ".join(f"{x:.1f}" for x in info["load_start"])
    load_end = ", ".join(f"{x:.1f}" for x in info["load_end"])
    lines += [
        f"Measured {date.today().isoformat()} with `{command}` ({info['wall_min']:.0f} min).",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores available; {info['memory_gib']} GiB memory; {info['system']}",
        f"- torch {info['torch']}, onnxruntime {info['onnxruntime']}, Python {info['python']}",
        f"- load average (1, 5, 15 min) at the start: {load}; at the end: {load_end}",
        "",
        "Every case ran in a fresh process. Time: the whole `enhance(scan, scale=4, uncertainty=False)` call",
        "(normalisation, tiled network under `torch.inference_mode`, background, consistency map), best of the",
        "timed runs after a warm-up, median in brackets. Output Mpx/s = output pixels / time. Useful GFLOP/s =",
        "FLOPs per output pixel (`scansr models`) × output pixels / time; % of machine = that / the best",
        f"convolution rate below ({gflops:.0f} GFLOP/s, any thread count or layout). Peak RSS: `ru_maxrss` of",
        "the process (its increase over the process after imports and model load in brackets). Networks other",
        "than the default have random weights; the time of a network hardly depends on its weights.",
        "",
        "## The machine's convolution rate",
        "",
        f"3×3 convolution, 64 → 64 channels, input {CONV}, {CONV_FLOP / 1e9:.2f} GFLOP, best of 5:",
        "",
        "| threads | NCHW GFLOP/s | channels-last GFLOP/s |",
        "|---:|---:|---:|",
    ]
    conv = [r for r in records if r["kind"] == "conv"]
    for t in sorted({r["threads"] for r in conv}):
        row = {r["channels_last"]: r for r in conv if r["threads"] == t}
        cells = [f"{row[c]['gflops']:.1f}" if "gflops" in row.get(c, {}) else "failed" for c in (False, True)]
        lines.append(f"| {t} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "## ×4 enhancement",
        "",
        "| model | scan | threads | variant | time (s) | output Mpx/s | useful GFLOP/s | % of machine "
        "| peak RSS (MB) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        if r["kind"] not in ("enhance", "bicubic"):
            continue
        out_px = (r["size"] * SCALE) ** 2
        name = r["name"] + (" (memory case)" if r.get("memory") else "")
        head = f"| {name} | {r['size']}² | {r['threads']} | {_variant(r) if r['kind'] == 'enhance' else 'OpenCV'} |"
        if "error" in r:
            lines.append(f"{head} {r['error']} | | | | |")
            continue
        t = min(r["times"])
        med = statistics.median(r["times"])
        fpp = flops.get(r["name"], {}).get("flops_px")
        work = fpp * out_px * (8 if r.get("uncertainty") else 1) / t / 1e9 if fpp else None
        useful = f"{work:.1f}" if work else "–"
        share = f"{100 * work / gflops:.0f} %" if work else "–"
        rss = f"{r['peak_rss_mb']:.0f} (+{r['peak_rss_mb'] - r.get('base_rss_mb', 0):.0f})"
        lines.append(f"{head} {t:.3f} ({med:.3f}) | {out_px / t / 1e6:.2f} | {useful} | {share} | {rss} |")
    fwd = [r for r in records if r["kind"] == "forward" and "times" in r]
    if fwd:
        lines += [
            "",
            "## Forward pass of the default model on one 128² tile (512² output)",
            "",
            "| mode | time (s) |",
            "|---|---:|",
        ]
        lines += [f"| {r['mode']} | {min(r['times']):.3f} |" for r in fwd]
    lines += ["", "## Targets (issue 8, on this machine)", ""]
    default = [
        r
        for r in records
        if r["kind"] == "enhance"
        and "times" in r
        and flops.get(r["name"], {}).get("default")
        and not r.get("memory")
    ]
    at512 = [r for r in default if r["size"] == 512 and not r.get("uncertainty")]
    if at512:
        best = min(at512, key=lambda r: min(r["times"]))
        t = min(best["times"])
        verdict = "reached" if t <= 2 else "NOT reached"
        lines.append(
            f"- ×4 of a 512² scan with the default model in ≤ 2 s: **{verdict}**: {t:.2f} s "
            f"({_variant(best)}, {best['threads']} threads)."
        )
    else:
        lines.append("- ×4 of a 512² scan with the default model in ≤ 2 s: not measured in this run.")
    mem = [r for r in records if r.get("memory") and "times" in r]
    if mem:
        r = mem[0]
        out = r["size"] * SCALE
        verdict = "reached" if r["peak_rss_mb"] <= 2048 else "NOT reached"
        lines.append(
            f"- Peak memory ≤ 2 GB for a {out}² output: **{verdict}**: {r['peak_rss_mb']:.0f} MB resident at peak "
            f"({r['peak_rss_mb'] - r['base_rss_mb']:.0f} MB above the loaded process)."
            + ("" if out >= 4096 else " (quick run: not the 4096² output of the target)")
        )
    else:
        lines.append("- Peak memory ≤ 2 GB for a 4096² output: not measured in this run.")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
