"""Analysis commands: ``correlate`` (topography vs property channels) and ``gaps`` (SEM gap analysis)."""

from __future__ import annotations

import argparse

from scansr.cli._common import add_force, comma_list, new_report, print_json, read_scan, write_json


def _level_topography(scan, name: str):
    """Scan with its topography channel row-aligned and plane-levelled (a tilt dominates every statistic)."""
    from scansr.preprocess import align_rows, level_plane

    top = scan.channel(name)
    levelled = top.replace(data=level_plane(align_rows(top.data, method="median")))
    return scan.replace(channels=tuple(levelled if c.name == name else c for c in scan.channels))


def _enhance_topography(scan, topography: str, args: argparse.Namespace):
    """Return `scan` with its topography enhanced (guided by a multichannel model) and the rest bicubic."""
    import sys

    from scansr.channels import resolve_channels
    from scansr.enhance import enhance, resolve_model

    loaded = resolve_model(args.model)
    inputs = [topography]
    if loaded.config.in_channels > 1:  # the model's guides, in the topography's scan direction
        inputs = list(resolve_channels(scan, [topography, *loaded.config.input_names[1:]]))
    result = enhance(
        scan,
        scale=args.enhance,
        model=loaded,
        channels=inputs,
        other_channels="bicubic",
        tta=args.tta,
        uncertainty=False,
        consistency=False,
    )
    guided = f", guided by {', '.join(inputs[1:])}" if len(inputs) > 1 else ""
    print(
        f"enhanced {', '.join(result.options['channels'])} x{args.enhance} with model {result.model.name}{guided}; "
        "the other channels are upscaled bicubically",
        file=sys.stderr,
    )
    return result.scan


def _correlate(args: argparse.Namespace) -> int:
    import numpy as np

    from scansr.channels import resolve_channels
    from scansr.correlate import correlate_scan, read_labels

    scan = read_scan(args.file, args)
    names = resolve_channels(scan, [args.topography, *args.properties])  # one call: one scan direction
    measured_shape = scan.shape
    if args.enhance:
        scan = _enhance_topography(scan, names[0], args)
    scan = scan.select(names)
    if not args.no_level:
        scan = _level_topography(scan, names[0])
    segmentation = args.segmentation
    if args.mask:  # drawn on the measured grid, or on the enhanced one
        shape = measured_shape if args.enhance and _mask_on(args.mask, measured_shape) else scan.shape
        segmentation = read_labels(args.mask, shape=shape)
        if shape != scan.shape:
            segmentation = np.repeat(np.repeat(segmentation, args.enhance, axis=0), args.enhance, axis=1)
    result = correlate_scan(
        scan,
        topography=names[0],
        properties=list(names[1:]),
        window=args.window,
        segmentation=segmentation,
        classes=args.classes,
        significance=args.significance,
    )
    if args.json_out:
        write_json(result.to_dict(), args.json_out, force=args.force)
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{scan.source}: {names[0]} vs {', '.join(names[1:])} ({args.significance} p-values)")
        print(f"  {'property':<24} {'Pearson r':>10} {'p':>10} {'Spearman':>10} {'p':>10} {'n_eff':>8}")
        for row in result.rows:
            print(
                f"  {row.property:<24} {row.pearson_r:>10.3f} {row.pearson_p_adjusted:>10.2g} "
                f"{row.spearman_rho:>10.3f} {row.spearman_p_adjusted:>10.2g} {row.n_effective:>8.0f}"
            )
        print(f"  {len(result.domains.rows())} domains ({result.segmentation})")
    if args.report:
        from scansr.report.correlation import add_correlation_section

        report = new_report(f"Correlation analysis: {scan.source.name if scan.source else ''}")
        add_correlation_section(report, scan, result)
        print(f"wrote {report.save(args.report, force=args.force)}")
    return 0


def _mask_on(path: str, shape: tuple[int, int]) -> bool:
    from scansr.correlate import read_labels

    try:
        read_labels(path, shape=shape)
    except ValueError:
        return False
    return True


