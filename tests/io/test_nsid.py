"""pyNSID / USID HDF5 reader: against the stored Asylum metadata, a real zoom pair, synthetic USID files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import scansr.io
from scansr.io import nsid
from scansr.scan import ScanReadError
from tests.conftest import TEST_DATA, shared_path

SHIPPED = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"


def _raw(path, k):
    """Main dataset, dimension values and original metadata of channel k, straight from h5py."""
    with h5py.File(path, "r") as f:
        group = f[f"Measurement_000/Channel_{k}/Channel_{k}"]
        data = group[f"Channel_{k}"][()].astype(np.float64)
        x, y = group["x"][()], group["y"][()]
        meta = dict(group["original_metadata"].attrs)
    return data, x, y, meta


# ------------------------------------------------------------------------------------------------- sniff
def test_sniff_accepts_nsid_and_rejects_other_hdf5():
    assert nsid.sniff(SHIPPED.read_bytes()[:4096], ".h5")
    assert not nsid.sniff(b"\x89HDF\r\n\x1a\n" + b"\0" * 100, ".h5")
    assert not nsid.sniff(b"Measurement_000 Channel_0", ".h5")  # not HDF5
    assert scansr.io.detect_format(SHIPPED) == "nsid"


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["sample_0_1.topostats", "sample_0.h5-jpk"])
def test_sniff_leaves_other_hdf5_formats_alone(name):
    head = shared_path("data", "spm", "AFMReader", name).read_bytes()[:4096]
    assert not nsid.sniff(head, ".h5")


# ----------------------------------------------------------------------------------------------- shipped file
def test_shipped_file_follows_its_metadata():
    scan = scansr.io.read(SHIPPED)
    assert scan.format == "nsid"
    assert scan.names == ("HeightRetrace", "AmplitudeRetrace", "DeflectionRetrace", "PhaseRetrace")
    assert [c.unit for c in scan.channels] == ["m", "m", "m", "deg"]
    assert {c.direction for c in scan.channels} == {"retrace"}
    assert scan.instrument == "Asylum Research Cypher"
    data, x, _y, meta = _raw(SHIPPED, 0)
    assert data.shape == (256, 256)
    # Asylum note: ScanSize 1 um over ScanPoints 256 -> pitch 1e-6/255, as the x/y dimension scales say.
    assert meta["ScanSize"] == pytest.approx(1e-6)
    pitch = meta["FastScanSize"] / (meta["ScanPoints"] - 1)
    assert scan.pixel_size == pytest.approx((pitch, pitch), rel=1e-9)
    assert x[1] - x[0] == pytest.approx(pitch, rel=1e-9)
    # Array axis 0 is X; Asylum's slow axis runs up the image, so row 0 is the last y index.
    np.testing.assert_array_equal(scan["HeightRetrace"].data, np.flipud(data.T))
    # Origin: top-left corner, y down the rows: (-(YOffset) - ny*dy/2, XOffset - nx*dx/2).
    expected = (-meta["YOffset"] - 128 * pitch, meta["XOffset"] - 128 * pitch)
    assert scan.origin == pytest.approx(expected, rel=1e-12)
    assert scan.metadata["scan_center_x"] == pytest.approx(meta["XOffset"])
    heights = scan["HeightRetrace"].data
    assert 1e-12 < np.ptp(heights) < 1e-3


def test_hdf5_without_measurement_group_is_a_read_error(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["image"] = np.zeros((4, 4))
    with pytest.raises(ScanReadError, match="Measurement"):
        scansr.io.read(path)


# ------------------------------------------------------------------------------------------------- zoom pair
def _ncc_position(big: np.ndarray, small: np.ndarray) -> tuple[tuple[int, int], float]:
    """Top-left (row, col) of `small` in `big` by normalised cross-correlation, and the peak value."""
    import cv2

    def standard(a):
        a = a - np.median(a, axis=1, keepdims=True)  # remove scan-line offsets
        return ((a - a.mean()) / a.std()).astype(np.float32)

    result = cv2.matchTemplate(standard(big), standard(small), cv2.TM_CCOEFF_NORMED)
    _, peak, _, (col, row) = cv2.minMaxLoc(result)
    return (row, col), peak


@pytest.mark.corpus
def test_origins_locate_the_zoom_inside_the_overview():
    import cv2

    overview = scansr.io.read(shared_path("data", "spm", "DTMicroscope", "PTO_Funakubo0004.h5"))
    zoom = scansr.io.read(SHIPPED)
    ratio = zoom.pixel_size[1] / overview.pixel_size[1]
    assert ratio == pytest.approx(1 / 3, rel=1e-6)
    # Where the origins put the zoom's top-left pixel centre, in overview pixels.
    (dy, dx), (big_dy, big_dx) = zoom.pixel_size, overview.pixel_size
    predicted_row = (zoom.origin[0] + dy / 2 - overview.origin[0]) / big_dy - 0.5
    predicted_col = (zoom.origin[1] + dx / 2 - overview.origin[1]) / big_dx - 0.5
    size = round(zoom.shape[1] * ratio)
    for name in ("AmplitudeRetrace", "HeightRetrace"):
        small = cv2.resize(zoom[name].data.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        (row, col), peak = _ncc_position(overview[name].data, small)
        assert peak > 0.6, name  # a real match (README: NCC 0.82 amplitude, 0.42 height at this place)
        assert abs(row - predicted_row) < 3, (name, row, predicted_row)
        assert abs(col - predicted_col) < 3, (name, col, predicted_col)


# ------------------------------------------------------------------------------------------------- corpus
_CORPUS = [f"PTO_Funakubo000{i}.h5" for i in range(1, 8)] + [
    "PZT_final0001.h5",
    "PZT_final0002.h5",
    "PZT_final0003.h5",
    "PZT_thick0004.h5",
    "PZT_thick0006.h5",
    "PZT_thick0009.h5",
]


@pytest.mark.corpus
@pytest.mark.parametrize("name", _CORPUS)
def test_corpus_files_read(name):
    path = shared_path("data", "spm", "DTMicroscope", name)
    scan = scansr.io.read(path)
    data, _x, _y, meta = _raw(path, 0)
    assert scan.shape == (data.shape[1], data.shape[0])  # axis 0 is X
    assert scan.pixel_size == pytest.approx(
        (meta["SlowScanSize"] / (meta["ScanLines"] - 1), meta["FastScanSize"] / (meta["ScanPoints"] - 1)),
        rel=1e-9,
    )
    for channel in scan.channels:
        assert np.isfinite(channel.data).all()
        assert channel.unit == {"Phase": "deg", "NapPhase": "deg", "UserIn0": "V", "NapUserIn0": "V"}.get(
            channel.name.removesuffix("Retrace"), "m"
        ), channel.name
    height = scan["HeightRetrace"].data
    assert 1e-12 < np.ptp(height) < 1e-3
    if meta["ScanAngle"] == 0:
        assert scan.origin is not None
    else:
        assert scan.origin is None  # rotated scans: centre and angle are in the metadata
        assert scan.metadata["scan_angle"] == meta["ScanAngle"]


@pytest.mark.corpus
def test_non_square_pixels():
    scan = scansr.io.read(shared_path("data", "spm", "DTMicroscope", "PZT_thick0009.h5"))
    # 256 points x 128 lines over 1 um x 1 um (FastScanSize = SlowScanSize = 1e-6)
    assert scan.shape == (128, 256)
    assert scan.pixel_size == pytest.approx((1e-6 / 127, 1e-6 / 255), rel=1e-9)


# ------------------------------------------------------------------------------------------------- USID
def _usid(path, image, *, labels=("X", "Y"), units=("nm", "nm"), steps=(2.0, 3.0)):
    ny, nx = image.shape
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    indices = np.stack([xx.ravel(), yy.ravel()], axis=1)  # first position dimension varies fastest
    values = indices * np.array(steps)
    with h5py.File(path, "w") as f:
        group = f.create_group("Measurement_000/Channel_000")
        raw = group.create_dataset("Raw_Data", data=image.reshape(-1, 1))
        raw.attrs["quantity"] = "Height"
        raw.attrs["units"] = "m"
        pi = group.create_dataset("Position_Indices", data=indices)
        pi.attrs["labels"] = list(labels)
        pi.attrs["units"] = list(units)
        group.create_dataset("Position_Values", data=values)
        group.create_dataset("Spectroscopic_Indices", data=np.zeros((1, 1), dtype=int))
        group.create_dataset("Spectroscopic_Values", data=np.zeros((1, 1)))


def test_usid_image(tmp_path):
    image = np.arange(12.0).reshape(3, 4) * 1e-9
    path = tmp_path / "usid.h5"
    _usid(path, image)
    scan = scansr.io.read(path)
    assert scan.names == ("Height",)
    np.testing.assert_array_equal(scan["Height"].data, image)
    assert scan.pixel_size == pytest.approx((3e-9, 2e-9), rel=1e-12)
    assert scan.metadata["layout"] == "USID"


def test_usid_spectra_are_refused(tmp_path):
    path = tmp_path / "spectra.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("Measurement_000/Channel_000")
        group.create_dataset("Raw_Data", data=np.zeros((4, 10)))
        group.create_dataset("Position_Indices", data=np.zeros((4, 2), dtype=int))
        group.create_dataset("Position_Values", data=np.zeros((4, 2)))
    with pytest.raises(ScanReadError, match="not an image"):
        scansr.io.read(path)
