"""Tests of the METRICS table of scansr.metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scansr.metrics import METRICS, Metric


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
