"""Commands on scan files: ``info``, ``convert``, ``upscale``, ``compare``."""

from __future__ import annotations

import argparse

from scansr.cli._common import add_force, add_read_options, print_json, read_scan
from scansr.scan import Scan


def info_dict(scan: Scan) -> dict:
    """Return what ``scansr info --json`` prints for `scan`."""
    return {
        "path": str(scan.source) if scan.source else None,
        "format": scan.format,
        "instrument": scan.instrument,
        "shape": list(scan.shape),
        "pixel_size_m": list(scan.pixel_size) if scan.pixel_size else None,
        "size_m": list(scan.size) if scan.size else None,
        "origin_m": list(scan.origin) if scan.origin else None,
        "n_frames": scan.n_frames,
        "frame": scan.frame,
        "default_channel": scan.default_channel,
        "channels": [
            {"name": c.name, "unit": c.unit, "shape": list(c.shape), "direction": c.direction}
            for c in scan.channels
        ],
        "metadata": scan.metadata,
    }


def _info(args: argparse.Namespace) -> int:
    from scansr.units import format_length

    scan = read_scan(args.file, args, channel=args.channel)
    if args.json:
        print_json(info_dict(scan))
        return 0
    print(f"{scan.source}  [{scan.format}]" + (f"  {scan.instrument}" if scan.instrument else ""))
    ny, nx = scan.shape
    if scan.pixel_size:
        h, w = scan.size
        dy, dx = scan.pixel_size
        print(
            f"  {ny} x {nx} px, {format_length(h)} x {format_length(w)}, "
            f"pixel {format_length(dy)} x {format_length(dx)} (dy x dx)"
        )
    else:
        print(f"  {ny} x {nx} px, no lateral scale in the file (give --scan-size)")
    if scan.n_frames > 1:
        print(f"  frame {scan.frame or 0} of {scan.n_frames}")
    for c in scan.channels:
        mark = "*" if c.name == scan.default_channel else " "
        direction = f" ({c.direction})" if c.direction else ""
        print(f" {mark} {c.name:<28} [{c.unit or '-'}]{direction}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from scansr import io

    scan = read_scan(args.file, args, channel=args.channel)
    out = io.write(scan, args.output, force=args.force)
    print(f"wrote {out}")
    return 0


def _upscale(args: argparse.Namespace) -> int:
    from scansr import interpolate, io
    from scansr.units import format_length

    scan = read_scan(args.file, args, channel=args.channel)
    result = interpolate.upscale_scan(scan, args.scale, method=args.method)
    out = io.write(result, args.output, force=args.force)
    ps = result.pixel_size
    scale = f", pixel {format_length(ps[0])} x {format_length(ps[1])}" if ps else ""
    print(f"wrote {out} ({result.shape[0]} x {result.shape[1]} px{scale})")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from scansr import metrics

    reference = read_scan(args.reference, args)
    test = read_scan(args.test, args)
    result = metrics.compare_scans(reference, test, channel=args.channel, data_range=args.data_range)
    if args.json:
        print_json(result._asdict())
        return 0
    print(f"PSNR {result.psnr:.4f} dB   SSIM {result.ssim:.4f}   ({result.convention})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``scansr`` parser."""
    p = sub.add_parser("info", help="show channels, units, pixel size and format of a scan file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_read_options(p)
    p.set_defaults(func=_info)

    p = sub.add_parser("convert", help="convert a scan file (.gwy .gsf .tif .npz .txt .png)")
    p.add_argument("file")
    p.add_argument("output")
    add_force(p)
    add_read_options(p)
    p.set_defaults(func=_convert)

    p = sub.add_parser("upscale", help="upscale with an interpolation baseline (bilinear, bicubic, lanczos)")
    p.add_argument("file")
    p.add_argument("--scale", type=int, required=True, help="integer upscaling factor, e.g. 4")
    p.add_argument("--method", choices=["bilinear", "bicubic", "lanczos"], default="bicubic")
    p.add_argument("-o", "--output", required=True, help="output file (.gwy .gsf .tif .npz .txt .png)")
    add_force(p)
    add_read_options(p)
    p.set_defaults(func=_upscale)

    p = sub.add_parser("compare", help="PSNR and SSIM of TEST against REF (images or scans of equal shape)")
    p.add_argument("reference", metavar="REF")
    p.add_argument("test", metavar="TEST")
    p.add_argument("--json", action="store_true", help="print JSON (keys psnr, ssim, ...)")
    p.add_argument("--channel", help="channel of both scans (default: the reference's topography)")
    p.add_argument(
        "--data-range",
        type=float,
        help="value range for PSNR/SSIM in the channel's unit (default: max - min of the reference)",
    )
    add_read_options(p, channel=False)
    p.set_defaults(func=_compare)
