"""The ``scansr`` command: parse arguments, call the public API, print. Nothing imports this module.

Every library error becomes one line on stderr and exit code 2; heavy modules are imported inside the commands, so
``scansr --help`` starts without torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from scansr import __version__
from scansr.scan import Scan, ScanError

logger = logging.getLogger("scansr")

EXIT_USAGE = 2


# ------------------------------------------------------------------------------------------------ helpers
def _parse_length(text: str) -> float:
    """Parse a length such as ``2um``, ``500 nm``, ``1e-6`` (metres) into metres."""
    from scansr.units import parse_length

    return parse_length(text)


def _scan_size(text: str) -> tuple[float, float]:
    parts = [p for p in text.replace("x", ",").replace("X", ",").split(",") if p.strip()]
    try:
        values = [_parse_length(p) for p in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return (values[0], values[1])
    raise argparse.ArgumentTypeError(f"scan size must be LENGTH or HEIGHTxWIDTH, got {text!r}")


def _add_read_options(p: argparse.ArgumentParser, *, channel: bool = True) -> None:
    if channel:
        p.add_argument("--channel", help="channel name (default: all channels; see `scansr info`)")
    p.add_argument("--frame", type=int, help="frame of a video file (0-based; default 0)")
    p.add_argument(
        "--scan-size",
        type=_scan_size,
        metavar="SIZE",
        help="physical size for files without a scale, e.g. 2um or 1.5umx3um (height x width)",
    )
    p.add_argument(
        "--value-unit",
        metavar="UNIT",
        help="unit of the values in a plain-text matrix or .dat file (default m), e.g. nm",
    )


def _read(path: str, args: argparse.Namespace, *, channel: str | None = None) -> Scan:
    from scansr import io

    options = {"value_unit": args.value_unit} if getattr(args, "value_unit", None) else {}
    return io.read(
        path,
        channel=channel,
        frame=getattr(args, "frame", None),
        scan_size=getattr(args, "scan_size", None),
        **options,
    )


def _format_length(metres: float) -> str:
    from scansr.units import format_length

    return format_length(metres)


def _info_dict(scan: Scan) -> dict:
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


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=2, default=str, allow_nan=True))


# ------------------------------------------------------------------------------------------------ commands
def _cmd_info(args: argparse.Namespace) -> int:
    scan = _read(args.file, args, channel=args.channel)
    info = _info_dict(scan)
    if args.json:
        _print_json(info)
        return 0
    print(f"{scan.source}  [{scan.format}]" + (f"  {scan.instrument}" if scan.instrument else ""))
    ny, nx = scan.shape
    if scan.pixel_size:
        h, w = scan.size
        print(
            f"  {ny} x {nx} px, {_format_length(h)} x {_format_length(w)}, "
            f"pixel {_format_length(scan.pixel_size[0])} x {_format_length(scan.pixel_size[1])} (dy x dx)"
        )
    else:
        print(f"  {ny} x {nx} px, no lateral scale in the file (give --scan-size)")
    if scan.n_frames > 1:
        print(f"  frame {scan.frame or 0} of {scan.n_frames}")
    for c in scan.channels:
        mark = "*" if c.name == scan.default_channel else " "
        d = f" ({c.direction})" if c.direction else ""
        print(f" {mark} {c.name:<28} [{c.unit or '-'}]{d}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from scansr import io

    scan = _read(args.file, args, channel=args.channel)
    out = io.write(scan, args.output, force=args.force)
    print(f"wrote {out}")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from scansr import interpolate, io

    scan = _read(args.file, args, channel=args.channel)
    result = interpolate.upscale_scan(scan, args.scale, method=args.method)
    out = io.write(result, args.output, force=args.force)
    ps = result.pixel_size
    scale = f", pixel {_format_length(ps[0])} x {_format_length(ps[1])}" if ps else ""
    print(f"wrote {out} ({result.shape[0]} x {result.shape[1]} px{scale})")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from scansr import metrics

    reference = _read(args.reference, args)
    test = _read(args.test, args)
    result = metrics.compare_scans(reference, test, channel=args.channel, data_range=args.data_range)
    values = result._asdict()
    if args.json:
        _print_json(values)
        return 0
    print(f"PSNR {result.psnr:.4f} dB   SSIM {result.ssim:.4f}   ({result.convention})")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from scansr.models import describe_models

    infos = describe_models(scale=args.scale)
    if args.json:
        _print_json({"scale": args.scale, "models": [info._asdict() for info in infos]})
        return 0
    print(f"{'architecture':<15} {'parameters':>12} {f'FLOPs/px x{args.scale}':>14}  scales     description")
    for info in infos:
        scales = ",".join(str(s) for s in info.default_scales)
        print(
            f"{info.name:<15} {info.parameters:>12,} {info.flops_per_pixel:>14,.0f}  {scales:<10} {info.description}"
        )
    return 0


# ------------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``scansr`` command."""
    parser = argparse.ArgumentParser(
        prog="scansr",
        description="Super-resolution for AFM/SPM and SEM scans, in physical units.",
    )
    parser.add_argument("--version", action="version", version=f"scansr {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="show channels, units, pixel size and format of a scan file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_read_options(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("convert", help="convert a scan file (.gwy .gsf .tif .npz .txt .png)")
    p.add_argument("file")
    p.add_argument("output")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    _add_read_options(p)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("upscale", help="upscale with an interpolation baseline (bilinear, bicubic, lanczos)")
    p.add_argument("file")
    p.add_argument("--scale", type=int, required=True, help="integer upscaling factor, e.g. 4")
    p.add_argument("--method", choices=["bilinear", "bicubic", "lanczos"], default="bicubic")
    p.add_argument("-o", "--output", required=True, help="output file (.gwy .gsf .tif .npz .txt .png)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    _add_read_options(p)
    p.set_defaults(func=_cmd_upscale)

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
    _add_read_options(p, channel=False)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "models", help="list the network architectures with parameters and FLOPs per output pixel"
    )
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4, 8], help="scale for the FLOP count")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scansr`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="scansr: %(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ScanError, ValueError, OSError) as exc:
        if args.verbose >= 2:
            logger.exception("failed")
        message = str(exc) or type(exc).__name__
        print(f"scansr {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("scansr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
