"""PicoView .mi: the Magni example against Gwyddion's conversion; synthetic files from the header layout."""

from __future__ import annotations

import numpy as np
import pytest

import scansr.io
from scansr.io import mi
from scansr.scan import ScanReadError, UnsupportedFormatError
from tests.conftest import shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields


def _line(key: str, value: str) -> str:
    return f"{key:<14}{value}\n"


def _mi_file(samples: np.ndarray, buffers, *, sample_type="BINARY", length=(4e-6, 2e-6), extra=()) -> bytes:
    """PicoView layout: 14-character keys, a bufferLabel block per channel, a data line, then the samples."""
    _, ny, nx = samples.shape
    text = _line("fileType", "Image") + _line("xPixels", str(nx)) + _line("yPixels", str(ny))
    if length is not None:
        text += _line("xLength", f"{length[0]:.6e}") + _line("yLength", f"{length[1]:.6e}")
    for key, value in extra:
        text += _line(key, value)
    for label, value_range, unit, trace in buffers:
        text += _line("bufferLabel", label) + _line("bufferRange", repr(value_range))
        text += _line("bufferUnit", unit) + _line("trace", trace)
    text += _line("data", sample_type)
    dtype = "<i2" if sample_type == "BINARY" else "<i4"
    return text.encode("latin-1") + samples.astype(dtype).tobytes()


BUFFERS = [
    ("Topography", 1.5, "um", "Trace"),
    ("Topography", 1.5, "um", "Retrace"),
    ("Deflection", 10.0, "V", "Trace"),
]


def _samples(sample_type="BINARY") -> np.ndarray:
    full = 2**15 if sample_type == "BINARY" else 2**31
    ramp = np.linspace(-0.9, 0.9, 3 * 5 * 8).reshape(3, 5, 8) * full
    ramp[:, 0, 0] = full // 2  # marks the first stored row, which is the bottom of the image
    return np.round(ramp)


def test_sniff():
    assert mi.sniff(b"fileType      Image\nxPixels ...", ".mi")
    assert mi.sniff(b"fileType      Spectroscopy\n", ".mi")
    assert not mi.sniff(b"fileType Image", ".mi")


@pytest.mark.parametrize(("sample_type", "full_scale"), [("BINARY", 2**15), ("BINARY_32", 2**31)])
def test_values_orientation_names_and_pixel(tmp_path, sample_type, full_scale):
    samples = _samples(sample_type)
    path = tmp_path / "synthetic.mi"
    path.write_bytes(_mi_file(samples, BUFFERS, sample_type=sample_type))
    scan = scansr.io.read(path)
    assert scan.format == "mi"
    assert scan.names == ("Topography", "Topography retrace", "Deflection")
    assert [c.direction for c in scan] == ["trace", "retrace", "trace"]
    assert [c.unit for c in scan] == ["m", "m", "V"]
    np.testing.assert_allclose(scan.channels[0].data, samples[0][::-1] / full_scale * 1.5e-6, rtol=1e-12)
    np.testing.assert_allclose(scan.channels[2].data, samples[2][::-1] / full_scale * 10.0, rtol=1e-12)
    assert scan.channels[0].data[-1, 0] == pytest.approx(0.75e-6, rel=1e-9)
    assert scan.pixel_size == pytest.approx((2e-6 / 5, 4e-6 / 8), rel=1e-6)


@pytest.mark.parametrize("sample_type", ["BINARY", "BINARY_32"])
def test_synthetic_like_gwyddion(tmp_path, sample_type):
    path = tmp_path / "synthetic.mi"
    path.write_bytes(_mi_file(_samples(sample_type), BUFFERS, sample_type=sample_type))
    scan = scansr.io.read(path)
    fields = gwyddion_fields(path, tmp_path)
    assert [f.title for f in fields] == ["Topography", "Topography", "Deflection"]
    for channel, field in zip(scan.channels, fields, strict=True):
        np.testing.assert_allclose(channel.data, field.data, rtol=1e-12)
        assert channel.unit == field.unit_z
        assert scan.pixel_size == pytest.approx((field.yreal / 5, field.xreal / 8), rel=1e-6)


def test_no_scan_size_gives_no_pixel_size(tmp_path):
    path = tmp_path / "noscale.mi"
    path.write_bytes(_mi_file(_samples(), BUFFERS, length=None))
    assert scansr.io.read(path).pixel_size is None
    assert scansr.io.read(path, scan_size=(1e-6, 2e-6)).pixel_size == pytest.approx((0.2e-6, 0.25e-6))


def test_spectroscopy_file_is_unsupported(tmp_path):
    path = tmp_path / "curve.mi"
    path.write_bytes(b"fileType      Spectroscopy\nDataPoints    10\ndata          BINARY\n" + bytes(80))
    with pytest.raises(UnsupportedFormatError, match="spectroscopy"):
        scansr.io.read(path)


def test_ascii_data_is_unsupported(tmp_path):
    path = tmp_path / "ascii.mi"
    path.write_bytes(_mi_file(np.zeros((3, 5, 8)), BUFFERS, sample_type="ASCII"))
    with pytest.raises(UnsupportedFormatError, match="ASCII"):
        scansr.io.read(path)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_synthetic_file_is_a_read_error(tmp_path, fraction):
    raw = _mi_file(_samples("BINARY_32"), BUFFERS, sample_type="BINARY_32")
    with pytest.raises(ScanReadError):
        scansr.io.read(truncated_copy(raw, tmp_path / "cut.mi", fraction))


# ------------------------------------------------------------------------------------------------- real file
@pytest.fixture(scope="module")
def example():
    return shared_path("data", "spm", "Magni", "example.mi")


@pytest.mark.corpus
def test_magni_example_like_gwyddion(example, tmp_path):
    scan = scansr.io.read(example)
    assert scan.shape == (256, 256)
    assert scan.names == ("Topography", "Topography retrace", "Deflection", "Deflection retrace", "Friction",
                          "X_Sensor", "Y_Sensor", "Z_Sensor")  # fmt: skip
    # The header has no xLength/yLength: Gwyddion warns and substitutes a dummy 1 nm field; scansr gives None.
    assert b"xLength" not in example.read_bytes()[:2000]
    assert scan.pixel_size is None
    fields = gwyddion_fields(example, tmp_path)
    assert [f.title for f in fields] == ["Topography", "Topography", "Deflection", "Deflection", "Friction",
                                         "X_Sensor", "Y_Sensor", "Z_Sensor"]  # fmt: skip
    for channel, field in zip(scan.channels, fields, strict=True):
        np.testing.assert_allclose(channel.data, field.data, rtol=1e-12, atol=0)
        assert channel.unit == field.unit_z
        assert field.meta["trace"].casefold() == channel.direction
    heights = scan.channel("Topography").data
    assert np.isfinite(heights).all()
    assert 1e-12 < np.ptp(heights) < 1e-3


@pytest.mark.corpus
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_real_file_is_a_read_error(example, tmp_path, fraction):
    with pytest.raises(ScanReadError):
        scansr.io.read(truncated_copy(example, tmp_path / example.name, fraction))
