"""NanoScope reader: against the file's own header arithmetic, Gwyddion 2.62, and synthetic files."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

import scansr.io
from scansr.io import nanoscope
from scansr.scan import ScanReadError
from tests.conftest import TEST_DATA, shared_path
from tests.io.gwyddion_reference import assert_matches_gwyddion, check_record, gwyddion_fields

SHIPPED = TEST_DATA / "afm-cbir-examples" / "CL 0deg xcal.0_00000.spm"

# Numbers from Gwyddion 2.62's conversion of each file (gwyddion --convert-to-gwy, read with gwyfile), in the
# layout of tests.io.gwyddion_reference.check_record.
GWYDDION_2_62 = {
    "afm-cbir-examples/CL 0deg xcal.0_00000.spm": {
        "shape": (256, 256),
        "pixel": (3.31419922e-07, 3.31419922e-07),
        "channels": [
            ("ZSensor", "m", (-1.43746078e-07, 3.15688715e-08, 2.76297087e-08, 5.43176111e-08)),
            ("DeflectionError", "m", (2.52e-10, 3.78e-10, 8.4e-11, 4.2e-11)),
        ],
    },
    "afm-cbir-examples/CL 90deg ycal.0_00000.spm": {
        "shape": (256, 256),
        "pixel": (3.31419922e-07, 3.31419922e-07),
        "channels": [
            ("ZSensor", "m", (-1.49545522e-07, 2.64744054e-08, -1.34911139e-07, 5.60247945e-08)),
            ("DeflectionError", "m", (0, -4.2e-11, 1.092e-09, -4.2e-11)),
        ],
    },
    "nanoAFMr/kpg20080408.007": {
        "shape": (256, 256),
        "pixel": (3.90625e-09, 3.90625e-09),
        "channels": [
            ("Height", "m", (-1.97729259e-09, -9.3050942e-10, -4.82663829e-09, 4.59377136e-09)),
            ("Phase", "deg", (-0.714854069, 1.42263038, -0.431743547, 2.36195064)),
        ],
    },
    "nanoscope/full_multiple_images.txt": {
        "shape": (512, 512),
        "pixel": (3.90625e-09, 3.90625e-09),
        "channels": [
            ("Height", "m", (-3.977771e-07, -4.02979067e-07, -7.29749313e-07, -5.80279453e-07)),
            ("Amplitude", "V", (-0.0192255243, -0.00183163207, -0.00915816034, -0.00488325012)),
        ],
    },
    "nanoscopeAFM/Veeco_20160622.003": {
        "shape": (512, 512),
        "pixel": (3.45523438e-09, 3.45523438e-09),
        "channels": [
            ("Height", "m", (-1.3197056e-07, -1.42773322e-07, 8.32759208e-09, -6.88781628e-10)),
            ("Amplitude", "V", (0.0242597439, 0.0104131091, -0.0122083824, -0.0158695887)),
        ],
    },
    "AFMReader/sample_0.spm": {
        "shape": (1024, 1024),
        "pixel": (4.9400293e-10, 4.9400293e-10),
        "channels": [
            ("ZSensor", "m", (1.46817042e-07, 1.48676408e-07, 1.32834015e-07, 1.44145498e-07)),
            ("Peak Force Error", "V", (-0.0016875, 0.003875, 0.00025, 0.0040625)),
            ("Stiffness", "V", (0.0869092941, 4.33656883, 0.679445267, 0.015253067)),
            ("LogStiffness", "V", (-1.06092978, -1.77109373, -1.37196541, -1.81663489)),
            ("Adhesion", "V", (-0.00370955658, -0.0015422802, 0.000255506516, 0.00190624809)),
            ("Deformation", "V", (0.00364683382, 0.00125005748, 0.011321486, 0.00377430487)),
            ("Dissipation", "V", (-0.0231046677, -0.0152521133, -0.00638484955, 1.43051147e-05)),
            ("Height", "m", (3.0775858e-08, 3.31952125e-08, 2.19410427e-08, 2.76473823e-08)),
        ],
    },
}
# scansr departs from Gwyddion in one place: channels whose Z scale is in arbitrary units ("Arb", "log(Arb)")
# and whose sensitivity has no unit are not volts (Gwyddion says V); scansr leaves them unitless.
UNITS = {"AFMReader/sample_0.spm": ["m", "V", "", "", "V", "V", "", "m"]}
DIRECTIONS = {"AFMReader/sample_0.spm": ["retrace"] * 7 + ["trace"]}


def _header(path) -> str:
    raw = path.read_bytes()
    length = int(re.search(rb"\\Data length: (\d+)", raw).group(1))
    return raw[:length].decode("latin-1")


# ------------------------------------------------------------------------------------------------- sniff
@pytest.mark.parametrize("suffix", [".spm", ".007", ".txt", ".bin", ""])
def test_sniff_recognises_the_header_whatever_the_suffix(suffix):
    head = SHIPPED.read_bytes()[:4096]
    assert nanoscope.sniff(head, suffix)


def test_sniff_rejects_other_files():
    assert not nanoscope.sniff(b"\x89HDF\r\n\x1a\n", ".spm")
    assert not nanoscope.sniff(b"File list", ".001")


def test_content_decides_over_the_suffix(tmp_path):
    renamed = tmp_path / "scan.txt"
    renamed.write_bytes(SHIPPED.read_bytes())
    assert scansr.io.detect_format(renamed) == "nanoscope"
    assert scansr.io.read(renamed).names == ("ZSensor", "DeflectionError")


# ----------------------------------------------------------------------------------------------- shipped file
def test_shipped_file_follows_its_header():
    scan = scansr.io.read(SHIPPED)
    header = _header(SHIPPED)
    assert scan.format == "nanoscope"
    assert scan.names == ("ZSensor", "DeflectionError")
    assert [c.unit for c in scan.channels] == ["m", "m"]
    assert [c.direction for c in scan.channels] == ["retrace", "retrace"]  # "\Line Direction: Retrace"
    assert scan.instrument == "Bruker/Veeco NanoScope: Dimension Icon"
    size_um = float(re.search(r"\\Scan Size: ([\d.]+) [\d.]+ ~m", header).group(1))
    assert scan.shape == (256, 256)
    assert scan.pixel_size == pytest.approx((size_um * 1e-6 / 256,) * 2, rel=1e-12)
    assert scan.origin == pytest.approx((-size_um * 1e-6 / 2,) * 2)  # X/Y Offset 0, no rotation

    # Bruker's rule, spelled out: value = raw / 256**(Bytes/pixel) * Z scale [V] * sensitivity [nm/V]; version
    # 9.7 stores every sample as int32 and the first stored line is the bottom one.
    raw = SHIPPED.read_bytes()
    zsens = float(re.search(r"\\@Sens. ZsensSens: V ([\d.]+) nm/V", header).group(1)) * 1e-9
    zscale = float(
        re.search(r"\\@2:Z scale: V \[Sens. ZsensSens\] \([\d.]+ V/LSB\) ([\d.]+) V", header).group(1)
    )
    defl_sens = float(re.search(r"\\@Sens. DeflSens: V ([\d.]+) nm/V", header).group(1)) * 1e-9
    defl_scale = float(
        re.search(r"\\@2:Z scale: V \[Sens. DeflSens\] \([\d.]+ V/LSB\) ([\d.]+) V", header).group(1)
    )
    first_z = struct.unpack_from("<i", raw, 80960)[0]
    first_defl = struct.unpack_from("<i", raw, 80960 + 262144)[0]
    assert scan["ZSensor"].data[-1, 0] == pytest.approx(first_z / 2**32 * zscale * zsens, rel=1e-12)
    assert scan["DeflectionError"].data[-1, 0] == pytest.approx(
        first_defl / 2**16 * defl_scale * defl_sens, rel=1e-12
    )
    heights = scan["ZSensor"].data
    assert np.isfinite(heights).all()
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_shipped_file_matches_recorded_gwyddion_numbers():
    key = "afm-cbir-examples/CL 0deg xcal.0_00000.spm"
    check_record(scansr.io.read(SHIPPED), GWYDDION_2_62[key], names=["ZSensor", "DeflectionError"])


def test_shipped_file_matches_gwyddion(tmp_path):
    reference = gwyddion_fields(SHIPPED, tmp_path)
    scan = scansr.io.read(SHIPPED)
    assert_matches_gwyddion(scan, reference, rename=str)


# ------------------------------------------------------------------------------------------------- corpus
@pytest.mark.corpus
@pytest.mark.parametrize("key", list(GWYDDION_2_62))
def test_corpus_files_match_recorded_gwyddion_numbers(key):
    scan = scansr.io.read(shared_path("data", "spm", *key.split("/")))
    record = GWYDDION_2_62[key]
    check_record(scan, record, names=[c[0] for c in record["channels"]], units=UNITS.get(key))
    assert [c.direction for c in scan.channels] == DIRECTIONS.get(key, ["retrace"] * len(scan.channels))
    for channel in scan.channels:
        assert np.isfinite(channel.data).all()
        if channel.unit == "m":
            assert np.ptp(channel.data) > 1e-12
            assert np.abs(channel.data).max() < 1e-3


@pytest.mark.corpus
def test_rotated_scan_has_no_origin_but_keeps_its_angle():
    scan = scansr.io.read(shared_path("data", "spm", "nanoAFMr", "kpg20080408.007"))
    assert scan.origin is None
    assert scan.metadata["scan_angle"] == pytest.approx(63.0, abs=1e-3)  # "\Rotate Ang.: 1.09956" (radians)


# ------------------------------------------------------------------------------------------------- synthetic
def _synthetic(path, data_trace, data_retrace, *, samps, lines, scan_size, aspect, global_lines=None):
    """A minimal NanoScope v5.12 file: two 16-bit Height channels (trace, retrace), 10 nm/V, Z scale 2 V."""
    header_len = 8192
    ny, nx = data_trace.shape
    lines_ = [
        "\\*File list",
        "\\Version: 0x05120130",
        "\\Date: 10:00:00 AM Mon Jan 01 2024",
        f"\\Data length: {header_len}",
        "\\*Scanner list",
        "\\@Sens. Zscan: V 10.00000 nm/V",
        "\\*Ciao scan list",
        f"\\Samps/line: {samps}",
        f"\\Lines: {global_lines or lines}",
        f"\\Aspect ratio: {aspect}",
        f"\\Scan size: {scan_size}",
        "\\X Offset: 100 nm",
        "\\Y Offset: -50 nm",
        "\\Rotate Ang.: 0",
    ]
    for i, direction in enumerate(("Trace", "Retrace")):
        lines_ += [
            "\\*Ciao image list",
            f"\\Data offset: {header_len + i * 2 * nx * ny}",
            f"\\Data length: {2 * nx * ny}",
            "\\Bytes/pixel: 2",
            f"\\Samps/line: {nx}",
            f"\\Number of lines: {ny}",
            f"\\Aspect ratio: {aspect}",
            f"\\Scan size: {scan_size}",
            f"\\Line direction: {direction}",
            '\\@2:Image Data: S [Height] "Height"',
            "\\@2:Z scale: V [Sens. Zscan] (0.006713765 V/LSB) 2.000000 V",
        ]
    text = ("\r\n".join(lines_) + "\r\n\\*File list end\r\n\x1a").encode("latin-1")
    body = text.ljust(header_len, b"\0")
    for data in (data_trace, data_retrace):
        body += np.flipud(data).astype("<i2").tobytes()  # stored bottom line first
    path.write_bytes(body)


def test_synthetic_non_square_scan(tmp_path):
    rng = np.random.default_rng(3)
    trace = rng.integers(-30000, 30000, size=(4, 8))
    retrace = rng.integers(-30000, 30000, size=(4, 8))
    path = tmp_path / "nonsquare.001"
    # 8 samples x 4 lines at aspect ratio 2:1: a 2 um x 1 um scan of square 250 nm pixels.
    _synthetic(path, trace, retrace, samps=8, lines=4, scan_size="2 2 ~m", aspect="2:1")
    scan = scansr.io.read(path)
    assert scan.names == ("Height", "Height retrace")
    assert [c.direction for c in scan.channels] == ["trace", "retrace"]
    assert scan.shape == (4, 8)
    assert scan.pixel_size == pytest.approx((250e-9, 250e-9), rel=1e-12)
    np.testing.assert_allclose(scan["Height"].data, trace / 65536 * 2.0 * 10e-9, rtol=1e-12)
    np.testing.assert_allclose(scan["Height retrace"].data, retrace / 65536 * 2.0 * 10e-9, rtol=1e-12)
    # origin: top-left corner, y down the rows: (-(Y Offset) - height/2, X Offset - width/2)
    assert scan.origin == pytest.approx((50e-9 - 0.5e-6, 100e-9 - 1e-6), rel=1e-12)


def test_synthetic_non_square_scan_matches_gwyddion(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "nonsquare.002"
    _synthetic(
        path,
        rng.integers(-9000, 9000, size=(4, 8)),
        rng.integers(-9000, 9000, size=(4, 8)),
        samps=8,
        lines=4,
        scan_size="2 2 ~m",
        aspect="2:1",
    )
    assert_matches_gwyddion(scansr.io.read(path), gwyddion_fields(path, tmp_path))


def test_synthetic_image_smaller_than_scan_list(tmp_path):
    # Image list of 4 lines at aspect 2:1 inside a square scan list of 8 lines: Gwyddion's "common case".
    rng = np.random.default_rng(5)
    path = tmp_path / "half.003"
    _synthetic(
        path,
        rng.integers(-9000, 9000, size=(4, 8)),
        rng.integers(-9000, 9000, size=(4, 8)),
        samps=8,
        lines=4,
        scan_size="2 2 ~m",
        aspect="2:1",
        global_lines=8,
    )
    scan = scansr.io.read(path)
    assert scan.pixel_size == pytest.approx((250e-9, 250e-9), rel=1e-12)


def test_text_export_is_refused(tmp_path):
    path = tmp_path / "ascii.txt"
    path.write_bytes(b"?*File list\r\n\\Version: 0x05120130\r\n\\Data length: 40\r\n")
    with pytest.raises(ScanReadError, match="text"):
        scansr.io.read(path)


def test_header_longer_than_the_file_is_a_read_error(tmp_path):
    path = tmp_path / "short.spm"
    path.write_bytes(b"\\*File list\r\n\\Version: 0x05120130\r\n\\Data length: 999999999\r\n")
    with pytest.raises(ScanReadError, match="truncated"):
        scansr.io.read(path)
