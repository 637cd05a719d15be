"""JPK reader: .jpk / .jpk-qi-image against Gwyddion's conversion, .h5-jpk against AFMReader and the HDF5.

The corpus files are GPL (AFMReader, pNanolocz-FileReaders): read from ../shared, never copied here.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

import scansr.io as sio
from scansr.io import jpk
from scansr.scan import ScanReadError
from tests.conftest import SHARED, shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields

STREPTAVIDIN = "Streptavidin imaging-12.08.46.399"
TIFF_FILES = [
    ("AFMReader", "sample_0.jpk"),
    ("AFMReader", "sample_0.jpk-qi-image"),
    ("pNanolocz-FileReaders", STREPTAVIDIN, "save-2023.02.16-12.08.46.436.jpk"),
]
H5_FILE = ("AFMReader", "sample_0.h5-jpk")
QI_RENAMED = {"Ref. Force Height at 40%": "Height (measured)"}


def _spm(*parts: str) -> Path:
    return shared_path("data", "spm", *parts)


def _all_corpus_files() -> list[tuple[str, ...]]:
    files = [*TIFF_FILES, H5_FILE]
    folder = SHARED / "data" / "spm" / "pNanolocz-FileReaders" / STREPTAVIDIN
    for p in sorted(folder.glob("*.jpk")) if folder.is_dir() else []:
        entry = ("pNanolocz-FileReaders", STREPTAVIDIN, p.name)
        if entry not in files:
            files.append(entry)
    return files


@pytest.fixture(scope="module")
def gwy_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gwyddion_jpk")


# ------------------------------------------------------------------------------------ sniffing
def test_sniff_claims_jpk_tiffs_and_h5_jpk():
    for parts in [*TIFF_FILES, H5_FILE]:
        path = _spm(*parts)
        head = path.read_bytes()[:4096]
        assert jpk.sniff(head, sio._suffix(path)), path
        assert sio.detect_format(path) == "jpk"


def test_sniff_leaves_plain_tiffs_alone_whatever_the_suffix(tmp_path):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.arange(64, dtype=np.uint16).reshape(8, 8))
    head = plain.read_bytes()[:4096]
    assert not jpk.sniff(head, ".tif")
    assert not jpk.sniff(head, ".jpk")  # the grid tags are missing, so a renamed TIFF is not JPK
    renamed = tmp_path / "plain.jpk"
    renamed.write_bytes(plain.read_bytes())
    assert sio.detect_format(renamed) == "tiff"


def test_sniff_h5_only_with_the_jpk_suffix():
    head = b"\x89HDF\r\n\x1a\n" + bytes(100)
    assert jpk.sniff(head, ".h5-jpk")
    assert not jpk.sniff(head, ".h5")


# ------------------------------------------------------------------------------------ TIFF vs Gwyddion
@pytest.mark.parametrize("parts", TIFF_FILES, ids=lambda p: p[-1])
def test_tiff_channels_match_gwyddion(parts, gwy_dir):
    path = _spm(*parts)
    scan = sio.read(path)
    # Gwyddion numbers the channels by TIFF page (page 0 is the thumbnail).
    by_page = {f.key: f for f in gwyddion_fields(path, gwy_dir)}
    assert sorted(by_page) == list(range(1, len(scan.channels) + 1))
    for page, channel in enumerate(scan.channels, start=1):
        ref = by_page[page]
        # Gwyddion writes "(retrace)" and keeps the QI map's repeated label, which scansr renames (tag 32851)
        expected = QI_RENAMED.get(channel.name, channel.name.removesuffix(" retrace"))
        if channel.direction == "retrace":
            expected += " (retrace)"
        assert ref.title == expected
        assert channel.unit == ref.unit_z
        scale = np.ptp(ref.data)
        np.testing.assert_allclose(channel.data, ref.data, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(scan.pixel_size, ref.pixel_size, rtol=1e-12)
        np.testing.assert_allclose(scan.origin, ref.offset, rtol=1e-12)


def test_trace_and_retrace_are_separate_named_channels():
    scan = sio.read(_spm(*TIFF_FILES[0]))
    assert "Height" in scan
    assert "Height retrace" in scan
    assert scan["Height"].direction == "trace"
    assert scan["Height retrace"].direction == "retrace"
    assert scan.default_channel == "Height"
    # trace and retrace image the same area: strongly correlated but not identical
    a, b = scan["Height"].data, scan["Height retrace"].data
    assert not np.array_equal(a, b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_qi_image_has_all_channels_with_unique_names_and_units():
    scan = sio.read(_spm("AFMReader", "sample_0.jpk-qi-image"))
    units = {c.name: c.unit for c in scan.channels}
    assert units["Height"] == "m"
    assert units["Height (measured)"] == "m"
    assert units["Adhesion"] == "N"
    assert units["Vertical Deflection"] == "N"
    assert units["Slope"] == "N/m"
    assert len(set(scan.names)) == len(scan.names) == 6
    # the second "Height (measured)" page is named by its algorithm (tag 32851) in the file
    info = tifffile.TiffFile(_spm("AFMReader", "sample_0.jpk-qi-image")).pages[3].tags[32851].value
    assert "fancy-name : Ref. Force Height at 40%" in info
    assert "Ref. Force Height at 40%" in scan
    assert scan.shape == (100, 100)
    np.testing.assert_allclose(scan.pixel_size, (5e-9, 5e-9), rtol=1e-9)  # 500 nm / 100 (grid tags)


# ------------------------------------------------------------------------------------ HDF5
def test_h5_jpk_frames_match_the_file_and_afmreader():
    from AFMReader.h5_jpk import load_h5jpk

    path = _spm(*H5_FILE)
    with h5py.File(path, "r") as f:
        n_frames = f["Measurement_000/Channel_001/Height"].shape[1]
        ulength = float(f["Measurement_000"].attrs["position-pattern.grid.ulength"])
        ilength = int(f["Measurement_000"].attrs["position-pattern.grid.ilength"])
    frames = sio.read_frames(path)
    assert len(frames) == n_frames == 4
    assert all(s.n_frames == n_frames and s.frame == i for i, s in enumerate(frames))
    stack, px_nm, _times = load_h5jpk(path, channel="height_trace")  # AFMReader: nm, flipped like Gwyddion
    np.testing.assert_allclose(px_nm * 1e-9, ulength / ilength, rtol=1e-12)
    for i, scan in enumerate(frames):
        np.testing.assert_allclose(scan.pixel_size, (ulength / ilength, ulength / ilength), rtol=1e-12)
        np.testing.assert_allclose(scan["Height"].data * 1e9, stack[i], rtol=1e-12, atol=1e-9)
        assert scan["Height"].unit == "m"
    # consecutive frames of a video differ
    assert not np.array_equal(frames[0]["Height"].data, frames[1]["Height"].data)


def test_h5_jpk_frame_out_of_range_is_a_value_error():
    path = _spm(*H5_FILE)
    with pytest.raises(ValueError, match="frame"):
        sio.read(path, frame=4)


# ------------------------------------------------------------------------------------ whole corpus
@pytest.mark.parametrize("parts", _all_corpus_files(), ids=lambda p: p[-1])
def test_every_corpus_file_reads_in_si_units(parts):
    path = _spm(*parts)
    for scan in sio.read_frames(path):
        assert scan.format == "jpk"
        assert scan.instrument == "JPK Instruments"
        assert len(scan.channels) >= 1
        assert scan.pixel_size is not None
        assert min(scan.pixel_size) > 0
        for c in scan.channels:
            assert np.isfinite(c.data).all(), c.name
            assert c.unit in ("m", "V", "deg", "N", "N/m", "Pa"), (c.name, c.unit)
            if c.unit == "m":
                assert 1e-12 < np.ptp(c.data) < 1e-3, c.name
                assert np.max(np.abs(c.data)) < 1e-3, c.name


# ------------------------------------------------------------------------------------ corrupt input
@pytest.mark.parametrize("parts", [*TIFF_FILES[:2], H5_FILE], ids=lambda p: p[-1])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_copies_raise_scan_read_error(parts, fraction, tmp_path):
    cut = truncated_copy(_spm(*parts), tmp_path / parts[-1], fraction)
    with pytest.raises(ScanReadError):
        sio.read_frames(cut)
