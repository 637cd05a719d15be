"""Nanosurf .nid reader: against the header, NSFopen (an independent reader) and Gwyddion 2.62."""

from __future__ import annotations

import re

import numpy as np
import pytest

import scansr.io
from scansr.io import nanosurf
from tests.conftest import TEST_DATA, shared_path
from tests.io.gwyddion_reference import assert_matches_gwyddion, check_record, gwyddion_fields

SHIPPED = TEST_DATA / "NSFopen" / "circles.nid"
# NSFopen 2.2.4 calls a pandas method that pandas deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in Series.dropna")

# Numbers from Gwyddion 2.62's conversion of each file (gwyddion --convert-to-gwy, read with gwyfile), in the
# layout of tests.io.gwyddion_reference.check_record.
GWYDDION_2_62 = {
    "NSFopen/SBS-PMMA.nid": {
        "shape": (256, 256),
        "pixel": (9.765625e-08, 9.765625e-08),
        "channels": [
            ("Deflection forward", "m", (2.5207806e-08, 2.56060045e-08, 9.931206e-08, 1.00600922e-07)),
            ("Z-Axis forward", "m", (-2.0327365e-06, -2.04048115e-06, -2.21848485e-06, -2.20441748e-06)),
            ("Friction force forward", "V", (0.749441516, 0.763427559, 0.729341526, 0.72890386)),
            (
                "Z-Axis Sensor forward",
                "m",
                (-9.25398413e-07, -9.36063929e-07, -1.14985851e-06, -1.12754336e-06),
            ),
            ("Deflection backward", "m", (2.49831822e-08, 2.4717021e-08, 9.94985417e-08, 1.0037097e-07)),
            ("Z-Axis backward", "m", (-2.03280164e-06, -2.07639608e-06, -2.23249174e-06, -2.20166539e-06)),
            ("Friction force backward", "V", (0.828090049, 0.834101085, 0.873017777, 0.820599794)),
            (
                "Z-Axis Sensor backward",
                "m",
                (-9.26133974e-07, -9.7246756e-07, -1.1629366e-06, -1.12494589e-06),
            ),
        ],
    },
    "NSFopen/circles.nid": {
        "shape": (256, 256),
        "pixel": (1.953125e-07, 1.953125e-07),
        "channels": [
            ("Topography forward", "m", (-3.79511719e-07, 3.01066895e-07, -4.41213379e-07, -3.49436035e-07)),
            ("Amplitude forward", "V", (0.352783203, 0.353393555, 0.357055664, 0.355529785)),
            ("Topography backward", "m", (-3.82612305e-07, 2.8432373e-07, -4.47724609e-07, -3.6369873e-07)),
            ("Amplitude backward", "V", (0.356445312, 0.35736084, 0.354614258, 0.355224609)),
        ],
    },
    "NSFopen/circles_holes.nid": {
        "shape": (256, 256),
        "pixel": (1.953125e-07, 1.953125e-07),
        "channels": [
            ("Topography forward", "m", (-5.70507812e-08, 1.13791504e-07, -6.42441406e-07, -3.78271484e-08)),
            ("Amplitude forward", "V", (0.354919434, 0.355529785, 0.355834961, 0.355224609)),
            ("Topography backward", "m", (-6.07714844e-08, 1.04489746e-07, -6.46162109e-07, -5.51904297e-08)),
            ("Amplitude backward", "V", (0.356445312, 0.357666016, 0.355834961, 0.35736084)),
        ],
    },
    "NSFopen/grid1.nid": {
        "shape": (256, 256),
        "pixel": (1.171875e-08, 1.171875e-08),
        "channels": [
            ("Z-Axis forward", "m", (9.69904212e-07, 1.02129366e-06, 7.18667154e-07, 8.72986956e-07)),
            ("Amplitude forward", "V", (0.324807148, 0.319620874, 0.324977469, 0.337085854)),
            ("Phase forward", "deg", (83.5667203, 85.5728474, 81.0458274, 74.4547286)),
            ("Z-Axis backward", "m", (9.66645813e-07, 1.02257701e-06, 7.19652532e-07, 8.64193282e-07)),
            ("Amplitude backward", "V", (0.31730162, 0.325056035, 0.330700502, 0.314501934)),
            ("Phase backward", "deg", (83.853307, 84.9920412, 80.0485281, 75.4233839)),
        ],
    },
    "NSFopen/image.nid": {
        "shape": (256, 256),
        "pixel": (2.89347266e-08, 2.89347266e-08),
        "channels": [
            ("Z-Axis forward", "m", (1.64697876e-06, 1.83070374e-06, 1.27952881e-06, 1.6585434e-06)),
            ("Amplitude forward", "V", (0.103149414, 0.104064941, 0.101623535, 0.0999450684)),
            ("Phase forward", "deg", (-12.0822144, -14.128418, -7.50091553, 65.0280762)),
            ("Z-Axis backward", "m", (1.65112457e-06, 1.82961273e-06, 1.28040161e-06, 1.63759613e-06)),
            ("Amplitude backward", "V", (0.106964111, 0.102844238, 0.101776123, 0.0930786133)),
            ("Phase backward", "deg", (-10.7611084, -15.2050781, -7.918396, -13.5955811)),
        ],
    },
    "NSFopen/sapphire.nid": {
        "shape": (256, 256),
        "pixel": (9.765625e-09, 9.765625e-09),
        "channels": [
            ("Z-Axis forward", "m", (-3.44970251e-06, -3.44631569e-06, -3.39675112e-06, -3.42265545e-06)),
            ("Amplitude forward", "V", (0.799160711, 0.798721593, 0.79807777, 0.800549816)),
            ("Phase forward", "deg", (61.6393217, 61.2579307, 62.6062751, 62.114937)),
            (
                "Z-Axis Sensor forward",
                "m",
                (-5.26237699e-06, -5.25925479e-06, -5.20631539e-06, -5.23364546e-06),
            ),
            ("Z-Axis backward", "m", (-3.44948451e-06, -3.44620246e-06, -3.39670157e-06, -3.42272885e-06)),
            ("Amplitude backward", "V", (0.798678324, 0.80228677, 0.801288169, 0.80080878)),
            ("Phase backward", "deg", (62.2367438, 61.1769645, 60.9966439, 62.0493382)),
            (
                "Z-Axis Sensor backward",
                "m",
                (-5.26208548e-06, -5.25908238e-06, -5.20599852e-06, -5.23340687e-06),
            ),
        ],
    },
    "NSFopen/squares_holes.nid": {
        "shape": (256, 256),
        "pixel": (1.953125e-07, 1.953125e-07),
        "channels": [
            ("Topography forward", "m", (3.11918945e-07, 4.90512695e-07, -2.32543945e-07, -1.63400879e-07)),
            ("Amplitude forward", "V", (0.353088379, 0.353088379, 0.3515625, 0.354309082)),
            ("Topography backward", "m", (3.09128418e-07, 4.81520996e-07, -3.65869141e-08, -1.81384277e-07)),
            ("Amplitude backward", "V", (0.354003906, 0.354309082, 0.407409668, 0.352172852)),
        ],
    },
    "NSFopen/test.nid": {
        "shape": (256, 256),
        "pixel": (1.953125e-07, 1.953125e-07),
        "channels": [
            ("Z-Axis forward", "m", (-2.25659575e-06, -2.51592671e-06, -1.18656946e-06, -1.86296591e-06)),
            ("Amplitude forward", "V", (0.622627214, 0.739206076, 0.725257061, 0.640557129)),
            ("Phase forward", "deg", (-2.8504432, -10.5831076, -11.6892627, -0.637750514)),
            (
                "Z-Axis Sensor forward",
                "m",
                (-5.0914693e-06, -5.36510885e-06, -4.05130427e-06, -4.69456366e-06),
            ),
            ("Z-Axis backward", "m", (-2.26989937e-06, -2.52727233e-06, -1.17986136e-06, -1.85204395e-06)),
            ("Amplitude backward", "V", (0.817268547, 0.723599754, 0.649865139, 0.67960415)),
            ("Phase backward", "deg", (-15.5659231, -6.96386553, -10.9635307, -17.6957959)),
            (
                "Z-Axis Sensor backward",
                "m",
                (-5.09309418e-06, -5.37746356e-06, -4.0499081e-06, -4.68891222e-06),
            ),
        ],
    },
    "nanoAFMr/NanoSurf_20160301.nid": {
        "shape": (128, 128),
        "pixel": (7.8125e-08, 7.8125e-08),
        "channels": [
            ("Z-Axis forward", "m", (-1.6784668e-07, -9.70458984e-08, -1.7578125e-07, -1.28479004e-07)),
            ("Amplitude forward", "V", (0.047454834, 0.0494384766, 0.0533294678, 0.0485229492)),
            ("Z-Axis backward", "m", (-1.35498047e-07, -9.64355469e-08, -1.76696777e-07, -1.36108398e-07)),
            ("Amplitude backward", "V", (0.0468444824, 0.05027771, 0.0519561768, 0.0512695312)),
        ],
    },
}


