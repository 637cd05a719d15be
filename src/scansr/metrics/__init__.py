"""Image-quality metrics: full-reference fidelity (MSE, NRMSE, PSNR, SSIM) and no-reference NIQE, Ma and PI.

Every metric knows whether lower is better and whether it needs a reference: see `METRICS`. Physical data need
an explicit ``data_range`` (in the data's unit); nothing is guessed from the dtype.

- `scansr.metrics.fidelity`: `mse`, `nrmse`, `psnr`, `ssim` (Wang et al. 2004, ``ssim_index.m`` convention).
- `scansr.metrics.color`: MATLAB `rgb2gray`, `compare_images` (the convention of published IQA tables for
  8-bit images) and `compare_scans` (used by ``scansr compare``).
- `scansr.metrics.niqe`: `niqe`, a native port of the official NIQE release with its pristine model.
- `scansr.metrics.ma`: Ma et al.'s NRQM (`ma_score`) and the perceptual index (`pi_score`); they need the
  official model file, which the user supplies (`load_ma_model`; ``ma_model=`` of `Metric.compute`).
- `scansr.metrics.sharpness`: Fourier sharpness (the real-pair study's), gradient sharpness.
- `scansr.metrics.spectral`: radially averaged power spectrum, Fourier ring correlation (FRC) resolution.
- `scansr.metrics.roughness`: Sa, Sq, Sz (ISO 25178), height-distribution distances, cross-section profiles.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scansr.metrics.color import (
    RGB2GRAY,
    Comparison,
    ImageComparison,
    compare_images,
    compare_scans,
    rgb2gray,
)
from scansr.metrics.fidelity import NRMSE_NORMALIZATIONS, mse, nrmse, psnr, ssim
from scansr.metrics.ma import MA_MODEL_HELP, MaModel, load_ma_model, ma_score, pi_score
from scansr.metrics.niqe import niqe
from scansr.metrics.roughness import (
    Profile,
    Roughness,
    height_wasserstein,
    histogram_intersection,
    profile,
    roughness,
    sa,
    sq,
    sz,
)
from scansr.metrics.sharpness import fourier_sharpness, gradient_sharpness
from scansr.metrics.spectral import (
    FRCResult,
    RadialSpectrum,
    fourier_ring_correlation,
    frc_resolution,
    radial_power_spectrum,
)

__all__ = [
    "METRICS",
    "NRMSE_NORMALIZATIONS",
    "RGB2GRAY",
    "Comparison",
    "FRCResult",
    "ImageComparison",
    "MaModel",
    "Metric",
    "Profile",
    "RadialSpectrum",
    "Roughness",
    "compare_images",
    "compare_scans",
    "fourier_ring_correlation",
    "fourier_sharpness",
    "frc_resolution",
    "gradient_sharpness",
    "height_wasserstein",
    "histogram_intersection",
    "load_ma_model",
    "ma_score",
    "mse",
    "niqe",
    "nrmse",
    "pi_score",
    "profile",
    "psnr",
    "radial_power_spectrum",
    "rgb2gray",
    "roughness",
    "sa",
    "sq",
    "ssim",
    "sz",
]


@dataclass(frozen=True)
class Metric:
    """One image-quality metric.

    Attributes
    ----------
    name : str
        Key in `METRICS`.
    func : callable
        ``func(reference, test, **options)`` when `needs_reference`, else ``func(image, **options)``.
    lower_is_better : bool
        True for errors and naturalness distances (MSE, NIQE), False for similarities (PSNR, SSIM).
    needs_reference : bool
        Full-reference (True) or no-reference (False).
    unit : str
        Unit of the value: ``"dB"``, ``""`` (dimensionless), ``"data"`` / ``"data²"`` (the data's unit, squared),
        ``"m"``.
    options : frozenset of str
        Which of ``data_range``, ``pixel_size`` and ``ma_model`` `func` takes as keyword arguments (see
        `compute`); ``ma_model`` (required) is passed as ``model``.
    """

    name: str
    func: Callable[..., float]
    lower_is_better: bool
    needs_reference: bool
    unit: str
    options: frozenset[str] = frozenset()

    def compute(
        self,
        test: np.ndarray,
        reference: np.ndarray | None = None,
        *,
        data_range: float | None = None,
        pixel_size: tuple[float, float] | None = None,
        ma_model: MaModel | str | os.PathLike[str] | None = None,
    ) -> float:
        """Evaluate the metric on `test` (against `reference` for full-reference metrics).

        Passes `data_range` / `pixel_size` / `ma_model` only to metrics that take them, so a harness can call
        every entry of `METRICS` the same way. `ma_model` is Ma et al.'s model (`load_ma_model`) or its file
        path, for ``"ma"`` and ``"pi"``.

        Raises
        ------
        ValueError
            If the metric needs a reference and none is given, needs a `data_range` / `pixel_size` that is
            None, or needs Ma's model and `ma_model` is None.
        """
        kwargs: dict[str, object] = {}
        for key, value in (("data_range", data_range), ("pixel_size", pixel_size)):
            if key in self.options:
                if value is None and key in _REQUIRED.get(self.name, ()):
                    raise ValueError(f"metric {self.name!r} needs {key}")
                if value is not None:
                    kwargs[key] = value
        if "ma_model" in self.options:
            if ma_model is None:
                raise ValueError(
                    f"metric {self.name!r} needs {MA_MODEL_HELP}: pass ma_model=PATH / --ma-model PATH"
                )
            kwargs["model"] = ma_model
        if self.needs_reference:
            if reference is None:
                raise ValueError(f"metric {self.name!r} needs a reference image")
            return float(self.func(reference, test, **kwargs))
        return float(self.func(test, **kwargs))


# Options a metric cannot do without (the others are optional refinements).
_REQUIRED = {"psnr": ("data_range",), "ssim": ("data_range",)}


_RANGE = frozenset({"data_range"})
_PIXEL = frozenset({"pixel_size"})
_MA = frozenset({"data_range", "ma_model"})

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("mse", mse, lower_is_better=True, needs_reference=True, unit="data²"),
        Metric("nrmse", nrmse, lower_is_better=True, needs_reference=True, unit=""),
        Metric("psnr", psnr, lower_is_better=False, needs_reference=True, unit="dB", options=_RANGE),
        Metric("ssim", ssim, lower_is_better=False, needs_reference=True, unit="", options=_RANGE),
        Metric(
            "height_wasserstein", height_wasserstein, lower_is_better=True, needs_reference=True, unit="data"
        ),
        Metric(
            "histogram_intersection",
            histogram_intersection,
            lower_is_better=False,
            needs_reference=True,
            unit="",
        ),
        Metric(
            "frc_resolution",
            frc_resolution,
            lower_is_better=True,
            needs_reference=True,
            unit="m",
            options=_PIXEL,
        ),
        Metric("niqe", niqe, lower_is_better=True, needs_reference=False, unit="", options=_RANGE),
        Metric("fourier_sharpness", fourier_sharpness, lower_is_better=False, needs_reference=False, unit=""),
        Metric(
            "gradient_sharpness",
            gradient_sharpness,
            lower_is_better=False,
            needs_reference=False,
            unit="data/m",
            options=_PIXEL,
        ),
        Metric("ma", ma_score, lower_is_better=False, needs_reference=False, unit="", options=_MA),
        Metric("pi", pi_score, lower_is_better=True, needs_reference=False, unit="", options=_MA),
    )
}
