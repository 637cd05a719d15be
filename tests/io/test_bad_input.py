"""Bad input, through `scansr.io.read` and through the command line (``scansr info FILE``).

Every case must give a `ScanReadError` (or its subclasses `UnsupportedFormatError`, and `UnknownChannelError`
for a missing channel) whose message names the file and the problem; the command line turns it into exit code
2 and ONE line on stderr (log warnings count as lines: they reach stderr through the CLI's logging set-up),
never a traceback. The damaged files are small (a few kB to 1.3 MB), so no case can hang or allocate much.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from scansr import io
from scansr.cli import main
from scansr.scan import ScanReadError, UnknownChannelError, UnsupportedFormatError
from tests.conftest import TEST_DATA
from tests.io.corrupt_files import FRACTIONS, random_file, truncated_copy

# Every shipped scan file (not the notices, nor the VistaScan display settings, which hold no measurement).
SHIPPED = sorted(p for p in TEST_DATA.rglob("*") if p.is_file() and p.suffix not in ("", ".md", ".datasw"))
IBW = TEST_DATA / "SciFiDatasets" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw"
GWY = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"
SPIEPY_DAT = TEST_DATA / "SPIEPy" / "image_with_defects.dat"
ANFATEC_HEADER = TEST_DATA / "SciFiDatasets" / "PiFM" / "MAPIold_0012.txt"
SUFFIXES = [
    ".spm", ".gwy", ".gsf", ".ibw", ".nid", ".sxm", ".h5", ".tif", ".jpk", ".asd", ".stp", ".mdt", ".mi",
    ".int", ".dat", ".npz", ".png", ".txt",
]  # fmt: skip


def assert_cli_error(capsys, caplog, path: Path, *fragments: str, options: tuple[str, ...] = ()) -> str:
    """Run ``scansr info PATH``: exit code 2, one line on stderr naming the file and the problem; return it."""
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        code = main(["info", str(path), *options])
    captured = capsys.readouterr()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    lines = captured.err.splitlines()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert not warnings, warnings
    assert len(lines) == 1, lines
    assert lines[0].startswith("scansr info: error: ")
    assert str(path) in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def _copy(source: Path, folder: Path) -> Path:
    """Copy `source` into `folder`; an Anfatec channel comes with its set (parameter file and .int files)."""
    folder.mkdir(exist_ok=True)
    if io.detect_format(source) == "anfatec":
        for sibling in source.parent.iterdir():
            shutil.copy(sibling, folder / sibling.name)
    else:
        shutil.copy(source, folder / source.name)
    return folder / source.name


def _same_scan(a, b) -> None:
    assert a.names == b.names
    assert a.pixel_size == b.pixel_size
    for ca, cb in zip(a.channels, b.channels, strict=True):
        np.testing.assert_array_equal(ca.data, cb.data)
        assert ca.unit == cb.unit


# ------------------------------------------------------------------------------------------------- files
def test_empty_file(tmp_path, capsys, caplog):
    path = tmp_path / "scan.spm"
    path.write_bytes(b"")
    with pytest.raises(ScanReadError, match="empty") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "empty")


@pytest.mark.parametrize("fraction", FRACTIONS, ids=lambda f: f"{f:.0%}")
@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: str(p.relative_to(TEST_DATA)))
def test_truncated_shipped_file(source, fraction, tmp_path, capsys, caplog):
    path = truncated_copy(source, _copy(source, tmp_path / "cut"), fraction)
    if source == ANFATEC_HEADER and fraction == 0.99:
        # The parameter file ends in a log of comment lines ("; (at ...): Completed scan"); its last 1 % is
        # comments only, and nothing in the format gives its length: the cut copy is a complete, valid file.
        _same_scan(io.read(path), io.read(source))
        return
    with pytest.raises(ScanReadError) as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert len(str(info.value)) > len(str(path)) + 10  # and says what is wrong
    assert_cli_error(capsys, caplog, path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes_with_a_known_suffix(suffix, tmp_path, capsys, caplog):
    path = random_file(tmp_path / f"noise{suffix}", 4096, seed=len(suffix))
    with pytest.raises(ScanReadError) as info:  # UnsupportedFormatError is a ScanReadError
        io.read(path)
    message = str(info.value)
    assert path.name in message
    assert "do not fit in memory" not in message  # the reader checked sizes before allocating
    assert_cli_error(capsys, caplog, path)


def test_wrong_suffix_on_a_format_without_magic_bytes(tmp_path, capsys, caplog):
    # A SPIEPy .dat has no magic bytes, so the suffix decides: read as NanoScope, it is refused, naming the file.
    path = tmp_path / "renamed.spm"
    shutil.copy(SPIEPY_DAT, path)
    with pytest.raises(ScanReadError, match="not a NanoScope file") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "NanoScope")


@pytest.mark.parametrize(
    ("source", "suffix"), [(GWY, ".dat"), (IBW, ".spm")], ids=["gwy-as-dat", "ibw-as-spm"]
)
def test_wrong_suffix_on_a_format_with_magic_bytes_reads_correctly(source, suffix, tmp_path):
    # Documented behaviour of scansr.io: the magic bytes (GWYP, Igor's version and checksum) choose the
    # format before the suffix does, so a renamed file still reads as what it is.
    path = tmp_path / f"renamed{suffix}"
    shutil.copy(source, path)
    scan = io.read(path)
    assert scan.format == io.detect_format(source)
    _same_scan(scan, io.read(source))


def _gsf(path: Path, data: np.ndarray) -> Path:
    """A Gwyddion Simple Field file written by hand (Gwyddion user guide, "GSF"): header, NUL padding, float32."""
    ny, nx = data.shape
    header = f"Gwyddion Simple Field 1.0\nXRes = {nx}\nYRes = {ny}\nXReal = 1e-06\nYReal = 1e-06\n"
    header += "XYUnits = m\nZUnits = m\nTitle = Height\n"
    raw = header.encode()
    raw += b"\0" * (4 - len(raw) % 4)
    path.write_bytes(raw + data.astype("<f4").tobytes())
    return path


@pytest.mark.parametrize("suffix", [".npz", ".gsf"])
def test_all_nan_channel(suffix, tmp_path, capsys, caplog):
    nan = np.full((4, 6), np.nan)
    if suffix == ".npz":
        path = tmp_path / "nan.npz"
        np.savez(path, Height=nan)  # a foreign .npz: one channel per 2-D array, named by its key
    else:
        path = _gsf(tmp_path / "nan.gsf", nan)
    with pytest.raises(ScanReadError, match=r"Height.*no finite value") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "'Height'", "no finite value")


def test_all_nan_channel_beside_good_ones_is_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "two.npz"
    np.savez(path, Height=np.ones((4, 6)), Phase=np.full((4, 6), np.nan))
    with caplog.at_level(logging.WARNING, logger="scansr.io"):
        scan = io.read(path)
    assert scan.names == ("Height",)
    assert "Phase" in caplog.text


def test_one_by_one_scan(tmp_path, capsys, caplog):
    path = tmp_path / "one.txt"
    path.write_text("1.5e-9\n")
    with pytest.raises(ScanReadError, match="1x1") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "1x1", "at least 2x2")


def test_missing_channel_lists_the_channels(capsys, caplog):
    with pytest.raises(UnknownChannelError) as info:
        io.read(GWY, channel="Topography")
    names = io.read(GWY).names
    message = str(info.value)
    assert str(GWY) in message
    assert "'Topography'" in message
    assert all(repr(name) in message for name in names)
    assert_cli_error(capsys, caplog, GWY, *(repr(n) for n in names), options=("--channel", "Topography"))


def test_path_that_does_not_exist(tmp_path, capsys, caplog):
    path = tmp_path / "missing.gwy"
    with pytest.raises(ScanReadError, match="no such file") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "no such file")


def test_folder_given_as_a_file(tmp_path, capsys, caplog):
    path = tmp_path / "scan.gwy"
    path.mkdir()
    with pytest.raises(ScanReadError, match="folder") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "folder")


def test_unknown_suffix_says_how_to_convert(tmp_path, capsys, caplog):
    path = random_file(tmp_path / "scan.xyzzy", 256)
    with pytest.raises(UnsupportedFormatError, match="Gwyddion") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, "unknown file format")


def test_parameter_file_without_its_data_files(tmp_path, capsys, caplog):
    # An Anfatec parameter file copied without the .int files it lists: one error, no warning before it.
    path = tmp_path / ANFATEC_HEADER.name
    shutil.copy(ANFATEC_HEADER, path)
    with pytest.raises(ScanReadError, match=r"none of the 17 \.int files") as info:
        io.read(path)
    assert str(path) in str(info.value)
    assert_cli_error(capsys, caplog, path, ".int files")
