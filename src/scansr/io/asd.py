"""PLACEHOLDER: being written (format module `asd`)."""

from pathlib import Path

from scansr.scan import Scan, UnsupportedFormatError


def sniff(head: bytes, suffix: str) -> bool:
    return False


def read(path: Path, *, frame: int | None = None, **options) -> Scan:
    raise UnsupportedFormatError(path, "reader not written yet")


def write(scan: Scan, path: Path) -> None:
    raise UnsupportedFormatError(path, "writer not written yet")
