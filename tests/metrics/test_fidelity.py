"""Tests of scansr.metrics.fidelity: official IQA values, scikit-image, and closed-form cases."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import mean_squared_error, normalized_root_mse, structural_similarity

from scansr.metrics import compare_images, mse, nrmse, psnr, rgb2gray, ssim
from scansr.metrics.fidelity import _box_downsample
from tests.conftest import TEST_DATA, shared_path

PAIRS = ("I03", "I04", "I06", "I08", "I19")


def official(method: str) -> dict[str, float]:
    """One row of results_official.csv (published values of the official implementations), by image."""
    path = shared_path("reference", "iqa-calibration", "results_official.csv")
    with open(path, newline="") as fh:
        rows = {row[0]: row[1:] for row in csv.reader(fh)}
    names = [n.removesuffix(".bmp") for n in rows["Method"]]
    return {name: float(v) for name, v in zip(names, rows[method], strict=True)}


def read_rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


def calibration_pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    folder = shared_path("reference", "iqa-calibration")
    return read_rgb(folder / f"ref_{name}.bmp"), read_rgb(folder / f"dist_{name}.bmp")


def height_map() -> np.ndarray:
    """Height channel (m) of the shipped Asylum PFM scan, read with gwyfile."""
    import gwyfile

    fields = gwyfile.util.get_datafields(gwyfile.load(str(TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy")))
    return np.asarray(fields["HeightRetrace"].data, dtype=np.float64)


# ------------------------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("name", PAIRS)
def test_psnr_matches_official_value(name: str) -> None:
    ref, dist = calibration_pair(name)
    published = official("psnr")[name]  # given to 2 decimals
    assert psnr(ref, dist, data_range=255) == pytest.approx(published, abs=0.01)
    assert compare_images(ref, dist).psnr == pytest.approx(published, abs=0.01)


@pytest.mark.parametrize("name", PAIRS)
def test_ssim_matches_official_value(name: str) -> None:
    ref, dist = calibration_pair(name)
    published = official("ssim")[name]  # given to 4 decimals
    value = compare_images(ref, dist).ssim
    assert value == pytest.approx(published, abs=0.01)  # the requirement
    assert value == pytest.approx(published, abs=2e-4)  # what the documented convention achieves
    assert ssim(rgb2gray(ref), rgb2gray(dist), data_range=255) == value


def test_ssim_with_automatic_downsampling_does_not_match_official_values() -> None:
    # Documents the convention: the 2009 ssim.m down-sampling (f = 2 for 384 x 512) gives other numbers.
    ref, dist = calibration_pair("I19")
    down = ssim(rgb2gray(ref), rgb2gray(dist), data_range=255, downsample=True)
    assert abs(down - official("ssim")["I19"]) > 0.05


# -------------------------------------------------------------------------------------------- SSIM vs skimage
@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image_gaussian(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(64, 80))
    test = ref + 0.3 * rng.normal(size=ref.shape)
    expected = structural_similarity(
        ref, test, data_range=8.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(ref, test, data_range=8.0) == pytest.approx(expected, abs=1e-10)


def test_ssim_matches_scikit_image_uniform_window_and_constants() -> None:
    rng = np.random.default_rng(5)
    ref = rng.uniform(size=(40, 50))
    test = np.clip(ref + 0.1 * rng.normal(size=ref.shape), 0, 1)
    expected = structural_similarity(
        ref,
        test,
        data_range=1.0,
        win_size=7,
        gaussian_weights=False,
        use_sample_covariance=False,
        K1=0.02,
        K2=0.05,
    )
    value = ssim(ref, test, data_range=1.0, win_size=7, gaussian=False, k1=0.02, k2=0.05)
    assert value == pytest.approx(expected, abs=1e-10)


def test_ssim_on_real_heights_in_metres_matches_scikit_image() -> None:
    height = height_map()
    noisy = height + np.random.default_rng(2).normal(scale=2e-10, size=height.shape)
    span = float(np.ptp(height))
    expected = structural_similarity(
        height, noisy, data_range=span, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(height, noisy, data_range=span) == pytest.approx(expected, abs=1e-9)
    assert ssim(height, height, data_range=span) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("f", [2, 3])
def test_box_downsample_is_ssim_m_box_filter_then_subsample(f: int) -> None:
    image = np.random.default_rng(f).normal(size=(13, 17))
    # MATLAB imfilter(..., ones(f)/f^2, 'symmetric', 'same') with origin tap floor((f+1)/2), then 1:f:end.
    c = (f + 1) // 2 - 1
    padded = np.pad(image, f, mode="symmetric")
    expected = np.empty(((13 + f - 1) // f, (17 + f - 1) // f))
    for i in range(expected.shape[0]):
        for j in range(expected.shape[1]):
            r0, c0 = f * i - c + f, f * j - c + f
            expected[i, j] = padded[r0 : r0 + f, c0 : c0 + f].mean()
    np.testing.assert_allclose(_box_downsample(image, f), expected, atol=1e-14)


# ----------------------------------------------------------------------------------------------- closed forms
def test_psnr_of_known_mse() -> None:
    ref = np.zeros((10, 10))
    test = np.full((10, 10), 0.1)  # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr(ref, test, data_range=1.0) == pytest.approx(20.0, abs=1e-12)
    assert psnr(ref, test, data_range=10.0) == pytest.approx(40.0, abs=1e-12)


def test_psnr_of_identical_images_is_inf() -> None:
    image = np.random.default_rng(0).normal(size=(8, 8))
    assert psnr(image, image.copy(), data_range=1.0) == float("inf")


def test_mse_and_nrmse_match_scikit_image() -> None:
    rng = np.random.default_rng(9)
    ref = rng.uniform(1, 2, size=(20, 30))
    test = ref + 0.05 * rng.normal(size=ref.shape)
    assert mse(ref, test) == pytest.approx(mean_squared_error(ref, test), rel=1e-12)
    for normalization in ("euclidean", "min-max", "mean"):
        expected = normalized_root_mse(ref, test, normalization=normalization)
        assert nrmse(ref, test, normalization=normalization) == pytest.approx(expected, rel=1e-12)


def test_inputs_are_not_modified() -> None:
    ref = np.random.default_rng(1).normal(size=(16, 16))
    test = ref + 1
    before = (ref.copy(), test.copy())
    ssim(ref, test, data_range=4.0)
    psnr(ref, test, data_range=4.0)
    np.testing.assert_array_equal(ref, before[0])
    np.testing.assert_array_equal(test, before[1])


# ----------------------------------------------------------------------------------------------------- errors
def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(4, 5\) and \(5, 4\)"):
        mse(np.zeros((4, 5)), np.zeros((5, 4)))


def test_nan_is_rejected() -> None:
    test = np.zeros((16, 16))
    test[3, 3] = np.nan
    with pytest.raises(ValueError, match="test has 1 non-finite"):
        ssim(np.zeros((16, 16)), test, data_range=1.0)


@pytest.mark.parametrize("data_range", [0, -1.0, float("nan"), float("inf"), "big", None])
def test_bad_data_range_is_rejected(data_range: object) -> None:
    with pytest.raises(ValueError, match="data_range must be a positive finite number"):
        psnr(np.zeros((4, 4)), np.ones((4, 4)), data_range=data_range)  # type: ignore[arg-type]


def test_data_range_is_required() -> None:
    with pytest.raises(TypeError, match="data_range"):
        ssim(np.zeros((16, 16)), np.zeros((16, 16)))  # type: ignore[call-arg]


def test_unknown_normalization_lists_choices() -> None:
    with pytest.raises(ValueError, match="'euclidean', 'min-max', 'mean'"):
        nrmse(np.ones((4, 4)), np.ones((4, 4)), normalization="max")


def test_ssim_rejects_even_window_and_small_images() -> None:
    with pytest.raises(ValueError, match="odd integer"):
        ssim(np.zeros((16, 16)), np.zeros((16, 16)), data_range=1.0, win_size=8)
    with pytest.raises(ValueError, match="smaller than the 11 x 11 window"):
        ssim(np.zeros((8, 16)), np.zeros((8, 16)), data_range=1.0)
    with pytest.raises(ValueError, match="2-D grey"):
        ssim(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)), data_range=1.0)
