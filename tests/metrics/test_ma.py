"""Tests of scansr.metrics.ma: Ma et al.'s NRQM and the perceptual index PI.

The official model file is not available, so the score is checked piece by piece against independent truths:
forests written by hand in randomforest-matlab's layout (predictions worked out by hand); the DCT against
scipy; block statistics recomputed block by block with MATLAB's index rules; the generalized Gaussian fit
against samples of known shape; the steerable pyramid by energy conservation, by where a sinusoid's energy
lands, and against pyrtools (when installed); the divisive normalisation against a literal transcription of
DIIVINE's MATLAB loop; SSIM's cs term against its closed form; singular values against images of known rank.
With ``SCANSR_MA_MODEL`` pointing to the official ``model.mat`` the ``nrqm`` / ``pi`` rows of the IQA
calibration set (results_official.csv) are checked within 2 %.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.io
import scipy.signal
import scipy.special
import scipy.stats
from scipy import ndimage

from scansr.interpolate import imresize
from scansr.metrics import METRICS, niqe, rgb2gray
from scansr.metrics import ma as M
from scansr.metrics.ma import (
    FEATURE_GROUPS,
    MaModel,
    load_ma_model,
    ma_features,
    ma_score,
    pi_score,
)
from tests.conftest import shared_path
from tests.metrics.ma_helpers import (
    TINY_EXPECTED,
    TINY_SAMPLES,
    TINY_TREES,
    evaluate_model,
    forest_struct,
    synthetic_model,
    write_v5,
    write_v73,
)

CALIBRATION = ("I03", "I04", "I06", "I08", "I19")


def _tiny_model(**coef) -> dict:
    forest = forest_struct(TINY_TREES, **coef)
    return {"rf": [forest, forest, forest], "linear": np.array([[0.5], [2.0], [-1.0], [0.25]])}


def _smooth_image(shape=(96, 112), seed=0, sigma=1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(128, 50, size=shape), sigma)


# ----------------------------------------------------------------------------------------- forest + loading
@pytest.mark.parametrize("writer", [write_v5, write_v73], ids=["v5", "v7.3"])
def test_forest_traversal_gives_the_hand_computed_predictions(tmp_path, writer):
    model = load_ma_model(writer(tmp_path / "model.mat", _tiny_model()))
    assert isinstance(model, MaModel)
    assert [f.n_trees for f in model.forests] == [3, 3, 3]
    np.testing.assert_allclose(model.forests[0].predict(TINY_SAMPLES), TINY_EXPECTED, rtol=0, atol=1e-12)
    # quality_predict.m: [1 s1 s2 s3] * linear
    x = TINY_SAMPLES[2]
    features = M.MaFeatures(x, x, x)
    assert model.predict(features) == pytest.approx(0.5 + (2.0 - 1.0 + 0.25) * TINY_EXPECTED[2], abs=1e-12)


def test_bias_correction_coefficients_are_applied_when_non_zero(tmp_path):
    model = load_ma_model(write_v5(tmp_path / "model.mat", _tiny_model(coef=(1.0, 2.0))))
    np.testing.assert_allclose(model.forests[1].predict(TINY_SAMPLES), 1.0 + 2.0 * TINY_EXPECTED, atol=1e-12)


def test_r_randomforest_names_and_treemap_are_accepted(tmp_path):
    forest = forest_struct(TINY_TREES)
    renamed = {
        "treemap": np.stack([forest["lDau"], forest["rDau"]], axis=1),  # nodes x 2 x trees
        "nodestatus": forest["nodestatus"],
        "xbestsplit": forest["upper"],
        "nodepred": forest["avnode"],
        "bestvar": forest["mbest"],
        "ntree": forest["ntree"],
    }
    path = tmp_path / "r.mat"
    scipy.io.savemat(path, {"model": {"rf": np.array([[renamed]] * 3, dtype=object), "linear": np.ones(4)}})
    predictions = load_ma_model(path).forests[2].predict(TINY_SAMPLES)
    np.testing.assert_allclose(predictions, TINY_EXPECTED, atol=1e-12)


def _broken(tmp_path, change) -> Path:
    model = _tiny_model()
    model["rf"] = [dict(f) for f in model["rf"]]
    change(model)
    path = tmp_path / "broken.mat"
    if "rf" in model:
        cell = np.empty((len(model["rf"]), 1), dtype=object)
        for k, f in enumerate(model["rf"]):
            cell[k, 0] = f
        model = {**model, "rf": cell}
    scipy.io.savemat(path, {"model": model})
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["rf"][1].pop("upper"), r"broken\.mat: model\.rf\{2\} .*upper / xbestsplit"),
        (lambda m: m.pop("linear"), r"broken\.mat: expected a struct 'model' with fields 'rf'"),
        (lambda m: m.update(linear=np.ones(3)), r"model\.linear must hold 4"),
        (lambda m: m.update(rf=m["rf"][:2]), r"model\.rf must be a cell of 3 forests, got 2"),
        (lambda m: m["rf"][0].update(lDau=m["rf"][0]["lDau"] + 40), r"lDau points outside the tree"),
        (lambda m: m["rf"][0].update(ntree=5.0), r"ntree = 5 but the node arrays hold 3 trees"),
    ],
    ids=["missing-field", "no-linear", "short-linear", "two-forests", "bad-child", "ntree"],
)
def test_loader_names_the_file_and_what_does_not_match(tmp_path, change, message):
    path = _broken(tmp_path, change)
    with pytest.raises(ValueError, match=message):
        load_ma_model(path)


def test_loader_rejects_a_forest_using_more_features_than_its_group(tmp_path):
    forest = forest_struct([[("split", 19, 0.0, 2, 3), ("leaf", 1.0), ("leaf", 2.0)]])
    path = write_v5(tmp_path / "m.mat", {"rf": [forest] * 3, "linear": np.ones((4, 1))})
    with pytest.raises(ValueError, match=r"splits on feature 19, but this feature group has 18"):
        load_ma_model(path)


def test_loader_rejects_missing_and_non_mat_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.mat from github\.com/chaoma99/sr-metric"):
        load_ma_model(tmp_path / "absent.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match=r"junk\.mat"):
        load_ma_model(junk)


# ---------------------------------------------------------------------------------- local frequency (f1)
def _matlab_block(image: np.ndarray, i: int, j: int) -> np.ndarray:
    """Block (i, j) that blkproc(image, [3 3], [2 2], fun) hands to fun: pixels 3i-2 .. 3i+4, zero outside."""
    ny, nx = image.shape
    out = np.zeros((7, 7))
    for a in range(7):
        for b in range(7):
            r, c = 3 * i - 2 + a, 3 * j - 2 + b
            if 0 <= r < ny and 0 <= c < nx:
                out[a, b] = image[r, c]
    return out


def test_blocks_follow_blkproc_padding():
    image = np.arange(10 * 11, dtype=float).reshape(10, 11) + 1
    blocks = M._blocks(image)
    assert blocks.shape == (4 * 4, 7, 7)  # ceil(10/3) x ceil(11/3)
    for i in range(4):
        for j in range(4):
            np.testing.assert_array_equal(blocks[i * 4 + j], _matlab_block(image, i, j))


def test_dct_matrix_is_matlab_dct2():
    block = np.random.default_rng(2).normal(size=(7, 7))
    expected = scipy.fft.dctn(block, type=2, norm="ortho")
    np.testing.assert_allclose(M._DCT7 @ block @ M._DCT7.T, expected, atol=1e-12)


@pytest.mark.parametrize("beta", [0.7, 1.0, 2.0, 4.0])
def test_ggd_shape_recovers_the_shape_of_generalized_gaussian_samples(beta):
    samples = scipy.stats.gennorm(beta).rvs(size=(1, 400_000), random_state=np.random.default_rng(3))
    assert float(M._ggd_shape(samples)[0]) == pytest.approx(beta, rel=0.04)


def test_nearest_shape_is_matlab_min_of_abs_difference():
    g = 0.03 + 0.001 * np.arange(9971)
    r = scipy.special.gamma(1 / g) * scipy.special.gamma(3 / g) / scipy.special.gamma(2 / g) ** 2
    rho = np.concatenate(
        [np.random.default_rng(4).uniform(1.2, 40, 300), [0.0, 1e9, r[100], (r[500] + r[501]) / 2]]
    )
    brute = np.array(
        [g[np.argmin(np.abs(r - v))] for v in rho]
    )  # argmin returns the first minimum, as MATLAB
    np.testing.assert_array_equal(M._nearest_shape(rho), brute)


def test_pooling_follows_matlab_indices():
    values = np.random.default_rng(5).permutation(np.arange(1.0, 30.0))  # 29 values
    assert M._mean_lowest_tenth(values) == pytest.approx(2.0)  # ceil(2.9) = 3 smallest: 1, 2, 3
    assert M._mean_highest_tenth(values) == pytest.approx(27.5)  # sorted(fix(26.1) = 26 : 29)


# 1-based (row, column) index lists of oriented{1,2,3}_dct_rho_config3.m for 7 x 7 blocks.
_ORIENTED_MATLAB = (
    [(1, c) for c in range(2, 8)] + [(2, c) for c in range(3, 8)] + [(3, c) for c in range(5, 8)]
    + [(4, c) for c in range(6, 8)],
    [(2, 2), (3, 3), (3, 4), (4, 3), (4, 4), (4, 5)] + [(5, c) for c in range(4, 8)]
    + [(6, c) for c in range(5, 8)] + [(7, c) for c in range(5, 8)],
    [(r, 1) for r in range(2, 8)] + [(r, 2) for r in range(3, 8)] + [(r, 3) for r in range(5, 8)]
    + [(r, 4) for r in range(6, 8)],
)  # fmt: skip


def test_block_dct_features_match_a_block_by_block_recomputation():
    image = _smooth_image((20, 23), seed=6, sigma=0.8) / 255
    g = 0.03 + 0.001 * np.arange(9971)
    r = scipy.special.gamma(1 / g) * scipy.special.gamma(3 / g) / scipy.special.gamma(2 / g) ** 2
    shape, variation, orientation = [], [], []
    for i in range(math.ceil(20 / 3)):
        for j in range(math.ceil(23 / 3)):
            d = scipy.fft.dctn(_matlab_block(image, i, j), norm="ortho")
            ac = d.ravel(order="F")[1:]
            rho = np.var(ac, ddof=1) / (np.mean(np.abs(ac - ac.mean())) ** 2 + 1e-7)
            shape.append(g[np.argmin(np.abs(r - rho))])
            variation.append(np.std(np.abs(ac), ddof=1) / (np.mean(np.abs(ac)) + 1e-7))
            rhos = []
            for indices in _ORIENTED_MATLAB:
                v = np.abs([d[a - 1, b - 1] for a, b in indices])
                rhos.append(np.std(v, ddof=1) / (np.mean(v) + 1e-8))
            orientation.append(np.var(rhos, ddof=1))
    n = len(shape)
    expected = [
        np.mean(np.sort(shape)[: math.ceil(n * 0.1)]),
        np.mean(shape),
        np.mean(np.sort(variation)[math.floor(n * 0.9) - 1 :]),
        np.mean(variation),
        np.mean(np.sort(orientation)[math.floor(n * 0.9) - 1 :]),
        np.mean(orientation),
    ]
    assert all(len(m) == 16 for m in _ORIENTED_MATLAB)
    np.testing.assert_allclose(M._block_dct_features(image), expected, rtol=1e-10)


def test_spatial_pyramid_is_gaussian_filter_then_every_second_pixel():
    image = _smooth_image((40, 41), seed=7) / 255
    h = np.outer(*(2 * [np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.25))]))
    h /= h.sum()  # fspecial('gaussian', 3) (sigma 0.5)
    filtered = scipy.signal.correlate2d(image, h, mode="same", boundary="fill")  # imfilter, zero padding
    im1, im2, im3 = M._spatial_pyramid(image)
    assert im1 is image
    np.testing.assert_allclose(im2, filtered[1::2, 1::2], atol=1e-12)
    assert im3.shape == (10, 10)


# ------------------------------------------------------------------------------------- steerable pyramid
def test_steerable_pyramid_is_a_tight_frame():
    image = _smooth_image((96, 128), seed=8, sigma=1.2)
    p = M._steerable_pyramid(image)
    assert [b.shape for b in p.bands[0]] == [(96, 128)] * 6
    assert [b.shape for b in p.bands[1]] == [(48, 64)] * 6
    assert p.lowpass.shape == (24, 32)
    # Parseval: a band subsampled by 2 per axis holds 1/4 of its full-resolution energy.
    energy = (
        np.sum(p.highpass**2)
        + sum(np.sum(b**2) for b in p.bands[0])
        + sum(np.sum(b**2) for b in p.bands[1]) / 4
        + np.sum(p.lowpass**2) / 16
    )
    assert energy / np.sum(image**2) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("frequency", "level", "band"),
    [((0, 32), 0, 0), ((32, 0), 0, 3), ((0, 16), 1, 0), ((16, 0), 1, 3)],
    ids=["x-fine", "y-fine", "x-coarse", "y-coarse"],
)
def test_a_sinusoid_lands_in_the_band_of_its_orientation_and_scale(frequency, level, band):
    # radius 0.5 of Nyquist (32 cycles / 128 px) is the centre of the finest band, 0.25 of the next one;
    # angle 0 (along x) is orientation 1, angle 90° (along y) orientation 4 (pi * 3 / 6).
    y, x = np.mgrid[0:128, 0:128]
    image = np.cos(2 * np.pi * (frequency[0] * y + frequency[1] * x) / 128)
    p = M._steerable_pyramid(image)
    energies = np.array([[np.sum(b**2) * 4**s for b in bands] for s, bands in enumerate(p.bands)])
    assert np.unravel_index(np.argmax(energies), energies.shape) == (level, band)
    assert energies[level].sum() / energies.sum() > 0.99
    assert np.sum(p.highpass**2) + np.sum(p.lowpass**2) < 1e-6 * np.sum(image**2)


def test_steerable_pyramid_matches_pyrtools_port_of_buildsfpyr():
    pt = pytest.importorskip("pyrtools", reason="pyrtools (an independent port of buildSFpyr) not installed")
    image = _smooth_image((64, 80), seed=9)
    p = M._steerable_pyramid(image)
    q = pt.pyramids.SteerablePyramidFreq(image, height=2, order=5)
    np.testing.assert_allclose(p.highpass, q.pyr_coeffs["residual_highpass"], atol=1e-9)
    for s in range(2):
        for b in range(6):
            np.testing.assert_allclose(p.bands[s][b], q.pyr_coeffs[(s, b)], atol=1e-9)
    np.testing.assert_allclose(p.lowpass, q.pyr_coeffs["residual_lowpass"], atol=1e-9)


def _matlab_norm_sender(p: M._Pyramid) -> list[np.ndarray]:
    """Literal transcription of DIIVINE's norm_sender_normalized.m (column-major, matlabPyrTools shift)."""
    bands = [p.highpass, *p.bands[0], *p.bands[1], p.lowpass]  # pyrBand(pyr, pind, k) = bands[k - 1]
    n_band = len(bands) - 1
    out = []
    for scale in (1, 2):
        for orien in range(1, 7):
            nband = (scale - 1) * 6 + orien + 1
            aux = bands[nband - 1]
            nsy, nsx = aux.shape
            prnt = nband < n_band - 6
            nblv, nblh = nsy - 2, nsx - 2
            n = 9 + prnt
            columns = []
            for ny in (-1, 0, 1):
                for nx in (-1, 0, 1):
                    foo = np.roll(aux, (ny, nx), axis=(0, 1))  # shift(y, [ny nx])
                    columns.append(foo[1 : 1 + nblv, 1 : 1 + nblh].ravel(order="F"))
            if prnt:
                auxp = np.real(imresize(bands[nband + 6 - 1], 2.0))[:nsy, :nsx]
                columns.append(auxp[1 : 1 + nblv, 1 : 1 + nblh].ravel(order="F"))
            for neib in range(1, 7):
                if neib != orien:
                    aux1 = bands[(scale - 1) * 6 + neib + 1 - 1]
                    columns.append(aux1[1 : 1 + nblv, 1 : 1 + nblh].ravel(order="F"))
            y = np.stack(columns, axis=1)
            c_x = y.T @ y / (nblv * nblh)
            lam, q = np.linalg.eigh(c_x)
            pos = lam * (lam > 0)
            lam = pos * lam.sum() / (pos.sum() + (pos.sum() == 0))
            c_x = q @ np.diag(lam) @ q.T
            o_c = aux[1 : 1 + nblv, 1 : 1 + nblh].ravel(order="F")
            o_c = o_c - o_c.mean()
            z = np.sqrt(np.sum((y @ np.linalg.pinv(c_x)) * y / n, axis=1))
            g_c = (o_c / z).reshape((nblv, nblh), order="F")
            gb = 16 // 2 ** (scale - 1)
            g_c = g_c[gb:-gb, gb:-gb].ravel(order="F")
            out.append((g_c - g_c.mean()).reshape((nblv - 2 * gb, nblh - 2 * gb), order="F"))
    return out


