"""Gwyddion as an independent reference for the reader tests.

Two ways to use it:

- `convert` runs Gwyddion (``gwyddion --convert-to-gwy``) on a file and loads the result with gwyfile; tests
  that call it are skipped where Gwyddion is not installed.
- `check_record` compares a `Scan` with numbers recorded once from Gwyddion 2.62's conversion of a file
  (shape, pixel size, per channel: title, unit and the values at four pixels: top-left, top-right,
  bottom-left and ``(ny // 2, nx // 3)``), so the comparison also runs without Gwyddion.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scansr.scan import Scan

GWYDDION = shutil.which("gwyddion")
XVFB_RUN = shutil.which("xvfb-run")
needs_gwyddion = pytest.mark.skipif(GWYDDION is None, reason="gwyddion is not installed")


@dataclass(frozen=True)
class GwyChannel:
    """One data field of a Gwyddion conversion."""

    title: str
    data: np.ndarray
    pixel_size: tuple[float, float]
    unit: str
    offset: tuple[float, float]


def _unit(obj) -> str:
    if obj is None:
        return ""
    try:
        return obj["unitstr"] or ""
    except (KeyError, TypeError):
        return ""


def convert(path: Path, tmp_path: Path) -> list[GwyChannel]:
    """Convert `path` with Gwyddion and return its channels in Gwyddion's order (skips without Gwyddion)."""
    if GWYDDION is None:
        pytest.skip("gwyddion is not installed")
    from gwyfile import load

    out = tmp_path / (Path(path).name + ".gwy")
    command = ([XVFB_RUN, "-a"] if XVFB_RUN else []) + [GWYDDION, f"--convert-to-gwy={out}", str(path)]
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    if not out.exists():
        pytest.fail(f"gwyddion did not convert {path}")
    container = load(str(out))
    ids = sorted(int(k.split("/")[1]) for k in container if re.fullmatch(r"/\d+/data", k))
    channels = []
    for i in ids:
        field = container[f"/{i}/data"]
        data = np.asarray(field.data, dtype=np.float64)
        ny, nx = data.shape
        channels.append(
            GwyChannel(
                title=str(container.get(f"/{i}/data/title", "")),
                data=data,
                pixel_size=(field["yreal"] / ny, field["xreal"] / nx),
                unit=_unit(field.get("si_unit_z")),
                offset=(field.get("yoff", 0.0), field.get("xoff", 0.0)),
            )
        )
    return channels


def sample_points(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The four pixels whose values the records hold."""
    ny, nx = shape
    return [(0, 0), (0, nx - 1), (ny - 1, 0), (ny // 2, nx // 3)]


def check_record(
    scan: Scan, record: dict, *, names: list[str], units: list[str] | None = None, rtol: float = 1e-6
) -> None:
    """Assert `scan` matches a record of Gwyddion 2.62 numbers (channel order as in the file).

    `names` are the channel names scansr gives (Gwyddion's titles differ for some formats); `units` overrides
    the recorded units where scansr deliberately differs from Gwyddion (each case is explained where used).
    """
    assert scan.shape == record["shape"]
    np.testing.assert_allclose(scan.pixel_size, record["pixel"], rtol=1e-6)
    assert list(scan.names) == names
    expected_units = units if units is not None else [c[1] for c in record["channels"]]
    assert [c.unit for c in scan.channels] == expected_units
    points = sample_points(scan.shape)
    for channel, (_title, _unit, values) in zip(scan.channels, record["channels"], strict=True):
        got = [channel.data[r, c] for r, c in points]
        scale = max(abs(v) for v in values) or 1.0
        np.testing.assert_allclose(got, values, rtol=rtol, atol=1e-6 * scale, err_msg=channel.name)


def assert_matches_gwyddion(scan: Scan, reference: list[GwyChannel], *, rtol: float = 1e-9) -> None:
    """Assert every channel of `scan` equals Gwyddion's conversion: order, values, orientation, pixel size."""
    assert len(scan.channels) == len(reference)
    for channel, ref in zip(scan.channels, reference, strict=True):
        assert channel.shape == ref.data.shape, channel.name
        scale = np.abs(ref.data).max() or 1.0
        np.testing.assert_allclose(
            channel.data, ref.data, rtol=rtol, atol=1e-12 * scale, err_msg=channel.name
        )
        np.testing.assert_allclose(scan.pixel_size, ref.pixel_size, rtol=1e-9)


def truncated_copies(path: Path, tmp_path: Path, fractions=(0.1, 0.5, 0.99)) -> list[Path]:
    """Copies of `path` cut to the given fractions of its length, written into `tmp_path`."""
    raw = Path(path).read_bytes()
    copies = []
    for fraction in fractions:
        out = tmp_path / f"cut{int(fraction * 100):02d}_{Path(path).name}"
        out.write_bytes(raw[: int(len(raw) * fraction)])
        copies.append(out)
    return copies
