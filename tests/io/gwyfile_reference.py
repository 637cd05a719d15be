"""Gwyddion as the independent reference of the format tests: convert with Gwyddion 2, read with gwyfile.

`gwyddion_convert` runs ``xvfb-run -a gwyddion --convert-to-gwy=OUT IN`` and skips the calling test when
Gwyddion or xvfb-run is not installed. `load_fields` reads a ``.gwy`` with the ``gwyfile`` package (not with
scansr's own parser), tolerating the Latin-1 strings (µ, °) that Gwyddion's importers store and that gwyfile
alone cannot decode.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gwyfile
import numpy as np
import pytest

GWYDDION = shutil.which("gwyddion")
XVFB_RUN = shutil.which("xvfb-run")


def gwyddion_convert(source: Path, out_dir: Path) -> Path:
    """Convert `source` to ``.gwy`` with Gwyddion; skip the test when Gwyddion is not installed."""
    if GWYDDION is None or XVFB_RUN is None:
        pytest.skip("Gwyddion (and xvfb-run) not installed: no independent reference for this check")
    out = out_dir / f"{Path(source).name}.gwyddion.gwy"
    result = subprocess.run(
        [XVFB_RUN, "-a", GWYDDION, f"--convert-to-gwy={out}", str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if not out.exists():
        pytest.fail(f"Gwyddion did not convert {source}: rc={result.returncode} {result.stderr[-2000:]}")
    return out


class _Latin1Bytes(bytes):
    """Bytes whose slices keep the type and whose strict UTF-8 decode falls back to Latin-1."""

    def __getitem__(self, key):
        item = super().__getitem__(key)
        return _Latin1Bytes(item) if isinstance(key, slice) else item

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        try:
            return super().decode(encoding, errors)
        except UnicodeDecodeError:
            return super().decode("latin-1")


class _Reader:
    def __init__(self, path: Path):
        self._data = _Latin1Bytes(Path(path).read_bytes())

    def read(self) -> bytes:
        return self._data


@dataclass
class Field:
    """One data field of a ``.gwy`` container as gwyfile reads it."""

    key: int
    title: str | None
    data: np.ndarray
    unit_xy: str | None
    unit_z: str | None
    xreal: float
    yreal: float
    xoff: float
    yoff: float
    meta: dict


def load_container(path: Path) -> gwyfile.objects.GwyContainer:
    """The top-level container of `path`, read by gwyfile (Latin-1 tolerant)."""
    return gwyfile.load(_Reader(path))


def load_fields(path: Path) -> list[Field]:
    """Every ``/N/data`` field of `path`, in the order of N."""
    container = load_container(path)
    keys = [k for k in container if k.count("/") == 2 and k.endswith("/data")]
    fields = []
    for key in sorted(keys, key=lambda k: int(k.split("/")[1])):
        n = int(key.split("/")[1])
        f = container[key]
        unit_xy, unit_z = f.get("si_unit_xy"), f.get("si_unit_z")
        meta = container.get(f"/{n}/meta")
        fields.append(
            Field(
                key=n,
                title=container.get(f"/{n}/data/title"),
                data=np.asarray(f.data, dtype=np.float64),
                unit_xy=None if unit_xy is None else unit_xy.get("unitstr", ""),
                unit_z=None if unit_z is None else unit_z.get("unitstr", ""),
                xreal=float(f["xreal"]),
                yreal=float(f["yreal"]),
                xoff=float(f.get("xoff", 0.0)),
                yoff=float(f.get("yoff", 0.0)),
                meta=dict(meta) if meta is not None else {},
            )
        )
    return fields
