"""Gwyddion .gwy (GWYP, GWYO) and .gsf: read against gwyfile and Gwyddion itself, write and read back."""

from __future__ import annotations

import logging
import shutil

import gwyfile
import numpy as np
import pytest

import scansr.io
from scansr.io import gwyddion
from scansr.scan import Channel, Scan, ScanReadError, ScanWriteError
from tests.conftest import TEST_DATA, shared_path
from tests.io.gwyddion_reference import gwyddion_fields, load_container

GWYP_FILE = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"
GWYO_FILE = TEST_DATA / "SciFiDatasets" / "GwiddionReader_chip.gwy"
GSF_FILE = TEST_DATA / "SciFiDatasets" / "GwiddionReader_chip.gsf"


def _scan(*, pixel_size=(2e-8, 5e-9), origin=(1e-6, -2.5e-6), metadata=None) -> Scan:
    rng = np.random.default_rng(7)
    height = rng.normal(size=(6, 10)) * 1e-9 + np.linspace(0, 5e-9, 10)
    return Scan(
        (
            Channel("Height", height, "m"),
            Channel("Phase retrace", rng.normal(size=(6, 10)) * 30, "deg", "retrace"),
            Channel("Z", height + 1e-6, "m"),  # one-letter title: a string, not a char, for Gwyddion
            Channel("Current µA", rng.normal(size=(6, 10)) * 1e-9, "A"),
        ),
        pixel_size,
        origin=origin,
        instrument="Test AFM",
        metadata={"Scan rate": 1.5, "Operator": "Zoë", "Lines": 6} if metadata is None else metadata,
    )


# ------------------------------------------------------------------------------------------------- sniff
def test_sniff_recognises_the_three_magics():
    assert gwyddion.sniff(b"GWYPGwyContainer\0", ".gwy")
    assert gwyddion.sniff(b"GWYOGwyContainer\0", ".gwy")
    assert gwyddion.sniff(b"Gwyddion Simple Field 1.0\nXRes = 2\n", ".gsf")
    assert not gwyddion.sniff(b"GWYQ....", ".gwy")
    assert not gwyddion.sniff(b"Gwyddion XYZ Field 1.0\n", ".gxyzf")
    assert scansr.io.detect_format(GWYO_FILE) == "gwyddion"
    assert scansr.io.detect_format(GSF_FILE) == "gwyddion"


# ------------------------------------------------------------------------------------------------- reading
def test_reads_gwyp_like_gwyfile():
    scan = scansr.io.read(GWYP_FILE)
    container = gwyfile.load(str(GWYP_FILE))
    assert scan.format == "gwyddion"
    assert scan.names == ("HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace")
    for n, channel in enumerate(scan.channels):
        field = container[f"/{n}/data"]
        assert channel.name == container[f"/{n}/data/title"]
        np.testing.assert_array_equal(channel.data, field.data)
        assert channel.unit == field["si_unit_z"]["unitstr"]
        assert channel.direction == "retrace"
        expected = (field["yreal"] / field["yres"], field["xreal"] / field["xres"])
        assert scan.pixel_size == pytest.approx(expected, rel=1e-12)
    assert scan.origin is None  # the file stores no xoff/yoff
    meta = container["/0/meta"]
    for key in list(meta)[:20]:
        assert scan.metadata[key] == meta[key]


def test_reads_old_gwyo_like_gwyddion(tmp_path):
    scan = scansr.io.read(GWYO_FILE)
    # Published size of this sample: 80 µm, 300 x 300 pixels (SciFiDatasets README).
    assert scan.pixel_size == pytest.approx((80e-6 / 300, 80e-6 / 300), rel=1e-9)
    (reference,) = gwyddion_fields(GWYO_FILE, tmp_path)
    np.testing.assert_array_equal(scan.channels[0].data, reference.data)
    # the stored "nm" is a display prefix that does not scale the values, as in Gwyddion
    assert scan.channels[0].unit == reference.unit_z == "m"
    assert scan.pixel_size == pytest.approx((reference.yreal / 300, reference.xreal / 300), rel=1e-12)