def _gaps(args: argparse.Namespace) -> int:
    from scansr.gaps import GapOptions, compare_gaps, histogram, measure_gaps

    options = GapOptions(width_level=args.width_level, resolve_level=args.resolve_level)
    images = {"input": read_scan(args.input, args, channel=args.channel)}
    if args.enhanced:
        images["output"] = read_scan(args.enhanced, args, channel=args.channel)
    if args.target:
        images["target"] = read_scan(args.target, args, channel=args.channel)
    for scan in images.values():
        if scan.pixel_size is None:
            raise ValueError(
                f"{scan.source}: no pixel size in the file; give --scan-size for gap widths in metres"
            )
    data = {k: s.channels[0].data for k, s in images.items()}
    result = comparison = None
    if "target" in images:
        comparison = compare_gaps(
            data["input"],
            data.get("output"),
            data["target"],
            pixel_size_input=images["input"].pixel_size,
            pixel_size_output=images["output"].pixel_size if "output" in images else None,
            pixel_size_target=images["target"].pixel_size,
            polarity=args.polarity,
            options=options,
        )
        results = comparison.results
    else:
        result = measure_gaps(
            data["input"], pixel_size=images["input"].pixel_size, polarity=args.polarity, options=options
        )
        results = {"input": result}
    summary = {}
    for label, res in results.items():
        hist = histogram(res.resolved_widths) if len(res.resolved_widths) >= 2 else None
        summary[label] = {
            "gaps": int(res.n_valid),
            "unresolved": int(res.n_unresolved),
            "unresolved_percent": 100 * float(res.unresolved_fraction),
            "width_mean_m": None if hist is None else float(hist.mean),
            "width_std_m": None if hist is None else float(hist.std),
        }
    if comparison is not None:
        summary["mean_abs_error_m"] = dict(comparison.mean_abs_error)
        summary["n_compared"] = dict(comparison.n_compared)
    if args.json:
        print_json(summary)
    else:
        for label, row in summary.items():
            if label in results:
                mean = "-" if row["width_mean_m"] is None else f"{row['width_mean_m'] * 1e9:.2f}"
                std = "-" if row["width_std_m"] is None else f"{row['width_std_m'] * 1e9:.2f}"
                print(
                    f"{label:<8} {row['gaps']:>5} gaps, {row['unresolved_percent']:5.1f} % unresolved, "
                    f"width {mean} ± {std} nm"
                )
        if comparison is not None:
            for label, err in comparison.mean_abs_error.items():
                print(
                    f"mean |gap error| of {label} vs target: {err * 1e9:.2f} nm (n={comparison.n_compared[label]})"
                )
    if args.report:
        from scansr.report.gaps import add_gaps_section

        report = new_report(f"Gap analysis: {images['input'].source.name if images['input'].source else ''}")
        add_gaps_section(report, images=images, result=result, comparison=comparison, options=options)
        print(f"wrote {report.save(args.report, force=args.force)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``scansr`` parser."""
    p = sub.add_parser(
        "correlate", help="correlate topography with property channels (global, local, domains)"
    )
    p.add_argument("file")
    p.add_argument("--topography", default="height", help="topography channel name or kind (default: height)")
    p.add_argument(
        "--properties",
        type=comma_list,
        required=True,
        help="property channels, e.g. Adhesion,DMTModulus or phase",
    )
    p.add_argument(
        "--window", type=int, default=15, help="local-correlation window in pixels (odd; default 15)"
    )
    p.add_argument(
        "--segmentation", choices=["otsu", "watershed"], default="otsu", help="domain segmentation"
    )
    p.add_argument("--classes", type=int, default=2, help="height classes for Otsu segmentation (default 2)")
    p.add_argument(
        "--mask", help="domain mask / labels image (.png .tif .npy .npz) instead of a segmentation"
    )
    p.add_argument(
        "--significance",
        choices=["dutilleul", "toroidal"],
        default="dutilleul",
        help="p-values corrected for spatial autocorrelation (default: Dutilleul's effective sample size)",
    )
    p.add_argument("--no-level", action="store_true", help="do not row-align and plane-level the topography")
    p.add_argument(
        "--enhance",
        type=int,
        choices=[2, 3, 4, 8],
        metavar="N",
        help="enhance the topography N times first (guided by its property channels when --model takes "
        "several channels) and upscale the properties bicubically onto the enhanced grid; --window is then "
        "in enhanced pixels",
    )
    p.add_argument(
        "--model",
        default="default",
        help="with --enhance: 'default' (shipped AFM model) or a model folder, e.g. a multichannel fusion model",
    )
    p.add_argument("--tta", action="store_true", help="with --enhance: average the 8 self-ensemble members")
    p.add_argument("--report", help="write an HTML report")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--json-out", metavar="FILE", help="write the full result as JSON")
    add_force(p)
    p.add_argument("--frame", type=int, help="frame of a video file")
    p.set_defaults(func=_correlate, scan_size=None, value_unit=None)

    p = sub.add_parser("gaps", help="SEM gap analysis: gap widths, resolvable gaps, spectra (SEM paper)")
    p.add_argument("input", help="the (low-resolution) image")
    p.add_argument("--enhanced", metavar="FILE", help="the enhanced image of the same field")
    p.add_argument("--target", metavar="FILE", help="the high-resolution image of the same field")
    p.add_argument("--channel", help="channel (default: the first)")
    p.add_argument(
        "--polarity", choices=["bright", "dark"], default="bright", help="particles brighter or darker"
    )
    p.add_argument(
        "--width-level", type=float, default=0.8, help="gap edges at this fraction of the peak (0.8)"
    )
    p.add_argument(
        "--resolve-level", type=float, default=0.6, help="resolvable if the minimum is below (0.6)"
    )
    p.add_argument("--report", help="write an HTML report")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_force(p)
    p.set_defaults(func=_gaps, frame=None, scan_size=None, value_unit=None)
