"""NT-MDT .mdt: the real c-AFM map against Gwyddion's conversion; synthetic frames from the format layout."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import scansr.io
from scansr.io import mdt
from scansr.scan import ScanReadError, UnsupportedFormatError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields

MAGIC = b"\x01\xb0\x93\xff"


# ------------------------------------------------------------------------------------------------- builders
# Layout as documented in Gwyddion's modules/file/nt-mdt.c: a 33-byte file header, then frames with a 22-byte
# header (size, type, version, date, var size).
def _frame(kind: int, body: bytes, var_size: int = 0) -> bytes:
    return struct.pack("<IH2s6HH", 22 + len(body), kind, b"\x00\x06", 2021, 3, 4, 5, 6, 7, var_size) + body


def _file(*frames: bytes) -> bytes:
    data = b"".join(frames)
    return (
        MAGIC
        + struct.pack("<I", len(data))
        + bytes(4)
        + struct.pack("<H", len(frames) - 1)
        + bytes(19)
        + data
    )


def _scanned(counts: np.ndarray, *, x_step=10.0, y_step=20.0, z_off=5.0, z_step=0.5, title="Topo") -> bytes:
    """A type-0 scanned frame: int16 counts, axes in nm (unit code -1)."""
    yres, xres = counts.shape
    scales = struct.pack("<ffhffhffh", 0.0, x_step, -1, 0.0, y_step, -1, z_off, z_step, -1)
    params = bytearray(77)
    struct.pack_into("<bBHH", params, 0, 0, 1, xres, yres)
    variables = scales + bytes(params)
    name = title.encode("cp1251")
    body = variables + struct.pack("<4H", 0, xres, yres, 0) + counts.astype("<i2").tobytes()
    body += struct.pack("<I", len(name)) + name + struct.pack("<I", 0)
    return _frame(0, body, len(variables))


def _calibration(name: str, unit: str, bias: float, scale: float, n: int, data_type: int) -> bytes:
    strings = name.encode() + unit.encode()
    last = (n - 1) % 2**64  # a measurand has no index range: max index -1
    fields = struct.pack("<3IQd8sddQQiI", len(name), 0, len(unit), 0, 0.0, bytes(8), bias, scale, 0, last,
                         data_type, 0)  # fmt: skip
    return struct.pack("<II", 8 + len(fields) + len(strings), len(fields)) + fields + strings


def _mda(values: np.ndarray, *, title="1F:Height", scale_xy=0.01, bias=(50.0, 60.0), xml="") -> bytes:
    """A type-106 MDA frame of float64 values in nm on a grid of `scale_xy` µm."""
    yres, xres = values.shape
    name, comment = title.encode("cp1251"), xml.encode("utf-16-le")
    head = struct.pack(
        "<II32sI8I", 76, 0, bytes(32), 0, len(name), len(comment), 0, 0, 0, 0, 0, 8 * values.size
    )
    array = struct.pack("<QIII", values.size, 8, 2, 1)
    cals = (
        _calibration("x", "um", bias[0], scale_xy, xres, 0)
        + _calibration("y", "um", bias[1], scale_xy, yres, 0)
        + _calibration("z", "nm", 0.0, 1.0, 0, -(8 + 52 * 256))
    )
    body = (
        head
        + name
        + comment
        + struct.pack("<II", 0, len(array))
        + array
        + cals
        + values.astype("<f8").tobytes()
    )
    return _frame(106, body)


def _counts(shape=(6, 10)) -> np.ndarray:
    counts = (np.arange(shape[0] * shape[1]).reshape(shape) * 7 - 100).astype(np.int16)
    counts[0, 0] = 1000  # marks the first stored row, which is the bottom of the image
    return counts


# ------------------------------------------------------------------------------------------------- tests
def test_sniff():
    assert mdt.sniff(MAGIC + bytes(40), ".mdt")
    assert not mdt.sniff(b"GWYP", ".mdt")


def test_scanned_frame_values_orientation_and_pixel(tmp_path):
    counts = _counts()
    path = tmp_path / "scanned.mdt"
    path.write_bytes(_file(_scanned(counts)))
    scan = scansr.io.read(path)
    assert scan.format == "mdt"
    assert scan.names == ("Topo",)
    (channel,) = scan.channels
    assert channel.unit == "m"
    # value = (offset + step * count) nm; stored rows run bottom to top
    np.testing.assert_allclose(channel.data, ((5.0 + 0.5 * counts) * 1e-9)[::-1], rtol=1e-12)
    assert channel.data[-1, 0] == pytest.approx((5 + 500) * 1e-9)
    assert scan.pixel_size == pytest.approx((20e-9, 10e-9), rel=1e-7)


def test_scanned_frame_like_gwyddion(tmp_path):
    path = tmp_path / "scanned.mdt"
    path.write_bytes(_file(_scanned(_counts())))
    scan = scansr.io.read(path)
    (reference,) = gwyddion_fields(path, tmp_path)
    np.testing.assert_allclose(scan.channels[0].data, reference.data, rtol=1e-12)
    assert reference.unit_z == scan.channels[0].unit
    assert scan.pixel_size == pytest.approx((reference.yreal / 6, reference.xreal / 10), rel=1e-7)


def test_mda_frame_values_orientation_pixel_and_origin(tmp_path):
    values = np.linspace(-3, 7, 8 * 12).reshape(8, 12)
    path = tmp_path / "mda.mdt"
    path.write_bytes(_file(_mda(values)))
    scan = scansr.io.read(path)
    (channel,) = scan.channels
    np.testing.assert_allclose(channel.data, values[::-1] * 1e-9, rtol=1e-12)
    assert channel.unit == "m"
    assert channel.direction == "trace"
    assert scan.pixel_size == pytest.approx((0.01e-6, 0.01e-6), rel=1e-12)
    # Scan convention: the top-left pixel's corner, y growing down. The instrument's y grows up, and the last
    # stored row (y = 60 µm + 7 steps) is displayed on top; the first sample is at x = 50 µm (sample centres).
    half = 0.005e-6
    assert scan.origin == pytest.approx((-(60e-6 + 7 * 0.01e-6) - half, 50e-6 - half), rel=1e-12)


def test_mda_frame_like_gwyddion(tmp_path):
    values = np.linspace(-3, 7, 8 * 12).reshape(8, 12)
    path = tmp_path / "mda.mdt"
    path.write_bytes(_file(_mda(values)))
    scan = scansr.io.read(path)
    (reference,) = gwyddion_fields(path, tmp_path)
    np.testing.assert_allclose(scan.channels[0].data, reference.data, rtol=1e-12)
    # Gwyddion makes the field (n - 1) steps wide; scansr's pixel is one step
    assert scan.pixel_size == pytest.approx((reference.yreal / 7, reference.xreal / 11), rel=1e-12)


def test_frames_on_different_grids_are_separate_frames(tmp_path):
    path = tmp_path / "two.mdt"
    small = np.ones((4, 4))
    frames = [_mda(np.zeros((8, 12)), title="1F:Height"), _mda(np.zeros((8, 12)), title="1B:Height")]
    path.write_bytes(_file(*frames, _mda(small, title="1F:Height")))
    first = scansr.io.read(path)
    assert first.names == ("1F:Height", "1B:Height")
    assert [c.direction for c in first] == ["trace", "retrace"]
    assert first.n_frames == 2
    frames = scansr.io.read_frames(path)
    assert [f.shape for f in frames] == [(8, 12), (4, 4)]
    assert frames[1].frame == 1
    with pytest.raises(ValueError, match="frame 2 does not exist"):
        scansr.io.read(path, frame=2)


def test_file_without_images_is_unsupported(tmp_path):
    path = tmp_path / "text.mdt"
    path.write_bytes(_file(_frame(3, bytes(40), 10)))
    with pytest.raises(UnsupportedFormatError, match="no image frame"):
        scansr.io.read(path)


def test_garbage_frame_size_is_a_read_error(tmp_path):
    raw = bytearray(_file(_scanned(_counts())))
    struct.pack_into("<I", raw, 33, 0xFFFFFF00)
    path = tmp_path / "bad.mdt"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScanReadError, match="frame 0"):
        scansr.io.read(path)


def test_garbage_image_size_is_a_read_error(tmp_path):
    raw = bytearray(_file(_scanned(_counts())))
    struct.pack_into("<HH", raw, 33 + 22 + 107 + 2, 60000, 60000)  # frame-mode xres, yres
    path = tmp_path / "bad.mdt"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScanReadError, match="too short"):
        scansr.io.read(path)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_synthetic_file_is_a_read_error(tmp_path, fraction):
    raw = _file(_mda(np.zeros((8, 12))), _scanned(_counts()))
    with pytest.raises(ScanReadError):
        scansr.io.read(truncated_copy(raw, tmp_path / "cut.mdt", fraction))


# ------------------------------------------------------------------------------------------------- real file
@pytest.fixture(scope="module")
def gaas():
    return shared_path("data", "spm", "SciFiReaders", "GaAs_map.mdt")


@pytest.mark.corpus
def test_real_current_map_like_gwyddion(gaas, tmp_path):
    scan = scansr.io.read(gaas)
    assert scan.names == ("1F:Iprobe", "1B:Iprobe")
    assert [c.direction for c in scan] == ["trace", "retrace"]
    assert scan.shape == (256, 256)
    fields = gwyddion_fields(gaas, tmp_path)
    assert [f.title for f in fields] == [
        "1F:Iprobe (2)",
        "1B:Iprobe (3)",
    ]  # Gwyddion appends the frame number
    for channel, field in zip(scan.channels, fields, strict=True):
        np.testing.assert_allclose(channel.data, field.data, rtol=1e-12, atol=0)
        assert channel.unit == field.unit_z == "A"
        assert scan.pixel_size == pytest.approx((field.yreal / 255, field.xreal / 255), rel=1e-12)
    # Published: a 3 µm map; the header's own scan size is the first-to-last sample distance.
    size_um = float(scan.metadata["ScanShell/scshXSize"])
    assert size_um == pytest.approx(3.0, rel=1e-3)
    assert scan.pixel_size[1] == pytest.approx(size_um * 1e-6 / 255, rel=1e-9)
    centre_x, centre_y = (
        float(scan.metadata["ScanShell/scshXCentre"]),
        float(scan.metadata["ScanShell/scshYCentre"]),
    )
    dy, dx = scan.pixel_size
    assert scan.origin == pytest.approx(
        (-(centre_y + size_um / 2) * 1e-6 - dy / 2, (centre_x - size_um / 2) * 1e-6 - dx / 2), rel=1e-9
    )
    currents = scan.channels[0].data
    assert np.isfinite(currents).all()
    assert 1e-12 < np.ptp(currents) < 1e-3


@pytest.mark.corpus
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_real_file_is_a_read_error(gaas, tmp_path, fraction):
    with pytest.raises(ScanReadError):
        scansr.io.read(truncated_copy(gaas, tmp_path / gaas.name, fraction))
