"""Benchmark and real-pair evaluation results in the HTML report.

`add_benchmark_section` puts a `scansr.evaluate.BenchmarkResult` into a `scansr.report.Report` (or a section of
one): the protocol, the AFM paper's Table 1 layout (mean (std) per method and scale), the means with the best
in bold, box plots over the files, and for the first file at every scale the image panels (LR / HR / methods,
zoomed detail, scale bars), cross-section profiles (the paper's Fig. 4: LR, HR, bicubic, models), radially
averaged spectra with the LR's Nyquist frequency, difference maps, and 3-D surface views at the largest scale.

`add_evaluation_section` does the same for a `scansr.evaluate.EvaluationResult`, shaped like the real-pair
study's Tables 1-2 (means per method and metric, the range of standard deviations in the header, ↑/↓ for
the direction, the best in bold), the no-reference metrics of the HR itself, Tukey HSD p-value matrices and
box plots (with two or more pairs), and the figures of the first registered pair::

    result = evaluate_pairs(lr_files, hr_files, methods=["bicubic", "lanczos", "runs/vdsr"])
    report = Report("Evaluation", command=sys.argv)
    add_evaluation_section(report, result)
    report.save("evaluation.html")

Like `scansr.report.figures`, nothing here touches pyplot or torch.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np

from scansr.evaluate import HR_LABEL, METRIC_LABELS, BenchmarkResult, EvaluationResult, Example, metric_column
from scansr.metrics import METRICS
from scansr.metrics.roughness import profile
from scansr.metrics.spectral import radial_power_spectrum
from scansr.report.figures import (
    box_plot_figure,
    comparison_figure,
    detail_region,
    line_profiles,
    map_figure,
    profile_figure,
    pvalue_figure,
    spectrum_figure,
    surface_figure,
)
from scansr.report.html import Section
from scansr.scan import Channel

__all__ = ["add_benchmark_section", "add_evaluation_section", "example_figures"]

logger = logging.getLogger(__name__)

_MAX_SURFACES = 4  # HR and up to three methods in the 3-D view
_MAX_DIFFERENCES = 6  # difference maps in one row


def _unit(metric: str, data_unit: str) -> str:
    unit = METRICS[metric].unit if metric in METRICS else ""
    unit = unit.replace("data", data_unit or "a.u.") if "data" in unit else unit
    return "" if unit in ("", "/m") else unit


def _profile_line(example: Example) -> tuple[tuple[float, float], tuple[float, float], Any]:
    """Return a horizontal line across the whole field, through the centre of the detail region, and the region."""
    zoom = detail_region(example.hr)
    hr = example.hr
    dy, dx = hr.pixel_size if hr.pixel_size is not None else (1.0, 1.0)
    row = (math.floor((zoom.y + zoom.height / 2) / dy) + 0.5) * dy  # through pixel centres of the HR
    width = hr.shape[1] * dx
    return (row, 0.5 * dx), (row, width - 0.5 * dx), zoom


def example_figures(
    section: Any, example: Example, *, methods: tuple[str, ...], surfaces: bool = True, caption: str = ""
) -> None:
    """Add the figures of one example to `section`: panels, profiles, spectra, differences, surfaces.

    Parameters
    ----------
    section : Report or Section
        Where the figures go.
    example : scansr.evaluate.Example
        The images (LR, HR and the outputs on the HR grid).
    methods : tuple of str
        Methods in table order (bicubic first in the profiles when present).
    surfaces : bool
        Add the 3-D surface views.
    caption : str
        Prefix of every caption (e.g. the file and scale).
    """
    hr, lr = example.hr, example.lr
    scaled = hr.pixel_size is not None
    outputs = {m: example.outputs[m] for m in methods if m in example.outputs}
    start, end, zoom = _profile_line(example)
    images = {"LR": lr, "HR": hr, **outputs}
    panel = 2.4 if len(images) <= 6 else 1.8
    section.add_figure(
        comparison_figure(images, zoom=zoom, line=(start, end), reference="HR", panel_size=panel),
        caption=(
            f"{caption}: LR, HR and every method on one colour scale (HR's 0.5-99.5 % range), with the zoomed "
            "detail (cyan square) below each image and the cross-section line A-B."
        ),
    )
    order = ["bicubic", *[m for m in outputs if m != "bicubic"]] if "bicubic" in outputs else list(outputs)
    profiles = line_profiles({"LR": lr}, start, end, sample=functools.partial(profile, order=0))
    profiles.update(line_profiles({"HR": hr, **{m: outputs[m] for m in order}}, start, end))
    ch = hr.channels[0]
    section.add_figure(
        profile_figure(
            profiles,
            unit=ch.unit,
            quantity=ch.name,
            distance_unit="m" if scaled else "px",
            reference="HR",
        ),
        caption=f"{caption}: cross-section A-B of the LR (nearest pixel), the HR reference (black) and every method.",
    )
    spectra = {"HR": radial_power_spectrum(hr.channels[0].data, pixel_size=hr.pixel_size)}
    for name, scan in outputs.items():
        spectra[name] = radial_power_spectrum(scan.channels[0].data, pixel_size=scan.pixel_size)
    markers = {}
    if example.lr_pixel_size is not None and scaled:
        markers["LR Nyquist"] = 1.0 / (2.0 * max(example.lr_pixel_size))
    elif not scaled:
        markers["LR Nyquist"] = 1.0 / (2.0 * example.scale)
    section.add_figure(
        spectrum_figure(
            spectra,
            power_unit=("m⁴" if ch.unit == "m" else f"{ch.unit}²·m²") if scaled and ch.unit else "",
            frequency_unit="1/m" if scaled else "1/px",
            reference="HR",
            markers=markers,
        ),
        caption=(
            f"{caption}: radially averaged power spectra. Beyond the LR's Nyquist frequency an interpolation "
            "adds nothing; what a method puts there should match the HR (black)."
        ),
    )
    differences = {}
    for name in list(outputs)[:_MAX_DIFFERENCES]:
        diff = outputs[name].channels[0].data - ch.data
        differences[f"{name} − HR"] = hr.replace(channels=(Channel(ch.name, diff, ch.unit),))
    if differences:
        section.add_figure(
            map_figure(differences, diverging=True, panel_size=2.4),
            caption=f"{caption}: difference of each method from the HR (blue below, red above).",
        )
    if surfaces:
        chosen = {"HR": hr, **{m: outputs[m] for m in order[: _MAX_SURFACES - 1]}}
        section.add_figure(
            surface_figure(chosen, reference="HR", max_size=96, panel_size=2.8),
            caption=f"{caption}: 3-D views of the HR and {', '.join(list(chosen)[1:])} (z exaggerated as stated).",
        )


def add_benchmark_section(
    parent: Any, result: BenchmarkResult, *, title: str = "Benchmark on simulated low-resolution scans"
) -> Section:
    """Add a benchmark (`scansr.evaluate.benchmark`) to a report: tables, box plots and example figures.

    Parameters
    ----------
    parent : Report or Section
        Where the section goes (anything with ``add_section``).
    result : BenchmarkResult
        The scores.
    title : str
        Section title.

    Returns
    -------
    Section

    Raises
    ------
    TypeError
        If `result` is not a `BenchmarkResult`.
    """
    if not isinstance(result, BenchmarkResult):
        raise TypeError(f"result must be a BenchmarkResult, got {type(result).__name__}")
    s = result.settings
    section = parent.add_section(title)
    files = result.files
    border = s.get("border", "scale")
    section.add_text(
        f"The AFM paper's protocol (Liu et al. 2019, Table 1) on {len(files)} scan(s): the high-resolution (HR) "
        f"channel prepared ({s.get('preprocess')}), cropped at the bottom and right to a multiple of the scale, "
        f"reduced by the '{s.get('degradation')}' degradation of scansr.degrade (seed {s.get('seed')}), "
        f"upscaled again by each method, and scored against the HR with PSNR and SSIM. Data range of both: "
        f"'{s.get('data_range')}' from the HR alone (the same for every method); a border of "
        f"{'scale' if border == 'scale' else border} HR pixels is left out at every edge. Mean (sample standard "
        "deviation) over the scans."
    )
    section.add_table(result.table(), caption="PSNR (dB) and SSIM: mean (std) per method and scale")
    means = []
    best = {}
    for method in result.methods:
        row: dict[str, Any] = {"method": method}
        for metric in result.metrics:
            for scale in result.scales:
                column = f"{METRIC_LABELS[metric]} ×{scale}"
                values = result.values(method, scale, metric)
                row[column] = float(np.mean(values)) if values.size else float("nan")
                best[column] = "max"
        means.append(row)
    section.add_table(means, caption="Means, the best per column in bold", float_format=".4g", best=best)
    if len(files) >= 2:
        for metric in result.metrics:
            values = {
                f"{m} ×{s_}": result.values(m, s_, metric) for s_ in result.scales for m in result.methods
            }
            values = {k: v for k, v in values.items() if np.isfinite(v).any()}
            if values:
                section.add_figure(
                    box_plot_figure(
                        values,
                        metric=METRIC_LABELS[metric],
                        unit="dB" if metric == "psnr" else "",
                        lower_is_better=False,
                    ),
                    caption=f"{METRIC_LABELS[metric]} over the {len(files)} scans, per method and scale.",
                )
    largest = max((e.scale for e in result.examples), default=None)
    for example in result.examples:
        section.add_heading(f"Example: {example.label}")
        example_figures(
            section, example, methods=result.methods, surfaces=example.scale == largest, caption=example.label
        )
    section.add_heading("Per scan")
    columns = [
        "file",
        "channel",
        "scale",
        "method",
        "psnr",
        "ssim",
        "data_range",
        "unit",
        "hr_shape",
        "lr_shape",
    ]
    section.add_table(list(result.per_image), columns=columns, caption="Every score", float_format=".4g")
    return section


def _std_range(result: EvaluationResult, metric: str) -> str:
    stds = []
    for method in result.methods:
        values = result.values(method, metric)
        values = values[np.isfinite(values)]
        if values.size > 1:
            stds.append(float(np.std(values, ddof=1)))
    if not stds:
        return ""
    return f" ({min(stds):.3g}–{max(stds):.3g})"


def _ma_sentence(note: str) -> str:
    """Say whether and how Ma / PI were computed (`evaluate_pairs` records it in ``settings["ma_pi"]``)."""
    if note.startswith("computed"):
        return f"Ma and PI were {note}."
    return (note or "Ma and PI were not computed") + "."


def add_evaluation_section(
    parent: Any,
    result: EvaluationResult,
    *,
    title: str = "Evaluation on real low/high-resolution pairs",
    alpha: float | None = None,
) -> Section:
    """Add a real-pair evaluation (`scansr.evaluate.evaluate_pairs`) to a report.

    Parameters
    ----------
    parent : Report or Section
        Where the section goes (anything with ``add_section``).
    result : EvaluationResult
        The scores.
    title : str
        Section title.
    alpha : float, optional
        Significance level marked in the p-value matrices; default: the one the evaluation recorded (0.05).

    Returns
    -------
    Section

    Raises
    ------
    TypeError
        If `result` is not an `EvaluationResult`.
    ValueError
        If `alpha` is not in (0, 1).
    """
    if not isinstance(result, EvaluationResult):
        raise TypeError(f"result must be an EvaluationResult, got {type(result).__name__}")
    alpha = float(result.settings.get("alpha", 0.05) if alpha is None else alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    s = result.settings
    rows = [r for r in result.per_image if r["method"] != HR_LABEL]
    unit = rows[0]["unit"] if rows else ""
    section = parent.add_section(title)
    section.add_text(
        f"The real-pair protocol (Beilstein J. Nanotechnol. 2025) on {result.n_pairs} pair(s): each real LR scan "
        "upscaled by every method to the HR pixel size; the bicubic output registered to the HR "
        f"(register='{s.get('register')}'{', with elastic refinement' if s.get('elastic') else ''}) and the same "
        "transform applied to every output; everything cropped to the common region"
        f"{' and each image levelled by its own plane' if s.get('level') else ''}. Full-reference metrics compare "
        f"each output with the HR (PSNR / SSIM data range '{s.get('data_range')}' from the HR); no-reference "
        "metrics score each output and the HR itself. ↑: higher is better, ↓: lower is better. "
        + _ma_sentence(str(s.get("ma_pi", "")))
    )
    metrics = result.metrics
    means = []
    best = {}
    headers = {}
    for metric in metrics:
        u = _unit(metric, unit)
        headers[metric] = f"{metric_column(metric)}{f' [{u}]' if u else ''}{_std_range(result, metric)}"
        best[headers[metric]] = "min" if METRICS[metric].lower_is_better else "max"
    for method in result.methods:
        row: dict[str, Any] = {"method": method}
        for metric in metrics:
            values = result.values(method, metric)
            values = values[~np.isnan(values)]
            row[headers[metric]] = float(np.mean(values)) if values.size else float("nan")
        means.append(row)
    section.add_table(
        means,
        caption=(
            "Mean per method; in parentheses after each metric the range of the methods' standard deviations "
            "(as the real-pair study's Tables 1-2); the best mean of each column in bold"
        ),
        float_format=".4g",
        best=best,
    )
    no_reference = [m for m in metrics if not METRICS[m].needs_reference]
    if no_reference:
        hr_row: dict[str, Any] = {"image": HR_LABEL}
        for metric in no_reference:
            values = result.values(HR_LABEL, metric)
            values = values[~np.isnan(values)]
            hr_row[headers[metric]] = float(np.mean(values)) if values.size else float("nan")
        section.add_table(
            [hr_row],
            caption="No-reference metrics of the HR scans themselves, for reference (mean over the pairs)",
            float_format=".4g",
        )
    section.add_table(
        result.table(), caption="Mean ± standard deviation per method and metric (HR: no-reference metrics)"
    )
    if result.tukey:
        section.add_heading("Tukey HSD across methods")
        section.add_text(
            f"Pairwise p-values of Tukey's honestly significant difference test over the {result.n_pairs} pairs "
            f"(independent samples, as the real-pair study); * marks p < {alpha:g}."
        )
        for metric, tukey in result.tukey.items():
            section.add_figure(
                pvalue_figure(
                    tukey.pvalue, tukey.methods, alpha=alpha, title=METRIC_LABELS.get(metric, metric)
                ),
                caption=f"Tukey HSD p-values for {metric_column(metric)}.",
            )
    if result.n_pairs >= 2:
        for metric in metrics:
            values = {m: result.values(m, metric) for m in result.methods}
            values = {k: v for k, v in values.items() if np.isfinite(v).any()}
            if len(values) == len(result.methods):
                section.add_figure(
                    box_plot_figure(
                        values,
                        metric=METRIC_LABELS.get(metric, metric),
                        unit=_unit(metric, unit),
                        lower_is_better=METRICS[metric].lower_is_better,
                    ),
                    caption=f"{metric_column(metric)} over the {result.n_pairs} pairs.",
                )
    if result.notes:
        section.add_heading("Notes")
        section.add_list(result.notes)
    for example in result.examples:
        section.add_heading(f"Example: {example.label}")
        example_figures(section, example, methods=result.methods, caption=example.label)
    section.add_heading("Per pair")
    columns = [
        "pair",
        "lr",
        "hr",
        "method",
        "registration",
        "shift_x_px",
        "shift_y_px",
        "reg_scale",
        "reg_rotation_deg",
        "crop_shape",
        *metrics,
    ]
    section.add_table(list(result.per_image), columns=columns, caption="Every score", float_format=".4g")
    return section
