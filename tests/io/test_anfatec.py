"""Anfatec / Molecular Vista PiFM (.txt parameter file + .int channels) against the header and Gwyddion."""

from __future__ import annotations

import logging
import re
import shutil

import numpy as np
import pytest

import scansr.io
from scansr.io import anfatec
from scansr.scan import ScanReadError, UnsupportedFormatError
from tests.conftest import TEST_DATA, shared_path
from tests.io.corrupt_files import FRACTIONS, truncated_copy
from tests.io.gwyddion_reference import gwyddion_fields

PIFM = TEST_DATA / "SciFiDatasets" / "PiFM"
HEADER = PIFM / "MAPIold_0012.txt"
TOPO_FWD = PIFM / "MAPIold_0012TopographyFwd.int"
SHIPPED = ["TopographyFwd", "TopographyBwd", "PhaseFwd"]  # the channels whose .int files are in tests/data


def _header_value(key: str) -> str:
    """A value of the parameter file, read with a plain regex (independent of the reader)."""
    text = HEADER.read_text(encoding="cp1252")
    return re.search(rf"^{re.escape(key)}\s*:\s*(.*?)\s*$", text, re.MULTILINE).group(1)


def _copy_set(tmp_path, names=("TopographyFwd",)):
    shutil.copy(HEADER, tmp_path / HEADER.name)
    for name in names:
        shutil.copy(PIFM / f"MAPIold_0012{name}.int", tmp_path)
    return tmp_path / HEADER.name


def test_sniff_tells_the_parameter_file_from_text_matrices():
    assert anfatec.sniff(HEADER.read_bytes()[:4096], ".txt")
    assert anfatec.sniff(b'<datasw type="image">\r\n', ".datasw")
    assert not anfatec.sniff(b"1.0 2.0 3.0\n4.0 5.0 6.0\n", ".txt")
    assert not anfatec.sniff(b"# Channel: Height\n# Width: 5 um\n1 2\n", ".txt")
    assert scansr.io.detect_format(HEADER) == "anfatec"
    assert scansr.io.detect_format(TOPO_FWD) == "anfatec"


def test_parameter_file_gives_every_present_channel(caplog):
    with caplog.at_level(logging.WARNING):
        scan = scansr.io.read(HEADER)
    assert "not found" in caplog.text  # 14 of the 17 listed .int files are not shipped
    assert scan.format == "anfatec"
    assert scan.names == tuple(SHIPPED)
    assert [c.unit for c in scan] == ["m", "m", "deg"]
    assert [c.direction for c in scan] == ["trace", "retrace", "trace"]
    # Header: XScanRange 5 (XPhysUnit µm) over xPixel 256; origin = top-left corner with y growing down (Scan),
    # the instrument's y growing up: (-(y_centre + range / 2), x_centre - range / 2).
    assert _header_value("XScanRange") == "5"
    assert _header_value("XPhysUnit") == "µm"
    assert scan.pixel_size == pytest.approx((5e-6 / 256, 5e-6 / 256), rel=1e-12)
    x_centre, y_centre = float(_header_value("xCenter")), float(_header_value("yCenter"))
    assert scan.origin == pytest.approx((-(y_centre + 2.5) * 1e-6, (x_centre - 2.5) * 1e-6), rel=1e-12)
    assert scan.metadata["SampleName"] == "MAPI on glass"


def test_values_are_int32_times_the_header_scale():
    scan = scansr.io.read(HEADER)
    raw = np.fromfile(TOPO_FWD, dtype="<i4").reshape(256, 256)
    # FileDesc of TopographyFwd: Scale 2.88e-6, PhysUnit nm
    np.testing.assert_allclose(scan.channel("TopographyFwd").data, raw * 2.88e-6 * 1e-9, rtol=1e-12)
    raw_phase = np.fromfile(PIFM / "MAPIold_0012PhaseFwd.int", dtype="<i4").reshape(256, 256)
    np.testing.assert_allclose(scan.channel("PhaseFwd").data, raw_phase * 1e-3, rtol=1e-12)  # Scale 1e-3, °
    heights = scan.channel("TopographyFwd").data
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_shipped_set_like_gwyddion(tmp_path):
    scan = scansr.io.read(HEADER)
    fields = gwyddion_fields(HEADER, tmp_path)
    assert [f.title for f in fields] == SHIPPED
    for channel, field in zip(scan.channels, fields, strict=True):
        np.testing.assert_allclose(channel.data, field.data, rtol=1e-12, atol=0)
        assert channel.unit == field.unit_z
        assert scan.pixel_size == pytest.approx((field.yreal / 256, field.xreal / 256), rel=1e-12)
        # Gwyddion's yoff ignores the direction of the instrument's y axis (up); scansr's grows down.
        assert scan.origin == pytest.approx((-(field.yoff + field.yreal), field.xoff), rel=1e-12)


