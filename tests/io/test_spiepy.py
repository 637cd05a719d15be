"""SPIEPy .dat reader, checked against the layout SPIEPy's own demo loader uses (struct '<LL' + doubles)."""

import struct

import numpy as np
import pytest

from scansr import io
from scansr.io import spiepy
from scansr.scan import ScanReadError
from tests.conftest import TEST_DATA, shared_path

DEFECTS = TEST_DATA / "SPIEPy" / "image_with_defects.dat"


def spiepy_demo_load(path):
    """What spiepy.demo.load_demo_file does (SPIEPy 0.2.1, BSD-2-Clause): header shape, then doubles."""
    with open(path, "rb") as fh:
        shape = struct.unpack("<LL", fh.read(8))
        values = struct.unpack(f"<{shape[0] * shape[1]}d", fh.read())
    return np.array(values).reshape(shape)


def test_reads_shipped_demo_image_like_spiepy():
    reference = spiepy_demo_load(DEFECTS)
    scan = io.read(DEFECTS)
    assert scan.format == "spiepy"
    assert scan.names == ("Topography",)
    channel = scan["Topography"]
    assert channel.unit == "m"
    assert scan.shape == reference.shape == (256, 256)
    # SPIEPy shows its images with origin='lower': file row 0 is the bottom row of the picture.
    np.testing.assert_array_equal(channel.data, reference[::-1])
    assert scan.pixel_size is None
    assert scan.default_channel == "Topography"


def test_values_are_metres_of_stm_corrugation():
    # Si(111)-7x7 STM topography: the whole image spans a few ångström to ~1 nm, so metres is the only unit
    # in which the numbers are physical (as nm they would be 10^-19 m).
    data = io.read(DEFECTS)["Topography"].data
    assert 1e-10 < np.ptp(data) < 5e-9


def test_scan_size_sets_pixel_size():
    scan = io.read(DEFECTS, scan_size=(20e-9, 30e-9))
    assert scan.pixel_size == pytest.approx((20e-9 / 256, 30e-9 / 256), rel=1e-12)


@pytest.mark.parametrize(
    ("unit", "factor"), [("m", 1.0), ("nm", 1e-9), ("pm", 1e-12), ("Å", 1e-10), ("um", 1e-6), ("µm", 1e-6)]
)
def test_value_unit_scales_to_metres(unit, factor):
    reference = spiepy_demo_load(DEFECTS)[::-1]
    scan = io.read(DEFECTS, value_unit=unit)
    assert scan["Topography"].unit == "m"
    np.testing.assert_allclose(scan["Topography"].data, reference * factor, rtol=1e-15)


def test_value_unit_other_si_unit():
    scan = io.read(DEFECTS, value_unit="nA")
    assert scan["Topography"].unit == "A"


def test_unknown_value_unit_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown unit .furlong.*nm"):
        io.read(DEFECTS, value_unit="furlong")


def test_second_demo_image_from_shared_corpus():
    path = shared_path("data", "spm", "SPIEPy", "image_with_step_edge.dat")
    scan = io.read(path)
    np.testing.assert_array_equal(scan["Topography"].data, spiepy_demo_load(path)[::-1])
    assert scan.shape == (512, 512)


def test_truncated_file_is_a_read_error(tmp_path):
    path = tmp_path / "cut.dat"
    path.write_bytes(DEFECTS.read_bytes()[:-8])
    with pytest.raises(ScanReadError, match=r"256 x 256 doubles.*524296 bytes.*524288 bytes"):
        io.read(path)


def test_garbage_header_does_not_allocate(tmp_path):
    path = tmp_path / "huge.dat"
    path.write_bytes(struct.pack("<II", 4_000_000_000, 4_000_000_000) + bytes(64))
    with pytest.raises(ScanReadError, match="header says"):
        io.read(path)


def test_file_shorter_than_header(tmp_path):
    path = tmp_path / "tiny.dat"
    path.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ScanReadError, match="shorter than the 8-byte header"):
        io.read(path)


def test_text_file_named_dat_gets_a_hint(tmp_path):
    path = tmp_path / "matrix.dat"
    path.write_text("1.0 2.0\n3.0 4.0\n")
    # a text matrix is sniffed as text, whatever its suffix
    assert io.detect_format(path) == "text"
    with pytest.raises(ScanReadError, match="text file"):
        spiepy.read(path)


def test_sniff():
    head = DEFECTS.read_bytes()[:4096]
    assert spiepy.sniff(head, ".dat")
    assert not spiepy.sniff(head, ".bin")
    assert not spiepy.sniff(b"1.0 2.0 3.0\n4.0 5.0 6.0\n", ".dat")
    small = struct.pack("<II", 2, 3) + np.arange(6, dtype="<f8").tobytes()
    assert spiepy.sniff(small, ".dat")
    assert not spiepy.sniff(small + b"\x00", ".dat")  # the whole file is seen: its size must match exactly
    assert io.detect_format(DEFECTS) == "spiepy"


def test_frame_other_than_zero_is_rejected():
    with pytest.raises(ValueError, match="frame"):
        io.read(DEFECTS, frame=1)
