"""NumPy .npz: exact round trip of a Scan, foreign files, and corrupt or unsafe files."""

import io as pyio
import json
import zipfile

import numpy as np
import pytest

from scansr import io
from scansr.io import npz
from scansr.scan import Channel, Scan, ScanReadError
from tests.conftest import TEST_DATA

DEFECTS = TEST_DATA / "SPIEPy" / "image_with_defects.dat"


@pytest.fixture(scope="module")
def rich_scan():
    """A real STM topograph with every Scan field set, awkward channel names and metadata."""
    height = io.read(DEFECTS)["Topography"].data
    channels = (
        Channel("Height", height, unit="m", direction="trace"),
        Channel("Height retrace", height[:, ::-1] + 1e-12, unit="m", direction="retrace"),
        Channel("Current/Setpoint", height * 1e3, unit="A"),  # a slash cannot be a member name
        Channel("channel_2", np.where(height > 5e-10, np.nan, 1.0), unit=""),  # the fallback key's name; NaN
        Channel("Phase µ°", -height, unit="deg"),
    )
    return Scan(
        channels,
        pixel_size=(7.8e-11, 8.1e-11),
        origin=(-1.5e-7, 2.25e-7),
        frame=3,
        n_frames=12,
        instrument="Omicron MATRIX (SPIEPy demo)",
        metadata={
            "bias_V": -1.5,
            "lines": 256,
            "ok": True,
            "note": "Si(111)-7×7 — défauts",
            "nan": float("nan"),
        },
        source=DEFECTS,
        format="spiepy",
    )


def assert_same_scan(a: Scan, b: Scan) -> None:
    assert a.names == b.names
    for ca, cb in zip(a.channels, b.channels, strict=True):
        assert (ca.unit, ca.direction) == (cb.unit, cb.direction)
        assert ca.data.dtype == cb.data.dtype == np.float64
        np.testing.assert_array_equal(ca.data, cb.data)  # NaN == NaN here, values bit for bit
    assert a.pixel_size == b.pixel_size
    assert a.origin == b.origin
    assert (a.frame, a.n_frames, a.instrument, a.source, a.format) == (
        b.frame,
        b.n_frames,
        b.instrument,
        b.source,
        b.format,
    )
    assert a.metadata.keys() == b.metadata.keys()
    for key, value in a.metadata.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(b.metadata[key])
        else:
            assert b.metadata[key] == value
            assert type(b.metadata[key]) is type(value)


def test_round_trip_is_exact(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.npz")
    assert io.detect_format(path) == "npz"
    back = io.read(path)
    assert_same_scan(rich_scan, back)


def test_plain_numpy_can_read_the_channels(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.npz")
    with np.load(path, allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["Height"], rich_scan["Height"].data)
        np.testing.assert_array_equal(arrays["Phase µ°"], rich_scan["Phase µ°"].data)
        info = json.loads(str(arrays[npz.META_KEY]))
    keys = {entry["name"]: entry["key"] for entry in info["channels"]}
    assert keys["Current/Setpoint"] not in ("Current/Setpoint", "channel_2")
    assert info["pixel_size"] == [7.8e-11, 8.1e-11]


def test_suffix_other_than_npz_is_kept(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.data", format="npz")
    assert path.exists()
    assert not (tmp_path / "scan.data.npz").exists()
    assert_same_scan(rich_scan, npz.read(path))


def test_foreign_npz_reads_2d_arrays(tmp_path, caplog):
    height = io.read(DEFECTS)["Topography"].data
    path = tmp_path / "foreign.npz"
    np.savez(path, topo=height, mask=height > 5e-10, stack=np.zeros((2, 3, 4)), small=np.ones((3, 3)))
    scan = io.read(path)
    assert scan.names == ("topo", "mask")
    assert scan.pixel_size is None
    assert scan["topo"].unit == ""
    np.testing.assert_array_equal(scan["topo"].data, height)
    assert "stack" in caplog.text
    assert "small" in caplog.text


def test_foreign_npz_with_scan_size(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, z=np.arange(12.0).reshape(3, 4))
    scan = io.read(path, scan_size=(3e-6, 4e-6))
    assert scan.pixel_size == pytest.approx((1e-6, 1e-6))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, evil=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ScanReadError, match="no 2-D numeric array"):
        io.read(path)


def test_pickled_image_array_is_not_loaded(tmp_path):
    path = tmp_path / "pickled2d.npz"
    np.savez(path, img=np.empty((2, 2), dtype=object))
    with pytest.raises(ScanReadError):
        io.read(path)


def test_header_claiming_a_huge_array_is_refused(tmp_path):
    header = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (200_000, 200_000)}
    )
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("z.npy", np.lib.format.MAGIC_PREFIX + b"\x01\x00" + header.getvalue()[8:] + bytes(64))
    with pytest.raises(ScanReadError, match="claims shape"):
        io.read(path)


def test_truncated_file(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ScanReadError):
        io.read(cut)


def test_bad_json(tmp_path):
    path = tmp_path / "badjson.npz"
    np.savez(path, z=np.ones((2, 2)), **{npz.META_KEY: np.array("{not json")})
    with pytest.raises(ScanReadError, match="not valid JSON"):
        io.read(path)


def test_sniff(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.npz")
    assert npz.sniff(path.read_bytes()[:4096], ".npz")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert not npz.sniff(other.read_bytes()[:4096], ".npz")
    assert not npz.sniff(b"\x89PNG\r\n\x1a\n", ".npz")


def test_frames(tmp_path, rich_scan):
    path = io.write(rich_scan, tmp_path / "scan.npz")
    assert io.read(path, frame=3).frame == 3
    with pytest.raises(ValueError, match="holds one image"):
        io.read(path, frame=5)
