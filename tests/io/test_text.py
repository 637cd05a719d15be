"""Plain-text matrices: Gwyddion ASCII exports, IGOR text exports, CSV variants, errors, round trip."""

import logging

import numpy as np
import pytest

from scansr import io
from scansr.io import text
from scansr.scan import Channel, Scan, ScanReadError
from tests.conftest import TEST_DATA, shared_path

DEFECTS = TEST_DATA / "SPIEPy" / "image_with_defects.dat"


@pytest.fixture(scope="module")
def real_heights():
    """A real STM topograph in metres (SPIEPy demo image, read as raw doubles without scansr)."""
    raw = DEFECTS.read_bytes()
    return np.frombuffer(raw, dtype="<f8", offset=8).reshape(256, 256)[:64, :48].copy()


def gwyddion_export(data, title, xreal, yreal, value_unit="m", precision=5):
    """Text as Gwyddion 2.x asciiexport.c writes it with the informational header (value format %.3f µm)."""
    lines = [
        f"# Channel: {title}",
        f"# Width: {xreal / 1e-6:.3f} µm",
        f"# Height: {yreal / 1e-6:.3f} µm",
        f"# Value units: {value_unit}",
    ]
    body = ["\t".join(f"{v:.{precision}g}" for v in row) for row in data]
    return "\n".join(lines + body) + "\n"


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


# --------------------------------------------------------------------------------------------------- Gwyddion
def test_gwyddion_ascii_export_with_header(tmp_path, real_heights):
    path = write(tmp_path, "export.txt", gwyddion_export(real_heights, "Topography", 2.5e-6, 3.3e-6))
    assert io.detect_format(path) == "text"
    scan = io.read(path)
    assert scan.names == ("Topography",)
    assert scan["Topography"].unit == "m"
    assert scan.shape == real_heights.shape
    # pixel size = physical size / pixel count, from the header (non-square here)
    assert scan.pixel_size == pytest.approx((3.3e-6 / 64, 2.5e-6 / 48), rel=1e-12)
    np.testing.assert_allclose(scan["Topography"].data, real_heights, rtol=1e-4)  # %.5g in the file
    assert scan.instrument == "Gwyddion ASCII export"


def test_gwyddion_export_of_a_real_gwy_file(tmp_path):
    gwyfile = pytest.importorskip("gwyfile")
    source = shared_path("data", "spm", "pycroscopy", "SingFreqPFM_0003.gwy")
    field = gwyfile.util.get_datafields(gwyfile.load(str(source)))["HeightRetrace"]
    path = write(
        tmp_path, "height.txt", gwyddion_export(field.data, "HeightRetrace", field.xreal, field.yreal)
    )
    scan = io.read(path)
    ny, nx = field.data.shape
    assert scan.pixel_size == pytest.approx((field.yreal / ny, field.xreal / nx), rel=1e-3)  # %.3f µm
    np.testing.assert_allclose(
        scan["HeightRetrace"].data, field.data, rtol=1e-4, atol=1e-4 * np.ptp(field.data)
    )
    assert scan["HeightRetrace"].direction == "retrace"


def test_header_value_unit_with_prefix(tmp_path):
    content = "# Channel: Z\n# Width: 100 nm\n# Height: 50 nm\n# Value units: nm\n1 2 3\n4 5 6\n"
    scan = io.read(write(tmp_path, "nm.txt", content))
    np.testing.assert_allclose(scan["Z"].data, [[1e-9, 2e-9, 3e-9], [4e-9, 5e-9, 6e-9]], rtol=1e-15)
    assert scan["Z"].unit == "m"
    assert scan.pixel_size == pytest.approx((25e-9, 100e-9 / 3), rel=1e-12)


def test_latin1_header(tmp_path):
    content = (
        "# Channel: Height\n# Width: 2.000 µm\n# Height: 2.000 µm\n# Value units: m\n1e-9\t2e-9\n3e-9\t4e-9\n"
    )
    scan = io.read(write(tmp_path, "latin.txt", content, encoding="latin-1"))
    assert scan.pixel_size == pytest.approx((1e-6, 1e-6), rel=1e-12)


