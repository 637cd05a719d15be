"""Tests of scansr.evaluate (benchmark, real-pair evaluation) and its report sections.

Real scans: the shipped DTMicroscope PTO_Funakubo0005.h5 (PFM height, 256², 1 µm), NSFopen circles.nid
(calibration grating, 256², 50 µm) and SPIEPy image_with_defects.dat (Si(111) STM, 256², no scale); the real
zoom pair PTO_Funakubo0004 (3 µm, LR) ⊃ PTO_Funakubo0005 (1 µm, HR) from ../shared/data (skipped when absent).
Truths: PSNR recomputed here from the same arrays; a method that returns the exact HR; the identity transform
between a synthetic surface and its block-mean reduction; the scans' offsets for the real zoom.
"""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
from scipy import ndimage

from scansr import degrade
from scansr.evaluate import (
    HR_LABEL,
    BenchmarkResult,
    EvaluationResult,
    benchmark,
    evaluate_pairs,
)
from scansr.interpolate import downsample, upscale, upscale_scan
from scansr.io import read
from scansr.methods import FunctionMethod
from scansr.metrics import METRICS, psnr, ssim
from scansr.metrics.ma import ma_features
from scansr.register import Registration, initial_transform_from_metadata
from scansr.report import Report
from scansr.report.evaluation import add_benchmark_section, add_evaluation_section
from scansr.scan import Channel, OutputExistsError, Scan
from tests.conftest import TEST_DATA, shared_path
from tests.metrics.ma_helpers import evaluate_model, synthetic_model, write_v5

PTO = TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5"
CIRCLES = TEST_DATA / "NSFopen" / "circles.nid"
SPIEPY = TEST_DATA / "SPIEPy" / "image_with_defects.dat"
SHIPPED = (PTO, CIRCLES, SPIEPY)
BASELINES = ("bicubic", "bilinear", "lanczos")


def _nearest(scan: Scan, scale: int) -> Scan:
    """Nearest-neighbour upscaling (pixel replication): the weakest baseline, defined here for the test only."""
    return scan.map_channels(lambda d: np.kron(d, np.ones((scale, scale))), pixel_size=None).replace(
        pixel_size=None
        if scan.pixel_size is None
        else (scan.pixel_size[0] / scale, scan.pixel_size[1] / scale)
    )


NEAREST = FunctionMethod("nearest", _nearest, description="pixel replication (test only)")


@pytest.fixture(scope="module")
def shipped_benchmark() -> BenchmarkResult:
    return benchmark(SHIPPED, scales=(2, 4), methods=[*BASELINES, NEAREST], progress=False)