def test_old_gwyo_and_gsf_of_the_same_chip_agree():
    gwy, gsf = scansr.io.read(GWYO_FILE), scansr.io.read(GSF_FILE)
    assert gsf.names == ("Topography",)
    np.testing.assert_allclose(gsf.channels[0].data, gwy.channels[0].data, rtol=1e-6)  # float32 in the GSF
    assert gsf.pixel_size == pytest.approx(gwy.pixel_size, rel=1e-6)
    assert gsf.channels[0].unit == gwy.channels[0].unit == "m"
    heights = gwy.channels[0].data
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_reads_gsf_like_gwyddion(tmp_path):
    scan = scansr.io.read(GSF_FILE)
    (reference,) = gwyddion_fields(GSF_FILE, tmp_path)
    np.testing.assert_array_equal(scan.channels[0].data, reference.data)
    assert scan.names == (reference.title,)
    assert scan.pixel_size == pytest.approx((reference.yreal / 300, reference.xreal / 300), rel=1e-12)


def test_latin1_metadata_is_read(tmp_path):
    path = tmp_path / "latin1.gwy"
    gwyddion.write(_scan(metadata={"Range": "5 Xm"}), path)
    raw = path.read_bytes()
    assert raw.count(b"5 Xm\0") == 4  # one /N/meta per channel
    path.write_bytes(raw.replace(b"5 Xm\0", b"5 \xb5m\0"))  # Latin-1 µ, as converters write it
    with pytest.raises(UnicodeDecodeError):
        gwyfile.load(str(path))
    assert scansr.io.read(path).metadata["Range"] == "5 µm"


def test_container_without_images_is_a_read_error(tmp_path):
    path = tmp_path / "empty.gwy"
    gwyfile.objects.GwyContainer({"/filename": "nothing.gwy"}).tofile(str(path))
    with pytest.raises(ScanReadError, match="no image data field"):
        scansr.io.read(path)


# ------------------------------------------------------------------------------------------------- writing
def test_gwy_round_trip(tmp_path):
    scan = _scan()
    path = scansr.io.write(scan, tmp_path / "out.gwy")
    back = scansr.io.read(path)
    assert back.names == scan.names
    for a, b in zip(scan.channels, back.channels, strict=True):
        np.testing.assert_array_equal(b.data, a.data)
        assert b.unit == a.unit
    assert back.channel("Phase retrace").direction == "retrace"
    assert back.pixel_size == pytest.approx(scan.pixel_size, rel=1e-12)  # non-square
    assert back.origin == pytest.approx(scan.origin, rel=1e-12)
    assert back.metadata["Operator"] == "Zoë"
    assert back.metadata["Scan rate"] == "1.5"  # Gwyddion metadata are strings
    assert back.metadata["Instrument"] == "Test AFM"


def test_gwy_round_trip_without_scale_or_origin(tmp_path):
    scan = _scan(pixel_size=None, origin=None, metadata={})
    back = scansr.io.read(scansr.io.write(scan, tmp_path / "noscale.gwy"))
    assert back.pixel_size is None
    assert back.origin is None
    np.testing.assert_array_equal(back.channels[0].data, scan.channels[0].data)


def test_gwyfile_reads_what_we_write(tmp_path):
    scan = _scan()
    path = scansr.io.write(scan, tmp_path / "out.gwy")
    container = gwyfile.load(str(path))
    for n, channel in enumerate(scan.channels):
        field = container[f"/{n}/data"]
        assert container[f"/{n}/data/title"] == channel.name
        assert container.typecodes[f"/{n}/data/title"] == "s"
        np.testing.assert_array_equal(field.data, channel.data)
        assert field["si_unit_z"]["unitstr"] == channel.unit
        assert field["si_unit_xy"]["unitstr"] == "m"
        assert field["xreal"] == pytest.approx(10 * 5e-9, rel=1e-12)
        assert field["yreal"] == pytest.approx(6 * 2e-8, rel=1e-12)
        assert (field["yoff"], field["xoff"]) == pytest.approx(scan.origin, rel=1e-12)