def test_other_header_lines_go_to_metadata(tmp_path):
    content = "# Channel: Phase\n# Value units: deg\n# Operator: someone\n# free comment\n1 2\n3 4\n"
    scan = io.read(write(tmp_path, "phase.txt", content))
    assert scan["Phase"].unit == "deg"
    assert scan.metadata["Operator"] == "someone"
    assert "free comment" in scan.metadata["comments"]
    assert scan.pixel_size is None


# ----------------------------------------------------------------------------------------------- IGOR / plain
def test_igor_text_export_with_wave_name(tmp_path, real_heights):
    # IGOR "Save Wave" as delimited text with wave names: a name line, then tab-separated values in metres.
    body = "\n".join("\t".join(f"{v:.9g}" for v in row) for row in real_heights)
    path = write(tmp_path, "igor.txt", "HeightRetrace\n" + body + "\n")
    scan = io.read(path, scan_size=(1e-6, 0.75e-6))
    assert scan.names == ("HeightRetrace",)
    assert scan["HeightRetrace"].direction == "retrace"
    np.testing.assert_allclose(scan["HeightRetrace"].data, real_heights, rtol=1e-8)
    assert scan.pixel_size == pytest.approx((1e-6 / 64, 0.75e-6 / 48), rel=1e-12)


def test_bare_matrix_defaults_to_metres_and_no_scale(tmp_path, real_heights, caplog):
    path = write(tmp_path, "bare.txt", "\n".join(" ".join(f"{v:.9e}" for v in row) for row in real_heights))
    with caplog.at_level(logging.INFO, logger="scansr.io.text"):
        scan = io.read(path)
    assert scan.names == ("Height",)
    assert scan.pixel_size is None
    assert scan["Height"].unit == "m"
    assert "metres" in caplog.text


def test_value_unit_option(tmp_path):
    path = write(tmp_path, "nm.csv", "1.5,2.5\n3.5,4.5\n")
    scan = io.read(path, value_unit="nm")
    np.testing.assert_allclose(scan["Height"].data, [[1.5e-9, 2.5e-9], [3.5e-9, 4.5e-9]], rtol=1e-15)
    scan = io.read(path, value_unit="Å")
    np.testing.assert_allclose(scan["Height"].data, [[1.5e-10, 2.5e-10], [3.5e-10, 4.5e-10]], rtol=1e-15)
    with pytest.raises(ValueError, match="unknown unit"):
        io.read(path, value_unit="inch")