def _scansr_name(gwyddion_title: str) -> str:
    """Gwyddion titles "Z-Axis forward" / "Z-Axis backward"; scansr names them "Z-Axis" / "Z-Axis retrace"."""
    name, direction = re.fullmatch(r"(.*) (forward|backward)", gwyddion_title).groups()
    return name if direction == "forward" else f"{name} retrace"


def _nsfopen(path):
    """Read NSFopen's images as {(direction, name): array}, in its (stored, bottom-first) orientation."""
    from NSFopen.read import read

    data = read(str(path)).data
    return {
        (key[1], key[2]): np.asarray(data[key], dtype=np.float64) for key in data.index if key[0] == "Image"
    }


# ------------------------------------------------------------------------------------------------- sniff
def test_sniff():
    assert nanosurf.sniff(SHIPPED.read_bytes()[:4096], ".nid")
    assert nanosurf.sniff(SHIPPED.read_bytes()[:4096], ".bin")
    assert not nanosurf.sniff(b":NANONIS_VERSION:\n", ".nid")


# ----------------------------------------------------------------------------------------------- shipped file
def test_shipped_file_follows_its_header():
    scan = scansr.io.read(SHIPPED)
    header = SHIPPED.read_bytes().split(b"#!")[0].decode("latin-1")
    assert scan.format == "nanosurf"
    assert scan.names == ("Topography", "Amplitude", "Topography retrace", "Amplitude retrace")
    assert [c.unit for c in scan.channels] == ["m", "V", "m", "V"]
    assert [c.direction for c in scan.channels] == ["trace", "trace", "retrace", "retrace"]
    points = int(re.search(r"Points=(\d+)", header).group(1))
    lines = int(re.search(r"Lines=(\d+)", header).group(1))
    xrange_ = float(re.search(r"Dim0Range=(\S+)", header).group(1))
    yrange = float(re.search(r"Dim1Range=(\S+)", header).group(1))
    assert scan.shape == (lines, points)
    assert scan.pixel_size == pytest.approx((yrange / lines, xrange_ / points), rel=1e-12)
    assert scan.metadata["scan_angle"] == -45  # "Rotation=-45 °": no origin for a rotated scan
    assert scan.origin is None
    # 16-bit signed: value = Dim2Min + (raw + 32768) * Dim2Range / 65536, first stored line at the bottom
    zrange = float(re.search(r"Dim2Name=Topography\s+Dim2Unit=m\s+Dim2Range=(\S+)", header).group(1))
    zmin = float(
        re.search(r"Dim2Name=Topography\s+Dim2Unit=m\s+Dim2Range=\S+\s+Dim2Min=(\S+)", header).group(1)
    )
    raw = SHIPPED.read_bytes()
    first = int(np.frombuffer(raw, "<i2", count=1, offset=raw.index(b"#!") + 2)[0])
    assert scan["Topography"].data[-1, 0] == pytest.approx(zmin + (first + 32768) * zrange / 65536, rel=1e-12)
    heights = scan["Topography"].data
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_shipped_file_matches_nsfopen():
    scan = scansr.io.read(SHIPPED)
    reference = _nsfopen(SHIPPED)
    for channel in scan.channels:
        name = channel.name.removesuffix(" retrace")
        direction = "Backward" if channel.direction == "retrace" else "Forward"
        np.testing.assert_allclose(channel.data, np.flipud(reference[(direction, name)]), rtol=1e-12, atol=0)


