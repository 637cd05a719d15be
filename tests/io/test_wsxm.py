"""WSxM reader: values and orientation against Gwyddion's conversion, lateral size against the header text.

The corpus files (AFMReader, GPL) are read from ../shared, never copied here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import scansr.io as sio
from scansr.io import wsxm
from scansr.scan import ScanReadError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields

NAMES = ["sample_0.stp", "sample_0.top", "sample_1_um_scale.stp", "sample_1_um_scale.top"]
# [Control] X Amplitude / Y Amplitude as the headers state them, in metres
HEADER_SIZE = {"sample_0": 500e-9, "sample_1_um_scale": 2e-6}


def _path(name: str) -> Path:
    return shared_path("data", "spm", "AFMReader", name)


def _header_text(path: Path) -> str:
    raw = path.read_bytes()
    return raw[: raw.index(b"[Header end]")].decode("latin-1")


@pytest.fixture(scope="module")
def gwy_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gwyddion_wsxm")


@pytest.mark.parametrize("name", NAMES)
def test_values_and_orientation_match_gwyddion(name, gwy_dir):
    path = _path(name)
    scan = sio.read(path)
    (ref,) = gwyddion_fields(path, gwy_dir)
    assert scan.format == "wsxm"
    assert scan.names == ("Topography",)
    assert ref.title == "Topography"
    assert scan["Topography"].unit == ref.unit_z == "m"
    np.testing.assert_allclose(scan["Topography"].data, ref.data, rtol=1e-9, atol=1e-9 * np.ptp(ref.data))


@pytest.mark.parametrize("name", NAMES)
def test_pixel_size_from_the_header_amplitudes(name, gwy_dir):
    path = _path(name)
    text = _header_text(path)
    nx = int(re.search(r"Number of columns: (\d+)", text).group(1))
    ny = int(re.search(r"Number of rows: (\d+)", text).group(1))
    size = HEADER_SIZE[path.stem]
    assert re.search(r"X Amplitude: (500 nm|2 \xb5m)", text)  # the numbers above, as written in the file
    scan = sio.read(path)
    np.testing.assert_allclose(scan.pixel_size, (size / ny, size / nx), rtol=1e-12)
    if path.stem == "sample_0":  # nm lateral and Z units: Gwyddion agrees
        (ref,) = gwyddion_fields(path, gwy_dir)
        np.testing.assert_allclose(scan.pixel_size, ref.pixel_size, rtol=1e-12)


@pytest.mark.parametrize("stem", ["sample_0", "sample_1_um_scale"])
def test_int16_top_and_double_stp_of_one_scan_agree_to_one_level(stem):
    # WSxM saved each scan twice: as doubles (.stp) and as int16 levels (.top). The level step is the Z
    # amplitude over the header's level range, so the two readings differ by at most one step.
    top, stp = _path(stem + ".top"), _path(stem + ".stp")
    text = _header_text(top)
    z_nm = float(re.search(r"Z Amplitude: ([\d.]+) nm", text).group(1))
    lo = float(re.search(r"\n\s*Minimum: (-?\d+)", text).group(1))
    hi = float(re.search(r"\n\s*Maximum: (-?\d+)", text).group(1))
    step = z_nm * 1e-9 / (hi - lo)
    a, b = sio.read(top)["Topography"].data, sio.read(stp)["Topography"].data
    assert np.max(np.abs(a - b)) <= step * 1.01
    np.testing.assert_allclose(np.ptp(b), z_nm * 1e-9, rtol=1e-4)  # the double file spans the Z amplitude


@pytest.mark.parametrize("name", NAMES)
def test_corpus_heights_are_plausible(name):
    scan = sio.read(_path(name))
    data = scan["Topography"].data
    assert np.isfinite(data).all()
    assert 1e-12 < np.ptp(data) < 1e-3
    assert np.max(np.abs(data)) < 1e-3
    assert scan["Topography"].direction == "trace"  # "X scanning direction: Forward"


def test_sniff():
    head = _path(NAMES[0]).read_bytes()[:4096]
    assert wsxm.sniff(head, ".stp")
    assert wsxm.sniff(head, ".whatever")
    assert not wsxm.sniff(b"WSxM file copyright UAM\r\nIV curve file\r\n", ".cur")
    assert not wsxm.sniff(b"II*\x00" + bytes(100), ".top")


def test_missing_header_end_is_a_scan_read_error(tmp_path):
    path = tmp_path / "broken.stp"
    path.write_bytes(
        b"WSxM file copyright UAM\r\nSxM Image file\r\nImage header size: 99\r\n[General Info]\r\n"
    )
    with pytest.raises(ScanReadError, match="Header end"):
        sio.read(path)


@pytest.mark.parametrize("name", ["sample_0.stp", "sample_0.top"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_copies_raise_scan_read_error(name, fraction, tmp_path):
    cut = truncated_copy(_path(name), tmp_path / name, fraction)
    with pytest.raises(ScanReadError):
        sio.read(cut)
