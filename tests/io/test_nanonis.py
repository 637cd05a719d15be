"""Nanonis .sxm reader: against the file's header and data layout, and Gwyddion 2.62."""

from __future__ import annotations

import re

import numpy as np
import pytest

import scansr.io
from scansr.io import nanonis
from scansr.scan import ScanReadError
from tests.conftest import TEST_DATA, shared_path
from tests.io.gwyddion_reference import assert_matches_gwyddion, check_record, gwyddion_fields

SHIPPED = TEST_DATA / "pySPM" / "test.sxm"

# Numbers from Gwyddion 2.62's conversion of each file (gwyddion --convert-to-gwy, read with gwyfile), in the
# layout of tests.io.gwyddion_reference.check_record.
GWYDDION_2_62 = {
    "pySPM/test.sxm": {
        "shape": (256, 256),
        "pixel": (1.953125e-08, 1.953125e-08),
        "channels": [
            ("Z (Forward)", "m", (-5.48962703e-07, -5.43744363e-07, -4.85943531e-07, -5.11689564e-07)),
            ("Z (Backward)", "m", (-5.49459685e-07, -5.41422594e-07, -4.88330841e-07, -4.88518367e-07)),
            ("Current (Forward)", "A", (1.52675073e-09, 3.46087003e-09, 8.09058265e-10, 3.89347748e-10)),
            ("Current (Backward)", "A", (3.19166138e-10, 1.00000497e-08, 7.07772785e-10, 2.94780533e-09)),
        ],
    },
    "pynxtools-spm/A151216.123306-02602.sxm": {
        "shape": (128, 128),
        "pixel": (1.5625e-11, 1.5625e-11),
        "channels": [
            ("Z (Forward)", "m", (-2.18616112e-08, -2.18616112e-08, -2.18616112e-08, -2.18616112e-08)),
            ("Z (Backward)", "m", (-2.18616112e-08, -2.18616112e-08, -2.18616112e-08, -2.18616112e-08)),
            ("Input_4 (Forward)", "V", (-0.000687076536, 0.000727242616, 0.000464443699, 0.00101091829)),
            ("Input_4 (Backward)", "V", (0.00100112415, 0.00012592983, 0.000779213209, 7.29006888e-06)),
            ("Current (Forward)", "A", (2.84480745e-13, 2.01275723e-13, -1.73500486e-14, 1.24951143e-13)),
            ("Current (Backward)", "A", (2.86293504e-13, 2.05067449e-13, -9.50889944e-15, 1.22468442e-13)),
            ("Phase (Forward)", "deg", (-0.40319559, 0.232722461, 0.00253475201, 0.191181839)),
            ("Phase (Backward)", "deg", (-0.530557692, 0.350125313, 0.544860899, -0.764248252)),
            ("Amplitude (Forward)", "m", (1.0026046e-10, 1.00028347e-10, 1.00303724e-10, 1.00238533e-10)),
            ("Amplitude (Backward)", "m", (1.00206551e-10, 1.00337724e-10, 1.00627943e-10, 9.94663102e-11)),
            ("Frequency_Shift (Forward)", "Hz", (-3.7242229, -3.50225401, -1.90274155, -4.34224796)),
            ("Frequency_Shift (Backward)", "Hz", (-3.7441256, -3.45481658, -1.75658119, -4.25998449)),
            ("Excitation (Forward)", "V", (0.00459090434, 0.00770692201, 0.00650076754, 0.00682996819)),
            ("Excitation (Backward)", "V", (0.00817613211, 0.00917047821, -0.00747969979, 0.00993454177)),
            ("LIX_1_omega (Forward)", "A", (2.20968555e-15, -3.9470756e-16, 3.49040678e-15, 1.11533963e-15)),
            (
                "LIX_1_omega (Backward)",
                "A",
                (-3.13396748e-15, -8.569268e-15, -6.42740628e-15, -4.94106548e-15),
            ),
            ("LIY_1_omega (Forward)", "A", (2.62106045e-15, -5.64286361e-16, -8.4712665e-16, 2.10950421e-15)),
            (
                "LIY_1_omega (Backward)",
                "A",
                (2.77447823e-15, 7.82856067e-16, -3.88837124e-15, 1.95065695e-15),
            ),
        ],
    },
    "pynxtools-spm/Au_mica_2023_Y_A_diPAMY_195.sxm": {
        "shape": (256, 256),
        "pixel": (1.5625e-11, 1.5625e-11),
        "channels": [
            ("Z (Forward)", "m", (1.72438609e-11, 1.72438609e-11, 1.72438609e-11, 1.72438609e-11)),
            ("Z (Backward)", "m", (1.72438609e-11, 1.72438609e-11, 1.72438609e-11, 1.72438609e-11)),
            ("Current (Forward)", "A", (-3.03282885e-11, -2.70635719e-11, -2.97885536e-11, -4.2664321e-09)),
            ("Current (Backward)", "A", (-3.289179e-11, -2.84373376e-11, -3.01919982e-11, -3.85879595e-09)),
        ],
    },
    "pynxtools-spm/STM_nanonis_generic_4_5.sxm": {
        "shape": (256, 256),
        "pixel": (1.5625e-11, 1.5625e-11),
        "channels": [
            ("Z (Forward)", "m", (9.32260136e-09, 9.26716215e-09, 9.1499528e-09, 9.32268485e-09)),
            ("Z (Backward)", "m", (9.32435817e-09, 9.26578636e-09, 9.149832e-09, 9.32683086e-09)),
            ("Current (Forward)", "A", (5.48066259e-10, 4.65663619e-10, 4.97421826e-10, 5.42950018e-10)),
            ("Current (Backward)", "A", (5.21999277e-10, 4.75574302e-10, 4.96160113e-10, 5.01999109e-10)),
        ],
    },
}