def test_divisive_normalisation_matches_the_matlab_loop():
    p = M._steerable_pyramid(_smooth_image((70, 90), seed=10))
    ours = M._normalised_subbands(p)
    literal = _matlab_norm_sender(p)
    assert [s.shape for s in ours] == [(36, 56)] * 6 + [(17, 27)] * 6
    for a, b in zip(ours, literal, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.abs(b).max())


def test_contrast_structure_term_has_its_closed_form():
    a = _smooth_image((40, 50), seed=11, sigma=2.0)
    assert M._contrast_structure(a, a) == pytest.approx(1.0, abs=1e-12)
    w = np.outer(*(2 * [scipy.signal.windows.gaussian(11, 1.5)]))
    w /= w.sum()
    mu = scipy.signal.correlate2d(a, w, mode="valid")
    var = scipy.signal.correlate2d(a * a, w, mode="valid") - mu**2
    c2 = (0.03 * 255) ** 2
    k = 0.4  # b = k a + 7: covariance k var, variance k² var
    expected = np.mean((2 * k * var + c2) / ((1 + k * k) * var + c2))
    assert M._contrast_structure(a, k * a + 7.0) == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------------------------------------ spatial (f3)
def test_spatial_features_are_singular_values_of_the_5x5_blocks():
    rng = np.random.default_rng(12)
    patch = rng.integers(0, 256, size=(5, 5)).astype(np.uint8)
    image = np.tile(patch, (24, 24))  # 120 x 120: 576 identical blocks at full resolution
    spatial = ma_features(image).spatial
    assert spatial.shape == (75,)
    norm = np.linalg.norm(patch / 255.0)
    assert spatial[0] == pytest.approx(24 * norm, rel=1e-9)  # rank 1: sqrt(576) |patch|
    assert np.all(spatial[1:25] < 1e-6 * spatial[0])
    # the next scales: SVD of an im2col matrix built block by block
    _, im2, im3 = M._spatial_pyramid(image / 255.0)
    for level, chunk in ((im2, spatial[25:50]), (im3, spatial[50:75])):
        ny, nx = level.shape
        padded = np.zeros((math.ceil(ny / 5) * 5, math.ceil(nx / 5) * 5))
        padded[:ny, :nx] = level
        cols = [
            padded[r : r + 5, c : c + 5].ravel(order="F")
            for c in range(0, padded.shape[1], 5)
            for r in range(0, padded.shape[0], 5)
        ]
        expected = np.linalg.svd(np.array(cols).T, compute_uv=False)
        np.testing.assert_allclose(chunk, expected, rtol=1e-7, atol=1e-9 * expected[0])