def test_shipped_file_matches_recorded_gwyddion_numbers():
    record = GWYDDION_2_62["NSFopen/circles.nid"]
    check_record(scansr.io.read(SHIPPED), record, names=[_scansr_name(c[0]) for c in record["channels"]])


def test_shipped_file_matches_gwyddion(tmp_path):
    reference = gwyddion_fields(SHIPPED, tmp_path)
    scan = scansr.io.read(SHIPPED)
    assert_matches_gwyddion(scan, reference, rename=_scansr_name)


# ------------------------------------------------------------------------------------------------- corpus
@pytest.mark.corpus
@pytest.mark.parametrize("key", list(GWYDDION_2_62))
def test_corpus_files_match_gwyddion_and_nsfopen(key):
    path = shared_path("data", "spm", *key.split("/"))
    scan = scansr.io.read(path)
    record = GWYDDION_2_62[key]
    check_record(scan, record, names=[_scansr_name(c[0]) for c in record["channels"]])
    reference = _nsfopen(path)
    assert len(reference) == len(scan.channels)
    for channel in scan.channels:
        direction = "Backward" if channel.direction == "retrace" else "Forward"
        expected = np.flipud(reference[(direction, channel.name.removesuffix(" retrace"))])
        np.testing.assert_allclose(channel.data, expected, rtol=1e-12, atol=0, err_msg=channel.name)
        if channel.unit == "m":
            assert np.ptp(channel.data) > 1e-12, channel.name
            assert np.abs(channel.data).max() < 1e-3, channel.name


@pytest.mark.corpus
def test_origin_from_the_scan_offset():
    scan = scansr.io.read(shared_path("data", "spm", "NSFopen", "image.nid"))
    # [DataSet\Parameters\Imaging] ScanOffset=V[2.67485e-06,-1.44031e-06,0], ScanRange 7.40729e-06, angle 0
    half = 7.40729e-06 / 2
    assert scan.origin == pytest.approx((1.44031e-06 - half, 2.67485e-06 - half), rel=1e-9)