# --------------------------------------------------------------------------------------------------- benchmark
def _levelled(z: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    a = np.column_stack([np.ones(z.size), xx.ravel(), yy.ravel()])
    coef, *_ = np.linalg.lstsq(a, z.ravel(), rcond=None)
    return z - (a @ coef).reshape(z.shape)


def _clipped(z: np.ndarray) -> np.ndarray:
    """The AFM paper's eq. 1: clip at the values of 1-based ranks floor(2.5 % N) and floor(97.5 % N)."""
    v = np.sort(z.ravel())
    n = v.size
    return np.clip(z, v[math.floor(0.025 * n) - 1], v[math.floor(0.975 * n) - 1])


def test_benchmark_psnr_and_ssim_match_an_independent_recomputation(shipped_benchmark):
    interpolations = {"bicubic": "bicubic", "bilinear": "bilinear", "lanczos": "lanczos"}
    for path in SHIPPED:
        scan = read(path)
        hr = _clipped(_levelled(scan[scan.default_channel].data))  # 256 x 256: a multiple of 2 and 4
        for scale in (2, 4):
            lr = degrade.bicubic_downsample(hr, scale)
            reference = hr[scale:-scale, scale:-scale]
            span = np.std(hr, ddof=1)  # the default: peak 1 on z-scored heights
            for method, interpolation in interpolations.items():
                test = upscale(lr, scale, method=interpolation)[scale:-scale, scale:-scale]
                (row,) = [
                    r
                    for r in shipped_benchmark.per_image
                    if r["file"] == str(path) and r["scale"] == scale and r["method"] == method
                ]
                assert row["data_range"] == pytest.approx(span, rel=1e-12)
                assert row["psnr"] == pytest.approx(psnr(reference, test, data_range=span), rel=1e-9)
                assert row["ssim"] == pytest.approx(ssim(reference, test, data_range=span), rel=1e-9)


def test_benchmark_numbers_are_finite_and_the_table_is_mean_std_per_method_and_scale(shipped_benchmark):
    result = shipped_benchmark
    assert result.methods == (*BASELINES, "nearest")
    assert len(result.per_image) == 3 * 2 * 4
    assert all(math.isfinite(r["psnr"]) and math.isfinite(r["ssim"]) for r in result.per_image)
    table = result.table()
    assert [(r["method"], r["metric"]) for r in table] == [
        (m, k) for m in result.methods for k in ("PSNR", "SSIM")
    ]
    for row in table:
        metric = row["metric"].lower()
        for scale in (2, 4):
            values = result.values(row["method"], scale, metric)
            assert values.size == 3
            digits = 2 if metric == "psnr" else 4
            expected = f"{np.mean(values):.{digits}f} ({np.std(values, ddof=1):.{digits}f})"
            assert row[f"×{scale}"] == expected
            assert re.fullmatch(r"\d+\.\d+ \(\d+\.\d+\)", row[f"×{scale}"])


@pytest.mark.parametrize("path", [PTO, CIRCLES], ids=["PTO-height", "circles-grating"])
def test_bicubic_beats_nearest_neighbour_at_x2_on_smooth_real_scans(shipped_benchmark, path):
    def score(method: str, metric: str) -> float:
        (row,) = [
            r
            for r in shipped_benchmark.per_image
            if r["file"] == str(path) and r["scale"] == 2 and r["method"] == method
        ]
        return row[metric]

    assert score("bicubic", "psnr") > score("nearest", "psnr") + 1.0
    assert score("bicubic", "ssim") > score("nearest", "ssim")


def test_data_range_choice_shifts_psnr_by_the_ratio_of_ranges():
    clipped = benchmark([PTO], scales=(2,), methods=["bicubic"], data_range="clipped", progress=False)
    std = benchmark([PTO], scales=(2,), methods=["bicubic"], data_range="std", progress=False)
    (a,), (b,) = clipped.per_image, std.per_image
    hr = _clipped(_levelled(read(PTO)["HeightRetrace"].data))
    assert a["data_range"] == pytest.approx(hr.max() - hr.min(), rel=1e-12)  # the clipped HR's span
    assert b["data_range"] == pytest.approx(np.std(hr, ddof=1), rel=1e-12)
    # PSNR = 10 log10(L² / MSE): changing only L shifts it by 20 log10(L_std / L_clipped)
    assert b["psnr"] - a["psnr"] == pytest.approx(20 * np.log10(b["data_range"] / a["data_range"]), abs=1e-9)
    assert b["psnr"] < a["psnr"] - 6.0  # σ is several times smaller than the span


def test_realistic_degradation_is_seeded_per_file_not_by_order():
    forward = benchmark([PTO, CIRCLES], scales=(4,), methods=["bicubic"], degradation="afm", progress=False)
    backward = benchmark([CIRCLES, PTO], scales=(4,), methods=["bicubic"], degradation="afm", progress=False)
    by_file = {r["file"]: r for r in backward.per_image}
    for row in forward.per_image:
        assert by_file[row["file"]]["psnr"] == row["psnr"]
        assert by_file[row["file"]]["degradation"] == row["degradation"]
    other_seed = benchmark([PTO], scales=(4,), methods=["bicubic"], degradation="afm", seed=7, progress=False)
    assert other_seed.per_image[0]["degradation"] != by_file[str(PTO)]["degradation"]


def test_benchmark_writes_csv_and_strict_json(shipped_benchmark, tmp_path):
    csv_path = shipped_benchmark.to_csv(tmp_path / "scores.csv")
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(shipped_benchmark.per_image)
    assert float(rows[0]["psnr"]) == pytest.approx(shipped_benchmark.per_image[0]["psnr"], rel=1e-12)
    document = json.loads(shipped_benchmark.to_json(tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert document["settings"]["degradation"] == "bicubic"
    assert len(document["summary"]) == 4 * 2 * 2
    with pytest.raises(OutputExistsError):
        shipped_benchmark.to_csv(csv_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"degradation": "gaussian"}, r"degradation must be one of \('bicubic', 'area', 'afm', 'sem'\)"),
        ({"preprocess": "flatten"}, "preprocess must be one of"),
        ({"data_range": "max"}, r"data_range must be one of \('clipped', 'minmax', 'std'\)"),
        ({"scales": (1, 2)}, "scales must be integers >= 2"),
        ({"methods": ["bicubic", "nearest"]}, "unknown method 'nearest'"),
    ],
)
def test_benchmark_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        benchmark([PTO], **({"progress": False} | options))