def test_metres_assumption_warns_on_implausible_range(tmp_path, caplog):
    path = write(tmp_path, "nm_values.txt", "0 250\n120 80\n")
    with caplog.at_level(logging.WARNING, logger="scansr.io.text"):
        io.read(path)
    assert "value_unit='nm'" in caplog.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("1.5\t2.5\t-3e-1\n4\t5\t6\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),
        ("1.5, 2.5, -3e-1\n4, 5, 6\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),
        ("1.5;2.5;-3e-1\n4;5;6\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),
        ("1,5;2,5;-0,3\n4;5;6\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),  # European CSV
        ("1,5\t2,5\t-0,3\n4\t5\t6\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),  # decimal comma, tabs
        ("  1.5   2.5  -3e-1 \r\n 4 5 6\r\n\r\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),  # CRLF, padding
        ("1.5\t2.5\t-3e-1\t\n4\t5\t6\t\n", [[1.5, 2.5, -0.3], [4, 5, 6]]),  # trailing tabs
        ("\ufeff1 2 3\n4 5 6\n", [[1, 2, 3], [4, 5, 6]]),  # byte-order mark
        ("1 NaN 3\n4 5 nan\n", [[1, np.nan, 3], [4, 5, np.nan]]),
        ("1,,3\n,5,6\n", [[1, np.nan, 3], [np.nan, 5, 6]]),  # empty CSV fields are missing values
        ("1.0D-01 2.0D+00\n3 4\n", [[0.1, 2.0], [3, 4]]),  # Fortran exponents
    ],
)
def test_delimiters_and_missing_values(tmp_path, content, expected):
    scan = io.read(write(tmp_path, "m.txt", content))
    np.testing.assert_allclose(scan.channels[0].data, expected, rtol=1e-15)


def test_large_matrix_takes_the_vectorised_path(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    data = rng.normal(scale=1e-9, size=(512, 512))
    path = tmp_path / "big.txt"
    np.savetxt(path, data, fmt="%.9e", delimiter="\t")

    def fail(*args, **kwargs):
        raise AssertionError("line-by-line fallback used for a clean file")

    monkeypatch.setattr(text, "_slow_parse", fail)
    scan = io.read(path)
    np.testing.assert_allclose(scan.channels[0].data, data, rtol=1e-8)


# ----------------------------------------------------------------------------------------------------- errors
def test_ragged_rows_name_the_line(tmp_path):
    path = write(tmp_path, "ragged.txt", "# comment\n1 2 3\n4 5 6\n7 8\n")
    with pytest.raises(ScanReadError, match=r"line 4 has 2 values, expected 3 \(as on line 2\)"):
        io.read(path)


def test_prose_txt_is_not_a_matrix(tmp_path):
    path = write(tmp_path, "notes.txt", "Sample: mica\nScan done on Monday, 3 images.\n")
    with pytest.raises(ScanReadError, match="not a numeric matrix: line 2"):
        io.read(path)


def test_word_inside_the_matrix(tmp_path):
    path = write(tmp_path, "bad.txt", "1 2 3\n4 oops 6\n")
    with pytest.raises(ScanReadError, match="line 2, column 2 is 'oops'"):
        io.read(path)


def test_only_comments(tmp_path):
    path = write(tmp_path, "empty.txt", "# Channel: Height\n# Value units: m\n")
    with pytest.raises(ScanReadError, match="no numeric data"):
        io.read(path)


def test_binary_file_named_txt(tmp_path):
    path = write(tmp_path, "binary.txt", b"\x00\x01\x02garbage\x00" * 50)
    with pytest.raises(ScanReadError, match="binary"):
        io.read(path)


def test_single_row_is_too_small(tmp_path):
    with pytest.raises(ScanReadError, match="at least 2x2"):
        io.read(write(tmp_path, "row.txt", "1 2 3 4\n"))


def test_unknown_header_unit_is_kept_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, "fl.txt", "# Channel: Signal\n# Value units: furlong\n1 2\n3 4\n")
    with caplog.at_level(logging.WARNING, logger="scansr.io.text"):
        scan = io.read(path)
    assert scan["Signal"].unit == "furlong"
    assert "furlong" in caplog.text


def test_arbitrary_units_are_dimensionless(tmp_path):
    # "a.u." is scansr's "" (dimensionless), as in the other readers (scansr.units)
    path = write(tmp_path, "au.txt", "# Channel: Signal\n# Value units: a.u.\n1 2\n3 4\n")
    assert io.read(path)["Signal"].unit == ""


# -------------------------------------------------------------------------------------------------------- XYZ
def test_gridded_xyz_export(tmp_path):
    ny, nx, dx, dy = 4, 5, 2e-9, 3e-9
    z = np.arange(ny * nx, dtype=float).reshape(ny, nx) * 1e-10
    lines = ["# Channel: Height", "# Lateral units: m", "# Value units: m"]
    for i in range(ny):
        for j in range(nx):
            lines.append(f"{dx * (j + 0.5) + 1e-6:.9g}\t{dy * (i + 0.5):.9g}\t{z[i, j]:.9g}")
    scan = io.read(write(tmp_path, "grid.xyz", "\n".join(lines) + "\n"))
    np.testing.assert_allclose(scan["Height"].data, z, rtol=1e-8)
    assert scan.pixel_size == pytest.approx((dy, dx), rel=1e-6)
    assert scan.origin == pytest.approx((0.0, 1e-6), abs=1e-15)


def test_scattered_xyz_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.random((30, 3))
    content = "# Lateral units: m\n# Value units: m\n" + "\n".join("\t".join(map(str, p)) for p in points)
    with pytest.raises(ScanReadError, match="regular grid"):
        io.read(write(tmp_path, "scatter.xyz", content))


# ------------------------------------------------------------------------------------------------------ sniff
def test_sniff():
    assert text.sniff(b"# Channel: Height\n# Width: 1.000 \xc2\xb5m\n", ".txt")
    assert text.sniff(b"1.0\t2.0\t3.0\n4.0\t5.0\t6.0\n", ".dat")
    assert text.sniff(b"1,2\n3,4\n", ".csv")
    assert not text.sniff(b"Hello world\n1 2 3\n", ".txt")
    assert not text.sniff(b"1 2 3\n4 5\n", ".txt")
    assert not text.sniff(b"\\*File list\r\n\\Version: 0x05120005\r\n", ".txt")  # NanoScope header
    assert not text.sniff(b"\x89PNG\r\n\x1a\n\x00\x00", ".png")
    # one long line cut by the 4096-byte head: enough numbers on it
    wide = (" ".join(["1.234567e-09"] * 400)).encode()[:4096]
    assert text.sniff(wide, ".txt")


def test_sniff_rejects_vendor_files_named_txt():
    nanoscope = shared_path("data", "spm", "nanoscope", "full_multiple_images.txt")
    assert not text.sniff(nanoscope.read_bytes()[:4096], ".txt")
    anfatec = shared_path("data", "spm", "SciFiDatasets", "PiFM", "MAPIold_0012.txt")
    assert not text.sniff(anfatec.read_bytes()[:4096], ".txt")


# ------------------------------------------------------------------------------------------------------ write
def test_round_trip_keeps_values_units_and_pixel_size(tmp_path, real_heights):
    scan = Scan((Channel("Topography", real_heights, unit="m"),), pixel_size=(2e-9, 1.5e-9))
    path = io.write(scan, tmp_path / "out.txt")
    back = io.read(path)
    assert back.names == ("Topography",)
    assert back["Topography"].unit == "m"
    np.testing.assert_allclose(back["Topography"].data, real_heights, rtol=6e-9)  # %.8e: 9 digits
    assert back.pixel_size == pytest.approx((2e-9, 1.5e-9), rel=1e-12)
    header = path.read_text(encoding="utf-8").splitlines()[:4]
    assert header == ["# Channel: Topography", "# Width: 72 nm", "# Height: 128 nm", "# Value units: m"]


def test_write_without_scale_and_with_nan(tmp_path):
    data = np.array([[1e-9, np.nan], [3e-9, 4e-9]])
    path = io.write(Scan((Channel("Height", data, unit="m"),), pixel_size=None), tmp_path / "n.txt")
    back = io.read(path)
    assert back.pixel_size is None
    np.testing.assert_array_equal(np.isnan(back["Height"].data), np.isnan(data))


def test_multichannel_scan_writes_default_channel_and_says_so(tmp_path, real_heights):
    scan = Scan(
        (
            Channel("Phase", real_heights * 1e9, unit="deg"),
            Channel("Height", real_heights, unit="m"),
        ),
        pixel_size=(1e-9, 1e-9),
    )
    path = io.write(scan, tmp_path / "multi.txt")
    content = path.read_text(encoding="utf-8")
    assert "# Channel: Height" in content
    assert "'Phase'" in content.splitlines()[4]
    back = io.read(path)
    assert back.names == ("Height",)
    np.testing.assert_allclose(back["Height"].data, real_heights, rtol=6e-9)