@pytest.mark.skipif(shutil.which("gwyddion") is None, reason="Gwyddion is not installed")
@pytest.mark.parametrize("suffix", [".gwy", ".gsf"])
def test_gwyddion_reads_what_we_write(tmp_path, suffix):
    scan = _scan()
    if suffix == ".gsf":
        scan = scan.select("Height")
    ours = scansr.io.write(scan, tmp_path / f"ours{suffix}")
    fields = gwyddion_fields(ours, tmp_path)
    assert [f.title for f in fields] == list(scan.names)
    for field, channel in zip(fields, scan.channels, strict=True):
        tolerance = 1e-6 if suffix == ".gsf" else 0  # GSF stores float32
        np.testing.assert_allclose(field.data, channel.data, rtol=tolerance, atol=0)
        assert field.unit_z == channel.unit
        assert field.unit_xy == "m"
        assert (field.yreal, field.xreal) == pytest.approx((6 * 2e-8, 10 * 5e-9), rel=1e-12)
        assert (field.yoff, field.xoff) == pytest.approx(scan.origin, rel=1e-12)


def test_non_finite_values_become_a_gwyddion_mask(tmp_path, caplog):
    height = np.arange(60.0).reshape(6, 10) * 1e-9
    height[2, 3] = np.nan
    scan = Scan((Channel("Height", height, "m"),), (1e-8, 1e-8))
    with caplog.at_level(logging.WARNING):
        path = scansr.io.write(scan, tmp_path / "nan.gwy")
    assert "non-finite" in caplog.text
    container = load_container(path)
    assert np.isfinite(container["/0/data"].data).all()
    mask = container["/0/mask"].data
    assert mask[2, 3] == 1
    assert mask.sum() == 1
    back = scansr.io.read(path)
    np.testing.assert_array_equal(back.channels[0].data[mask == 0], height[mask == 0])


def test_gsf_round_trip(tmp_path):
    scan = _scan().select("Height")
    back = scansr.io.read(scansr.io.write(scan, tmp_path / "h.gsf"))
    np.testing.assert_allclose(back.channels[0].data, scan.channels[0].data, rtol=1e-6)
    assert back.names == ("Height",)
    assert back.channels[0].unit == "m"
    assert back.pixel_size == pytest.approx(scan.pixel_size, rel=1e-12)
    assert back.origin == pytest.approx(scan.origin, rel=1e-12)
    assert back.metadata["Operator"] == "Zoë"
    raw = (tmp_path / "h.gsf").read_bytes()
    header = raw.partition(b"\0")[0]
    # GSF specification: 1 to 4 NULs align the float32 data to a multiple of 4
    assert (len(header) + 4) // 4 * 4 + 4 * 60 == len(raw)


def test_gsf_refuses_several_channels(tmp_path):
    with pytest.raises(ScanWriteError, match="one channel"):
        scansr.io.write(_scan(), tmp_path / "all.gsf")
    assert not (tmp_path / "all.gsf").exists()


# ------------------------------------------------------------------------------------------------- corpus
_CORPUS = [
    ("pycroscopy", "SingFreqPFM_0003.gwy"),
    ("pycroscopy", "131017Spectroscopy002.gwy"),
    ("SciFiDatasets", "PTO_110_Virgin0001.gwy"),
    ("SciFiDatasets", "GwiddionReader_bipm.gwy"),
    ("SciFiDatasets", "GwiddionReader_chip.gwy"),
    ("SciFiDatasets", "GwiddionReader_chip.gsf"),
    ("pNanolocz-FileReaders", "SBS-PS_example_data.gwy"),
    ("AFMReader", "sample_0.gwy"),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("folder", "name"), _CORPUS, ids=[n for _, n in _CORPUS])
def test_corpus_files_read(folder, name):
    scan = scansr.io.read(shared_path("data", "spm", folder, name))
    assert scan.pixel_size is not None
    assert min(scan.pixel_size) > 0
    for channel in scan.channels:
        assert np.isfinite(channel.data).all(), channel.name
        if channel.unit == "m":
            assert 1e-12 < np.ptp(channel.data) < 1e-3, channel.name
            assert np.abs(channel.data).max() < 1e-3, channel.name


def test_content_is_recognised_whatever_the_suffix(tmp_path):
    other = tmp_path / "scan.bin"
    other.write_bytes(GWYP_FILE.read_bytes())
    assert scansr.io.read(other).names == scansr.io.read(GWYP_FILE).names