# ------------------------------------------------------------------------------------------------- real pairs
def _texture(seed: int, n: int = 192) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.standard_normal((n, n)), 4.0)
    b = ndimage.gaussian_filter(rng.standard_normal((n, n)), 1.5)
    return 1e-8 * (a / a.std() + 0.3 * b / b.std())


def _synthetic_pairs() -> tuple[list[Scan], list[Scan], FunctionMethod]:
    """Two synthetic HR surfaces, their exact ×4 block-mean reductions, and an oracle returning the HR."""
    px = 5e-9
    lrs, hrs, truth = [], [], {}
    for seed in (1, 2):
        hr = _texture(seed)
        lr = downsample(hr, 4, method="area")
        hrs.append(Scan([Channel("Height", hr, "m")], (px, px), origin=(0.0, 0.0)))
        lrs.append(Scan([Channel("Height", lr, "m")], (4 * px, 4 * px), origin=(0.0, 0.0)))
        truth[lr.tobytes()] = hrs[-1]
    oracle = FunctionMethod("oracle", lambda scan, scale: truth[scan.channels[0].data.tobytes()])
    return lrs, hrs, oracle


@pytest.fixture(scope="module")
def synthetic_evaluation() -> EvaluationResult:
    lrs, hrs, oracle = _synthetic_pairs()
    return evaluate_pairs(lrs, hrs, methods=["bicubic", "bilinear", oracle], register="none", progress=False)


def test_a_method_returning_the_exact_hr_scores_perfectly_and_ranks_first(synthetic_evaluation):
    result = synthetic_evaluation
    assert result.n_pairs == 2
    oracle_psnr = result.values("oracle", "psnr")
    assert np.isinf(oracle_psnr).all()
    assert (oracle_psnr > 0).all()
    assert (result.values("oracle", "ssim") == 1.0).all()
    assert (result.values("oracle", "mse") == 0.0).all()
    for metric in ("psnr", "ssim", "mse", "nrmse", "height_wasserstein"):
        means = {m: np.mean(result.values(m, metric)) for m in result.methods}
        ranked = sorted(means, key=means.get, reverse=not METRICS[metric].lower_is_better)
        assert ranked[0] == "oracle", (metric, means)
    # no-reference metrics of the exact HR equal the HR's own row
    for metric in ("niqe", "fourier_sharpness", "gradient_sharpness"):
        assert result.values("oracle", metric) == pytest.approx(result.values(HR_LABEL, metric), rel=1e-12)
    # every full-reference metric is finite for the interpolations; the HR row has none
    for method in ("bicubic", "bilinear"):
        for metric in result.metrics:
            assert np.isfinite(result.values(method, metric)).all(), (method, metric)
    assert all(r[m] is None for r in result.per_image if r["method"] == HR_LABEL for m in ("psnr", "ssim"))


