"""Tests of scansr.metrics.niqe against the official NIQE release values."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import scipy.io

from scansr.metrics import niqe
from scansr.metrics.niqe import niqe_model
from tests.conftest import TEST_DATA, shared_path


def official_niqe() -> dict[str, float]:
    """The ``niqe`` row of results_official.csv (official MATLAB NIQE on the distorted images)."""
    path = shared_path("reference", "iqa-calibration", "results_official.csv")
    with open(path, newline="") as fh:
        rows = {row[0]: row[1:] for row in csv.reader(fh)}
    names = [n.removesuffix(".bmp") for n in rows["Method"]]
    return {name: float(v) for name, v in zip(names, rows["niqe"], strict=True)}


def read_rgb(kind: str, name: str) -> np.ndarray:
    path = shared_path("reference", "iqa-calibration", f"{kind}_{name}.bmp")
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


def test_shipped_parameters_are_the_official_ones() -> None:
    mu, cov = niqe_model()
    assert mu.shape == (36,)
    assert cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=1e-12)
    official = scipy.io.loadmat(shared_path("reference", "niqe", "modelparameters.mat"))
    np.testing.assert_array_equal(mu, official["mu_prisparam"].ravel())
    np.testing.assert_array_equal(cov, official["cov_prisparam"])


@pytest.mark.parametrize(
    ("name", "tolerance"), [("I03", 0.02), ("I04", 0.02), ("I06", 0.02), ("I08", 0.02), ("I19", 0.06)]
)
def test_niqe_matches_official_values(name: str, tolerance: float) -> None:
    value = niqe(read_rgb("dist", name))
    assert value == pytest.approx(official_niqe()[name], rel=tolerance)


def test_niqe_is_exact_on_image_without_flat_regions() -> None:
    # I04 has no exactly flat regions, where floating-point summation order matters (see the module notes):
    # there the port reproduces the published 3.65492152353770 to all printed digits.
    assert niqe(read_rgb("dist", "I04")) == pytest.approx(official_niqe()["I04"], rel=1e-9)


def test_niqe_flat_regions_handled_as_exact_zeros() -> None:
    # I19 (blocky, 9 % flat pixels): 9.02 - 9.11 with float residues, 8.67 with exact zeros, published 8.635.
    assert niqe(read_rgb("dist", "I19")) == pytest.approx(official_niqe()["I19"], rel=0.01)


@pytest.mark.parametrize("name", ["I03", "I19"])
def test_niqe_prefers_reference_over_heavy_distortion(name: str) -> None:
    assert niqe(read_rgb("ref", name)) < niqe(read_rgb("dist", name)) - 2


def height_map() -> np.ndarray:
    import gwyfile

    fields = gwyfile.util.get_datafields(gwyfile.load(str(TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy")))
    return np.asarray(fields["HeightRetrace"].data, dtype=np.float64)


def physical_image() -> np.ndarray:
    # The real 128^2 height map is too small for two 96-px blocks: use its bicubic x2 (256^2, metres).
    from scansr.interpolate import upscale

    return upscale(height_map(), 2, method="bicubic")


def test_niqe_physical_data_mapping() -> None:
    height = physical_image()
    low, high = float(height.min()), float(height.max())
    mapped = (height - low) * (255 / (high - low))
    reference = niqe(mapped, data_range=(0.0, 255.0))
    assert niqe(height) == pytest.approx(reference, rel=1e-9)  # None: the image's min .. max
    assert niqe(height, data_range=(low, high)) == pytest.approx(reference, rel=1e-9)
    assert niqe(height, data_range=high - low) == pytest.approx(reference, rel=1e-9)
    # Min-max mapping makes the score invariant to the unit and offset of the heights (m vs nm).
    assert niqe(height * 1e9 + 3.0) == pytest.approx(reference, rel=1e-9)
    # A wider range compresses the grey levels and changes the score.
    assert niqe(height, data_range=(low, low + 4 * (high - low))) != pytest.approx(reference, rel=1e-3)


def test_niqe_rejects_small_images() -> None:
    with pytest.raises(ValueError, match="two 96 x 96 blocks"):
        niqe(np.random.default_rng(0).uniform(0, 255, size=(100, 150)))


def test_niqe_rejects_data_range_for_uint8() -> None:
    with pytest.raises(ValueError, match="data_range must be None"):
        niqe(np.zeros((192, 192), dtype=np.uint8), data_range=255)


def test_niqe_rejects_nan() -> None:
    image = np.random.default_rng(0).uniform(size=(192, 192))
    image[5, 5] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        niqe(image)


def test_niqe_rejects_flat_image() -> None:
    with pytest.raises(ValueError, match="positive finite span"):
        niqe(np.ones((192, 192)))


def test_niqe_rejects_flat_uint8_image() -> None:
    with pytest.raises(ValueError, match="finite features"):
        niqe(np.full((192, 192), 100, dtype=np.uint8))
