"""Gwyddion's conversion as an independent reference for the JPK, WSxM and TIFF reader tests.

`convert` runs ``xvfb-run -a gwyddion --convert-to-gwy=OUT IN`` (the test is skipped where Gwyddion or
xvfb-run is not installed) and `fields` reads the result with the ``gwyfile`` package, keyed by Gwyddion's
channel number (for JPK TIFFs the TIFF page). Latin-1 strings that Gwyddion stores (µ, °) are decoded as such.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gwyfile
import numpy as np
import pytest


@dataclass(frozen=True)
class GwyField:
    """One image data field of a ``.gwy`` file as gwyfile reads it (SI units as Gwyddion stores them)."""

    title: str
    data: np.ndarray
    xreal: float
    yreal: float
    xoff: float
    yoff: float
    unit_z: str


def convert(source: Path, out_dir: Path) -> Path:
    """Convert `source` to ``.gwy`` with Gwyddion; skip the calling test without Gwyddion."""
    gwyddion, xvfb = shutil.which("gwyddion"), shutil.which("xvfb-run")
    if gwyddion is None or xvfb is None:
        pytest.skip("Gwyddion and xvfb-run are needed for the reference conversion")
    out = out_dir / f"{Path(source).name}.gwy"
    if not out.exists():
        done = subprocess.run(
            [xvfb, "-a", gwyddion, f"--convert-to-gwy={out}", str(source)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if not out.exists():
            pytest.fail(f"Gwyddion did not convert {source}: {done.stderr[-500:]}")
    return out


class _Latin1(bytes):
    def __getitem__(self, key):
        item = super().__getitem__(key)
        return _Latin1(item) if isinstance(key, slice) else item

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        try:
            return super().decode(encoding, errors)
        except UnicodeDecodeError:
            return super().decode("latin-1")


class _Source:
    def __init__(self, path: Path):
        self._data = _Latin1(Path(path).read_bytes())

    def read(self) -> bytes:
        return self._data


def fields(path: Path) -> dict[int, GwyField]:
    """Every ``/N/data`` field of a ``.gwy`` file by channel number N."""
    container = gwyfile.load(_Source(path))
    out = {}
    for key in container:
        m = re.fullmatch(r"/(\d+)/data", key)
        if m is None:
            continue
        f = container[key]
        unit = f.get("si_unit_z")
        out[int(m.group(1))] = GwyField(
            title=str(container.get(f"/{m.group(1)}/data/title", "")),
            data=np.asarray(f.data, dtype=np.float64),
            xreal=float(f["xreal"]),
            yreal=float(f["yreal"]),
            xoff=float(f.get("xoff", 0.0)),
            yoff=float(f.get("yoff", 0.0)),
            unit_z="" if unit is None else str(unit.get("unitstr", "") or ""),
        )
    return dict(sorted(out.items()))