# ----------------------------------------------------------------------------- whole features and scores
@pytest.fixture(scope="module")
def calibration() -> dict[str, tuple[np.ndarray, M.MaFeatures]]:
    """Grey calibration images (MATLAB rgb2gray of the distorted BMPs) and their features."""
    import cv2

    folder = shared_path("reference", "iqa-calibration")
    out = {}
    for name in CALIBRATION:
        rgb = cv2.imread(str(folder / f"dist_{name}.bmp"), cv2.IMREAD_COLOR)[..., ::-1]
        grey = rgb2gray(np.ascontiguousarray(rgb))
        out[name] = (grey, ma_features(grey))
    return out


def test_feature_counts_and_order(calibration):
    grey, features = calibration["I04"]
    assert [len(f) for f in features] == [n for _, n in FEATURE_GROUPS] == [18, 45, 75]
    assert features._fields == tuple(name for name, _ in FEATURE_GROUPS)
    levels = M._spatial_pyramid(grey / 255.0)
    for k, level in enumerate(levels):  # scale by scale, fine to coarse
        np.testing.assert_allclose(features.local_frequency[6 * k : 6 * k + 6], M._block_dct_features(level))
        chunk = features.spatial[25 * k : 25 * k + 25]
        assert np.all(np.diff(chunk) <= 0)
    assert features.spatial[0] > features.spatial[25] > features.spatial[50]  # coarser: fewer blocks
    shapes, correlations = features.global_frequency[:18], features.global_frequency[18:]
    assert np.all((shapes >= 0.03) & (shapes <= 10.0))
    assert np.all(np.abs(correlations) <= 1.0)


