"""Open every file of the shared corpus (../shared/data): each reads with sane physical values or is unsupported.

Skipped when the corpus is absent (a fresh clone without ../shared).
"""

from __future__ import annotations

import numpy as np
import pytest

from scansr import io
from scansr.scan import Scan, UnsupportedFormatError
from tests.conftest import SHARED

CORPUS = SHARED / "data"
FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md") if CORPUS.is_dir() else []
)

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not FILES, reason=f"shared corpus not present at {CORPUS}"),
]

# Heights (topography channels in metres) of real scans span picometres to a millimetre.
HEIGHT_RANGE_M = (1e-12, 1e-3)


def _read(path):
    try:
        return io.read(path)
    except UnsupportedFormatError as exc:
        return exc


def check_scan(scan: Scan) -> None:
    """The checks every scan read from a real file must pass."""
    assert len(scan.channels) >= 1
    for c in scan.channels:
        assert np.isfinite(c.data).all(), f"{c.name}: non-finite values"
        assert c.data.ndim == 2
        assert min(c.shape) >= 2
    if scan.pixel_size is not None:
        assert scan.pixel_size[0] > 0
        assert scan.pixel_size[1] > 0
        # lateral sizes of real SPM/SEM images: 1 nm .. 1 mm
        assert 1e-10 < scan.size[0] < 1e-2, scan.size
        assert 1e-10 < scan.size[1] < 1e-2, scan.size
    top = scan.channel(scan.default_channel)
    if top.unit == "m":
        lo, hi = HEIGHT_RANGE_M
        assert np.abs(top.data).max() <= hi, f"{top.name}: |height| up to {np.abs(top.data).max()} m"
        span = float(np.ptp(top.data))
        assert span == 0 or span >= lo, f"{top.name}: height range {span} m"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_corpus_file_reads_or_is_clearly_unsupported(path):
    result = _read(path)
    if isinstance(result, UnsupportedFormatError):
        msg = str(result)
        assert str(path) in msg
        assert len(msg) > len(str(path)) + 10
        return
    check_scan(result)
    assert result.source == path
    assert result.format in io.FORMATS
    for frame in {0, result.n_frames - 1}:
        check_scan(io.read(path, frame=frame))


def test_at_least_85_percent_of_the_corpus_reads():
    results = {p: _read(p) for p in FILES}
    ok = [p for p, r in results.items() if isinstance(r, Scan)]
    failed = {str(p.relative_to(CORPUS)): str(r) for p, r in results.items() if not isinstance(r, Scan)}
    assert len(ok) >= 0.85 * len(FILES), failed
