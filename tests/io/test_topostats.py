"""TopoStats reader, against AFMReader's reader of the same files (GPL: read from ../shared, not shipped)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import scansr.io
from scansr.io import topostats
from scansr.scan import ScanReadError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy

NAMES = ["sample_0_1.topostats", "sample_0_2.topostats"]


def _path(name):
    return shared_path("data", "spm", "AFMReader", name)


@pytest.mark.corpus
@pytest.mark.parametrize("name", NAMES)
def test_reads_like_afmreader(name):
    from AFMReader.topostats import load_topostats

    path = _path(name)
    reference = load_topostats(path)  # AFMReader 0.0.7: a dict of the file's datasets, heights in nm
    scan = scansr.io.read(path)
    assert scan.format == "topostats"
    np.testing.assert_array_equal(scan["Height"].data, np.asarray(reference["image"]) * 1e-9)
    nm = float(reference["pixel_to_nm_scaling"])
    assert scan.pixel_size == pytest.approx((nm * 1e-9, nm * 1e-9), rel=1e-12)
    assert scan["Height"].unit == "m"
    heights = scan["Height"].data
    assert np.isfinite(heights).all()
    assert 1e-12 < np.ptp(heights) < 1e-3
    assert scan.origin is None


@pytest.mark.corpus
def test_original_image_is_a_second_channel():
    path = _path("sample_0_2.topostats")
    scan = scansr.io.read(path)
    assert scan.names == ("Height", "Height original")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(scan["Height original"].data, f["image_original"][()] * 1e-9)
    # the processed image of version 0.2 is the flattened original of the version 0.1 file
    old = scansr.io.read(_path("sample_0_1.topostats"))
    assert old.names == ("Height",)
    np.testing.assert_array_equal(scan["Height original"].data, old["Height"].data)


@pytest.mark.corpus
def test_sniff():
    head = _path("sample_0_1.topostats").read_bytes()[:4096]
    assert topostats.sniff(head, ".topostats")
    assert not topostats.sniff(b"\x89HDF\r\n\x1a\n" + b"\0" * 100, ".topostats")
    # a file whose names are not in its first bytes still comes here by its suffix
    assert scansr.io.detect_format(_path("sample_0_2.topostats")) == "topostats"


@pytest.mark.corpus
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_copies_are_read_errors(tmp_path, fraction):
    cut = truncated_copy(_path("sample_0_2.topostats"), tmp_path / "sample_0_2.topostats", fraction)
    with pytest.raises(ScanReadError):
        scansr.io.read(cut)


def test_bad_scaling_is_a_read_error(tmp_path):
    path = tmp_path / "bad.topostats"
    with h5py.File(path, "w") as f:
        f["image"] = np.ones((4, 4))
        f["pixel_to_nm_scaling"] = -1.0
    with pytest.raises(ScanReadError, match="pixel_to_nm_scaling"):
        scansr.io.read(path)