def test_tukey_hsd_runs_per_metric_and_skips_infinite_values(synthetic_evaluation):
    result = synthetic_evaluation
    assert "psnr" not in result.tukey  # the oracle's PSNR is infinite
    assert any("Tukey HSD of psnr skipped" in note for note in result.notes)
    tukey = result.tukey["ssim"]
    assert tukey.methods == ("bicubic", "bilinear", "oracle")
    assert np.allclose(tukey.pvalue, tukey.pvalue.T)
    assert np.all(np.diag(tukey.pvalue) == 1.0)
    assert tukey.means == pytest.approx([np.mean(result.values(m, "ssim")) for m in tukey.methods])


def test_registration_of_a_synthetic_pair_finds_the_identity_and_keeps_the_ranking():
    lrs, hrs, oracle = _synthetic_pairs()
    result = evaluate_pairs(lrs[:1], hrs[:1], methods=["bicubic", "bilinear", oracle], progress=False)
    row = next(r for r in result.per_image if r["method"] == "oracle")
    # the LR is the exact block mean of the HR with the same origin: the truth is the identity
    assert abs(row["shift_x_px"]) < 0.1
    assert abs(row["shift_y_px"]) < 0.1
    assert row["reg_scale"] == pytest.approx(1.0, abs=1e-3)
    psnrs = {m: result.values(m, "psnr")[0] for m in result.methods}
    assert psnrs["oracle"] > 50.0
    assert psnrs["oracle"] > psnrs["bicubic"] > psnrs["bilinear"]
    assert any("Tukey HSD needs at least 2 pairs" in note for note in result.notes)


def test_real_zoom_pair_lands_on_the_zoom_and_every_metric_is_finite():
    lr_path = shared_path("data", "spm", "DTMicroscope", "PTO_Funakubo0004.h5")  # 3 µm, 11.8 nm/px
    hr_path = PTO  # the 1 µm zoom inside it, 3.9 nm/px
    result = evaluate_pairs([lr_path], [hr_path], methods=list(BASELINES), progress=False)
    rows = [r for r in result.per_image if r["method"] != HR_LABEL]
    assert {r["scale"] for r in rows} == {3}
    for row in result.per_image:
        for metric in result.metrics:
            if row["method"] == HR_LABEL and METRICS[metric].needs_reference:
                assert row[metric] is None
            else:
                assert math.isfinite(row[metric]), (row["method"], metric)
    example = result.examples[0]
    hr = example.hr.channels[0].data
    bicubic = example.outputs["bicubic"].channels[0].data
    assert np.corrcoef(hr.ravel(), bicubic.ravel())[0, 1] > 0.5
    # where the zoom's corners fall in the upscaled LR: as the scan offsets predict, within 10 LR pixels
    predicted = initial_transform_from_metadata(read(hr_path), upscale_scan(read(lr_path), 3))
    corners = np.array([[0, 0], [255, 0], [0, 255], [255, 255]], dtype=float)
    found = Registration(np.linalg.inv(result.registrations[0].matrix), "inverse").map_points(corners)
    expected = Registration(np.linalg.inv(predicted), "inverse").map_points(corners)
    assert np.abs(found - expected).max() <= 30.0  # 30 upscaled pixels = 10 LR pixels


def test_without_ma_model_ma_and_pi_are_left_out_with_a_note(synthetic_evaluation):
    result = synthetic_evaluation
    assert "ma" not in result.metrics
    assert "pi" not in result.metrics
    assert "niqe" in result.metrics
    assert any("Ma and PI not computed: they need Ma et al.'s model file" in note for note in result.notes)
    assert "--ma-model PATH" in result.settings["ma_pi"]


def test_asking_for_ma_or_pi_without_the_model_is_an_error():
    lrs, hrs, _ = _synthetic_pairs()
    with pytest.raises(
        ValueError, match=r"metric 'pi' needs Ma et al\.'s model file \(model\.mat from github"
    ):
        evaluate_pairs(lrs, hrs, methods=["bicubic"], metrics=["psnr", "pi"], progress=False)


