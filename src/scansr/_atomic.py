"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(target: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to `target`, on failure delete it.

    Readers never see a half-written `target`: it either keeps its old content or has the complete new one.

    Parameters
    ----------
    target : str or Path
        The file to produce.
    suffix : str, optional
        Suffix of the temporary file (some writers choose the format from it); default: the target's suffix.
        The temporary file is hidden (its name starts with a dot) and ends in that suffix.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.part-", suffix=target.suffix if suffix is None else suffix, dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write `text` to `target` atomically."""
    atomic_write_bytes(target, text.encode(encoding))
