"""TIFF reader and writer: Park vs Gwyddion, Zeiss SEM vs its tag text and RosettaSciIO, FEI, scansr TIFF.

Corpus files (nanoAFMr: AGPL; rosettasciio: GPL; AFMReader: GPL) are read from ../shared and never copied
here; the writer is tested on scans built in the test and on real scans read from the corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

import scansr.io as sio
from scansr.io import tiff
from scansr.scan import Channel, Scan, ScanReadError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields

PARK = ["Park_20210916_034.tiff", "ForceCurve_009.tiff"]
ZEISS = ["test_tiff_Zeiss_SEM_1k.tif", "test_tiff_Zeiss_SEM_512pix.tif", "ZEISS_SEM_multipage.tif"]


def _park(name: str) -> Path:
    return shared_path("data", "spm", "nanoAFMr", name)


def _zeiss(name: str) -> Path:
    return shared_path("data", "sem", "rosettasciio", name)


@pytest.fixture(scope="module")
def gwy_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gwyddion_tiff")


def _scan(pixel_size=(2.5e-9, 1.0e-9)) -> Scan:
    rng = np.random.default_rng(7)
    height = rng.normal(0.0, 2e-9, size=(24, 40)) + np.linspace(0, 5e-9, 40)
    return Scan(
        channels=(
            Channel("Height", height, unit="m", direction="trace"),
            Channel(
                "Height retrace", height + rng.normal(0, 1e-10, height.shape), unit="m", direction="retrace"
            ),
            Channel("Phase", rng.uniform(-30, 30, size=(24, 40)), unit="deg"),
        ),
        pixel_size=pixel_size,
        origin=(1.5e-6, -2.25e-6),
        instrument="synthetic",
        metadata={"setpoint_v": 0.25, "mode": "tapping µ", "count": 3, "flag": True},
    )


# ------------------------------------------------------------------------------------ Park Systems
@pytest.mark.parametrize("name", PARK)
def test_park_matches_gwyddion(name, gwy_dir):
    path = _park(name)
    scan = sio.read(path)
    (ref,) = gwyddion_fields(path, gwy_dir)
    assert scan.format == "tiff"
    assert scan.names == (ref.title,) == ("Topography",)
    assert scan["Topography"].unit == ref.unit_z == "m"
    np.testing.assert_allclose(scan["Topography"].data, ref.data, rtol=1e-9, atol=1e-9 * np.ptp(ref.data))
    np.testing.assert_allclose(scan.pixel_size, ref.pixel_size, rtol=1e-12)
    assert scan.instrument.startswith("Park Systems")


# ------------------------------------------------------------------------------------ Zeiss SEM
def test_zeiss_pixel_size_matches_rosettasciio_for_the_resized_file():
    # RosettaSciIO's test expects 0.011649976 um for this 512-pixel copy of a 1024-pixel image (its "Pixel
    # Size" tag still says 5.825 nm, which Gwyddion uses as is).
    scan = sio.read(_zeiss("test_tiff_Zeiss_SEM_512pix.tif"))
    np.testing.assert_allclose(scan.pixel_size, (0.011649976e-6, 0.011649976e-6), rtol=1e-6)
    assert scan["InLens"].unit == "counts"


@pytest.mark.parametrize(("name", "image_pixel_size"), [(ZEISS[0], 2.615e-6), (ZEISS[2], 12.33e-9)])
def test_zeiss_pixel_size_matches_the_image_pixel_size_tag(name, image_pixel_size):
    path = _zeiss(name)
    with tifffile.TiffFile(path) as tif:
        label, value, unit = tif.pages[0].tags[34118].value["ap_image_pixel_size"]
    assert label == "Image Pixel Size"
    assert value * {"nm": 1e-9, "µm": 1e-6}[unit] == pytest.approx(image_pixel_size)
    scan = sio.read(path)
    # the tag text has 4 digits
    np.testing.assert_allclose(scan.pixel_size, (image_pixel_size, image_pixel_size), rtol=1e-3)


@pytest.mark.parametrize("name", ZEISS[:2])
def test_zeiss_info_bar_is_cropped(name):
    path = _zeiss(name)
    raw = tifffile.imread(path)
    scan = sio.read(path)
    kept = scan.shape[0]
    bar = scan.metadata["info_bar_rows"]
    assert 0 < bar < raw.shape[0] // 4
    assert kept == raw.shape[0] - bar
    # the first removed row is the bar's top border: a black line across the image
    assert np.mean(raw[kept] <= 5) > 0.95
    # the removed block is the white panel with black text
    block = raw[kept + 1 :]
    assert np.mean(block >= 230) > 0.5
    assert np.mean(block <= 25) > 0.01
    # nothing of the bar is left: no black line in the bottom quarter of the kept image
    assert max(np.mean(row <= 5) for row in raw[kept - kept // 4 : kept]) < 0.5
    # grey levels are kept as the stored values
    np.testing.assert_array_equal(scan.channels[0].data, raw[:kept])


def test_zeiss_without_info_bar_keeps_every_row_and_reads_frames():
    path = _zeiss(ZEISS[2])
    pages = tifffile.imread(path)
    frames = sio.read_frames(path)
    assert len(frames) == pages.shape[0] == 2
    for i, scan in enumerate(frames):
        assert scan.metadata["info_bar_rows"] == 0
        np.testing.assert_array_equal(scan.channels[0].data, pages[i])


def test_crop_can_be_switched_off():
    path = _zeiss(ZEISS[0])
    full = tiff.read(path, crop_info_bar=False)
    assert full.shape == tifffile.imread(path).shape
    assert full.metadata["info_bar_rows"] == 0


def test_zeiss_grey_levels_match_gwyddion(gwy_dir):
    path = _zeiss(ZEISS[1])
    (ref,) = gwyddion_fields(path, gwy_dir)
    full = tiff.read(path, crop_info_bar=False)
    np.testing.assert_array_equal(full.channels[0].data, ref.data)


# ------------------------------------------------------------------------------------ FEI / Thermo Fisher SEM
def _fei_file(path: Path, *, data_rows: int, bar_rows: int, state_height: bool = True) -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(40, 200, size=(data_rows + bar_rows, 64), dtype=np.uint8)
    image[data_rows:] = 0
    image[data_rows + 2 :, 5:30] = 255  # text of the bar
    text = (
        "[User]\r\nDate=06/10/2024\r\n[System]\r\nSystemType=Helios G4\r\n[Beam]\r\nHV=5000\r\n"
        "[Scan]\r\nPixelWidth=2.5e-09\r\nPixelHeight=3.0e-09\r\nHorFieldsize=1.6e-07\r\n"
        + (f"[Image]\r\nResolutionX=64\r\nResolutionY={data_rows}\r\n" if state_height else "")
        + "[Detectors]\r\nName=ETD\r\n"
    )
    tifffile.imwrite(path, image, extratags=[(34682, "s", 0, text, True)])
    return image


def test_fei_pixel_size_and_data_height_from_the_metadata(tmp_path):
    path = tmp_path / "fei.tif"
    image = _fei_file(path, data_rows=48, bar_rows=10)
    scan = sio.read(path)
    assert scan.pixel_size == (3.0e-9, 2.5e-9)  # (PixelHeight, PixelWidth) as written
    assert scan.shape == (48, 64)
    assert scan.metadata["info_bar_rows"] == 10
    assert scan.metadata["info_bar_found_by"] == "metadata"
    assert scan.names == ("ETD",)
    assert scan["ETD"].unit == "counts"
    np.testing.assert_array_equal(scan["ETD"].data, image[:48])
    assert "Helios" in scan.instrument


def test_fei_without_data_height_finds_the_bar_in_the_image(tmp_path):
    path = tmp_path / "fei_old.tif"
    _fei_file(path, data_rows=48, bar_rows=10, state_height=False)
    scan = sio.read(path)
    assert scan.shape == (48, 64)
    assert scan.metadata["info_bar_found_by"] == "image"


# ------------------------------------------------------------------------------------ info bar detection
def _specimen(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(120, 25, size=(rows, cols)), 0, 255)


def test_detect_info_bar_finds_a_synthetic_panel():
    image = _specimen(200, 300)
    image[170] = 0  # border line
    image[171:] = 250  # panel
    image[180:190, 20:80] = 0  # text
    image[180:190, 150:200] = 0
    assert tiff.detect_info_bar(image) == 30


@pytest.mark.parametrize("case", ["noise", "dark bottom", "bright bottom"])
def test_detect_info_bar_leaves_specimens_alone(case):
    image = _specimen(200, 300, seed=1)
    if case == "dark bottom":  # a shadow: uniformly black, no text
        image[160:] = 0
    elif case == "bright bottom":  # a charging region: saturated, no text
        image[170:] = 255
    assert tiff.detect_info_bar(image) == 0


def test_detect_info_bar_checks_its_input():
    with pytest.raises(ValueError, match="2-D"):
        tiff.detect_info_bar(np.zeros((3, 4, 5)))


# ------------------------------------------------------------------------------------ scansr's own TIFF
def test_writer_round_trip_is_exact_for_metadata_and_float32_for_values(tmp_path):
    scan = _scan()
    out = sio.write(scan, tmp_path / "scan.tif")
    back = sio.read(out)
    assert back.names == scan.names
    assert [c.unit for c in back.channels] == [c.unit for c in scan.channels]
    assert [c.direction for c in back.channels] == [c.direction for c in scan.channels]
    assert back.pixel_size == scan.pixel_size
    assert back.origin == scan.origin
    assert back.instrument == scan.instrument
    assert back.metadata == scan.metadata
    for a, b in zip(scan.channels, back.channels, strict=True):
        np.testing.assert_array_equal(b.data, a.data.astype(np.float32))


def test_writer_tags_one_float32_page_per_channel_with_resolution_in_cm(tmp_path):
    scan = _scan(pixel_size=(2.5e-9, 1.0e-9))  # non-square pixels
    out = sio.write(scan, tmp_path / "scan.tif")
    with tifffile.TiffFile(out) as tif:
        assert len(tif.pages) == len(scan.channels)
        for page, channel in zip(tif.pages, scan.channels, strict=True):
            assert page.dtype == np.float32
            assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
            xnum, xden = page.tags["XResolution"].value
            ynum, yden = page.tags["YResolution"].value
            assert xnum / xden == pytest.approx(1e-2 / 1.0e-9, rel=1e-6)  # pixels per cm along x
            assert ynum / yden == pytest.approx(1e-2 / 2.5e-9, rel=1e-6)
            assert page.tags[285].value == channel.name
            np.testing.assert_array_equal(page.asarray(), channel.data.astype(np.float32))
        info = json.loads(tif.pages[0].description)
        assert info["pixel_size"] == [2.5e-9, 1.0e-9]


def test_writer_without_pixel_size_omits_the_scale(tmp_path):
    scan = _scan().replace(pixel_size=None)
    back = sio.read(sio.write(scan, tmp_path / "noscale.tif"))
    assert back.pixel_size is None


@pytest.mark.parametrize(
    "source",
    [("spm", "AFMReader", "sample_0.jpk"), ("spm", "nanoAFMr", "Park_20210916_034.tiff")],
    ids=lambda p: p[-1],
)
def test_real_scans_survive_the_round_trip(source, tmp_path):
    scan = sio.read(shared_path("data", *source))
    back = sio.read(sio.write(scan, tmp_path / "copy.tif"))
    assert back.names == scan.names
    assert back.pixel_size == scan.pixel_size
    assert back.origin == scan.origin
    assert back.metadata == scan.metadata
    for a, b in zip(scan.channels, back.channels, strict=True):
        assert (a.unit, a.direction) == (b.unit, b.direction)
        np.testing.assert_allclose(b.data, a.data, rtol=1e-7)


# ------------------------------------------------------------------------------------ plain TIFF
def test_plain_tiff_without_scale_has_no_pixel_size(tmp_path):
    path = tmp_path / "plain.tif"
    data = np.arange(30 * 20, dtype=np.uint16).reshape(30, 20)
    tifffile.imwrite(path, data)
    scan = sio.read(path)
    assert scan.pixel_size is None
    assert scan.names == ("Intensity",)
    assert scan["Intensity"].unit == "counts"
    np.testing.assert_array_equal(scan["Intensity"].data, data)


def test_dots_per_inch_are_not_a_scale(tmp_path):
    path = tmp_path / "picture.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8) + 3, resolution=(72, 72), resolutionunit="INCH")
    assert sio.read(path).pixel_size is None


def test_imagej_and_centimetre_scales_are_read(tmp_path):
    ij = tmp_path / "imagej.tif"
    tifffile.imwrite(
        ij, np.ones((8, 10), np.float32), imagej=True, resolution=(2.0, 4.0), metadata={"unit": "um"}
    )
    np.testing.assert_allclose(sio.read(ij).pixel_size, (0.25e-6, 0.5e-6), rtol=1e-9)
    cm = tmp_path / "cm.tif"
    tifffile.imwrite(cm, np.ones((8, 10), np.uint8), resolution=(1e5, 5e4), resolutionunit="CENTIMETER")
    np.testing.assert_allclose(sio.read(cm).pixel_size, (2e-7, 1e-7), rtol=1e-9)


def test_plain_multipage_tiff_pages_are_frames(tmp_path):
    path = tmp_path / "stack.tif"
    stack = np.stack([np.full((6, 7), i, np.uint8) for i in range(3)])
    with tifffile.TiffWriter(path) as tw:
        for page in stack:
            tw.write(page)
    frames = sio.read_frames(path)
    assert [s.frame for s in frames] == [0, 1, 2]
    assert all(s.n_frames == 3 for s in frames)
    np.testing.assert_array_equal(frames[2]["Intensity"].data, stack[2])
    with pytest.raises(ValueError, match="frame"):
        sio.read(path, frame=3)


def test_rgb_tiff_with_equal_channels_is_one_grey_channel(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.stack([grey] * 3, axis=-1), photometric="rgb")
    scan = sio.read(path)
    assert scan.names == ("Intensity",)
    np.testing.assert_array_equal(scan["Intensity"].data, grey)


# ------------------------------------------------------------------------------------ sniffing and corpus
def test_sniff_accepts_any_tiff_magic():
    assert tiff.sniff(b"II*\x00" + bytes(8), ".tif")
    assert tiff.sniff(b"MM\x00*" + bytes(8), ".dat")
    assert tiff.sniff(b"II+\x00" + bytes(8), ".tif")
    assert not tiff.sniff(b"\x89PNG\r\n\x1a\n", ".tif")


@pytest.mark.parametrize(
    "parts",
    [("spm", "nanoAFMr", n) for n in PARK] + [("sem", "rosettasciio", n) for n in ZEISS],
    ids=lambda p: p[-1],
)
def test_every_corpus_tiff_reads(parts):
    for scan in sio.read_frames(shared_path("data", *parts)):
        assert scan.format == "tiff"
        assert scan.pixel_size is not None
        assert min(scan.pixel_size) > 0
        for c in scan.channels:
            assert np.isfinite(c.data).all()
            if c.unit == "m":
                assert 1e-12 < np.ptp(c.data) < 1e-3
            else:
                assert c.unit == "counts"


@pytest.mark.parametrize(
    "parts",
    [("spm", "nanoAFMr", PARK[0]), ("sem", "rosettasciio", ZEISS[0]), ("sem", "rosettasciio", ZEISS[2])],
    ids=lambda p: p[-1],
)
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_copies_raise_scan_read_error(parts, fraction, tmp_path):
    cut = truncated_copy(shared_path("data", *parts), tmp_path / parts[-1], fraction)
    with pytest.raises(ScanReadError):
        sio.read_frames(cut)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_scansr_tiff_raises_scan_read_error(fraction, tmp_path):
    cut = truncated_copy(sio.write(_scan(), tmp_path / "scan.tif"), tmp_path / "cut.tif", fraction)
    with pytest.raises(ScanReadError):
        sio.read(cut)