def test_ma_and_pi_with_a_model_file_for_every_output_and_the_hr(tmp_path):
    struct = synthetic_model(seed=1)
    path = write_v5(tmp_path / "model.mat", struct)
    lrs, hrs, oracle = _synthetic_pairs()
    result = evaluate_pairs(
        lrs[:1],
        hrs[:1],
        methods=["bicubic", oracle],
        register="none",
        metrics=["psnr", "niqe", "ma", "pi"],
        ma_model=path,
        progress=False,
    )
    assert result.metrics == ("psnr", "niqe", "ma", "pi")
    assert str(path) in result.settings["ma_pi"]
    assert not any("Ma and PI not computed" in note for note in result.notes)
    rows = {r["method"]: r for r in result.per_image}
    assert set(rows) == {"bicubic", "oracle", HR_LABEL}
    for row in rows.values():
        assert math.isfinite(row["ma"])
        assert row["pi"] == pytest.approx(0.5 * ((10 - row["ma"]) + row["niqe"]), abs=1e-12)
    # Ma of the HR row: the synthetic forests evaluated by hand on the HR, mapped to grey as NIQE maps it
    reference = _levelled(hrs[0].channels[0].data)
    low, high = np.sort(reference.ravel())[
        [math.floor(0.025 * reference.size) - 1, math.floor(0.975 * reference.size) - 1]
    ]
    expected = evaluate_model(struct, tuple(ma_features(reference, data_range=(low, high))))
    assert rows[HR_LABEL]["ma"] == pytest.approx(expected, abs=1e-9)
    assert rows["oracle"]["ma"] == pytest.approx(rows[HR_LABEL]["ma"], abs=1e-12)


def test_evaluate_rejects_unequal_lists_and_unknown_metrics():
    lrs, hrs, _ = _synthetic_pairs()
    with pytest.raises(ValueError, match="one HR scan per LR scan"):
        evaluate_pairs(lrs, hrs[:1], methods=["bicubic"], progress=False)
    with pytest.raises(ValueError, match=r"metric must be one of \('mse'"):
        evaluate_pairs(lrs, hrs, methods=["bicubic"], metrics=["lpips"], progress=False)
    with pytest.raises(ValueError, match="register must be one of"):
        evaluate_pairs(lrs, hrs, methods=["bicubic"], register="orb", progress=False)


def test_evaluation_table_and_outputs(synthetic_evaluation, tmp_path):
    result = synthetic_evaluation
    table = result.table()
    assert [r["method"] for r in table] == ["bicubic", "bilinear", "oracle", HR_LABEL]
    assert table[0]["PSNR ↑"] == (
        f"{np.mean(result.values('bicubic', 'psnr')):.3f} ± {np.std(result.values('bicubic', 'psnr'), ddof=1):.3f}"
    )
    assert table[2]["PSNR ↑"] == "inf ± –"
    assert "NIQE ↓" in table[0]
    document = json.loads(result.to_json(tmp_path / "e.json").read_text(encoding="utf-8"))
    oracle_rows = [r for r in document["per_image"] if r["method"] == "oracle"]
    assert [r["psnr"] for r in oracle_rows] == ["inf", "inf"]
    assert document["tukey_hsd"]["ssim"]["methods"] == ["bicubic", "bilinear", "oracle"]
    with open(result.to_csv(tmp_path / "e.csv"), newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 2 * 4


# --------------------------------------------------------------------------------------------------- report
def test_report_sections_render_self_contained(synthetic_evaluation):
    bench = benchmark([PTO, CIRCLES], scales=(2, 4), methods=["bicubic", "lanczos"], progress=False)
    report = Report("Evaluation", dpi=40)
    add_benchmark_section(report, bench)
    add_evaluation_section(report, synthetic_evaluation)
    html = report.render()
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(images) == report.n_figures
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"<script|<link|url\(|src=\"(?!data:)|https?://", html)
    captions = " ".join(re.findall(r"<figcaption>(.*?)</figcaption>", html, flags=re.S))
    for expected in (
        "cross-section",
        "power spectra",
        "3-D views",
        "difference",
        "Tukey HSD p-values",
        "over the 2",
    ):
        assert expected in captions, expected
    # the benchmark's Table 1 layout and the study's table with the direction arrows
    assert "PSNR (dB) and SSIM: mean (std) per method and scale" in html
    assert "PSNR ↑" in html
    assert "NIQE ↓" in html
