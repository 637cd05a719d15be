"""Asylum .ibw reader: against the wave note and header, Gwyddion 2.62, and igor2's raw wave."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import scansr.io
from scansr.io import igor
from scansr.scan import ScanReadError
from tests.conftest import TEST_DATA, shared_path
from tests.io.gwyddion_reference import assert_matches_gwyddion, check_record, gwyddion_fields

SHIPPED = TEST_DATA / "SciFiDatasets" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"

# Numbers from Gwyddion 2.62's conversion of each file (gwyddion --convert-to-gwy, read with gwyfile), in the
# layout of tests.io.gwyddion_reference.check_record.
GWYDDION_2_62 = {
    "DTMicroscope/scan_0001.ibw": {
        "shape": (256, 256),
        "pixel": (1.96078431e-08, 1.96078431e-08),
        "channels": [
            ("HeightRetrace", "m", (-3.43326292e-08, -3.69128657e-08, -1.35635219e-08, 2.87855073e-09)),
            ("Amplitude1Retrace", "m", (6.31135769e-11, 8.35139249e-11, 2.36197784e-10, 2.11016093e-10)),
            ("Amplitude2Retrace", "m", (6.98074376e-11, 1.40252393e-10, 1.67665354e-10, 2.00178416e-10)),
            ("Phase1Retrace", "deg", (79.6611786, 32.03302, 36.0618515, 14.2204933)),
            ("Phase2Retrace", "deg", (-70.779335, 119.187134, 133.262665, 130.617676)),
            ("FrequencyRetrace", "Hz", (357523.844, 361686.5, 353250.875, 363690.875)),
        ],
    },
    "SciFiDatasets/IgorIBWReader_ImageStack_BTFO_DSO.ibw": {
        "shape": (256, 256),
        "pixel": (7.84313725e-09, 7.84313725e-09),
        "channels": [
            ("HeightRetrace", "m", (2.14868123e-10, 5.02893727e-10, 2.71562328e-10, -5.92365268e-10)),
            ("AmplitudeRetrace", "m", (1.04456192e-11, 1.46829927e-11, 6.503876e-12, 1.33033827e-11)),
            ("DeflectionRetrace", "m", (3.76940932e-08, 3.76863163e-08, 3.78128888e-08, 3.77531286e-08)),
            ("PhaseRetrace", "deg", (-45.8347015, -84.2759705, 233.275543, 56.5375328)),
        ],
    },
    "SciFiDatasets/IgorIBWReader_P0089OP0027.ibw": {
        "shape": (256, 256),
        "pixel": (7.84313725e-09, 7.84313725e-09),
        "channels": [
            ("HeightRetrace", "m", (1.78897039e-08, -8.39889935e-09, 6.02602768e-09, 9.68412905e-09)),
            ("AmplitudeRetrace", "m", (1.15356448e-11, 6.40869129e-12, 1.08947755e-11, 1.48468026e-11)),
            ("DeflectionRetrace", "m", (1.59801871e-07, 1.60590588e-07, 1.60198312e-07, 1.5965982e-07)),
            ("PhaseRetrace", "deg", (208.241684, 35.1951103, 16.9366055, 31.3138676)),
            ("UserIn0Retrace", "V", (0.0630271435, 0.0656843185, 0.0620687008, 0.0646185875)),
        ],
    },
    "nanoAFMr/AR_20211011.ibw": {
        "shape": (128, 128),
        "pixel": (3.1496063e-08, 3.1496063e-08),
        "channels": [
            ("HeightRetrace", "m", (-1.12410703e-08, -2.64543587e-09, 1.1923845e-08, -9.63200364e-09)),
            ("AmplitudeRetrace", "m", (3.05646708e-08, 3.08840917e-08, 3.10855768e-08, 3.11246104e-08)),
            ("PhaseRetrace", "deg", (67.7499847, 68.5411453, 69.1198578, 73.7406616)),
            ("ZSensorRetrace", "m", (-7.20115167e-09, -3.46733486e-09, 1.33750007e-08, -6.85517421e-09)),
        ],
    },
    "pNanolocz-FileReaders/tops70s14_190g0000.ibw": {
        "shape": (256, 256),
        "pixel": (7.84313725e-08, 7.84313725e-08),
        "channels": [
            ("HeightTrace", "m", (1.95626626e-10, 6.30109298e-10, 1.75759851e-10, 9.69464509e-11)),
            ("HeightRetrace", "m", (-2.18676632e-10, -1.48219215e-10, -9.33795263e-11, -1.70999215e-10)),
            ("AmplitudeRetrace", "m", (5.29393986e-08, 5.31041913e-08, 5.31295257e-08, 5.31191091e-08)),
            ("NapAmplitudeRetrace", "m", (6.82396148e-08, 6.80743426e-08, 6.77537528e-08, 6.78763996e-08)),
            ("PhaseRetrace", "deg", (127.066261, 126.904686, 126.785126, 127.059502)),
            ("NapPhaseRetrace", "deg", (98.4492798, 99.0340881, 99.4959869, 99.919342)),
        ],
    },
    "AFMReader/sample_0.ibw": {
        "shape": (512, 512),
        "pixel": (1.56555773e-09, 1.56555773e-09),
        "channels": [
            ("HeightTrace", "m", (-8.31857221e-07, -8.44723616e-07, -8.26381836e-07, -8.27851352e-07)),
            ("HeightRetrace", "m", (-8.31890247e-07, -8.44822864e-07, -8.25880079e-07, -8.27921667e-07)),
            ("ZSensorTrace", "m", (0.975036621, 0.941162109, 1.0043335, 0.976867676)),
            ("ZSensorRetrace", "m", (0.968017578, 1.04766846, 1.01867676, 0.989379883)),
            ("UserIn0Trace", "V", (-0.314025879, -0.305175781, -0.629882812, -0.462646484)),
            ("UserIn0Retrace", "V", (-0.0433349609, 0.132141113, 0.166015625, -0.277099609)),
            ("UserIn1Trace", "V", (6.59667969, 6.67266846, 6.72607422, 6.45385742)),
            ("UserIn1Retrace", "V", (6.57470703, 6.3861084, 6.88232422, 6.42211914)),
        ],
    },
}
# scansr departs from Gwyddion once: the ZSensor of AFMReader/sample_0.ibw was recorded with "ZLVDTSens: -1"
# (no sensor calibration); its values (0.6..1.3) are volts, not metres as Gwyddion labels them.
UNITS = {"AFMReader/sample_0.ibw": ["m", "m", "V", "V", "V", "V", "V", "V"]}


# ------------------------------------------------------------------------------------------------- sniff
def test_sniff_checks_version_and_checksum():
    head = SHIPPED.read_bytes()[:4096]
    assert igor.sniff(head, ".ibw")
    assert igor.sniff(head, ".dat")  # content, not suffix
    broken = bytearray(head)
    broken[100] ^= 0xFF  # checksum no longer sums to zero
    assert not igor.sniff(bytes(broken), ".ibw")
    assert not igor.sniff(b"\x05\x00" + b"\0" * 10, ".ibw")  # too short
    assert not igor.sniff(b"\\*File list\r\n" + b"\0" * 500, ".ibw")


# ----------------------------------------------------------------------------------------------- shipped file
def test_shipped_file_follows_its_note_and_wave_header():
    from igor2 import binarywave

    scan = scansr.io.read(SHIPPED)
    wave = binarywave.load(str(SHIPPED))["wave"]
    note = igor.parse_note(wave["note"])
    assert scan.format == "igor"
    # Dimension labels, as Asylum wrote them (igor2 0.5.15 returns "PhaseRetracerace" for the last one).
    assert scan.names == ("HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace")
    assert [c.unit for c in scan.channels] == ["m", "m", "m", "deg"]
    assert {c.direction for c in scan.channels} == {"retrace"}
    assert scan.instrument == "Asylum Research Cypher"
    # Asylum's wave scaling spans the scan size with the pixel centres: ScanSize / (ScanPoints - 1).
    pitch = float(note["ScanSize"]) / (int(note["ScanPoints"]) - 1)
    assert scan.pixel_size == pytest.approx((pitch, pitch), rel=1e-9)
    assert scan.shape == (int(note["ScanLines"]), int(note["ScanPoints"]))
    # Offsets 0: the origin is the corner of a field centred on 0.
    assert scan.origin == pytest.approx((-256 * pitch / 2, -256 * pitch / 2), rel=1e-12)
    # Orientation: rows run from the last wave column (the top of the image in Gwyddion and Asylum's software)
    raw = np.asarray(wave["wData"], dtype=np.float64)
    np.testing.assert_array_equal(scan["PhaseRetrace"].data[0], raw[:, -1, 3])
    np.testing.assert_array_equal(scan["HeightRetrace"].data[:, 0], raw[0, ::-1, 0])
    heights = scan["HeightRetrace"].data
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_shipped_file_matches_recorded_gwyddion_numbers():
    record = GWYDDION_2_62["SciFiDatasets/IgorIBWReader_ImageStack_BTFO_DSO.ibw"]
    check_record(scansr.io.read(SHIPPED), record, names=[c[0] for c in record["channels"]])


def test_shipped_file_matches_gwyddion(tmp_path):
    reference = gwyddion_fields(SHIPPED, tmp_path)
    scan = scansr.io.read(SHIPPED)
    assert_matches_gwyddion(scan, reference, rename=str)


def test_missing_preview_footer_is_a_read_error(tmp_path):
    raw = SHIPPED.read_bytes()
    fields = struct.unpack_from("<hhiiii4i4iiii", raw, 0)
    end = 64 + sum(fields[2:15])
    path = tmp_path / "nofooter.ibw"
    path.write_bytes(raw[: end + 100])  # wave complete, preview block cut
    with pytest.raises(ScanReadError, match="footer"):
        scansr.io.read(path)
    path.write_bytes(raw[:end])  # wave alone, as Igor itself writes it: fine
    assert scansr.io.read(path).names == scansr.io.read(SHIPPED).names


# ------------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("HeightTrace", "m"),
        ("ZSensorRetrace", "m"),
        ("Amplitude2Retrace", "m"),
        ("NapAmplitudeRetrace", "m"),
        ("DeflectionRetrace", "m"),
        ("Phase1Retrace", "deg"),
        ("NapPhaseRetrace", "deg"),
        ("CurrentRetrace", "A"),
        ("FrequencyRetrace", "Hz"),
        ("PotentialRetrace", "V"),
        ("UserIn0Retrace", "N"),
        ("UserIn1Trace", "V"),
    ],
)
def test_units_follow_the_channel_name(name, unit):
    assert igor.asylum_unit(name, {"UserIn0Unit": "N", "ZLVDTSens": "2.6e-06"}) == unit


def test_uncalibrated_zsensor_is_in_volts():
    assert igor.asylum_unit("ZSensorTrace", {"ZLVDTSens": "-1"}) == "V"


# ------------------------------------------------------------------------------------------------- corpus
@pytest.mark.corpus
@pytest.mark.parametrize("key", list(GWYDDION_2_62))
def test_corpus_files_match_recorded_gwyddion_numbers(key):
    scan = scansr.io.read(shared_path("data", "spm", *key.split("/")))
    record = GWYDDION_2_62[key]
    check_record(scan, record, names=[c[0] for c in record["channels"]], units=UNITS.get(key))
    for channel in scan.channels:
        assert np.isfinite(channel.data).all()
        assert channel.direction == ("trace" if channel.name.endswith("Trace") else "retrace")
        if channel.unit == "m" and not channel.name.startswith(("Amplitude", "Deflection")):
            assert 1e-12 < np.ptp(channel.data) < 1e-3, channel.name
        if channel.unit == "m":
            assert np.abs(channel.data).max() < 1e-3, channel.name


@pytest.mark.corpus
def test_origin_from_the_scan_offsets():
    scan = scansr.io.read(shared_path("data", "spm", "DTMicroscope", "scan_0001.ibw"))
    # note: XOffset -2.5933e-06, YOffset -6.07e-06, 256 points of 5e-6/255 m, ScanAngle 0
    pitch = 5e-6 / 255
    assert scan.origin == pytest.approx((6.07e-6 - 128 * pitch, -2.5933e-6 - 128 * pitch), rel=1e-9)
    assert scan.metadata["scan_center_x"] == pytest.approx(-2.5933e-6)
    assert scan.metadata["scan_angle"] == 0
