"""HS-AFM .asd reader: frames, channels, scale against the header bytes and the heights against AFMReader.

Gwyddion does not read .asd; the independent references are the header fields (offsets of the version-1
header as listed by libasd) and AFMReader's ``load_asd``, which converts the levels with its own code (it
takes the 10 V range as 9.99 V, corrected for in the comparison). The corpus files are GPL: read from
../shared, never copied here.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import scansr.io as sio
from scansr.io import asd
from scansr.scan import ScanReadError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy

FILES = [
    ("pNanolocz-FileReaders", "202110200128.asd"),
    ("pNanolocz-FileReaders", "202110200146.asd"),
    ("pNanolocz-FileReaders", "202110200154.asd"),
    ("playNano", "asd_sample_0.asd"),
]
KIND_NAMES = {b"TP": "Topography", b"ER": "Error", b"PH": "Phase"}
AFMREADER_CHANNEL = {"Topography": "TP", "Error": "ER", "Phase": "PH"}


def _path(parts: tuple[str, str]) -> Path:
    return shared_path("data", "spm", *parts)


def _header(path: Path) -> dict:
    """The header fields the tests need, at their byte offsets in a version-1 header."""
    raw = path.read_bytes()
    return {
        "version": struct.unpack_from("<i", raw, 0)[0],
        "header_size": struct.unpack_from("<i", raw, 4)[0],
        "frame_header_size": struct.unpack_from("<i", raw, 8)[0],
        "kinds": [raw[24:26], raw[28:30]],
        "n_frames": struct.unpack_from("<i", raw, 36)[0],
        "nx": struct.unpack_from("<i", raw, 48)[0],
        "ny": struct.unpack_from("<i", raw, 52)[0],
        "x_nm": struct.unpack_from("<i", raw, 56)[0],
        "y_nm": struct.unpack_from("<i", raw, 60)[0],
        "size": len(raw),
    }


@pytest.mark.parametrize("parts", FILES, ids=lambda p: p[-1])
def test_header_scale_channels_and_frames(parts):
    path = _path(parts)
    h = _header(path)
    kinds = [KIND_NAMES[k] for k in h["kinds"] if k in KIND_NAMES]
    scan = sio.read(path)
    assert scan.format == "asd"
    assert scan.names == tuple(kinds)
    assert scan.shape == (h["ny"], h["nx"])
    np.testing.assert_allclose(
        scan.pixel_size, (h["y_nm"] * 1e-9 / h["ny"], h["x_nm"] * 1e-9 / h["nx"]), rtol=1e-12
    )
    # every frame of every channel is in the file: header + channels x frames x (frame header + int16 data)
    frame_bytes = h["frame_header_size"] + 2 * h["nx"] * h["ny"]
    assert h["size"] == h["header_size"] + len(kinds) * h["n_frames"] * frame_bytes
    assert scan.n_frames == h["n_frames"]


@pytest.mark.parametrize("parts", FILES, ids=lambda p: p[-1])
def test_values_agree_with_afmreader(parts):
    from AFMReader.asd import load_asd

    path = _path(parts)
    frames = sio.read_frames(path)
    for name, code in AFMREADER_CHANNEL.items():
        if name not in frames[0]:
            continue
        stack, px_nm, _header_dict = load_asd(path, channel=code)
        np.testing.assert_allclose(px_nm * 1e-9, frames[0].pixel_size[1], rtol=1e-6)
        assert stack.shape[0] == len(frames)
        unit_factor = 1e-9 if name in ("Topography", "Error") else 1.0  # AFMReader: nm, deg
        for i in (0, len(frames) - 1):
            expected = stack[i] * unit_factor
            # AFMReader takes the 0..10 V range as 0..9.99 V: 0.1 % smaller values, same orientation
            np.testing.assert_allclose(frames[i][name].data, expected * 10 / 9.99, rtol=1e-6)
        assert frames[0][name].unit == ("deg" if name == "Phase" else "m")


def test_all_frames_of_a_video_and_frame_selection():
    path = _path(FILES[3])
    frames = sio.read_frames(path)
    assert len(frames) == 32
    assert [s.frame for s in frames] == list(range(32))
    assert frames[0].metadata["frame_number"] == 1
    assert frames[31].metadata["frame_number"] == 32  # frame headers count from 1
    np.testing.assert_array_equal(sio.read(path, frame=5)["Topography"].data, frames[5]["Topography"].data)
    assert not np.array_equal(frames[0]["Topography"].data, frames[1]["Topography"].data)
    with pytest.raises(ValueError, match="frame"):
        sio.read(path, frame=32)


def test_two_channel_file_reads_both_channels_of_the_same_frame():
    path = _path(FILES[1])
    scan = sio.read(path, frame=1)
    assert scan.names == ("Topography", "Phase")
    assert scan["Topography"].unit == "m"
    assert scan["Phase"].unit == "deg"
    assert scan.n_frames == 2


@pytest.mark.parametrize("parts", FILES, ids=lambda p: p[-1])
def test_corpus_heights_are_plausible(parts):
    ranges = []
    for scan in sio.read_frames(_path(parts)):
        for c in scan.channels:
            assert np.isfinite(c.data).all()
        topo = scan["Topography"].data
        assert np.max(np.abs(topo)) < 1e-3
        ranges.append(np.ptp(topo))
    # a frame may be flat where the Z piezo railed (playNano's video, frame 28, is one constant level)
    assert 1e-12 < np.median(ranges) < 1e-3
    assert max(ranges) < 1e-3


def test_raised_membrane_patches_come_out_raised():
    # The 1 um overview shows flat membrane patches on mica: most of the area is substrate, the patches stand
    # up, so the height histogram has its long tail upwards (positive skew) when the sign is right.
    topo = sio.read(_path(FILES[0]))["Topography"].data
    rows = topo - np.median(topo, axis=1, keepdims=True)
    z = rows.ravel()
    skew = np.mean((z - z.mean()) ** 3) / np.std(z) ** 3
    assert skew > 0.5


def test_sniff():
    head = _path(FILES[0]).read_bytes()[:4096]
    assert asd.sniff(head, ".asd")
    assert not asd.sniff(b"II*\x00" + bytes(4092), ".asd")
    assert not asd.sniff(bytes(4096), ".asd")


def test_version_0_is_refused_with_a_message(tmp_path):
    raw = bytearray(_path(FILES[0]).read_bytes())
    raw[0:4] = struct.pack("<i", 0)
    path = tmp_path / "old.asd"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScanReadError, match="version-0"):
        asd.read(path)


def test_unknown_ad_range_is_refused(tmp_path):
    raw = bytearray(_path(FILES[0]).read_bytes())
    raw[133:137] = struct.pack("<i", 0x77)
    path = tmp_path / "odd.asd"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScanReadError, match="AD range"):
        sio.read(path)


@pytest.mark.parametrize("parts", [FILES[1], FILES[3]], ids=lambda p: p[-1])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_copies_raise_scan_read_error(parts, fraction, tmp_path):
    cut = truncated_copy(_path(parts), tmp_path / parts[-1], fraction)
    with pytest.raises(ScanReadError, match="truncated"):
        sio.read(cut)
