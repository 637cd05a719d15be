"""The ``scansr`` command: parse arguments, call the public API, print. Nothing imports this package.

One module per group of commands (`scans`, `models`, `analysis`, `survey`, ...), each with ``register(sub)``.
Every library error becomes one line on stderr and exit code 2; heavy modules are imported inside the commands,
so ``scansr --help`` starts without torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from scansr import __version__
from scansr.cli import analysis, evaluation, models, scans, survey
from scansr.scan import ScanError

__all__ = ["EXIT_USAGE", "build_parser", "main"]

logger = logging.getLogger("scansr")

EXIT_USAGE = 2
COMMAND_GROUPS = (scans, models, evaluation, analysis, survey)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``scansr`` command."""
    parser = argparse.ArgumentParser(
        prog="scansr", description="Super-resolution for AFM/SPM and SEM scans, in physical units."
    )
    parser.add_argument("--version", action="version", version=f"scansr {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
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
        message = " ".join(str(exc).split()) or type(exc).__name__  # always one line
        print(f"scansr {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("scansr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
