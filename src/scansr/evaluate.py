"""Compare upscaling methods: the AFM paper's simulated benchmark and the real-pair evaluation.

`benchmark` (Liu et al., Adv. Theory Simul. 2019, Table 1)
    For every high-resolution (HR) scan and scale: prepare the HR channel (`PREPROCESS`), crop it at the bottom
    and right to a multiple of the scale (``modcrop``, as the paper's VDSR code), simulate the low-resolution
    (LR) scan with a named degradation of `scansr.degrade` (default ``"bicubic"``: MATLAB's antialiased
    bicubic decimation, the paper's), upscale it with every method, and score each output against the HR
    with PSNR and SSIM. The table gives mean (std) per method and scale, as the paper's Table 1.

`evaluate_pairs` (the real-pair study, Beilstein J. Nanotechnol. 2025, Tables 1-2)
    For every real (LR, HR) pair of one area: upscale the LR by every method to the HR's pixel size, register
    the *bicubic* output to the HR once (`scansr.register.register_scans`: SIFT, ECC from the scan offsets,
    optionally elastic), apply that same transform to every method's output, crop everything to the common
    region, remove each image's own plane (the height offset and tilt of two separate scans are arbitrary),
    and compute every metric of `scansr.metrics.METRICS`: full-reference metrics against the HR,
    no-reference metrics for each output and for the HR itself (Ma and PI only when Ma et al.'s model file
    is given). Tukey's HSD test compares the methods per metric when there are at least two pairs. A zoom
    (the HR scan inside a larger LR scan) is handled the same way: the upscaled LR is registered onto the HR
    and cropped to it.

Data range of PSNR and SSIM
    Both scores need the span ``L`` of values the data can take; for heights in metres there is no natural
    one, and the choice shifts PSNR by a constant (``20 log10`` of the ratio of two choices) and changes SSIM's
    stabilising constants. Here ``L`` is always computed from the **HR reference alone**, after the same
    preprocessing, so it is the same for every method and no method can change its own score through it:

    - ``"std"`` (default of `benchmark`): the HR's standard deviation (ddof 1), i.e. peak 1 on z-scored
      heights, so PSNR is ``10 log10(σ² / MSE)``, the signal-to-error ratio of the reconstruction, independent
      of the relief and of a few extreme pixels. This is our reading of the AFM paper, which does not state its
      ``MAX_I``: it scored z-scored heights (eq. 2, after the eq. 1 clipping; text files, never 8-bit images)
      with MATLAB R2018a, whose ``psnr`` and ``ssim`` take peak 1 (``DynamicRange`` 1) for ``double`` data by
      default. Its Table 1 (bicubic: 27.68 / 19.66 / 12.76 dB and SSIM 0.970 / 0.823 / 0.502 at ×2 / ×4 / ×8)
      is matched in kind by this convention on five unrelated shipped scans (bicubic 25.9 / 18.8 / 11.9 dB,
      SSIM 0.92 / 0.73 / 0.40), while the 8-bit-like ``"clipped"`` gives about 11 dB more (36.9 / 29.7 /
      22.8 dB). Inferred, not confirmed.
    - ``"minmax"`` (default of `evaluate_pairs`): ``max - min`` of the HR. The real-pair study min-max
      normalised its images to 0-255 and scored them with peak 255, which is this span in physical units.
    - ``"clipped"``: the span of the AFM paper's eq. 1 clipping bounds, the values of ranks ⌊2.5 % N⌋ and
      ⌊97.5 % N⌋ of the HR (`scansr.preprocess.percentile_bounds`): PSNR as if the HR, clipped as for
      training, were scaled to 0-255 and scored with 255 (an "8-bit-like" convention, robust to spikes).
    - a number: a fixed span in the channel's unit, e.g. to compare scans of different relief on one scale.

Borders
    `benchmark` leaves out a border of ``scale`` HR pixels on every side (``border``; 0 to keep everything), as
    the super-resolution literature does (VDSR / EDSR ``shave``): the outermost LR pixel's footprint depends on
    how the degradation and each method pad the image edge, not on how well it interpolates. `evaluate_pairs`
    needs no such border: the registration crops to where the upscaled LR is defined.

This module is in the numpy layer: models come in only through `scansr.methods` (``ModelMethod`` imports
``scansr.enhance`` when it is used).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import numbers
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from scansr import degrade
from scansr._atomic import atomic_write_text
from scansr.interpolate import upscale_scan
from scansr.methods import Method, resolve_methods
from scansr.metrics import METRICS, MaModel, psnr, ssim
from scansr.metrics.ma import MA_MODEL_HELP, load_ma_model
from scansr.preprocess import clip_percentiles, level_plane, percentile_bounds
from scansr.register import METHODS as REGISTER_METHODS
from scansr.register import Registration, register_scans, warp
from scansr.scan import Channel, OutputExistsError, Scan, ScanWriteError
from scansr.stats import TukeyResult, tukey_hsd

__all__ = [
    "BENCHMARK_METRICS",
    "DATA_RANGES",
    "DEGRADATIONS",
    "HR_LABEL",
    "MA_METRICS",
    "METRIC_LABELS",
    "PREPROCESS",
    "REGISTER_CHOICES",
    "BenchmarkResult",
    "EvaluationResult",
    "Example",
    "benchmark",
    "evaluate_pairs",
    "metric_column",
]

logger = logging.getLogger(__name__)

#: Preparations of the HR channel in `benchmark`: ``"level"`` removes the least-squares plane (sample tilt;
#: the AFM paper's scans were flattened in the instrument software), ``"clip"`` applies the AFM paper's eq. 1
#: (values clipped at ranks ⌊2.5 % N⌋ and ⌊97.5 % N⌋), ``"level+clip"`` both, in that order.
PREPROCESS = ("none", "level", "clip", "level+clip")
#: Named rules for the data range of PSNR / SSIM (see the module notes); a positive number is also accepted.
DATA_RANGES = ("clipped", "minmax", "std")
#: Named degradations for `benchmark`: the presets of `scansr.degrade` plus ``"area"`` (block mean only).
DEGRADATIONS: dict[str, degrade.DegradationConfig] = {
    "bicubic": degrade.BICUBIC,
    "area": replace(degrade.BICUBIC, samplings=("area",)),
    "afm": degrade.AFM_DEFAULT,
    "sem": degrade.SEM_DEFAULT,
}
#: The AFM paper's two scores.
BENCHMARK_METRICS = ("psnr", "ssim")
#: Ma et al.'s NRQM and the perceptual index PI = ((10 - Ma) + NIQE) / 2: computed only with the model file
#: (``ma_model`` of `evaluate_pairs`).
MA_METRICS = ("ma", "pi")
#: Registration choices of `evaluate_pairs`: those of `scansr.register.register_scans`, and ``"none"``.
REGISTER_CHOICES = (*REGISTER_METHODS, "none")
#: Label of the HR scan's own row (no-reference metrics) in `evaluate_pairs`' results.
HR_LABEL = "HR (reference)"
#: Names shown in tables and figures.
METRIC_LABELS = {
    "mse": "MSE",
    "nrmse": "NRMSE",
    "psnr": "PSNR",
    "ssim": "SSIM",
    "height_wasserstein": "height W1",
    "histogram_intersection": "histogram overlap",
    "frc_resolution": "FRC resolution",
    "niqe": "NIQE",
    "fourier_sharpness": "Fourier sharpness",
    "gradient_sharpness": "gradient sharpness",
    "ma": "Ma",
    "pi": "PI",
}

_CLIP = (2.5, 97.5)  # the AFM paper's eq. 1 percentages


# --------------------------------------------------------------------------------------------------- helpers
def _progress(iterable: Iterable, *, total: int, desc: str, enabled: bool) -> Iterable:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, unit="step")


def _load(item: str | Path | Scan, index: int) -> tuple[Scan, str]:
    """Read `item` (or take the Scan) and label it with the path as given, or its source / position."""
    if isinstance(item, Scan):
        return item, str(item.source) if item.source is not None else f"scan {index + 1}"
    if not isinstance(item, str | Path):
        raise TypeError(f"each input must be a file path or a Scan, got {type(item).__name__}")
    from scansr import io as scan_io  # the readers import h5py, tifffile, ...: only when a file is read

    return scan_io.read(item), str(item)


def _check_data_range(data_range: str | float) -> str | float:
    if isinstance(data_range, str):
        if data_range not in DATA_RANGES:
            raise ValueError(
                f"data_range must be one of {DATA_RANGES} or a positive number, got {data_range!r}"
            )
        return data_range
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real):
        raise ValueError(f"data_range must be one of {DATA_RANGES} or a positive number, got {data_range!r}")
    if not (math.isfinite(float(data_range)) and float(data_range) > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return float(data_range)


def _range_of(reference: np.ndarray, rule: str | float, what: str) -> float:
    """Return the data range ``L`` of PSNR / SSIM from the HR reference (see the module notes)."""
    if not isinstance(rule, str):
        return float(rule)
    if rule == "clipped":
        low, high = percentile_bounds(reference, low=_CLIP[0], high=_CLIP[1])
        span = high - low
        if span <= 0:
            span = float(np.ptp(reference))
    elif rule == "minmax":
        span = float(np.ptp(reference))
    else:
        span = float(np.std(reference, ddof=1)) if reference.size > 1 else 0.0
    if not span > 0:
        raise ValueError(f"{what} is constant: PSNR and SSIM need a data range; give data_range= a number")
    return float(span)


def _mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof 1) and count of the non-NaN values; an infinite value makes the mean infinite."""
    array = np.asarray([v for v in values if v is not None], dtype=np.float64)
    array = array[~np.isnan(array)]
    n = int(array.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    with np.errstate(invalid="ignore"):
        mean = float(array.mean())
        std = float(array.std(ddof=1)) if n > 1 and np.isfinite(array).all() else float("nan")
    return mean, std, n


def _number(value: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return (
        f"{value:.{digits}g}"
        if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3)
        else f"{value:.{digits}f}"
    )


def _json_value(value: Any) -> Any:
    """Strict JSON: NaN becomes null, ±inf the strings "inf" / "-inf"; numpy scalars become Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _check_output_path(path: str | Path, force: bool) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ScanWriteError(path, "is a folder; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(path, "exists already; choose another name or pass force=True (--force)")
    if not path.parent.is_dir():
        raise ScanWriteError(path, f"folder {path.parent} does not exist")
    return path


def _write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path, force: bool) -> Path:
    path = _check_output_path(path, force)
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
    return path


def _write_json(document: Mapping[str, Any], path: str | Path, force: bool) -> Path:
    path = _check_output_path(path, force)
    text = json.dumps(_json_value(document), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


def _output_channel(output: Scan, name: str, shape: tuple[int, int], method: str) -> np.ndarray:
    if not isinstance(output, Scan):
        raise TypeError(f"method {method!r} returned {type(output).__name__}, not a Scan")
    data = output.channel(name).data if name in output else output.channels[0].data
    if data.shape != tuple(shape):
        raise ValueError(
            f"method {method!r} returned shape {data.shape}, expected {tuple(shape)} (the input × the scale)"
        )
    return data


class Example(NamedTuple):
    """Images of one scored case, kept for the report's figures (all of one field, one channel each)."""

    label: str
    """File name(s) and scale."""
    scale: int
    lr: Scan
    """The low-resolution scan (`benchmark`: the simulated LR; `evaluate_pairs`: the real LR resampled without
    interpolation, nearest pixel, onto the cropped HR grid)."""
    hr: Scan
    """The high-resolution reference (cropped as scored)."""
    outputs: Mapping[str, Scan]
    """Method name → its output on the HR grid (registered and cropped in `evaluate_pairs`)."""
    lr_pixel_size: tuple[float, float] | None
    """Pixel size of the LR scan as measured (its Nyquist frequency marks the spectra)."""


# --------------------------------------------------------------------------------------------------- benchmark
@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """Scores of `benchmark`: one row per file, scale and method, and their summary.

    Attributes
    ----------
    methods : tuple of str
        Method names, in the given order.
    scales : tuple of int
    metrics : tuple of str
        ``("psnr", "ssim")``.
    per_image : tuple of dict
        One row per (file, scale, method): ``file``, ``channel``, ``unit``, ``scale``, ``method``, ``psnr``
        (dB), ``ssim``, ``data_range`` (in ``unit``), ``hr_shape``, ``lr_shape``, ``border``,
        ``degradation`` (the drawn pipeline as JSON text).
    settings : dict
        How the benchmark was run (degradation, preprocess, data range rule, border rule, seed).
    examples : tuple of Example
        The first file at every scale, for the report.
    """

    methods: tuple[str, ...]
    scales: tuple[int, ...]
    metrics: tuple[str, ...]
    per_image: tuple[dict[str, Any], ...]
    settings: dict[str, Any] = field(default_factory=dict)
    examples: tuple[Example, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """The files scored, in order."""
        return tuple(dict.fromkeys(row["file"] for row in self.per_image))

    def values(self, method: str, scale: int, metric: str) -> np.ndarray:
        """Per-file values of `metric` for `method` at `scale`.

        Raises
        ------
        ValueError
            If `method`, `scale` or `metric` is not in the result.
        """
        if method not in self.methods:
            raise ValueError(f"method must be one of {self.methods}, got {method!r}")
        if scale not in self.scales:
            raise ValueError(f"scale must be one of {self.scales}, got {scale!r}")
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {self.metrics}, got {metric!r}")
        return np.array(
            [r[metric] for r in self.per_image if r["method"] == method and r["scale"] == scale], dtype=float
        )

    def summary(self) -> list[dict[str, Any]]:
        """Mean, sample standard deviation (ddof 1) and count per method, scale and metric."""
        rows = []
        for method in self.methods:
            for metric in self.metrics:
                for scale in self.scales:
                    mean, std, n = _mean_std(self.values(method, scale, metric))
                    rows.append(
                        {"method": method, "metric": metric, "scale": scale, "mean": mean, "std": std, "n": n}
                    )
        return rows

    def table(self) -> list[dict[str, str]]:
        """Rows shaped like the AFM paper's Table 1: per method and metric, "mean (std)" at every scale.

        PSNR with 2 decimals (dB), SSIM with 4; "–" where undefined (a std of one file).
        """
        digits = {"psnr": 2, "ssim": 4}
        rows = []
        for method in self.methods:
            for metric in self.metrics:
                row = {"method": method, "metric": METRIC_LABELS.get(metric, metric)}
                for scale in self.scales:
                    mean, std, _ = _mean_std(self.values(method, scale, metric))
                    d = digits.get(metric, 4)
                    row[f"×{scale}"] = f"{_number(mean, d)} ({_number(std, d)})"
                rows.append(row)
        return rows

    def to_csv(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the per-image rows as CSV (atomically).

        Raises
        ------
        OutputExistsError
            If `path` exists and `force` is false.
        ScanWriteError
            If `path` is a folder or its folder does not exist.
        """
        return _write_csv(self.per_image, path, force)

    def to_json(self, path: str | Path, *, force: bool = False) -> Path:
        """Write settings, summary and per-image rows as strict JSON (NaN → null, ±inf → "inf"/"-inf").

        Raises
        ------
        OutputExistsError
            If `path` exists and `force` is false.
        ScanWriteError
            If `path` is a folder or its folder does not exist.
        """
        document = {
            "protocol": "benchmark",
            "settings": self.settings,
            "methods": list(self.methods),
            "scales": list(self.scales),
            "summary": self.summary(),
            "per_image": list(self.per_image),
        }
        return _write_json(document, path, force)


def _check_scales(scales: Any) -> tuple[int, ...]:
    if isinstance(scales, numbers.Integral):
        scales = (scales,)
    try:
        values = tuple(scales)
    except TypeError:
        raise ValueError(f"scales must be integers >= 2, got {scales!r}") from None
    if not values or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 2 for s in values):
        raise ValueError(f"scales must be integers >= 2, got {scales!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"scales must not repeat, got {scales!r}")
    return tuple(int(s) for s in values)


def _preprocess(data: np.ndarray, how: str, what: str) -> np.ndarray:
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise ValueError(
            f"{what} has {bad} non-finite pixel(s) (NaN or inf); the degradation and the methods need complete "
            "images: fill or crop them first"
        )
    out = np.asarray(data, dtype=np.float64)
    if "level" in how:
        out = level_plane(out)
    if "clip" in how:
        out = clip_percentiles(out, low=_CLIP[0], high=_CLIP[1])
    return out


def benchmark(
    paths: Sequence[str | Path | Scan],
    *,
    scales: Sequence[int] = (2, 4, 8),
    methods: Sequence[str | Path | Method] | Mapping[str, Any] = ("bicubic", "bilinear", "lanczos"),
    channel: str | None = None,
    degradation: str | Path = "bicubic",
    preprocess: str = "level+clip",
    data_range: str | float = "std",
    border: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> BenchmarkResult:
    """Score upscaling methods on simulated low-resolution scans, as the AFM paper's Table 1.

    For every scan and scale: prepare the HR channel (`preprocess`), crop it at the bottom and right to a
    multiple of the scale, simulate the LR scan (`degradation`, random parts seeded per file and scale),
    upscale it with every method, and compute PSNR and SSIM against the HR, leaving out `border` pixels at
    every edge, with one data range from the HR (see the module notes).

    Parameters
    ----------
    paths : sequence of str, Path or Scan
        High-resolution scans (files are read with `scansr.io.read`).
    scales : sequence of int
        Upscaling factors (>= 2), e.g. ``(2, 4, 8)``.
    methods : sequence or mapping
        Methods as `scansr.methods.resolve_methods` takes them: interpolation names, ``"default"``, model
        folders, `Method` objects, or a mapping name → specification or function.
    channel : str, optional
        Channel scored in every scan (default: each scan's `Scan.default_channel`, the topography).
    degradation : {"bicubic", "area", "afm", "sem"} or path
        How the LR scan is made (`DEGRADATIONS`): ``"bicubic"`` MATLAB's antialiased bicubic decimation (the
        AFM paper's), ``"area"`` block means, ``"afm"`` / ``"sem"`` the realistic random pipelines of
        `scansr.degrade` (point sampling, tip, drift, scan-line noise...), or a JSON file of
        `scansr.degrade.DegradationConfig` fields (`scansr.degrade.load_config`).
    preprocess : {"none", "level", "clip", "level+clip"}
        Preparation of the HR channel before anything else (`PREPROCESS`); default: the sample tilt removed,
        then the AFM paper's eq. 1 clipping.
    data_range : {"std", "clipped", "minmax"} or float
        Data range of PSNR / SSIM, from the whole preprocessed HR (before the border is left out); default
        ``"std"``, our reading of the AFM paper's convention (see the module notes).
    border : int, optional
        HR pixels left out at every edge before scoring; default: the scale.
    seed : int
        Seed of the degradation's random parts; the generator of each (file, scale) is seeded with
        ``(seed, scale, CRC-32 of the HR pixels)``, so a file gets the same LR whatever the other files.
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    ValueError
        A bad option (the message lists the valid choices), a channel with NaN, a scan too small for a scale
        (it needs ``2 * border + 11`` HR pixels per side after cropping, SSIM's window), or a method returning
        the wrong shape.
    UnknownChannelError
        If `channel` is not in a scan.
    ScanReadError
        A file cannot be read.
    """
    scales = _check_scales(scales)
    resolved = resolve_methods(methods)
    if isinstance(degradation, str) and degradation in DEGRADATIONS:
        config = DEGRADATIONS[degradation]
    elif isinstance(degradation, str) and not Path(degradation).is_file():
        raise ValueError(
            f"degradation must be one of {tuple(DEGRADATIONS)} or a JSON file of DegradationConfig fields, "
            f"got {degradation!r}"
        )
    else:
        config = degrade.load_config(degradation)
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {PREPROCESS}, got {preprocess!r}")
    rule = _check_data_range(data_range)
    if border is not None and (
        isinstance(border, bool) or not isinstance(border, numbers.Integral) or border < 0
    ):
        raise ValueError(f"border must be an integer >= 0 or None (the scale), got {border!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    items = list(paths) if not isinstance(paths, str | Path | Scan) else [paths]
    if not items:
        raise ValueError("give at least one scan")

    rows: list[dict[str, Any]] = []
    examples: list[Example] = []
    steps = _progress(
        ((i, s) for i in range(len(items)) for s in scales),
        total=len(items) * len(scales),
        desc="benchmark",
        enabled=progress,
    )
    loaded: tuple[int, Scan, str, Channel, np.ndarray] | None = None
    for index, scale in steps:
        if loaded is None or loaded[0] != index:
            scan, label = _load(items[index], index)
            ch = scan.channel(channel if channel is not None else scan.default_channel)
            loaded = (
                index,
                scan,
                label,
                ch,
                _preprocess(ch.data, preprocess, f"{label}: channel {ch.name!r}"),
            )
        _, scan, label, ch, prepared = loaded
        b = scale if border is None else int(border)
        ny, nx = (n - n % scale for n in prepared.shape)
        if min(ny, nx) < 2 * b + 11:
            raise ValueError(
                f"{label} ({prepared.shape[0]}x{prepared.shape[1]} px) is too small for scale {scale}: scoring "
                f"needs at least {2 * b + 11} px per side (border {b} on each edge and SSIM's 11-px window)"
            )
        hr = prepared[:ny, :nx]
        crc = zlib.crc32(np.ascontiguousarray(prepared).tobytes())
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), scale, crc]))
        pipeline = degrade.sample_pipeline(config, rng=rng)
        if scan.pixel_size is None and any(
            isinstance(step, degrade.TipDilationStep) for step in pipeline.steps
        ):
            raise ValueError(
                f"{label} has no pixel size, and the {degradation!r} degradation drew a tip (a physical size): "
                "read the scan with its size (scansr.io.read(path, scan_size=...)) or use degradation "
                "'bicubic' or 'area'"
            )
        lr = degrade.apply_pipeline(pipeline, hr, scale, pixel_size=scan.pixel_size, rng=rng)
        hr_px = scan.pixel_size
        lr_px = None if hr_px is None else (hr_px[0] * scale, hr_px[1] * scale)
        lr_scan = Scan(
            [Channel(ch.name, lr, ch.unit, ch.direction)],
            lr_px,
            origin=scan.origin,
            instrument=scan.instrument,
            metadata={"scansr.degradation": json.dumps(pipeline.to_dict())},
            source=scan.source,
            format=scan.format,
        )
        reference = hr[b : ny - b, b : nx - b]
        span = _range_of(hr, rule, f"{label}: channel {ch.name!r}")
        outputs = {}
        for method in resolved:
            up = _output_channel(method.upscale(lr_scan, scale), ch.name, hr.shape, method.name)
            outputs[method.name] = up
            test = up[b : ny - b, b : nx - b]
            rows.append(
                {
                    "file": label,
                    "channel": ch.name,
                    "unit": ch.unit,
                    "scale": scale,
                    "method": method.name,
                    "psnr": psnr(reference, test, data_range=span),
                    "ssim": ssim(reference, test, data_range=span),
                    "data_range": span,
                    "hr_shape": f"{ny}x{nx}",
                    "lr_shape": f"{lr.shape[0]}x{lr.shape[1]}",
                    "border": b,
                    "degradation": json.dumps(pipeline.to_dict()),
                }
            )
        if index == 0:
            hr_scan = Scan([Channel(ch.name, hr, ch.unit, ch.direction)], hr_px, origin=scan.origin)
            examples.append(
                Example(
                    f"{Path(label).name} ×{scale}",
                    scale,
                    lr_scan,
                    hr_scan,
                    {
                        name: hr_scan.replace(channels=(Channel(ch.name, up, ch.unit),))
                        for name, up in outputs.items()
                    },
                    lr_px,
                )
            )
    settings = {
        "degradation": degradation,
        "preprocess": preprocess,
        "data_range": rule,
        "border": "scale" if border is None else int(border),
        "seed": int(seed),
        "channel": channel,
        "modcrop": "HR cropped at the bottom and right to a multiple of the scale",
        "methods": {m.name: str(getattr(m, "description", "") or type(m).__name__) for m in resolved},
    }
    return BenchmarkResult(
        methods=tuple(m.name for m in resolved),
        scales=scales,
        metrics=BENCHMARK_METRICS,
        per_image=tuple(rows),
        settings=settings,
        examples=tuple(examples),
    )


# --------------------------------------------------------------------------------------------------- pairs
@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Scores of `evaluate_pairs`: one row per pair and method (and the HR's own row), summaries, Tukey HSD.

    Attributes
    ----------
    methods : tuple of str
        Method names, in the given order.
    metrics : tuple of str
        Metric names (keys of `scansr.metrics.METRICS`), in table order.
    per_image : tuple of dict
        One row per pair and method, and one per pair with ``method == HR_LABEL`` (no-reference metrics of
        the HR; full-reference ones are None): ``pair`` (1-based), ``lr``, ``hr``, ``channel``, ``unit``,
        ``scale``, ``method``, the registration (``registration``, ``shift_x_px``, ``shift_y_px``,
        ``reg_scale``, ``reg_rotation_deg``, ``reg_score``), the crop (``crop_shape``), ``data_range`` and
        one column per metric.
    registrations : tuple of Registration
        Per pair, the transform from the upscaled LR's pixels to the HR's (identity for ``register="none"``).
    tukey : dict of str to TukeyResult
        Per metric, Tukey's HSD across the methods (only with two or more pairs, and where every method has
        finite values).
    notes : tuple of str
        What was skipped or could not be computed, and why.
    settings : dict
        How the evaluation was run.
    examples : tuple of Example
        The registered images of the first pair(s), for the report.
    """

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    per_image: tuple[dict[str, Any], ...]
    registrations: tuple[Registration, ...] = ()
    tukey: Mapping[str, TukeyResult] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    examples: tuple[Example, ...] = ()

    @property
    def n_pairs(self) -> int:
        """Number of (LR, HR) pairs scored."""
        return len({row["pair"] for row in self.per_image})

    def values(self, method: str, metric: str) -> np.ndarray:
        """Per-pair values of `metric` for `method` (or `HR_LABEL`); NaN where it could not be computed.

        Raises
        ------
        ValueError
            If `method` or `metric` is not in the result.
        """
        if method not in (*self.methods, HR_LABEL):
            raise ValueError(f"method must be one of {(*self.methods, HR_LABEL)}, got {method!r}")
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {self.metrics}, got {metric!r}")
        return np.array(
            [np.nan if r[metric] is None else r[metric] for r in self.per_image if r["method"] == method],
            dtype=float,
        )

    def summary(self) -> list[dict[str, Any]]:
        """Mean, sample standard deviation (ddof 1) and count per method (and the HR) and metric."""
        rows = []
        for method in (*self.methods, HR_LABEL):
            for metric in self.metrics:
                if method == HR_LABEL and METRICS[metric].needs_reference:
                    continue
                mean, std, n = _mean_std(self.values(method, metric))
                rows.append(
                    {
                        "method": method,
                        "metric": metric,
                        "lower_is_better": METRICS[metric].lower_is_better,
                        "mean": mean,
                        "std": std,
                        "n": n,
                    }
                )
        return rows

    def table(self, *, digits: int = 3) -> list[dict[str, str]]:
        """Rows shaped like the real-pair study's Tables 1-2: "mean ± std" per method and metric.

        Column names carry the direction: ↑ higher is better, ↓ lower is better. The last row is the HR scan
        itself (no-reference metrics only).
        """
        rows = []
        for method in (*self.methods, HR_LABEL):
            row = {"method": method}
            for metric in self.metrics:
                if method == HR_LABEL and METRICS[metric].needs_reference:
                    row[metric_column(metric)] = ""
                    continue
                mean, std, _ = _mean_std(self.values(method, metric))
                row[metric_column(metric)] = f"{_number(mean, digits)} ± {_number(std, digits)}"
            rows.append(row)
        return rows

    def to_csv(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the per-image rows as CSV (atomically).

        Raises
        ------
        OutputExistsError
            If `path` exists and `force` is false.
        ScanWriteError
            If `path` is a folder or its folder does not exist.
        """
        return _write_csv(self.per_image, path, force)

    def to_json(self, path: str | Path, *, force: bool = False) -> Path:
        """Write settings, summary, Tukey p-values, notes and per-image rows as strict JSON.

        NaN becomes null, ±inf the strings "inf" / "-inf".

        Raises
        ------
        OutputExistsError
            If `path` exists and `force` is false.
        ScanWriteError
            If `path` is a folder or its folder does not exist.
        """
        tukey = {
            metric: {
                "methods": list(t.methods),
                "means": t.means,
                "pvalue": t.pvalue,
                "mean_difference": t.mean_difference,
                "confidence_level": t.confidence_level,
            }
            for metric, t in self.tukey.items()
        }
        document = {
            "protocol": "evaluate_pairs",
            "settings": self.settings,
            "methods": list(self.methods),
            "metrics": {
                m: {"lower_is_better": METRICS[m].lower_is_better, "unit": METRICS[m].unit}
                for m in self.metrics
            },
            "summary": self.summary(),
            "tukey_hsd": tukey,
            "notes": list(self.notes),
            "per_image": list(self.per_image),
        }
        return _write_json(document, path, force)


def metric_column(metric: str) -> str:
    """Table header of a metric: its label and ↑ (higher is better) or ↓ (lower is better)."""
    arrow = "↓" if METRICS[metric].lower_is_better else "↑"
    return f"{METRIC_LABELS.get(metric, metric)} {arrow}"


_MA_NOTE = f"Ma and PI not computed: they need {MA_MODEL_HELP}; pass ma_model=PATH / --ma-model PATH"


def _check_metrics(metrics: Sequence[str] | None, has_model: bool) -> tuple[str, ...]:
    """Metric names to compute: all (Ma and PI only with the model), or the user's list, checked."""
    if metrics is None:
        return tuple(m for m in METRICS if has_model or m not in MA_METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = tuple(str(m) for m in metrics)
    for name in names:
        if name in MA_METRICS and not has_model:
            raise ValueError(f"metric {name!r} needs {MA_MODEL_HELP}: pass ma_model=PATH / --ma-model PATH")
        if name not in METRICS:
            raise ValueError(f"metric must be one of {tuple(METRICS)}, got {name!r}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"metrics must be a non-empty list without repeats, got {list(names)}")
    return names


def _pair_scale(lr: Scan, hr: Scan, what: str) -> tuple[int, float]:
    """Integer scale LR → HR and the exact ratio it was rounded from."""
    if lr.pixel_size is not None and hr.pixel_size is not None:
        ratios = (lr.pixel_size[0] / hr.pixel_size[0], lr.pixel_size[1] / hr.pixel_size[1])
        how = "pixel sizes"
    else:
        ratios = (hr.shape[0] / lr.shape[0], hr.shape[1] / lr.shape[1])
        how = "pixel counts (no pixel size: both scans taken to cover the same field)"
    ratio = math.sqrt(ratios[0] * ratios[1])
    scale = round(ratio)
    if scale < 1 or ratio < 0.75:
        raise ValueError(
            f"{what}: the LR scan is not coarser than the HR scan (ratio of {how}: {ratios[0]:.3g}, "
            f"{ratios[1]:.3g}); are --lr and --hr swapped?"
        )
    if abs(ratios[0] - ratios[1]) > 0.05 * ratio:
        logger.warning("%s: the LR/HR ratio differs between y (%.3f) and x (%.3f)", what, *ratios)
    if abs(ratio - scale) > 0.05 * ratio:
        logger.warning(
            "%s: LR/HR ratio %.3f is not close to an integer; upscaling by %d, the registration resamples the rest",
            what,
            ratio,
            scale,
        )
    return max(1, scale), ratio


def _pick_channel(scan: Scan, name: str) -> Channel:
    """Return the channel called `name`, else the scan's default channel."""
    return scan.channel(name) if name in scan else scan.channel(scan.default_channel)


def _align(
    hr_data: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    registration: Registration,
    box: tuple[int, int, int, int],
    *,
    level: bool,
    what: str,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Crop the HR and warp every output by one transform onto the crop; each minus its own plane (`level`)."""
    y0, y1, x0, x1 = box
    reference = np.asarray(hr_data[y0:y1, x0:x1], dtype=np.float64)
    if not np.isfinite(reference).all():
        raise ValueError(f"{what}: the HR channel holds NaN inside the common region")
    aligned = {}
    for name, output in outputs.items():
        if registration.method == "none":
            crop = np.asarray(output, dtype=np.float64)
        else:
            crop = warp(output, registration, hr_data.shape, interpolation="cubic").image[y0:y1, x0:x1]
        if not np.isfinite(crop).all():
            raise ValueError(f"{what}: the output of {name!r} holds NaN or inf inside the common region")
        aligned[name] = crop
    if level:
        reference = level_plane(reference)
        aligned = {name: level_plane(image) for name, image in aligned.items()}
    return reference, aligned


def _compute(
    name: str,
    image: np.ndarray,
    reference: np.ndarray,
    data_range: float,
    pixel_size: tuple[float, float] | None,
    notes: list[str],
    what: str,
    ma_model: MaModel | None = None,
) -> float:
    """Evaluate one metric (against `reference` when it needs one); NaN, with a note, where it does not apply."""
    metric = METRICS[name]
    options: Any = data_range
    if name in ("niqe", *MA_METRICS):
        # NIQE, Ma and PI map values to 8-bit grey: one mapping for every image of a pair (the HR's clipping
        # bounds to 0-255), so that no method is stretched differently from the others.
        low, high = percentile_bounds(reference, low=_CLIP[0], high=_CLIP[1])
        options = (low, high) if high > low else (float(reference.min()), float(reference.min()) + data_range)
    try:
        return metric.compute(
            image,
            reference if metric.needs_reference else None,
            data_range=options,
            pixel_size=pixel_size,
            ma_model=ma_model,
        )
    except ValueError as exc:
        notes.append(f"{what}: {name} not computed ({exc})")
        logger.warning("%s: %s not computed (%s)", what, name, exc)
        return float("nan")


def _pair_example(
    label: str,
    lr: Scan,
    lr_ch: Channel,
    hr: Scan,
    hr_ch: Channel,
    factor: int,
    registration: Registration,
    box: tuple[int, int, int, int],
    reference: np.ndarray,
    aligned: Mapping[str, np.ndarray],
    level: bool,
) -> Example:
    """Keep the images of one pair for the report; the LR is shown pixel by pixel (nearest) on the HR crop."""
    y0, y1, x0, x1 = box
    # LR pixel (x, y) is pixel (s x + (s - 1) / 2, s y + (s - 1) / 2) of its upscaled version (pixel areas kept)
    half = (factor - 1) / 2
    to_up = np.array([[factor, 0.0, half], [0.0, factor, half], [0.0, 0.0, 1.0]])
    lr_grid = warp(
        lr_ch.data,
        Registration(registration.matrix @ to_up, "lr", flow=registration.flow),
        hr_ch.shape,
        interpolation="nearest",
    ).image[y0:y1, x0:x1]
    if level:
        lr_grid = level_plane(lr_grid)  # NaN at the rim (beyond the LR's outer pixel centres) stays NaN
    px = hr.pixel_size
    origin = None
    if hr.origin is not None and px is not None:
        origin = (hr.origin[0] + y0 * px[0], hr.origin[1] + x0 * px[1])

    def as_scan(data: np.ndarray) -> Scan:
        return Scan([Channel(hr_ch.name, data, hr_ch.unit, hr_ch.direction)], px, origin=origin)

    outputs = {name: as_scan(image) for name, image in aligned.items()}
    return Example(label, factor, as_scan(lr_grid), as_scan(reference), outputs, lr.pixel_size)


def evaluate_pairs(
    lr_paths: Sequence[str | Path | Scan],
    hr_paths: Sequence[str | Path | Scan],
    *,
    methods: Sequence[str | Path | Method] | Mapping[str, Any],
    channel: str | None = None,
    register: str = "auto",
    register_channel: str | None = None,
    elastic: bool = False,
    metrics: Sequence[str] | None = None,
    level: bool = True,
    data_range: str | float = "minmax",
    scale: int | None = None,
    ma_model: str | Path | MaModel | None = None,
    alpha: float = 0.05,
    n_examples: int = 1,
    progress: bool = True,
) -> EvaluationResult:
    """Score upscaling methods on real low/high-resolution pairs, as the real-pair study's Tables 1-2.

    For each pair: upscale the LR by every method to the HR's pixel size; register the bicubic output to the
    HR once and apply that transform to every output; crop to the common region; remove each image's plane
    (`level`); compute the metrics. Full-reference metrics compare each output with the HR; no-reference
    metrics score each output and the HR itself (row `HR_LABEL`).

    Parameters
    ----------
    lr_paths, hr_paths : sequence of str, Path or Scan
        The real scans, pair by pair (same length). The HR may be a zoom inside the LR's field.
    methods : sequence or mapping
        Methods as `scansr.methods.resolve_methods` takes them (interpolation names, ``"default"``, model
        folders, `Method` objects, or a mapping name → specification or function).
    channel : str, optional
        Channel scored (default: the HR's `Scan.default_channel`; the LR's channel of the same name, else its
        default channel).
    register : {"auto", "sift", "phase", "ecc", "none"}
        Method of `scansr.register.register_scans`; ``"none"``: the outputs are already on the HR's grid
        (same field, no drift) and are scored as they are.
    register_channel : str, optional
        Channel used to find the transform (default: `channel`); e.g. a deflection or amplitude channel
        with sharper features than the height.
    elastic : bool
        Add the dense elastic refinement after the global transform (`scansr.register.refine_elastic`).
    metrics : sequence of str, optional
        Names from `scansr.metrics.METRICS` (default: all of them).
    level : bool
        Subtract each cropped image's own least-squares plane before scoring: the height offset and tilt of
        two separate scans are arbitrary, and no upscaling method could recover them.
    data_range : {"minmax", "std", "clipped"} or float
        Data range of PSNR / SSIM, from the cropped (and levelled) HR of each pair; default ``"minmax"``, the
        real-pair study's 0-255 normalisation (see the module notes).
    scale : int, optional
        Upscaling factor; default: LR pixel size / HR pixel size rounded to an integer, or the ratio of pixel
        counts for scans without a pixel size.
    ma_model : str, Path or MaModel, optional
        Ma et al.'s model file (the official ``model.mat`` of github.com/chaoma99/sr-metric, read once with
        `scansr.metrics.load_ma_model`) for the Ma and PI metrics, computed for every output and for the HR
        with the same grey mapping as NIQE. Without it Ma and PI are left out (a note says so), unless
        `metrics` names them, which is an error.
    alpha : float
        Recorded for the report's p-value matrices (significance level).
    n_examples : int
        Number of pairs whose registered images are kept for the report (memory: all methods at HR size).
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ValueError
        Unequal numbers of LR and HR scans, a bad option (the message lists the valid choices), ``"ma"`` /
        ``"pi"`` requested without `ma_model`, a model file of the wrong layout, a method returning the wrong
        shape, or ``register="none"`` with outputs not on the HR's grid.
    FileNotFoundError
        If `ma_model` does not exist.
    RegistrationError
        A pair could not be aligned (the message says what to try).
    UnknownChannelError
        If `channel` is in neither scan.
    ScanReadError
        A file cannot be read.
    """
    lr_items = list(lr_paths) if not isinstance(lr_paths, str | Path | Scan) else [lr_paths]
    hr_items = list(hr_paths) if not isinstance(hr_paths, str | Path | Scan) else [hr_paths]
    if len(lr_items) != len(hr_items):
        raise ValueError(f"give one HR scan per LR scan: got {len(lr_items)} LR and {len(hr_items)} HR")
    if not lr_items:
        raise ValueError("give at least one (LR, HR) pair")
    resolved = resolve_methods(methods)
    names = _check_metrics(metrics, ma_model is not None)
    if register not in REGISTER_CHOICES:
        raise ValueError(f"register must be one of {REGISTER_CHOICES}, got {register!r}")
    rule = _check_data_range(data_range)
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1
    ):
        raise ValueError(f"scale must be an integer >= 1 or None, got {scale!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if isinstance(n_examples, bool) or not isinstance(n_examples, numbers.Integral) or n_examples < 0:
        raise ValueError(f"n_examples must be an integer >= 0, got {n_examples!r}")

    model = None
    if ma_model is not None:
        model = ma_model if isinstance(ma_model, MaModel) else load_ma_model(ma_model)
    rows: list[dict[str, Any]] = []
    notes: list[str] = [] if model is not None or metrics is not None else [_MA_NOTE]
    examples: list[Example] = []
    registrations: list[Registration] = []
    for index in _progress(range(len(lr_items)), total=len(lr_items), desc="evaluate", enabled=progress):
        lr, lr_label = _load(lr_items[index], index)
        hr, hr_label = _load(hr_items[index], index)
        what = f"pair {index + 1} ({Path(lr_label).name} → {Path(hr_label).name})"
        hr_ch = hr.channel(channel if channel is not None else hr.default_channel)
        lr_ch = _pick_channel(lr, hr_ch.name)
        if lr_ch.name != hr_ch.name:
            logger.info("%s: scoring LR channel %r against HR channel %r", what, lr_ch.name, hr_ch.name)
        factor, ratio = _pair_scale(lr, hr, what) if scale is None else (int(scale), float("nan"))
        lr_one = lr.replace(channels=(lr_ch.replace(name=hr_ch.name),))
        shape = (lr_one.shape[0] * factor, lr_one.shape[1] * factor)
        outputs = {
            method.name: _output_channel(method.upscale(lr_one, factor), hr_ch.name, shape, method.name)
            for method in resolved
        }
        if register == "none":
            if shape != hr_ch.shape:
                raise ValueError(
                    f"{what}: register='none' needs outputs on the HR grid {hr_ch.shape}, got {shape}; "
                    "use register='auto'"
                )
            registration, box = Registration(np.eye(3), "none"), (0, hr_ch.shape[0], 0, hr_ch.shape[1])
        else:
            reg_name = register_channel if register_channel is not None else hr_ch.name
            reg_hr = hr.channel(reg_name)
            moving = upscale_scan(
                lr.replace(channels=(_pick_channel(lr, reg_name).replace(name=reg_hr.name),)),
                factor,
                method="bicubic",
            )
            pair = register_scans(
                hr.replace(channels=(reg_hr,)), moving, method=register, elastic=elastic, channel=reg_hr.name
            )
            registration, box = pair.registration, pair.box
        registrations.append(registration)
        reference, aligned = _align(hr_ch.data, outputs, registration, box, level=level, what=what)
        span = _range_of(reference, rule, f"{what}: HR channel {hr_ch.name!r}")
        t = registration.matrix
        common = {
            "pair": index + 1,
            "lr": lr_label,
            "hr": hr_label,
            "channel": hr_ch.name,
            "unit": hr_ch.unit,
            "scale": factor,
            "pixel_ratio": ratio,
            "registration": registration.method,
            "shift_x_px": float(t[0, 2]),
            "shift_y_px": float(t[1, 2]),
            "reg_scale": registration.scale,
            "reg_rotation_deg": registration.rotation_deg,
            "reg_score": registration.score,
            "crop_shape": f"{reference.shape[0]}x{reference.shape[1]}",
            "data_range": span,
        }
        for name, image in {**aligned, HR_LABEL: reference}.items():
            row = dict(common, method=name)
            for metric in names:
                if name == HR_LABEL and METRICS[metric].needs_reference:
                    row[metric] = None
                elif metric == "pi" and all(math.isfinite(row.get(m, math.nan)) for m in ("ma", "niqe")):
                    # the same grey mapping for all three: PI from the Ma and NIQE already computed
                    row[metric] = 0.5 * ((10.0 - row["ma"]) + row["niqe"])
                else:
                    row[metric] = _compute(
                        metric, image, reference, span, hr.pixel_size, notes, f"{what}, {name}", model
                    )
            rows.append(row)
        if index < n_examples:
            label = f"{Path(lr_label).name} → {Path(hr_label).name} (×{factor})"
            examples.append(
                _pair_example(
                    label, lr, lr_ch, hr, hr_ch, factor, registration, box, reference, aligned, level
                )
            )

    tukey: dict[str, TukeyResult] = {}
    if len(lr_items) >= 2:
        for metric in names:
            groups = {}
            for method in resolved:
                values = [r[metric] for r in rows if r["method"] == method.name]
                groups[method.name] = np.asarray(values, dtype=float)
            bad = [n for n, v in groups.items() if not np.isfinite(v).all()]
            if bad:
                notes.append(f"Tukey HSD of {metric} skipped: non-finite values for {bad}")
                continue
            if len(resolved) < 2:
                continue
            tukey[metric] = tukey_hsd(groups)
    else:
        notes.append("Tukey HSD needs at least 2 pairs; one pair was evaluated")
    settings = {
        "register": register,
        "register_channel": register_channel,
        "elastic": bool(elastic),
        "channel": channel,
        "level": bool(level),
        "data_range": rule,
        "scale": "from the pixel sizes" if scale is None else int(scale),
        "alpha": float(alpha),
        "interpolation_of_outputs": "cubic spline (scansr.register.warp)",
        "methods": {m.name: str(getattr(m, "description", "") or type(m).__name__) for m in resolved},
        "ma_pi": f"computed with {model.source or 'the given model'}" if model is not None else _MA_NOTE,
    }
    return EvaluationResult(
        methods=tuple(m.name for m in resolved),
        metrics=names,
        per_image=tuple(rows),
        registrations=tuple(registrations),
        tukey=tukey,
        notes=tuple(dict.fromkeys(notes)),
        settings=settings,
        examples=tuple(examples),
    )
