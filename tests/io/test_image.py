"""Ordinary images: reading checked against Pillow (an independent decoder); the PNG preview writer."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from scansr import io
from scansr.io import image
from scansr.scan import Channel, Scan, ScanReadError
from tests.conftest import TEST_DATA, shared_path

DEFECTS = TEST_DATA / "SPIEPy" / "image_with_defects.dat"


@pytest.fixture(scope="module")
def heights():
    return io.read(DEFECTS)["Topography"].data


@pytest.fixture(scope="module")
def grey8(heights):
    """The real STM image quantised to 8 bits."""
    scaled = (heights - heights.min()) / np.ptp(heights)
    return np.round(scaled * 255).astype(np.uint8)


def pillow(path):
    with Image.open(path) as im:
        return np.asarray(im)


# ------------------------------------------------------------------------------------------------------- read
def test_grey_png(tmp_path, grey8):
    path = tmp_path / "grey.png"
    Image.fromarray(grey8).save(path)
    scan = io.read(path)
    assert scan.format == "image"
    assert scan.names == ("grey",)
    assert scan["grey"].unit == "counts"
    assert scan.pixel_size is None
    np.testing.assert_array_equal(scan["grey"].data, pillow(path))
    assert scan.metadata["bit_depth"] == 8


def test_16_bit_png(tmp_path, heights):
    levels = np.round((heights - heights.min()) / np.ptp(heights) * 65535).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(levels).save(path)
    scan = io.read(path)
    assert scan.metadata["bit_depth"] == 16
    np.testing.assert_array_equal(scan["grey"].data, pillow(path).astype(float))
    assert scan["grey"].data.max() == 65535


def test_colour_channels_are_in_rgb_order(tmp_path, grey8):
    rgb = np.stack([grey8, 255 - grey8, grey8 // 2], axis=-1)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    scan = io.read(path)
    assert scan.names == ("red", "green", "blue")
    reference = pillow(path)
    for index, name in enumerate(("red", "green", "blue")):
        np.testing.assert_array_equal(scan[name].data, reference[:, :, index])


def test_alpha_is_dropped(tmp_path, grey8):
    rgba = np.stack([grey8, 255 - grey8, grey8 // 2, np.full_like(grey8, 128)], axis=-1)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    scan = io.read(path)
    assert scan.names == ("red", "green", "blue")
    assert scan.metadata["alpha_dropped"] is True
    np.testing.assert_array_equal(scan["blue"].data, grey8 // 2)


def test_grey_stored_as_rgb_is_grey(tmp_path, grey8):
    path = tmp_path / "grey_rgb.bmp"
    Image.fromarray(np.stack([grey8] * 3, axis=-1)).save(path)
    scan = io.read(path)
    assert scan.names == ("grey",)
    np.testing.assert_array_equal(scan["grey"].data, grey8)


def test_bmp_and_jpeg(tmp_path, grey8):
    rgb = np.stack([grey8, 255 - grey8, grey8 // 2], axis=-1)
    bmp, jpg = tmp_path / "x.bmp", tmp_path / "x.jpg"
    Image.fromarray(rgb).save(bmp)
    Image.fromarray(rgb).save(jpg, quality=90)
    assert io.detect_format(bmp) == io.detect_format(jpg) == "image"
    np.testing.assert_array_equal(io.read(bmp)["green"].data, pillow(bmp)[:, :, 1])
    # two JPEG decoders may differ by a grey level or two (IDCT rounding)
    difference = np.abs(io.read(jpg)["red"].data - pillow(jpg)[:, :, 0].astype(float))
    assert difference.max() <= 3


def test_reference_calibration_bmp_matches_pillow():
    path = shared_path("reference", "iqa-calibration", "ref_I03.bmp")
    scan = io.read(path)
    reference = pillow(path)
    assert scan.shape == reference.shape[:2] == (384, 512)
    for index, name in enumerate(("red", "green", "blue")):
        np.testing.assert_array_equal(scan[name].data, reference[:, :, index])


def test_corrupt_png(tmp_path, grey8):
    path = tmp_path / "cut.png"
    Image.fromarray(grey8).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ScanReadError, match="decode"):
        io.read(path)


def test_sniff():
    assert image.sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ".png")
    assert image.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF", ".jpg")
    bmp = (
        b"BM"
        + (1000).to_bytes(4, "little")
        + bytes(4)
        + (54).to_bytes(4, "little")
        + (40).to_bytes(4, "little")
    )
    assert image.sniff(bmp, ".bmp")
    assert not image.sniff(b"BMW cars are fast, not bitmaps", ".txt")
    assert not image.sniff(b"1 2 3\n4 5 6\n", ".png")


# ------------------------------------------------------------------------------------------------------ write
@pytest.mark.parametrize(
    ("target", "expected"),
    [(5e-9, 5e-9), (3.7e-7, 2e-7), (1e-6, 1e-6), (9.99, 5.0), (1.9e-8, 1e-8), (2.5e-6, 2e-6)],
)
def test_nice_length(target, expected):
    assert image.nice_length(target) == pytest.approx(expected, rel=1e-12)


def test_nice_length_rejects_nonpositive():
    with pytest.raises(ValueError, match="positive"):
        image.nice_length(0.0)


def test_preview_png(tmp_path, heights):
    scan = Scan((Channel("Height", heights, unit="m"),), pixel_size=(7.8e-11, 7.8e-11), source=DEFECTS)
    path = io.write(scan, tmp_path / "preview.png")
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width > 500
        assert im.info["Software"] == "scansr"
        assert "'Height'" in im.info["Description"]
    # the written preview reads back as an ordinary colour image
    assert io.read(path).names == ("red", "green", "blue")


def nan_box(path):
    """Bounding box (height, width) in pixels of the NaN colour (#1f77b4) in a height preview."""
    rgb = pillow(path)[:, :, :3].astype(int)
    hit = np.abs(rgb - np.array([0x1F, 0x77, 0xB4])).sum(axis=-1) <= 6
    rows, cols = np.nonzero(hit)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize(("pixel_size", "ratio"), [((2e-9, 1e-9), 2.0), ((1e-9, 1e-9), 1.0), (None, 0.5)])
def test_preview_aspect_follows_physical_size(tmp_path, pixel_size, ratio):
    # all-NaN but one pixel: the image area is painted in the NaN colour, which appears nowhere else
    data = np.full((40, 80) if pixel_size is None else (80, 80), np.nan)
    data[0, 0] = 1e-9
    scan = Scan((Channel("Height", data, unit="m"),), pixel_size=pixel_size)
    path = io.write(scan, tmp_path / "aspect.png")
    height, width = nan_box(path)
    assert height / width == pytest.approx(ratio, rel=0.05)


def test_preview_of_a_flat_and_a_counts_image(tmp_path, grey8):
    flat = Scan((Channel("Height", np.full((8, 8), 3e-9), unit="m"),), pixel_size=(1e-9, 1e-9))
    io.write(flat, tmp_path / "flat.png")
    sem = Scan((Channel("grey", grey8, unit="counts"),), pixel_size=None)
    io.write(sem, tmp_path / "sem.png")
    assert (tmp_path / "flat.png").stat().st_size > 0
    assert (tmp_path / "sem.png").stat().st_size > 0


def test_preview_does_not_use_pyplot(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from scansr.io import image\n"
        "from scansr.scan import Channel, Scan\n"
        "scan = Scan((Channel('Height', np.random.default_rng(0).normal(size=(16, 16)), unit='m'),),"
        " pixel_size=(1e-9, 1e-9))\n"
        f"image.write(scan, Path({str(tmp_path / 'p.png')!r}))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
