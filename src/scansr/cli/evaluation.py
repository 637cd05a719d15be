"""``scansr benchmark`` (simulated low resolution, the AFM paper's protocol) and ``scansr evaluate`` (real pairs)."""

from __future__ import annotations

import argparse

from scansr.cli._common import add_force, new_report, read_scan


def _data_range(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(f"{r.get(c, '')!s:<{w}}" for c, w in zip(columns, widths, strict=True)))


def _outputs(result, args: argparse.Namespace, add_section, title: str) -> None:
    if args.csv:
        print(f"wrote {result.to_csv(args.csv, force=args.force)}")
    if args.json:
        print(f"wrote {result.to_json(args.json, force=args.force)}")
    if args.report:
        report = new_report(title)
        add_section(report, result)
        print(f"wrote {report.save(args.report, force=args.force)}")


def _benchmark(args: argparse.Namespace) -> int:
    from scansr.evaluate import benchmark
    from scansr.report.evaluation import add_benchmark_section

    result = benchmark(
        [read_scan(p, args) for p in args.data],
        scales=tuple(args.scales),
        methods=args.methods,
        channel=args.channel,
        degradation=args.degradation,
        preprocess=args.preprocess,
        data_range=args.data_range,
        border=args.border,
        seed=args.seed,
        progress=not args.quiet,
    )
    _print_table(result.table())
    _outputs(result, args, add_benchmark_section, "Benchmark on simulated low-resolution scans")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from scansr.evaluate import evaluate_pairs
    from scansr.report.evaluation import add_evaluation_section

    if len(args.lr) != len(args.hr):
        raise ValueError(f"give one --hr per --lr: got {len(args.lr)} LR and {len(args.hr)} HR files")
    result = evaluate_pairs(
        [read_scan(p, args) for p in args.lr],
        [read_scan(p, args) for p in args.hr],
        methods=args.methods,
        channel=args.channel,
        register=args.register,
        register_channel=args.register_channel,
        elastic=args.elastic,
        metrics=args.metrics or None,
        level=not args.no_level,
        data_range=args.data_range,
        scale=args.scale,
        ma_model=args.ma_model,
        progress=not args.quiet,
    )
    _print_table(result.table())
    for note in result.notes:
        print(f"note: {note}")
    _outputs(result, args, add_evaluation_section, "Evaluation on real low/high-resolution pairs")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--methods",
        nargs="+",
        default=["bicubic", "bilinear", "lanczos"],
        help="bicubic, bilinear, lanczos, 'default' (the shipped model) and/or model folders",
    )
    p.add_argument("--channel", help="channel (default: each scan's topography)")
    p.add_argument("--csv", metavar="FILE", help="write per-image numbers as CSV")
    p.add_argument("--json", metavar="FILE", help="write per-image numbers and the summary as JSON")
    p.add_argument("--report", metavar="FILE", help="write an HTML report")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_force(p)
    p.set_defaults(frame=None, scan_size=None, value_unit=None)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``scansr`` parser."""
    p = sub.add_parser(
        "benchmark", help="simulate low resolution, upscale, PSNR/SSIM (the AFM paper's Table 1)"
    )
    p.add_argument("--data", nargs="+", required=True, help="high-resolution scans")
    p.add_argument("--scales", nargs="+", type=int, default=[2, 4, 8], help="scales (default 2 4 8)")
    p.add_argument(
        "--degradation",
        default="bicubic",
        help="how low resolution is simulated: bicubic (default; the seed papers' decimation), area, afm, sem, or "
        "a JSON file of scansr.degrade.DegradationConfig fields",
    )
    p.add_argument("--preprocess", default="level+clip", choices=["none", "level", "clip", "level+clip"])
    p.add_argument(
        "--data-range",
        type=_data_range,
        default="std",
        help="PSNR/SSIM range: std (z-scored heights, the AFM paper), clipped, minmax or a number",
    )
    p.add_argument("--border", type=int, help="pixels left out at the edges (default: the scale)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated degradation")
    _common(p)
    p.set_defaults(func=_benchmark)

    p = sub.add_parser(
        "evaluate", help="real low/high-resolution pairs: upscale, register, all metrics, Tukey HSD"
    )
    p.add_argument("--lr", nargs="+", required=True, help="low-resolution scans")
    p.add_argument("--hr", nargs="+", required=True, help="high-resolution scans of the same areas")
    p.add_argument("--register", default="auto", choices=["auto", "sift", "phase", "ecc", "none"])
    p.add_argument("--register-channel", help="channel to register on (default: the evaluated one)")
    p.add_argument("--elastic", action="store_true", help="refine the registration with dense optical flow")
    p.add_argument(
        "--metrics", nargs="+", help="metrics to compute (default: all; see scansr.metrics.METRICS)"
    )
    p.add_argument("--no-level", action="store_true", help="do not plane-level the cropped images")
    p.add_argument(
        "--data-range", type=_data_range, default="minmax", help="minmax (default), std, clipped, N"
    )
    p.add_argument("--scale", type=int, help="upscaling factor (default: from the pixel sizes)")
    p.add_argument(
        "--ma-model", metavar="PATH", help="Ma et al.'s NRQM model file (for the Ma and PI metrics)"
    )
    _common(p)
    p.set_defaults(func=_evaluate)
