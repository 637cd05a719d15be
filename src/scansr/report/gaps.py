"""The gap analysis in the HTML report: settings, results, gap overlays, histograms, profiles and spectra.

The SEM paper measures resolution by the gaps between adjacent nanoparticles (`scansr.gaps`). This module
puts one `scansr.gaps.GapResult` (a single image) or one `scansr.gaps.GapComparison` (input / output /
target) into a `scansr.report.Report`::

    comparison = compare_gaps(lr.channels[0].data, sr.channels[0].data, hr.channels[0].data, ...)
    report = Report("Gap analysis", command=sys.argv)
    add_gaps_section(report, images={"input": lr, "output": sr, "target": hr}, comparison=comparison)
    report.save("gaps.html")

The section holds, in order: the settings (`scansr.gaps.GapOptions`), a results table (gaps, unresolved
percentage, Gaussian of the resolved widths, mean absolute width error against the target), one overlay per
image (`gap_overlay_figure`: every gap's centre line, green when resolved, red when not, and the measured
width), the width histograms with their Gaussians (the paper's Fig. 3), cross-sections through a few
representative gaps in every image (the paper's Fig. 2) and the radially averaged power spectra (Fig. 4).

Like `scansr.report.figures`, nothing here touches pyplot or torch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from scansr.gaps import GapComparison, GapOptions, GapResult, histogram
from scansr.metrics.spectral import radial_power_spectrum
from scansr.report.figures import (
    DEFAULT_CMAPS,
    display_unit,
    draw_scale_bar,
    histogram_figure,
    line_profiles,
    profile_figure,
    spectrum_figure,
)
from scansr.report.html import Section
from scansr.scan import Scan
from scansr.units import format_length

__all__ = [
    "RESOLVED_COLOUR",
    "RESULTS_FLOAT_FORMAT",
    "UNRESOLVED_COLOUR",
    "WIDTH_COLOUR",
    "add_gaps_section",
    "gap_overlay_figure",
]

logger = logging.getLogger(__name__)

#: Centre line of a resolved gap in `gap_overlay_figure`.
RESOLVED_COLOUR = "#00c800"
#: Centre line of an unresolved gap.
UNRESOLVED_COLOUR = "#ff1a1a"
#: The measured width (between the two `width_level` points), drawn on top of the centre line.
WIDTH_COLOUR = "#00e5ff"
#: Centre line of a gap that could not be evaluated (no two peaks on either side of the split).
INVALID_COLOUR = "#a0a0a0"
#: Number format of the results table (three significant digits: widths in nm, percentages).
RESULTS_FLOAT_FORMAT = ".3g"

_NM = 1e-9
_ORDER = ("input", "output", "target")
_OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="black")]
_LINE_MARGIN = 0.35  # profiles extend this fraction of the centre distance beyond each particle's centre
_OPTION_DEFAULTS = {
    "baseline": "zero for bright particles, background for dark ones",
    "max_gap": "median equivalent diameter of the particles",
    "step": "a tenth of the finest pixel",
}
_LENGTH_OPTIONS = ("max_gap", "step", "smooth")


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g} %"


# --------------------------------------------------------------------------------------------------- overlay
def _segments(start: np.ndarray, end: np.ndarray, rows: np.ndarray) -> list[list[tuple[float, float]]]:
    """Line segments ``[(x0, y0), (x1, y1)]`` (axes order) of the selected rows of (y, x) positions."""
    return [
        [(float(start[i, 1]), float(start[i, 0])), (float(end[i, 1]), float(end[i, 0]))]
        for i in np.flatnonzero(rows)
    ]


def gap_overlay_figure(
    scan: Scan,
    result: GapResult,
    *,
    channel: str | None = None,
    title: str | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
    cmap: str | None = None,
    panel_size: float = 5.0,
) -> Figure:
    """Draw the image with every measured gap on it.

    Each gap's centre line (particle centre to particle centre) is drawn green (`RESOLVED_COLOUR`) when
    the gap is resolved in this image and red (`UNRESOLVED_COLOUR`) when it is not; gaps that could not be
    evaluated are grey and dashed. The measured width, from one `width_level` (80 %) point to the other, is
    drawn on top in cyan (`WIDTH_COLOUR`) where both points exist. The image covers its physical field
    (``extent = (0, nx dx, ny dy, 0)`` in metres, as `scansr.report.figures.comparison_figure`), with a
    round scale bar.

    Each category is one `matplotlib.collections.LineCollection` (labelled ``"resolved"``, ``"unresolved"``,
    ``"not evaluated"`` and ``"width"``), one segment per gap.

    Parameters
    ----------
    scan : Scan
        The image the gaps were measured in (any pixel count; positions are in metres).
    result : GapResult
        Its gaps (`scansr.gaps.measure_gaps`, or one of `scansr.gaps.GapComparison.results`).
    channel : str, optional
        Channel to show; default: the scan's default channel.
    title : str, optional
        Axes title.
    percentiles : (float, float)
        Percentiles of the values that span the grey scale.
    cmap : str, optional
        Colour map; default by unit (``gray`` for SEM counts, ``afmhot`` for heights, else ``viridis``).
    panel_size : float
        Length of the image's longer side in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `scan` or `result` has the wrong type, the scan's pixel size differs from the result's, the image
        holds no finite value, or `percentiles` is not ``0 <= low < high <= 100``.
    UnknownChannelError
        If the scan lacks `channel`.
    """
    if not isinstance(scan, Scan):
        raise ValueError(f"scan must be a scansr Scan, got {type(scan).__name__}")
    if not isinstance(result, GapResult):
        raise ValueError(f"result must be a GapResult from scansr.gaps, got {type(result).__name__}")
    try:
        low, high = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be a pair (low, high), got {percentiles!r}") from None
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    pixel_size = _pixel_size_of(scan, result, "scan")
    ch = scan.channel(channel if channel is not None else scan.default_channel)
    data = ch.data
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        raise ValueError(f"channel {ch.name!r} holds no finite value")
    lo, hi = (float(v) for v in np.percentile(finite, (low, high)))
    if not hi > lo:
        lo, hi = lo - max(abs(lo) * 1e-6, 1e-30), hi + max(abs(hi) * 1e-6, 1e-30)
    factor, shown_unit = display_unit(ch.unit, max(abs(lo), abs(hi), hi - lo))
    height, width = data.shape[0] * pixel_size[0], data.shape[1] * pixel_size[1]

    scale = panel_size / max(height, width)  # the longer side of the image is panel_size inches
    figure = Figure(figsize=(width * scale + 1.4, height * scale + 0.9), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    image = ax.imshow(
        data / factor,
        extent=(0.0, width, height, 0.0),
        norm=Normalize(lo / factor, hi / factor),
        cmap=colormaps[cmap or DEFAULT_CMAPS.get(ch.unit, "viridis")],
        interpolation="antialiased",
    )
    ax.set_xlim(0.0, width)
    ax.set_ylim(height, 0.0)
    ax.set_xticks([])
    ax.set_yticks([])
    resolved = result.valid & result.resolvable
    unresolved = result.valid & ~result.resolvable
    has_width = np.all(np.isfinite(result.edge_a), axis=1) & np.all(np.isfinite(result.edge_b), axis=1)
    handles = []
    for rows, colour, label, style in (
        (resolved, RESOLVED_COLOUR, "resolved", "solid"),
        (unresolved, UNRESOLVED_COLOUR, "unresolved", "solid"),
        (~result.valid, INVALID_COLOUR, "not evaluated", "dashed"),
    ):
        count = int(np.count_nonzero(rows))
        if not count:
            continue
        lines = LineCollection(
            _segments(result.start, result.end, rows),
            colors=colour,
            linewidths=1.2,
            linestyles=style,
            label=label,
            zorder=3,
        )
        ax.add_collection(lines)
        handles.append(Line2D([], [], color=colour, linestyle=style, label=f"{label} ({count})"))
    if has_width.any():
        widths = LineCollection(
            _segments(result.edge_a, result.edge_b, has_width),
            colors=WIDTH_COLOUR,
            linewidths=2.6,
            label="width",
            zorder=4,
            path_effects=[patheffects.withStroke(linewidth=3.6, foreground="black")],
        )
        ax.add_collection(widths)
        handles.append(Line2D([], [], color=WIDTH_COLOUR, linewidth=2.6, label="measured width"))
    draw_scale_bar(ax, (height, width))
    if handles:
        figure.legend(
            handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False
        )
    label = f"{ch.name} ({shown_unit})" if shown_unit else ch.name
    figure.colorbar(image, ax=ax, label=label.replace("$", r"\$"), shrink=0.85)
    if title:
        ax.set_title(str(title).replace("$", r"\$"), fontsize=10)
    return figure


def _pixel_size_of(scan: Scan, result: GapResult, what: str) -> tuple[float, float]:
    if scan.pixel_size is None:
        return result.pixel_size
    if not np.allclose(scan.pixel_size, result.pixel_size, rtol=1e-6, atol=0.0):
        raise ValueError(
            f"{what} has pixel size {scan.pixel_size} m but its gaps were measured at {result.pixel_size} m; "
            "pass the scan the gaps were measured in"
        )
    return scan.pixel_size


# --------------------------------------------------------------------------------------------------- section
def _check_inputs(
    images: Any, result: Any, comparison: Any, options: Any
) -> tuple[dict[str, Scan], dict[str, GapResult], GapOptions, bool]:
    if (result is None) == (comparison is None):
        raise ValueError("give exactly one of result (one image) and comparison (input/output/target)")
    if not isinstance(images, Mapping) or not images:
        raise ValueError(f"images must be a non-empty mapping of label -> Scan, got {type(images).__name__}")
    scans = {str(k): v for k, v in images.items()}
    for label, scan in scans.items():
        if not isinstance(scan, Scan):
            raise ValueError(f"images[{label!r}] must be a scansr Scan, got {type(scan).__name__}")
    if options is not None and not isinstance(options, GapOptions):
        raise ValueError(f"options must be a GapOptions or None, got {type(options).__name__}")
    if comparison is not None:
        if not isinstance(comparison, GapComparison):
            raise ValueError(f"comparison must be a GapComparison, got {type(comparison).__name__}")
        names = [n for n in _ORDER if n in comparison.results] + [
            n for n in comparison.results if n not in _ORDER
        ]
        missing = [n for n in names if n not in scans]
        extra = [n for n in scans if n not in comparison.results]
        if missing or extra:
            raise ValueError(
                f"images must hold one scan per image of the comparison, {names}; "
                f"missing {missing}, unexpected {extra}"
            )
        if options is not None and options != comparison.options:
            raise ValueError("options differ from the comparison's own options; leave options out")
        return (
            {n: scans[n] for n in names},
            {n: comparison.results[n] for n in names},
            comparison.options,
            True,
        )
    if not isinstance(result, GapResult):
        raise ValueError(f"result must be a GapResult, got {type(result).__name__}")
    if len(scans) != 1:
        raise ValueError(f"a single result needs exactly one image, got {list(scans)}")
    label = next(iter(scans))
    return scans, {label: result}, options if options is not None else GapOptions(), options is not None


def _settings_rows(options: GapOptions, extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, value in dataclasses.asdict(options).items():
        if value is None:
            shown: Any = f"default: {_OPTION_DEFAULTS.get(name, 'automatic')}"
        elif name in _LENGTH_OPTIONS:
            shown = format_length(float(value)) if value else "0 (none)"
        else:
            shown = value
        rows.append({"setting": name, "value": shown})
    rows += [{"setting": k, "value": v} for k, v in extra.items()]
    return rows


def _infer_polarity(result: GapResult) -> str:
    """Bright when the particles' peaks lie above the baseline (dark particles: their minima lie below it)."""
    peaks = np.concatenate([result.peak_a[result.valid], result.peak_b[result.valid]])
    if peaks.size == 0:
        return "bright"
    return "bright" if float(np.median(peaks)) >= result.baseline else "dark"


