"""What every ``scansr`` command shares: reading options, output helpers, the report writer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scansr.scan import Scan


def scan_size(text: str) -> tuple[float, float]:
    """Parse ``--scan-size``: ``LENGTH`` or ``HEIGHTxWIDTH`` (e.g. ``2um``, ``1.5umx3um``) into metres."""
    from scansr.units import parse_length

    parts = [p for p in text.replace("x", ",").replace("X", ",").split(",") if p.strip()]
    try:
        values = [parse_length(p) for p in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return (values[0], values[1])
    raise argparse.ArgumentTypeError(f"scan size must be LENGTH or HEIGHTxWIDTH, got {text!r}")


def comma_list(text: str) -> list[str]:
    """Parse ``A,B,C`` into ``["A", "B", "C"]`` (names may contain spaces)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {text!r}")
    return items


def add_read_options(p: argparse.ArgumentParser, *, channel: bool = True) -> None:
    """Options that say how to read an input file."""
    if channel:
        p.add_argument("--channel", help="channel name (default: all channels; see `scansr info`)")
    p.add_argument("--frame", type=int, help="frame of a video file (0-based; default 0)")
    p.add_argument(
        "--scan-size",
        type=scan_size,
        metavar="SIZE",
        help="physical size for files without a scale, e.g. 2um or 1.5umx3um (height x width)",
    )
    p.add_argument(
        "--value-unit",
        metavar="UNIT",
        help="unit of the values in a plain-text matrix or .dat file (default m), e.g. nm",
    )


def add_force(p: argparse.ArgumentParser) -> None:
    """Add ``--force``: replace existing outputs."""
    p.add_argument("--force", action="store_true", help="replace existing output files")


def read_scan(
    path: str | Path, args: argparse.Namespace, *, channel: str | Sequence[str] | None = None
) -> Scan:
    """Read `path` with the reading options of `args` (see `add_read_options`)."""
    from scansr import io

    options = {"value_unit": args.value_unit} if getattr(args, "value_unit", None) else {}
    return io.read(
        path,
        channel=channel,
        frame=getattr(args, "frame", None),
        scan_size=getattr(args, "scan_size", None),
        **options,
    )


def print_json(obj: Any) -> None:
    """Print `obj` as indented JSON (NaN allowed: JSON readers of Python and JS accept it)."""
    print(json.dumps(obj, indent=2, default=str))


def write_json(obj: Any, path: str | Path, *, force: bool) -> Path:
    """Write `obj` as JSON atomically; refuse an existing file unless `force`."""
    from scansr._atomic import atomic_write_text
    from scansr.scan import OutputExistsError

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(path, "exists already; choose another name or pass --force")
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
    return path


def new_report(title: str) -> Any:
    """Start a report whose header records the command line."""
    from scansr.report import Report

    return Report(title, command=["scansr", *sys.argv[1:]])
