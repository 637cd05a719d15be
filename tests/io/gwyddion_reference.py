"""Gwyddion as the independent reference of the reader tests: convert with Gwyddion 2, read with gwyfile.

- `gwyddion_fields(source, out_dir)` runs ``xvfb-run -a gwyddion --convert-to-gwy=OUT source`` (the calling test
  is skipped where Gwyddion or xvfb-run is not installed) and returns the data fields of the result, read with
  the ``gwyfile`` package, not with scansr's own parser. `gwyddion_convert` and `load_fields` are its two
  halves; `load_container` gives the whole container.
- gwyfile decodes every string as UTF-8 and fails on the Latin-1 strings (µ, °) that Gwyddion's importers
  store; the file is handed to it as bytes whose failing UTF-8 decode falls back to Latin-1.
- `check_record` compares a `Scan` with numbers recorded once from Gwyddion 2.62's conversion of a file, so
  that comparison also runs without Gwyddion; `assert_matches_gwyddion` compares with a live conversion.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gwyfile
import numpy as np
import pytest

from scansr.scan import Scan

GWYDDION = shutil.which("gwyddion")
XVFB_RUN = shutil.which("xvfb-run")


@dataclass(frozen=True)
class Field:
    """One ``/N/data`` field of a ``.gwy`` container as gwyfile reads it (SI units as Gwyddion stores them)."""

    key: int
    title: str
    data: np.ndarray
    xreal: float
    yreal: float
    xoff: float
    yoff: float
    unit_xy: str
    unit_z: str
    meta: dict = field(default_factory=dict)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """``(dy, dx)`` in the lateral unit."""
        ny, nx = self.data.shape
        return (self.yreal / ny, self.xreal / nx)

    @property
    def offset(self) -> tuple[float, float]:
        """``(yoff, xoff)``: the origin as Gwyddion stores it."""
        return (self.yoff, self.xoff)


def gwyddion_convert(source: Path, out_dir: Path) -> Path:
    """Convert `source` to ``.gwy`` with Gwyddion (reusing an earlier conversion in `out_dir`); return it.

    Skips the calling test when Gwyddion or xvfb-run is not installed; fails it when Gwyddion converts nothing.
    """
    if GWYDDION is None or XVFB_RUN is None:
        pytest.skip("Gwyddion and xvfb-run are needed for the reference conversion")
    out = Path(out_dir) / f"{Path(source).name}.gwyddion.gwy"
    if not out.exists():
        done = subprocess.run(
            [XVFB_RUN, "-a", GWYDDION, f"--convert-to-gwy={out}", str(source)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if not out.exists():
            pytest.fail(f"Gwyddion did not convert {source}: rc={done.returncode} {done.stderr[-2000:]}")
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


def load_container(path: Path) -> gwyfile.objects.GwyContainer:
    """The top-level container of the ``.gwy`` file `path`, read by gwyfile (Latin-1 tolerant)."""
    return gwyfile.load(_Reader(path))


def _unitstr(unit) -> str:
    return "" if unit is None else str(unit.get("unitstr", "") or "")


def load_fields(path: Path) -> list[Field]:
    """Every ``/N/data`` field of the ``.gwy`` file `path`, in the order of N (for JPK TIFFs, N is the page)."""
    container = load_container(path)
    keys = [k for k in container if k.count("/") == 2 and k.endswith("/data") and k.split("/")[1].isdigit()]
    fields = []
    for key in sorted(keys, key=lambda k: int(k.split("/")[1])):
        n = int(key.split("/")[1])
        f = container[key]
        meta = container.get(f"/{n}/meta")
        fields.append(
            Field(
                key=n,
                title=str(container.get(f"/{n}/data/title", "") or ""),
                data=np.asarray(f.data, dtype=np.float64),
                xreal=float(f["xreal"]),
                yreal=float(f["yreal"]),
                xoff=float(f.get("xoff", 0.0)),
                yoff=float(f.get("yoff", 0.0)),
                unit_xy=_unitstr(f.get("si_unit_xy")),
                unit_z=_unitstr(f.get("si_unit_z")),
                meta=dict(meta) if meta is not None else {},
            )
        )
    return fields


def gwyddion_fields(source: Path, out_dir: Path) -> list[Field]:
    """Convert `source` with Gwyddion and return the fields of the result (see `gwyddion_convert`)."""
    return load_fields(gwyddion_convert(source, out_dir))


def assert_matches_gwyddion(
    scan: Scan, reference: list[Field], *, rtol: float = 1e-9, rename: Callable[[str], str] | None = None
) -> None:
    """Assert every channel of `scan` equals Gwyddion's conversion: order, values, orientation, pixel size.

    With `rename` (Gwyddion's title -> scansr's channel name; ``str`` where they agree), also the channel names
    and units.
    """
    assert len(scan.channels) == len(reference)
    if rename is not None:
        assert [rename(r.title) for r in reference] == list(scan.names)
        assert [r.unit_z for r in reference] == [c.unit for c in scan.channels]
    for channel, ref in zip(scan.channels, reference, strict=True):
        assert channel.shape == ref.data.shape, channel.name
        scale = np.abs(ref.data).max() or 1.0
        np.testing.assert_allclose(
            channel.data, ref.data, rtol=rtol, atol=1e-12 * scale, err_msg=channel.name
        )
        np.testing.assert_allclose(scan.pixel_size, ref.pixel_size, rtol=1e-9)


def sample_points(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The four pixels whose values a record holds: top-left, top-right, bottom-left, ``(ny // 2, nx // 3)``."""
    ny, nx = shape
    return [(0, 0), (0, nx - 1), (ny - 1, 0), (ny // 2, nx // 3)]


def check_record(
    scan: Scan, record: dict, *, names: list[str], units: list[str] | None = None, rtol: float = 1e-6
) -> None:
    """Assert `scan` matches a record of Gwyddion 2.62 numbers (channel order as in the file).

    A record is ``{"shape": (ny, nx), "pixel": (dy, dx), "channels": [(title, unit, [4 values]), ...]}`` with
    the values at `sample_points`. `names` are the channel names scansr gives (Gwyddion's titles differ for
    some formats); `units` overrides the recorded units where scansr deliberately differs from Gwyddion (each
    case is explained where used).
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
