"""Evaluate an SEM super-resolution run as the SEM paper does: fidelity, gap analysis and radial spectra vs bicubic.

    python scripts/eval_sem.py RUN [--model best|last] [--conditions aliased,noisy,validation] [--out DIR]

RUN is a folder written by ``scansr train`` (e.g. with ``training/sem/unet-gan.json``). The high-resolution
(HR) target is the run's validation image (``RUN/files.json``; ``--image`` for another), prepared as the run
prepared its data (the SEM recipe leaves the grey levels as measured, in "counts"). For each low-resolution
(LR) condition the script makes a ×2 LR image with a fixed seed, super-resolves it with
`scansr.enhance.enhance` (the run's ``best`` model by default: the model's ``config.json`` records the unit
"counts", which `enhance` checks the input against), upscales it bicubically, and measures against the HR
image:

- PSNR and SSIM of the output and of bicubic, with ``data_range`` = the HR image's max − min (for 8-bit SEM
  images 254 or 255 counts, within 0.02 dB of the full 8-bit scale);
- the SEM paper's gap analysis (`scansr.gaps.compare_gaps`: pairs picked on the target, 80 % width / 60 %
  resolution rule): unresolved percentage, Gaussian fit (μ, σ) of the resolved widths and mean absolute
  gap-width error against the target, for the input (the LR image, sampled by cubic spline at the target's
  positions), bicubic, the output and the target;
- radially averaged power spectra (the paper's Fig. 4) of bicubic, output and target, summarised by the
  power ratio to the target above the LR Nyquist frequency (the band the LR grid cannot hold; 1 = the
  target's power) and the mean absolute log-spectral distance (dB) to the target over all rings.

LR conditions (``--conditions``):

``aliased``
    Point sampling of every second pixel: the SEM paper's LR, an image at half the magnification with the
    same dwell time (the same dose per pixel, so no noise is added: the HR image's own noise comes along).
``noisy``
    Beam blur (``--blur`` HR pixels) before the sampling and shot noise (``--dose`` electrons per pixel at full
    scale) after it: a faster, noisier LR scan. The defaults, 0.65 px and 100 e⁻, are the centres of the
    ranges of `scansr.degrade.SEM_DEFAULT` (blur 0.3–1.0 px, dose 10–1000 log-uniform).
``validation``
    The very LR image the run validated on (drawn from the run's degradation with its validation seed): the
    PSNR here is comparable with the ``val`` records of ``RUN/log.jsonl``.

Writes ``DIR/report.html`` (comparisons, spectra, and a gap-analysis section of input / output / target
per condition with `scansr.report.gaps.add_gaps_section`), ``DIR/results.json`` (every number) and
``DIR/model-card.md`` (the tables for the model card). DIR defaults to ``RUN/eval-sem``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from scansr import degrade, interpolate, metrics
from scansr._atomic import atomic_write_text
from scansr.gaps import GapComparison, GapOptions, compare_gaps
from scansr.metrics.spectral import RadialSpectrum, radial_power_spectrum
from scansr.scan import Channel, Scan

logger = logging.getLogger("eval_sem")

CONDITIONS = ("aliased", "noisy", "validation")
SCALE = 2
_NM = 1e-9


# ----------------------------------------------------------------------------------------------- the images
@dataclasses.dataclass(frozen=True)
class Case:
    """One LR condition: the images compared (in the HR image's unit) and how the LR was made."""

    name: str
    description: str
    lr: np.ndarray
    hr: np.ndarray
    bicubic: np.ndarray
    output: np.ndarray
    pixel_size: tuple[float, float]  # of the HR image


def _run_files(run: Path) -> tuple[Any, dict[str, Any]]:
    from scansr.train import TrainConfig

    config = TrainConfig.from_json(run / "config.json")
    files = json.loads((run / "files.json").read_text(encoding="utf-8"))
    return config, files


def _hr_image(config: Any, files: dict[str, Any], image: str | None) -> Any:
    """The HR image as the run prepared it (`scansr.train.data.PreparedImage`)."""
    from scansr.train.data import load_images

    if image is None:
        if not files.get("validation"):
            raise ValueError("the run has no validation image: give --image")
        wanted = files["validation"][0]
        images = load_images([wanted["source"]], config.data, what="validation")
        for im in images:
            if im.name == wanted["name"]:
                return im
        raise ValueError(f"validation image {wanted['name']!r} not found again in {wanted['source']}")
    return load_images([image], config.data, what="evaluation")[0]


def _lr(name: str, hr: Any, *, config: Any, seed: int, blur: float, dose: float) -> tuple[np.ndarray, str]:
    if name == "validation":
        from scansr.train.data import prepare_validation, resolve_degradation

        pair = prepare_validation(
            [hr],
            scales=(SCALE,),
            config=config.data,
            degradation=resolve_degradation(config.data.degradation),
            seed=config.validation.seed,
            ssim=False,
        )[0]
        return pair.lr, "the run's validation LR (its degradation, drawn with its validation seed)"
    if name == "aliased":
        steps: tuple[Any, ...] = (degrade.SamplingStep("point"),)
        text = "point sampling ×2 (half magnification, same dwell: the SEM paper's LR)"
    elif name == "noisy":
        steps = (degrade.GaussianBlurStep(blur), degrade.SamplingStep("point"), degrade.ShotNoiseStep(dose))
        text = f"beam blur σ = {blur:g} HR px, point sampling ×2, shot noise at {dose:g} e⁻/px full scale"
    else:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {name!r}")
    rng = np.random.default_rng([seed, CONDITIONS.index(name)])
    lr = degrade.apply_pipeline(degrade.Pipeline(steps), hr.data, SCALE, pixel_size=hr.pixel_size, rng=rng)
    return lr, text


def make_case(name: str, hr: Any, model: Any, *, config: Any, seed: int, blur: float, dose: float) -> Case:
    from scansr.enhance import enhance

    lr, text = _lr(name, hr, config=config, seed=seed, blur=blur, dose=dose)
    target = np.asarray(hr.data[: lr.shape[0] * SCALE, : lr.shape[1] * SCALE], dtype=np.float64)
    dy, dx = hr.pixel_size
    lr_scan = Scan((Channel(hr.channel, lr, unit=hr.unit),), pixel_size=(SCALE * dy, SCALE * dx))
    result = enhance(
        lr_scan, scale=SCALE, model=model, channels=hr.channel, uncertainty=False, consistency=False
    )
    output = result.scan.channel(hr.channel).data
    if output.shape != target.shape:
        raise ValueError(f"the enhanced image is {output.shape}, the target {target.shape}")
    bicubic = interpolate.upscale(lr, SCALE, method="bicubic")
    return Case(name, text, lr, target, bicubic, np.asarray(output), (dy, dx))


# ----------------------------------------------------------------------------------------------- measures
def spectral_summary(spectrum: RadialSpectrum, target: RadialSpectrum, lr_nyquist: float) -> dict[str, float]:
    """Power ratio to the target above the LR Nyquist frequency, and the mean |10 log10 P / P_target| (dB)."""
    keep = (spectrum.power > 0) & (target.power > 0)
    high = keep & (target.frequency > lr_nyquist)
    ratio = float(spectrum.power[high].sum() / target.power[high].sum()) if high.any() else math.nan
    lsd = float(np.mean(np.abs(10 * np.log10(spectrum.power[keep] / target.power[keep]))))
    return {"high_band_power_ratio": ratio, "log_spectral_distance_db": lsd}


def measure(case: Case, options: GapOptions) -> tuple[dict[str, Any], GapComparison, GapComparison]:
    hr = case.hr
    data_range = float(hr.max() - hr.min())
    dy, dx = case.pixel_size
    lr_size = (SCALE * dy, SCALE * dx)
    gaps = compare_gaps(
        case.lr,
        case.output,
        hr,
        pixel_size_input=lr_size,
        pixel_size_output=case.pixel_size,
        pixel_size_target=case.pixel_size,
        options=options,
    )
    # Bicubic in the output's place, on the same pairs (the target's particles).
    gaps_bicubic = compare_gaps(
        case.lr,
        case.bicubic,
        hr,
        pixel_size_input=lr_size,
        pixel_size_output=case.pixel_size,
        pixel_size_target=case.pixel_size,
        particles=gaps.particles,
        options=options,
    )
    spectra = {
        label: radial_power_spectrum(image, pixel_size=case.pixel_size)
        for label, image in (("bicubic", case.bicubic), ("output", case.output), ("target", hr))
    }
    lr_nyquist = 0.5 / (SCALE * max(dy, dx))
    rows: dict[str, dict[str, Any]] = {}
    for label in ("input", "bicubic", "output", "target"):
        source = gaps_bicubic if label == "bicubic" else gaps
        key = "output" if label == "bicubic" else label
        result = source.results[key]
        hist = source.histograms[key]
        row: dict[str, Any] = {
            "gaps_evaluated": int(result.n_valid),
            "gaps_unresolved": int(result.n_unresolved),
            "unresolved_percent": 100 * float(result.unresolved_fraction),
            "gap_mean_nm": float(hist.mean) / _NM if hist.n >= 2 else None,
            "gap_std_nm": float(hist.std) / _NM if hist.n >= 2 else None,
            "gap_n": int(hist.n),
        }
        if key != "target":
            row["gap_mean_abs_error_nm"] = float(source.mean_abs_error[key]) / _NM
            row["gap_n_compared"] = int(source.n_compared[key])
        if label in ("bicubic", "output"):
            image = case.bicubic if label == "bicubic" else case.output
            row["psnr_db"] = metrics.psnr(hr, image, data_range=data_range)
            row["ssim"] = metrics.ssim(hr, image, data_range=data_range)
            row.update(spectral_summary(spectra[label], spectra["target"], lr_nyquist))
        rows[label] = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
        }
    summary = {
        "description": case.description,
        "data_range_counts": data_range,
        "hr_shape": list(hr.shape),
        "lr_shape": list(case.lr.shape),
        "particles": int(gaps.particles.n),
        "pairs": int(gaps.results["target"].n),
        "lr_nyquist_per_m": lr_nyquist,
        "images": rows,
    }
    return summary, gaps, gaps_bicubic