def test_an_int_file_gives_its_own_channel():
    single = scansr.io.read(TOPO_FWD)
    assert single.names == ("TopographyFwd",)
    np.testing.assert_array_equal(
        single.channels[0].data, scansr.io.read(HEADER).channel("TopographyFwd").data
    )
    assert single.source == TOPO_FWD
    assert single.pixel_size == pytest.approx((5e-6 / 256, 5e-6 / 256), rel=1e-12)


def test_display_settings_file_is_unsupported_and_names_the_data_file():
    with pytest.raises(UnsupportedFormatError, match=r"MAPIold_0012PiFMFwd\.int"):
        scansr.io.read(PIFM / "MAPIold_0012PiFMFwd.int.datasw")


def test_int_without_its_parameter_file_is_a_read_error(tmp_path):
    lonely = tmp_path / TOPO_FWD.name
    shutil.copy(TOPO_FWD, lonely)
    with pytest.raises(ScanReadError, match="parameter file"):
        scansr.io.read(lonely)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_truncated_int_is_a_read_error(tmp_path, fraction):
    header = _copy_set(tmp_path)
    cut = truncated_copy(TOPO_FWD, tmp_path / TOPO_FWD.name, fraction)
    with pytest.raises(ScanReadError, match="truncated"):
        scansr.io.read(cut)
    with pytest.raises(ScanReadError, match="truncated"):
        scansr.io.read(header)


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_truncated_parameter_file_is_a_read_error(tmp_path, fraction):
    header = _copy_set(tmp_path)
    raw = HEADER.read_bytes()
    cut = int(len(raw) * fraction)
    header.write_bytes(raw[:cut])
    with pytest.raises(ScanReadError):
        scansr.io.read(header)


def test_parameter_file_cut_inside_a_channel_block_is_a_read_error(tmp_path):
    header = _copy_set(tmp_path)
    raw = HEADER.read_bytes()
    header.write_bytes(raw[: raw.rindex(b"FileDescEnd")])
    with pytest.raises(ScanReadError, match="FileDescEnd"):
        scansr.io.read(header)


# ------------------------------------------------------------------------------------------------- full set
@pytest.mark.corpus
def test_full_set_like_gwyddion(tmp_path):
    header = shared_path("data", "spm", "SciFiDatasets", "PiFM", "MAPIold_0012.txt")
    scan = scansr.io.read(header)
    assert len(scan.channels) == 17
    fields = gwyddion_fields(header, tmp_path)
    assert [f.title for f in fields] == list(scan.names)
    for channel, field in zip(scan.channels, fields, strict=True):
        np.testing.assert_allclose(channel.data, field.data, rtol=1e-12, atol=0, err_msg=channel.name)
        assert channel.unit == field.unit_z
        assert np.isfinite(channel.data).all()
        if channel.unit == "m":
            assert 1e-12 < np.ptp(channel.data) < 1e-3, channel.name


@pytest.mark.corpus
def test_every_int_of_the_full_set_reads():
    folder = shared_path("data", "spm", "SciFiDatasets", "PiFM")
    for path in sorted(folder.glob("*.int")):
        scan = scansr.io.read(path)
        assert len(scan.channels) == 1
        assert scan.pixel_size == pytest.approx((5e-6 / 256, 5e-6 / 256))
    for path in sorted(folder.glob("*.datasw")):
        with pytest.raises(UnsupportedFormatError):
            scansr.io.read(path)