def _representative_gaps(results: Mapping[str, GapResult], reference: str, count: int) -> list[int]:
    """Rows to show as profiles: one lost in the input (if any), then widths spread over the range."""
    ref = results[reference]
    candidates = np.flatnonzero(ref.valid & np.isfinite(ref.width))
    if candidates.size == 0:
        candidates = np.flatnonzero(ref.valid)
    if candidates.size == 0 or count <= 0:
        return []
    order = candidates[np.argsort(np.nan_to_num(ref.width[candidates], nan=np.inf), kind="stable")]
    picks: list[int] = []
    if "input" in results and reference != "input":
        inp = results["input"]
        lost = [int(i) for i in order if ref.resolvable[i] and inp.valid[i] and not inp.resolvable[i]]
        if lost:
            picks.append(lost[len(lost) // 2])
    rest = [int(i) for i in order if int(i) not in picks]
    need = min(count - len(picks), len(rest))
    if need > 0:
        positions = np.unique(np.round(np.linspace(0, len(rest) - 1, need)).astype(int))
        picks += [rest[p] for p in positions]
    return sorted(picks, key=lambda i: (np.nan_to_num(ref.width[i], nan=np.inf), i))


def _profile_line(
    result: GapResult, row: int, field: tuple[float, float], margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the centre line of gap `row`, extended beyond both centres, kept `margin` inside the field."""
    start, end = result.start[row], result.end[row]
    direction = end - start
    extension = _LINE_MARGIN
    for point, sign in ((start, -1.0), (end, 1.0)):
        for axis in (0, 1):
            step = sign * direction[axis]
            if step > 0:
                room = field[axis] - margin - point[axis]
            elif step < 0:
                room = point[axis] - margin
            else:
                continue
            extension = min(extension, max(room, 0.0) / abs(step))
    return start - extension * direction, end + extension * direction


def _plotted_factors(ax: Any, index: int, distance: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Factors from metres / SI values to the units `profile_figure` drew its `index`-th profile in."""
    line = ax.get_lines()[index]  # profile_figure draws the profiles first, in order
    xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    ok_x = np.isfinite(xs) & (xs != 0) & np.isfinite(distance)
    ok_y = np.isfinite(ys) & (ys != 0) & np.isfinite(values)
    fx = float(np.median(distance[ok_x] / xs[ok_x])) if ok_x.any() else 1.0
    fy = float(np.median(values[ok_y] / ys[ok_y])) if ok_y.any() else 1.0
    return fx, fy


def _levels(result: GapResult, row: int, options: GapOptions, polarity: str) -> dict[str, float] | None:
    if options.reference == "each":
        return None
    peaks = (float(result.peak_a[row]), float(result.peak_b[row]))
    higher = max(peaks) if polarity == "bright" else min(peaks)
    lower = min(peaks) if polarity == "bright" else max(peaks)
    peak = higher if options.reference == "higher" else lower
    base = result.baseline
    return {
        f"{_percent(options.width_level)} level": base + options.width_level * (peak - base),
        f"{_percent(options.resolve_level)} level": base + options.resolve_level * (peak - base),
    }


def _profile_figure(
    scans: Mapping[str, Scan],
    results: Mapping[str, GapResult],
    reference: str,
    row: int,
    options: GapOptions,
    polarity: str,
    show_levels: bool,
) -> tuple[Figure, str]:
    ref = results[reference]
    ref_scan = scans[reference]
    ps = _pixel_size_of(ref_scan, ref, reference)
    field = (ref_scan.shape[0] * ps[0], ref_scan.shape[1] * ps[1])
    coarsest = max(max(_pixel_size_of(scans[n], results[n], n)) for n in scans)
    p0, p1 = _profile_line(ref, row, field, 0.5 * coarsest)
    profiles = line_profiles(scans, p0, p1)
    ch = ref_scan.channel(ref_scan.default_channel)
    a, b = (int(v) for v in ref.pairs[row])
    figure = profile_figure(
        profiles,
        unit=ch.unit,
        quantity=ch.name,
        reference=reference if len(scans) > 1 else None,
        title=f"gap {row}: particles {a} and {b}",
    )
    ax = figure.axes[0]
    distance, values = profiles[reference]
    fx, fy = _plotted_factors(ax, list(profiles).index(reference), distance, values)
    unit_vector = (p1 - p0) / float(np.hypot(*(p1 - p0)))
    for edge_name, edge in (("a", ref.edge_a[row]), ("b", ref.edge_b[row])):
        if np.all(np.isfinite(edge)):
            along = float(np.dot(edge - p0, unit_vector))
            ax.axvline(
                along / fx,
                color="black",
                linestyle=":",
                linewidth=1.0,
                label=f"{reference} {_percent(options.width_level)} points" if edge_name == "a" else None,
            )
    levels = _levels(ref, row, options, polarity) if show_levels and ref.valid[row] else None
    for (name, level), style in zip((levels or {}).items(), ("--", "-."), strict=False):
        ax.axhline(level / fy, color="grey", linestyle=style, linewidth=0.9, label=f"{reference} {name}")
    ax.legend(fontsize=7, frameon=False)
    states = []
    for name, r in results.items():
        state = "not evaluated" if not r.valid[row] else "resolved" if r.resolvable[row] else "unresolved"
        width = f", width {format_length(float(r.width[row]))}" if math.isfinite(r.width[row]) else ""
        states.append(f"{name}: {state}{width}")
    caption = (
        f"Cross-section through gap {row} (particles {a} and {b}, centres "
        f"{format_length(float(ref.centre_distance[row]))} apart), along the line through both centres, "
        f"extended beyond them; sampled in every image at the same physical positions (linear "
        f"interpolation, one sample per pixel of each image). {'; '.join(states)}."
    )
    return figure, caption


def _spectra_figure(scans: Mapping[str, Scan], reference: str | None) -> tuple[Figure, str] | None:
    spectra, markers = {}, {}
    units = set()
    for label, scan in scans.items():  # every scan has a pixel size here (add_gaps_section)
        ch = scan.channel(scan.default_channel)
        units.add(ch.unit)
        if not np.isfinite(ch.data).all():
            logger.warning("image %r holds NaN values: left out of the spectra", label)
            continue
        spectra[label] = radial_power_spectrum(ch.data, pixel_size=scan.pixel_size)
        nyquist = 0.5 / max(scan.pixel_size)  # the radial spectrum stops at the coarser axis's Nyquist
        same = [k for k, v in markers.items() if math.isclose(v, nyquist, rel_tol=1e-6)]
        if same:
            del markers[same[0]]
            markers[f"{same[0].removesuffix(' Nyquist')}/{label} Nyquist"] = nyquist
        else:
            markers[f"{label} Nyquist"] = nyquist
    if not spectra:
        return None
    if len(units) == 1:  # the PSD is in (value unit)² · m²
        unit = units.pop()
        power_unit = {"m": "m⁴", "": "m²"}.get(unit, f"{unit}²·m²")
    else:
        power_unit = ""
    figure = spectrum_figure(
        spectra,
        power_unit=power_unit,
        frequency_unit="1/m",
        reference=reference if reference in spectra and len(spectra) > 1 else None,
        markers=markers,
    )
    caption = (
        "Radially averaged power spectral density of every image (Hann window, mean removed), against "
        "spatial frequency; the dotted lines mark each image's Nyquist frequency 1/(2 × pixel size) "
        "(coarser axis). "
        "An enhanced image should follow the target up to the target's Nyquist frequency; power above the "
        "input's Nyquist frequency is detail the input could not hold."
    )
    return figure, caption


def add_gaps_section(
    parent: Any,
    *,
    images: Mapping[str, Scan],
    result: GapResult | None = None,
    comparison: GapComparison | None = None,
    options: GapOptions | None = None,
    n_profiles: int = 3,
    title: str = "Gap analysis",
) -> Section:
    """Add the gap analysis of one image, or of input / output / target, to a report.

    Parameters
    ----------
    parent : Report or Section
        Where the section goes (anything with ``add_section``).
    images : mapping of str to Scan
        The scans the gaps were measured in (their default channel is shown and profiled). With `comparison`:
        one per image of the comparison, keyed ``"input"``, ``"output"`` (when compared) and ``"target"``.
        With `result`: exactly one, keyed by the label to show (e.g. the file name).
    result : GapResult, optional
        Gaps of a single image (`scansr.gaps.measure_gaps`).
    comparison : GapComparison, optional
        Gaps picked on the target and measured in every image (`scansr.gaps.compare_gaps`).
    options : GapOptions, optional
        With `result`: the options it was measured with (a `GapResult` does not record them); default: the
        defaults, which the settings table then says. With `comparison`: leave out (its own options are used).
    n_profiles : int
        Number of representative gaps shown as cross-sections (0 for none).
    title : str
        Section title.

    Returns
    -------
    Section

    Raises
    ------
    ValueError
        If neither or both of `result` and `comparison` are given, `images` does not match them, a scan's
        pixel size differs from its result's, or `n_profiles` is negative.
    """
    scans, results, options, options_known = _check_inputs(images, result, comparison, options)
    if not (isinstance(n_profiles, int | np.integer) and n_profiles >= 0):
        raise ValueError(f"n_profiles must be an integer >= 0, got {n_profiles!r}")
    for label, scan in scans.items():
        _pixel_size_of(scan, results[label], f"images[{label!r}]")
    # A scan without a lateral scale is drawn at the pixel size its gaps were measured with.
    scans = {
        label: scan
        if scan.pixel_size is not None
        else dataclasses.replace(scan, pixel_size=results[label].pixel_size)
        for label, scan in scans.items()
    }
    compared = comparison is not None
    reference = "target" if compared else next(iter(scans))
    ref = results[reference]
    polarity = comparison.particles.polarity if compared else _infer_polarity(ref)

    section = parent.add_section(title)
    peak = options.reference if options.reference != "each" else "own"
    rule = (
        f"A gap's width is the distance between the points where the intensity falls below "
        f"{_percent(options.width_level)} of the {peak} adjacent peak; a gap is resolved when the lowest "
        f"intensity between the particles is below {_percent(options.resolve_level)} of that peak. The "
        "histograms and the Gaussian fits use the resolved gaps that have both width points."
    )
    if compared:
        section.add_text(
            f"Gaps between adjacent particles were picked on the target ({comparison.particles.n} "
            f"{polarity} particles, {ref.n} adjacent pairs) and measured along the same physical lines in "
            f"the {', '.join(scans)} images, whatever their pixel size. {rule} The mean absolute gap-size "
            "error of an image is taken over the gaps resolved in both it and the target."
        )
    else:
        section.add_text(f"{ref.n} gaps between adjacent particles of {reference} were measured. {rule}")

    extra: dict[str, Any] = {"polarity": polarity if compared else f"{polarity} (from the peaks)"}
    if compared:
        fits = {name: h.fit for name, h in comparison.histograms.items() if h.n >= 2}
        if len(set(fits.values())) <= 1:
            extra["Gaussian fit"] = next(iter(fits.values()), "mle")
        else:
            extra["Gaussian fit"] = ", ".join(f"{name}: {fit}" for name, fit in fits.items())
    section.add_table(
        _settings_rows(options, extra),
        caption="Gap analysis settings (scansr.gaps.GapOptions)"
        + ("" if options_known else "; defaults, as the caller gave no options"),
    )

    section.add_table(
        _results_rows(results, comparison),
        caption=(
            "Gaps per image: all adjacent pairs, those that could be evaluated, the unresolved ones (count "
            "and percentage of the evaluated), the resolved widths with both width points, the mean μ and "
            "standard deviation σ of the Gaussian fitted to them"
            + (
                ", and the mean absolute width difference from the target over the gaps resolved in both"
                if compared
                else ""
            )
        ),
        float_format=RESULTS_FLOAT_FORMAT,
        best={"mean |error| vs target (nm)": "min"} if compared else None,
    )

    for label, scan in scans.items():
        r = results[label]
        invalid = f", {r.n - r.n_valid} not evaluated (grey)" if r.n_valid < r.n else ""
        section.add_figure(
            gap_overlay_figure(scan, r, title=label),
            caption=(
                f"{label}: {r.n} gaps, {r.n_valid - r.n_unresolved} resolved (green), {r.n_unresolved} "
                f"unresolved (red){invalid}; "
                f"cyan: the measured width between the {_percent(options.width_level)} points."
            ),
        )

    samples = {label: r.resolved_widths for label, r in results.items() if r.resolved_widths.size}
    if samples:
        bins = comparison.histograms[reference].edges.size - 1 if compared else None
        left_out = [label for label in results if label not in samples]
        section.add_figure(
            histogram_figure(samples, quantity="gap width", unit="m", bins=bins),
            caption=(
                "Histograms of the resolved gap widths on shared bins, with fitted Gaussians (dashed; the "
                "legend gives the maximum-likelihood mean and σ)."
                + (f" No resolved gap in: {', '.join(left_out)}." if left_out else "")
                + (
                    " The results table's μ and σ come from least-squares fits to the bin counts and "
                    "differ slightly from the legend's."
                    if compared and any(h.fit == "curve_fit" for h in comparison.histograms.values())
                    else ""
                )
            ),
        )
    else:
        section.add_text("No gap is resolved with both width points in any image: there is no histogram.")

    picks = _representative_gaps(results, reference, int(n_profiles))
    for row in picks:
        figure, caption = _profile_figure(scans, results, reference, row, options, polarity, options_known)
        section.add_figure(figure, caption=caption)

    spectra = _spectra_figure(scans, reference if compared else None)
    if spectra is not None:
        section.add_figure(spectra[0], caption=spectra[1])
    return section


def _results_rows(results: Mapping[str, GapResult], comparison: GapComparison | None) -> list[dict[str, Any]]:
    rows = []
    for label, r in results.items():
        if comparison is not None:
            fitted = comparison.histograms[label]
        else:
            widths = r.resolved_widths
            fitted = histogram(widths) if widths.size else None
        row: dict[str, Any] = {
            "image": label,
            "gaps": r.n,
            "evaluated": r.n_valid,
            "unresolved": r.n_unresolved,
            "unresolved (%)": 100.0 * r.unresolved_fraction,
            "resolved widths": int(r.resolved_widths.size),
            "μ (nm)": fitted.mean / _NM if fitted is not None else math.nan,
            "σ (nm)": fitted.std / _NM if fitted is not None else math.nan,
        }
        if comparison is not None:
            row["mean |error| vs target (nm)"] = (
                comparison.mean_abs_error[label] / _NM if label in comparison.mean_abs_error else None
            )
            row["n compared"] = comparison.n_compared.get(label)
        rows.append(row)
    return rows