def test_synthetic_model_end_to_end_on_the_calibration_images(calibration, tmp_path):
    struct = synthetic_model()
    model = load_ma_model(write_v5(tmp_path / "model.mat", struct))
    scores = {}
    for name, (_, features) in calibration.items():
        assert all(np.all(np.isfinite(f)) for f in features), name
        scores[name] = model.predict(features)
        assert scores[name] == pytest.approx(evaluate_model(struct, tuple(features)), abs=1e-12), name
    assert len(set(scores.values())) > 1  # the trees do separate the images


def test_public_scores_and_metric_table(tmp_path):
    struct = synthetic_model()
    path = write_v5(tmp_path / "model.mat", struct)
    image = np.clip(_smooth_image((192, 200), seed=13, sigma=1.0), 0, 255).astype(np.uint8)
    ma = ma_score(image, model=path)
    assert ma == pytest.approx(evaluate_model(struct, tuple(ma_features(image))), abs=1e-12)
    pi = pi_score(image, model=load_ma_model(path))
    assert pi == pytest.approx(0.5 * ((10 - ma) + niqe(image)), abs=1e-12)
    assert METRICS["ma"].compute(image, ma_model=path) == pytest.approx(ma, abs=1e-12)
    assert not METRICS["ma"].lower_is_better
    assert METRICS["pi"].lower_is_better


