"""Measure every number of docs/model-card.md: the default AFM model vs bicubic and Lanczos on its validation scans.

Writes ``docs/model-card/results-<section>.md`` (tables) and ``docs/model-card/*.png`` (failure-mode pictures); the
model card quotes them. Every table comes from `scansr.evaluate.benchmark` on the validation files of the committed
split, so the numbers can be reproduced with:

    python scripts/model_card.py protocols --model src/scansr/data/models/afm-default \
        --extra "no global skip (step 5000)=/work/runs/default-multi/best" \
                "trained on bicubic decimation=/work/runs/paper-bicubic/model" \
                "multimodal baseline (FusionSR, topography only, harsh degradation)=/work/runs/mm-single/model"
    python scripts/model_card.py mono-multi --mono /work/runs/skip-mono/model --multi /work/runs/skip-multi/model
    python scripts/model_card.py arch --runs /work/runs/arch-vdsr /work/runs/arch-ninasr-b1 /work/runs/arch-ninasr-b0
    python scripts/model_card.py data --runs /work/runs/skip-multi

(the run folders are where `scansr train` wrote the experiments of training/afm-default/README.md). The sections
are independent and can run at the same time.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

import scansr
from scansr.enhance import enhance
from scansr.evaluate import benchmark
from scansr.report import figures
from scansr.train import load_split

REPO = Path(__file__).resolve().parents[1]

# What each validation scan shows (from ../shared/data/README.md); the key is the end of the file's path.
MATERIALS = {
    "AFMReader/sample_0.spm": ("DNA minicircles on mica", "Bruker PeakForce"),
    "AFMReader/sample_0.ibw": ("DNA minicircles on mica", "Asylum MFP-3D"),
    "save-2023.02.16-12.08.46.436.jpk": ("streptavidin 2-D crystal", "JPK"),
    "nanoAFMr/Park_20210916_034.tiff": ("unknown sample", "Park Systems"),
    "nanoscopeAFM/Veeco_20160622.003": ("CuPc film on glass", "NanoScope III"),
    "NSFopen/image.nid": ("polymer blend", "Nanosurf"),
    "DTMicroscope/PZT_final0002.h5": ("PZT ferroelectric film (PFM)", "Asylum Cypher"),
    "pySPM/test.sxm": ("Au(111), STM", "Nanonis"),
    "PiFM/MAPIold_0012TopographyFwd.int": ("MAPbI3 perovskite film", "Molecular Vista PiFM"),
    "nanoAFMr/AR_20211011.ibw": ("FePc film", "Asylum Cypher"),
    "pNanolocz-FileReaders/tops70s14_190g0000.ibw": ("unknown sample (AC + Nap)", "Asylum MFP-3D"),
    "nanoAFMr/NanoSurf_20160301.nid": ("data storage medium", "Nanosurf"),
}


def material(path: str) -> tuple[str, str]:
    for key, value in MATERIALS.items():
        if str(path).replace("\\", "/").endswith(key):
            return value
    return ("?", "?")


def model_method(folder: str | Path, **options):
    """A benchmark method running the network in `folder` through `scansr.enhance`."""

    def upscale(scan, scale):
        return enhance(scan, scale=scale, model=folder, uncertainty=False, consistency=False, **options).scan

    return upscale


def table1(result, methods, scales) -> list[str]:
    """The AFM paper's Table 1 layout: PSNR and SSIM mean ± std per method and scale."""
    head = (
        "| method | "
        + " | ".join(f"PSNR ×{s}" for s in scales)
        + " | "
        + " | ".join(f"SSIM ×{s}" for s in scales)
    )
    lines = [head + " |", "|---" * (1 + 2 * len(scales)) + "|"]
    for m in methods:
        cells = []
        for metric in ("psnr", "ssim"):
            for s in scales:
                v = result.values(m, s, metric)
                fmt = ".2f" if metric == "psnr" else ".3f"
                cells.append(f"{np.mean(v):{fmt}} ± {np.std(v, ddof=1):{fmt}}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def gain_table(result, methods, scale, reference="bicubic") -> list[str]:
    """Per validation file: material, instrument, PSNR of bicubic and the gain of each method over it."""
    lines = [
        f"| file | material | instrument | {reference} PSNR ×{scale} | "
        + " | ".join(f"{m} − {reference} (dB)" for m in methods)
        + " |",
        "|---" * (4 + len(methods)) + "|",
    ]
    rows = [r for r in result.per_image if r["scale"] == scale]
    for file in result.files:
        by = {r["method"]: r["psnr"] for r in rows if r["file"] == file}
        mat, inst = material(file)
        gains = " | ".join(f"{by[m] - by[reference]:+.2f}" for m in methods)
        lines.append(f"| {Path(file).name} | {mat} | {inst} | {by[reference]:.2f} | {gains} |")
    return lines


def run_info(run: Path) -> dict:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    end = [r for r in log if r["event"] == "end"]
    config = json.loads((run / "config.json").read_text())
    return {
        "run": run.name,
        "arch": config["arch"],
        "steps": end[-1]["step"] if end else None,
        "elapsed_min": end[-1]["elapsed_s"] / 60 if end else None,
        "batch": config["data"]["batch_size"],
        "patch": config["data"]["patch_size"],
        "threads": config.get("threads"),
    }


def failure_pictures(
    files, model, out_dir: Path, worst: list[tuple[str, int]], degradation: str
) -> list[str]:
    lines = []
    for file, scale in worst:
        res = benchmark(
            [file],
            scales=(scale,),
            methods={"bicubic": "bicubic", "model": model_method(model)},
            degradation=degradation,
            progress=False,
        )
        ex = res.examples[0]
        images = {"LR (simulated)": ex.lr, "HR": ex.hr, **ex.outputs}
        fig = figures.comparison_figure(images, zoom=figures.detail_region(ex.hr), reference="HR")
        name = f"failure-{Path(file).stem}-x{scale}.png"
        (out_dir / name).write_bytes(figures.to_png(fig, dpi=110))
        lines.append(f"![{Path(file).name} ×{scale}]({out_dir.name}/{name})")
    return lines


def header(files, split: Path) -> list[str]:
    return [
        "# Model-card measurements",
        "",
        f"Measured {date.today().isoformat()} by `python scripts/model_card.py` (scansr {scansr.__version__}, "
        f"torch CPU, Python {platform.python_version()}, {platform.machine()}, 2 cores) on the "
        f"{len(files)} validation scans of `{split.relative_to(REPO)}` (never trained on). Protocol: "
        "`scansr.evaluate.benchmark` — HR topography plane-levelled and clipped (AFM paper eq. 1), low "
        "resolution simulated, upscaled, PSNR/SSIM with the HR's standard deviation as data range "
        "(z-scored heights, the AFM paper's convention), a border of `scale` pixels left out.",
        "",
    ]


MILD = str(REPO / "training/afm-default/degradation-mild.json")


def section_protocols(args, files, scales, out: Path) -> list[str]:
    """The shipped model under three low-resolution models; TTA and back-projection under its own."""
    md = []
    model = model_method(args.model)
    extra = {}
    for item in args.extra:
        name, _, path = item.partition("=")
        extra[name] = model_method(Path(path))
    for degradation, title in (
        ("bicubic", "Bicubic decimation (the AFM paper's protocol)"),
        (
            MILD,
            "The shipped model's low-resolution model (`training/afm-default/degradation-mild.json`: point / "
            "fast-axis / area / bicubic sampling, light scan-line noise)",
        ),
        (
            "afm",
            "Harsh AFM degradation (`scansr.degrade.AFM_DEFAULT`: extra tip broadening, drift, scars, "
            "scan-line and 1/f noise) — a stress test",
        ),
    ):
        methods = {"bicubic": "bicubic", "lanczos": "lanczos", "model": model}
        if degradation == MILD:
            methods |= {
                "model --tta": model_method(args.model, tta=True),
                "model --back-projection 3": model_method(args.model, back_projection=3),
            }
        methods |= extra
        result = benchmark(files, scales=scales, methods=methods, degradation=degradation, progress=True)
        label = "mild" if degradation == MILD else degradation
        md += [f"## {title}", "", *table1(result, list(methods), scales), ""]
        md += [
            f"Per validation scan at ×4 ({label}):",
            "",
            *gain_table(result, [m for m in methods if m != "bicubic"], 4),
            "",
        ]
        if degradation == MILD:
            rows = [r for r in result.per_image if r["scale"] == 4]
            gains = {}
            for file in result.files:
                by = {r["method"]: r["psnr"] for r in rows if r["file"] == file}
                gains[file] = by["model"] - by["bicubic"]
            worst = sorted(gains, key=gains.get)[:2]
            md += [
                "## Failure modes (×4, the shipped model's degradation, the two scans where it gains least)",
                "",
                *failure_pictures(files, args.model, out, [(f, 4) for f in worst], MILD),
                "",
            ]
    return md


def section_mono_multi(args, files, scales, out: Path) -> list[str]:
    if not (args.mono and args.multi):
        raise SystemExit("mono-multi needs --mono and --multi")
    methods = {
        "bicubic": "bicubic",
        "mono-material": model_method(args.mono),
        "multi-material": model_method(args.multi),
    }
    result = benchmark(files, scales=scales, methods=methods, degradation=MILD, progress=True)
    return [
        "## Mono- vs multi-material (same architecture, recipe, steps and batch; the shipped model's "
        "degradation)",
        "",
        *table1(result, list(methods), scales),
        "",
        "Per validation scan at ×4:",
        "",
        *gain_table(result, ["mono-material", "multi-material"], 4),
        "",
    ]


def section_arch(args, files, scales, out: Path) -> list[str]:
    if not args.runs:
        raise SystemExit("arch needs --runs")
    methods = {"bicubic": "bicubic"} | {run.name: model_method(run / "best") for run in args.runs}
    result = benchmark(files, scales=scales, methods=methods, degradation="afm", progress=True)
    md = [
        "## Architectures at equal CPU wall time (trained and scored with the harsh `afm` degradation)",
        "",
        "| run | arch | steps | training time (min) | batch | HR patch | threads |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in args.runs:
        i = run_info(run)
        md.append(
            f"| {i['run']} | {i['arch']} | {i['steps']} | {i['elapsed_min']:.0f} | {i['batch']} | "
            f"{i['patch']} | {i['threads']} |"
        )
    return [*md, "", *table1(result, list(methods), scales), ""]


# Licence of each corpus folder (../shared/data/README.md, "Sources and licences").
LICENCES = {
    "AFMReader": "GPL-3.0",
    "DTMicroscope": "MIT",
    "NSFopen": "MIT",
    "SciFiDatasets": "MIT",
    "PiFM": "MIT",
    "afm-cbir-examples": "MIT",
    "nanoscope": "MIT",
    "nanoscopeAFM": "GPL-3.0",
    "nanoAFMr": "AGPL-3.0",
    "pNanolocz-FileReaders": "GPL-3.0",
    "pySPM": "Apache-2.0",
    "pycroscopy": "MIT",
}


def licence(source: str) -> str:
    parts = Path(source).parts
    for folder in reversed(parts[:-1]):
        if folder in LICENCES:
            return LICENCES[folder]
    return "?"


def section_data(args, files, scales, out: Path) -> list[str]:
    """The files a run trained and validated on (its files.json): channel, size, pixel size, licence."""
    if not args.runs:
        raise SystemExit("data needs --runs RUN (a run folder with files.json)")
    record = json.loads((args.runs[0] / "files.json").read_text(encoding="utf-8"))
    md = [f"## Data of `{args.runs[0].name}` (from its `files.json`)", ""]
    for kind in ("train", "validation"):
        md += [
            f"### {kind} ({len(record[kind])} images)",
            "",
            "| file | channel | pixels | pixel size (nm) | licence |",
            "|---|---|---|---|---|",
        ]
        for item in record[kind]:
            src = Path(item["source"])
            shape = "×".join(str(n) for n in item["shape"])
            dy, dx = item["pixel_size"]
            size = f"{dx * 1e9:.3g}" if abs(dx - dy) <= 1e-3 * dx else f"{dx * 1e9:.3g} × {dy * 1e9:.3g}"
            md.append(
                f"| {src.parent.name}/{src.name} | {item['channel']} | {shape} | {size} | {licence(item['source'])} |"
            )
        md.append("")
    return md


SECTIONS = {
    "data": section_data,
    "protocols": section_protocols,
    "mono-multi": section_mono_multi,
    "arch": section_arch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=sorted(SECTIONS))
    parser.add_argument("--model", type=Path, default=REPO / "src/scansr/data/models/afm-default")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        metavar="NAME=FOLDER",
        help="further models scored next to the shipped one under every protocol (protocols section)",
    )
    parser.add_argument("--split", type=Path, default=REPO / "training/afm-default/split-multi.json")
    parser.add_argument("--mono", type=Path, help="model of the mono-material run")
    parser.add_argument("--multi", type=Path, help="model of the multi-material run at the same budget")
    parser.add_argument(
        "--runs", nargs="*", type=Path, default=[], help="architecture-comparison run folders"
    )
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--out", type=Path, default=REPO / "docs/model-card")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = [str(p) for p in load_split(args.split).validation]
    started = time.perf_counter()
    md = header(files, args.split) + SECTIONS[args.section](args, files, tuple(args.scales), args.out)
    md.append(f"(This section took {(time.perf_counter() - started) / 60:.0f} min.)")
    target = args.out / f"results-{args.section}.md"
    target.write_text("\n".join(md) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