def _scansr_name(gwyddion_title: str) -> str:
    """Gwyddion titles "Z (Forward)" / "Z (Backward)"; scansr names them "Z" / "Z retrace"."""
    name, direction = re.fullmatch(r"(.*) \((Forward|Backward)\)", gwyddion_title).groups()
    return name if direction == "Forward" else f"{name} retrace"


def _header(path) -> str:
    raw = path.read_bytes()
    return raw[: raw.index(b":SCANIT_END:")].decode("latin-1")


# ------------------------------------------------------------------------------------------------- sniff
def test_sniff():
    assert nanonis.sniff(SHIPPED.read_bytes()[:4096], ".sxm")
    assert nanonis.sniff(SHIPPED.read_bytes()[:4096], ".dat")
    assert not nanonis.sniff(b"[DataSet]\r\n", ".sxm")


# ----------------------------------------------------------------------------------------------- shipped file
def test_shipped_file_follows_its_header():
    scan = scansr.io.read(SHIPPED)
    header = _header(SHIPPED)
    assert scan.format == "nanonis"
    # :DATA_INFO: lists Z (m) and Current (A), both directions
    assert scan.names == ("Z", "Z retrace", "Current", "Current retrace")
    assert [c.unit for c in scan.channels] == ["m", "m", "A", "A"]
    assert [c.direction for c in scan.channels] == ["trace", "retrace", "trace", "retrace"]
    nx, ny = (int(v) for v in re.search(r":SCAN_PIXELS:\s+(\d+)\s+(\d+)", header).groups())
    wx, wy = (float(v) for v in re.search(r":SCAN_RANGE:\s+(\S+)\s+(\S+)", header).groups())
    assert scan.shape == (ny, nx)
    assert scan.pixel_size == pytest.approx((wy / ny, wx / nx), rel=1e-12)
    # SCAN_OFFSET 0 0, SCAN_ANGLE 0: the field's top-left corner is at minus half its size
    assert scan.origin == pytest.approx((-wy / 2, -wx / 2), rel=1e-12)
    assert scan.metadata["scan_angle"] == 0
    # Layout: after 0x1A 0x04, big-endian float32 images, forward then backward per channel, line after line;
    # SCAN_DIR "up" stores the bottom line first; backward lines are stored in scan order (right to left).
    raw = SHIPPED.read_bytes()
    start = raw.index(b"\x1a\x04", raw.index(b":SCANIT_END:")) + 2
    images = np.frombuffer(raw, ">f4", count=4 * nx * ny, offset=start).reshape(4, ny, nx)
    assert "up" in re.search(r":SCAN_DIR:\s+(\w+)", header).group(1)
    np.testing.assert_array_equal(scan["Z"].data, images[0][::-1])
    np.testing.assert_array_equal(scan["Z retrace"].data, images[1][::-1, ::-1])
    np.testing.assert_array_equal(scan["Current"].data, images[2][::-1])
    z = scan["Z"].data
    assert 1e-12 < np.ptp(z) < 1e-3


def test_shipped_file_matches_recorded_gwyddion_numbers():
    record = GWYDDION_2_62["pySPM/test.sxm"]
    check_record(scansr.io.read(SHIPPED), record, names=[_scansr_name(c[0]) for c in record["channels"]])


def test_shipped_file_matches_gwyddion(tmp_path):
    reference = gwyddion_fields(SHIPPED, tmp_path)
    scan = scansr.io.read(SHIPPED)
    assert_matches_gwyddion(scan, reference, rename=_scansr_name)
    # Gwyddion's x offset is the same corner; its y offset ignores that the stage y points up the image.
    assert reference[0].offset[1] == pytest.approx(scan.origin[1], rel=1e-9)


def test_header_without_end_is_a_read_error(tmp_path):
    path = tmp_path / "broken.sxm"
    path.write_bytes(SHIPPED.read_bytes()[:300])
    with pytest.raises(ScanReadError, match="SCANIT_END"):
        scansr.io.read(path)


# ------------------------------------------------------------------------------------------------- corpus
@pytest.mark.corpus
@pytest.mark.parametrize("key", list(GWYDDION_2_62))
def test_corpus_files_match_recorded_gwyddion_numbers(key):
    scan = scansr.io.read(shared_path("data", "spm", *key.split("/")))
    record = GWYDDION_2_62[key]
    check_record(scan, record, names=[_scansr_name(c[0]) for c in record["channels"]])
    for channel in scan.channels:
        assert np.isfinite(channel.data).all()
    z = np.abs(scan["Z"].data)
    assert 1e-12 < z.max() < 1e-3  # constant-height scans have a flat Z: its level is what can be checked


@pytest.mark.corpus
def test_offsets_and_angle_in_metadata():
    scan = scansr.io.read(shared_path("data", "spm", "pynxtools-spm", "Au_mica_2023_Y_A_diPAMY_195.sxm"))
    assert scan.metadata["scan_angle"] == pytest.approx(135.1)
    assert scan.metadata["scan_center_x"] == pytest.approx(1.500662e-7)
    assert scan.metadata["scan_center_y"] == pytest.approx(-1.571085e-7)
    assert scan.origin is None  # rotated
    generic = scansr.io.read(shared_path("data", "spm", "pynxtools-spm", "STM_nanonis_generic_4_5.sxm"))
    # SCAN_OFFSET -5.280251E-7 1.130423E-8, range 4 nm, angle 0
    assert generic.origin == pytest.approx((-1.130423e-8 - 2e-9, -5.280251e-7 - 2e-9), rel=1e-9)
