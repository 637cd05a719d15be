"""Tests of the METRICS table of scansr.metrics."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from scansr.metrics import METRICS, Metric
from tests.metrics.ma_helpers import synthetic_model, write_v5

#: Metrics that need a model file the user supplies (Ma et al.'s model.mat): skipped without one.
NEEDS_MODEL = frozenset(name for name, m in METRICS.items() if "ma_model" in m.options)


def test_table_entries_are_consistent() -> None:
    assert set(METRICS) >= {"mse", "nrmse", "psnr", "ssim", "niqe"}
    for name, metric in METRICS.items():
        assert isinstance(metric, Metric)
        assert metric.name == name
        assert callable(metric.func)
    assert METRICS["psnr"].unit == "dB"
    assert not METRICS["psnr"].lower_is_better
    assert not METRICS["ssim"].lower_is_better
    assert METRICS["mse"].lower_is_better
    assert METRICS["niqe"].lower_is_better
    assert not METRICS["niqe"].needs_reference
    assert METRICS["ssim"].needs_reference
    assert set(NEEDS_MODEL) == {"ma", "pi"}
    assert not METRICS["ma"].lower_is_better
    assert METRICS["pi"].lower_is_better


def test_metric_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["psnr"].lower_is_better = True  # type: ignore[misc]


def test_lower_is_better_agrees_with_values() -> None:
    # A noisier test image must score worse under every full-reference metric.
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 1, size=(48, 48))
    slightly = ref + 0.01 * rng.normal(size=ref.shape)
    very = ref + 0.2 * rng.normal(size=ref.shape)
    for metric in METRICS.values():
        if not metric.needs_reference or metric.name == "frc_resolution":
            continue  # FRC of white-noise images sits at the 2 px Nyquist limit for both: see test_spectral.py
        good = metric.compute(slightly, ref, data_range=1.0)
        bad = metric.compute(very, ref, data_range=1.0)
        assert (good < bad) == metric.lower_is_better, metric.name


def test_compute_checks_what_a_metric_needs() -> None:
    ref = np.zeros((8, 8))
    with pytest.raises(ValueError, match="needs a reference"):
        METRICS["psnr"].compute(ref, data_range=1.0)
    with pytest.raises(ValueError, match="needs data_range"):
        METRICS["psnr"].compute(ref, ref + 1)
    # a no-reference metric ignores a reference
    image = np.random.default_rng(1).uniform(size=(32, 32))
    assert METRICS["fourier_sharpness"].compute(image, ref) == METRICS["fourier_sharpness"].func(image)


def _every_metric(model) -> dict[str, float]:
    rng = np.random.default_rng(2)
    ref = np.clip(rng.normal(0.5, 0.2, size=(192, 192)), 0, 1)
    test = np.clip(ref + 0.05 * rng.normal(size=ref.shape), 0, 1)
    values = {}
    for name, metric in METRICS.items():
        if name in NEEDS_MODEL and model is None:
            continue
        values[name] = metric.compute(test, ref, data_range=1.0, pixel_size=(1e-9, 1e-9), ma_model=model)
    return values


def test_every_metric_runs_through_compute_and_model_metrics_are_skipped_without_a_model(tmp_path):
    without = _every_metric(None)
    assert set(without) == set(METRICS) - NEEDS_MODEL
    assert all(np.isfinite(v) for v in without.values())
    model = write_v5(tmp_path / "model.mat", synthetic_model())
    assert set(_every_metric(model)) == set(METRICS)


@pytest.mark.parametrize("name", ["ma", "pi"])
def test_model_metrics_without_a_model_say_what_is_needed(name):
    image = np.random.default_rng(3).uniform(size=(128, 128))
    message = (
        f"metric '{name}' needs Ma et al.'s model file (model.mat from github.com/chaoma99/sr-metric): "
        "pass ma_model=PATH / --ma-model PATH"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        METRICS[name].compute(image, data_range=1.0)