# ----------------------------------------------------------------------------------------------- outputs
def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    about = results["about"]
    lines = [
        f"SEM ×{SCALE}: model `{about['model']}` ({about['arch']}, {about['parameters']:,} parameters), trained "
        f"{about['steps']} steps ({about['elapsed_min']:.0f} min) on {', '.join(about['train_images'])}; evaluated "
        f"on `{about['image']}` ({about['hr_shape'][0]}×{about['hr_shape'][1]} px, "
        f"{about['pixel_size_nm']:.2f} nm/px). PSNR/SSIM over data range = the target's max − min (counts). "
        f"Gaps: pairs of adjacent particles picked on the target ({about['gap_options']}); widths in nm.",
        "",
        "| LR condition | image | PSNR (dB) | SSIM | unresolved gaps | gap width μ ± σ (nm) | mean \\|gap error\\| "
        "(nm, n) | power above LR Nyquist (× target) | log-spectral distance (dB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cond in results["conditions"].items():
        for label in ("input", "bicubic", "output", "target"):
            r = cond["images"][label]
            unresolved = f"{r['unresolved_percent']:.1f} % ({r['gaps_unresolved']}/{r['gaps_evaluated']})"
            width = (
                "–"
                if r["gap_mean_nm"] is None
                else f"{r['gap_mean_nm']:.1f} ± {_fmt(r['gap_std_nm'], '.1f')} (n={r['gap_n']})"
            )
            error = (
                "–"
                if label == "target"
                else f"{_fmt(r['gap_mean_abs_error_nm'], '.2f')} ({r['gap_n_compared']})"
            )
            lines.append(
                f"| {name if label == 'input' else ''} | {label} | {_fmt(r.get('psnr_db'), '.2f')} | "
                f"{_fmt(r.get('ssim'), '.4f')} | {unresolved} | {width} | {error} | "
                f"{_fmt(r.get('high_band_power_ratio'), '.2f')} | {_fmt(r.get('log_spectral_distance_db'), '.2f')} |"
            )
    lines += ["", "Conditions:"] + [f"- {n}: {c['description']}" for n, c in results["conditions"].items()]
    return "\n".join(lines) + "\n"


def report(
    path: Path, results: dict[str, Any], cases: dict[str, Case], comparisons: dict, *, force: bool
) -> Path:
    from scansr.report import Report
    from scansr.report.figures import comparison_figure, detail_region, spectrum_figure
    from scansr.report.gaps import add_gaps_section

    about = results["about"]
    doc = Report(f"SEM super-resolution: {about['run']}", command=["python", *sys.argv])
    doc.add_text(
        f"Model {about['model']} ({about['arch']}) against bicubic upscaling on {about['image']} at ×{SCALE}. "
        "PSNR and SSIM use the target's max − min as data range. The input in the gap analysis is the LR image "
        "sampled by cubic spline at the target's positions."
    )
    doc.add_code(json.dumps({k: v for k, v in about.items() if k != "train_images"}, indent=1))
    rows = []
    for name, cond in results["conditions"].items():
        for label, r in cond["images"].items():
            rows.append(
                {
                    "condition": name,
                    "image": label,
                    "PSNR (dB)": r.get("psnr_db"),
                    "SSIM": r.get("ssim"),
                    "unresolved (%)": r["unresolved_percent"],
                    "gap μ (nm)": r["gap_mean_nm"],
                    "gap σ (nm)": r["gap_std_nm"],
                    "mean |gap error| (nm)": r.get("gap_mean_abs_error_nm"),
                    "power above LR Nyquist (× target)": r.get("high_band_power_ratio"),
                    "log-spectral distance (dB)": r.get("log_spectral_distance_db"),
                }
            )
    doc.add_table(rows, caption="Output and bicubic against the target, per LR condition", float_format=".3g")
    for name, case in cases.items():
        section = doc.add_section(f"Condition: {name}")
        section.add_text(case.description)
        unit = about["unit"]
        hr_scan = Scan((Channel("target", case.hr, unit=unit),), pixel_size=case.pixel_size)
        dy, dx = case.pixel_size
        lr_scan = Scan((Channel("target", case.lr, unit=unit),), pixel_size=(SCALE * dy, SCALE * dx))
        images = {
            "LR": lr_scan,
            "bicubic": dataclasses.replace(hr_scan, channels=(Channel("target", case.bicubic, unit=unit),)),
            "output": dataclasses.replace(hr_scan, channels=(Channel("target", case.output, unit=unit),)),
            "target": hr_scan,
        }
        section.add_figure(
            comparison_figure(images, reference="target", zoom=detail_region(hr_scan)),
            caption="LR, bicubic, network output and target; bottom row: the most detailed quarter, enlarged.",
        )
        spectra = {
            label: radial_power_spectrum(scan.channels[0].data, pixel_size=scan.pixel_size)
            for label, scan in images.items()
        }
        lr_nyquist = results["conditions"][name]["lr_nyquist_per_m"]
        section.add_figure(
            spectrum_figure(
                spectra, power_unit="counts² m²", reference="target", markers={"LR Nyquist": lr_nyquist}
            ),
            caption="Radially averaged power spectra (the SEM paper's Fig. 4).",
        )
        gaps = comparisons[name][0]
        add_gaps_section(
            section,
            images={"input": lr_scan, "output": images["output"], "target": hr_scan},
            comparison=gaps,
            title=f"Gap analysis ({name})",
        )
        section.add_text(
            "Bicubic upscaling measured on the same pairs is in the summary table (its row 'bicubic'); its "
            "overlays and histograms are left out to keep the report small."
        )
    return doc.save(path, force=force)


# ----------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder written by scansr train")
    parser.add_argument(
        "--model", choices=("best", "last"), default="best", help="best validation or last weights"
    )
    parser.add_argument("--image", help="HR image to evaluate on (default: the run's first validation image)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"comma list of {CONDITIONS}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the aliased and noisy LR images")
    parser.add_argument("--blur", type=float, default=0.65, help="noisy: beam blur sigma in HR pixels")
    parser.add_argument("--dose", type=float, default=100.0, help="noisy: electrons per pixel at full scale")
    parser.add_argument(
        "--gap-baseline",
        choices=("zero", "background"),
        default="background",
        help="gap levels as fractions of the raw intensity (the paper, dark substrate) or of the height above "
        "the background (default: SEM images whose substrate is far from zero counts)",
    )
    parser.add_argument(
        "--max-gap", type=float, help="largest segmented gap of a pair, m (default: median diameter)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: RUN/eval-sem)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad or not conditions:
        parser.error(f"--conditions must be a comma list of {CONDITIONS}, got {args.conditions!r}")
    run = args.run
    model = run / ("best" if args.model == "best" else "model")
    if not model.is_dir():
        fallback = run / "model"
        logger.warning("%s does not exist (no validation improved?): using %s", model, fallback)
        model = fallback
    out = args.out or run / "eval-sem"
    if (out / "report.html").exists() and not args.force:
        parser.error(f"{out} holds an evaluation already; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)

    config, files = _run_files(run)
    model_config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    training = model_config.get("training", {})
    hr = _hr_image(config, files, args.image)
    if training.get("unit") != hr.unit:
        raise ValueError(
            f"the model was trained on unit {training.get('unit')!r}, the image is in {hr.unit!r}"
        )
    if config.data.level_plane or config.data.align_rows or config.data.clip:
        logger.warning(
            "the run levels, aligns or clips its images: the target is the prepared image, not the raw counts"
        )
    if hr.pixel_size is None:
        raise ValueError(f"{hr.name}: no pixel size; gap widths need one")
    options = GapOptions(baseline=args.gap_baseline, max_gap=args.max_gap)

    from scansr.enhance import resolve_model

    loaded = resolve_model(model, device="cpu")
    cases, comparisons, measured = {}, {}, {}
    for name in conditions:
        case = make_case(name, hr, loaded, config=config, seed=args.seed, blur=args.blur, dose=args.dose)
        summary, gaps, gaps_bicubic = measure(case, options)
        cases[name], comparisons[name], measured[name] = case, (gaps, gaps_bicubic), summary
        out_row, bic_row = summary["images"]["output"], summary["images"]["bicubic"]
        logger.info(
            "%s: PSNR output %.2f dB / bicubic %.2f dB; unresolved gaps output %.1f %% / bicubic %.1f %% / target "
            "%.1f %%",
            name,
            out_row["psnr_db"],
            bic_row["psnr_db"],
            out_row["unresolved_percent"],
            bic_row["unresolved_percent"],
            summary["images"]["target"]["unresolved_percent"],
        )

    end = [json.loads(line) for line in (run / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    end = [r for r in end if r.get("event") == "end"]
    about = {
        "run": str(run),
        "model": str(model),
        "arch": model_config.get("arch"),
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "steps": training.get("step"),
        "elapsed_min": (end[-1]["elapsed_s"] / 60) if end else math.nan,
        "train_images": training.get("train_images", []),
        "loss_weights": training.get("loss_weights"),
        "image": hr.name,
        "unit": hr.unit,
        "hr_shape": list(hr.shape),
        "pixel_size_nm": hr.pixel_size[1] / _NM,
        "seed": args.seed,
        "gap_options": f"baseline {options.baseline}, width at {options.width_level:.0%}, resolved below "
        f"{options.resolve_level:.0%} of the higher peak",
    }
    results = {"about": about, "conditions": measured}
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out / "model-card.md", markdown(results))
    path = report(out / "report.html", results, cases, comparisons, force=args.force)
    print(f"wrote {path}, {out / 'results.json'}, {out / 'model-card.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