def test_physical_data_use_niqes_grey_mapping():
    height = 1e-9 * _smooth_image((90, 100), seed=14)
    low, high = float(height.min()), float(height.max())
    a = ma_features(height, data_range=(low, high))
    b = ma_features((height - low) * (255.0 / (high - low)))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-9)


def test_bad_inputs_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"at least 48 px per side .* got an image of 40 x 200"):
        ma_features(np.zeros((40, 200)) + np.arange(200))
    with pytest.raises(ValueError, match=r"got an image of 60 x 60"):
        ma_features(np.arange(3600.0).reshape(60, 60))
    with pytest.raises(ValueError, match="data_range must be None"):
        ma_features(np.zeros((100, 100), dtype=np.uint8), data_range=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        ma_features(np.full((100, 100), np.nan))
    with pytest.raises(ValueError, match="model must be a MaModel"):
        ma_score(np.zeros((100, 100), dtype=np.uint8), model=42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"absent\.mat"):
        ma_score(np.zeros((100, 100), dtype=np.uint8), model=tmp_path / "absent.mat")


# --------------------------------------------------------------------------------- the official numbers
def _official_rows() -> dict[str, list[float]]:
    path = shared_path("reference", "iqa-calibration", "results_official.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][1:] == [f"{n}.bmp" for n in CALIBRATION]
    return {r[0]: [float(v) for v in r[1:]] for r in rows[1:]}


def test_official_nrqm_and_pi_values_with_the_official_model(calibration):
    model_path = os.environ.get("SCANSR_MA_MODEL")
    if not model_path:
        pytest.skip("set SCANSR_MA_MODEL to the official model.mat (github.com/chaoma99/sr-metric) to run")
    import cv2

    model = load_ma_model(model_path)
    rows = _official_rows()
    folder = shared_path("reference", "iqa-calibration")
    for k, name in enumerate(CALIBRATION):
        # nrqm: quality_predict(imread(...)) = the MATLAB rgb2gray image, whole
        assert model.predict(calibration[name][1]) == pytest.approx(rows["nrqm"][k], rel=0.02), name
        # pi: the PIRM 2018 protocol: Y of MATLAB rgb2ycbcr (uint8), 4 px border shaved, then Ma and NIQE
        rgb = cv2.imread(str(folder / f"dist_{name}.bmp"), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float64)
        y = np.floor(16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255 + 0.5).astype(np.uint8)
        assert pi_score(y[4:-4, 4:-4], model=model) == pytest.approx(rows["pi"][k], rel=0.02), name
