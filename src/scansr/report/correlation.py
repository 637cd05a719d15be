"""The topography–property correlation in the HTML report: table, scatter plots, local maps and domains.

`add_correlation_section` puts one `scansr.correlate.CorrelationResult` into a `scansr.report.Report`::

    result = correlate_scan(scan, topography="height", properties=["adhesion", "modulus"])
    report = Report("Correlation", command=sys.argv)
    add_correlation_section(report, scan, result)
    report.save("correlation.html")

The section holds, in order: the correlation table (Pearson r and Spearman ρ with their
autocorrelation-adjusted p-values, n and the effective n, and the naive p-values for comparison), one 2-D
histogram per property with the least-squares line, the local-correlation maps, the domain map beside the
topography, the per-domain statistics of every channel and the tests across domains.

Like `scansr.report.figures`, nothing here touches pyplot or torch.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from scansr.correlate import CorrelationResult
from scansr.report.figures import DEFAULT_CMAPS, display_unit, draw_scale_bar, map_figure, scatter_figure
from scansr.report.html import Section
from scansr.scan import Scan
from scansr.units import format_length

__all__ = ["MAX_DOMAIN_ROWS", "add_correlation_section", "format_number"]

logger = logging.getLogger(__name__)

#: The domain table lists at most this many domains (the largest); the tests always use all of them.
MAX_DOMAIN_ROWS = 40
#: Shown instead of a p-value of exactly 0 (a double underflows below about 1e-308).
P_UNDERFLOW = "< 1e-300"

_OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="black")]
_DOMAIN_COLOURS = colormaps["tab20"].colors


def format_number(value: float) -> str:
    """Format a table number with three significant digits, switching to exponent notation when tiny or huge.

    ``0`` stays ``"0"``; magnitudes below 1e-3 or from 1e6 up are written ``"3.2e-05"``; from 1000 to 1e6 the
    number is rounded to an integer (``"12345"``); else three significant digits (``"0.457"``, ``"23.4"``).

    Parameters
    ----------
    value : float
        A finite number (the report shows NaN as "–" before calling this).

    Returns
    -------
    str
    """
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude < 1e-3 or magnitude >= 1e6:
        return f"{value:.1e}"
    if magnitude >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _p(value: float) -> float | str:
    """Return a p-value for a table cell: exactly 0 means it underflowed, which the cell then says."""
    return P_UNDERFLOW if value == 0 else value


def _check(scan: Any, result: Any) -> None:
    if not isinstance(scan, Scan):
        raise ValueError(f"scan must be a scansr Scan, got {type(scan).__name__}")
    if not isinstance(result, CorrelationResult):
        raise ValueError(
            f"result must be a CorrelationResult from correlate_scan, got {type(result).__name__}"
        )
    if scan.shape != result.labels.shape:
        raise ValueError(
            f"the scan is {scan.shape} pixels but the result was computed on {result.labels.shape}; pass the "
            "scan that was correlated"
        )
    if (
        scan.pixel_size is not None
        and result.pixel_size is not None
        and not np.allclose(scan.pixel_size, result.pixel_size, rtol=1e-6, atol=0.0)
    ):
        raise ValueError(
            f"the scan has pixel size {scan.pixel_size} m but the result was computed at "
            f"{result.pixel_size} m"
        )
    for name in (result.topography, *result.properties):
        scan.channel(name)  # UnknownChannelError lists the channels


# --------------------------------------------------------------------------------------------------- domains
def _domain_figure(scan: Scan, result: CorrelationResult, *, panel_size: float = 3.6) -> Figure:
    """Topography beside its domains (one colour per domain, from a qualitative palette; grey: no domain)."""
    top = scan.channel(result.topography)
    ny, nx = top.shape
    scaled = scan.pixel_size is not None
    dy, dx = scan.pixel_size if scaled else (1.0, 1.0)
    height, width = ny * dy, nx * dx
    extent = (0.0, width, height, 0.0)
    scale = panel_size / max(height, width)
    figure = Figure(figsize=(2 * (width * scale + 1.3), height * scale + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    ax_top, ax_dom = figure.subplots(1, 2)
    finite = top.data[np.isfinite(top.data)]
    lo, hi = (float(v) for v in np.percentile(finite, (0.5, 99.5))) if finite.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - max(abs(lo) * 1e-6, 1e-30), hi + max(abs(hi) * 1e-6, 1e-30)
    factor, unit = display_unit(top.unit, max(abs(lo), abs(hi), hi - lo))
    image = ax_top.imshow(
        top.data / factor,
        extent=extent,
        norm=Normalize(lo / factor, hi / factor),
        cmap=colormaps[DEFAULT_CMAPS.get(top.unit, "viridis")],
        interpolation="antialiased",
    )
    figure.colorbar(image, ax=ax_top, label=f"{top.name} ({unit})" if unit else top.name, shrink=0.85)
    domains = result.domains.labels
    index = np.full(result.labels.shape, np.nan)
    for k, label in enumerate(domains):
        index[result.labels == label] = k
    colours = ListedColormap([_DOMAIN_COLOURS[k % len(_DOMAIN_COLOURS)] for k in range(len(domains))])
    ax_dom.imshow(
        np.ma.masked_invalid(index),
        extent=extent,
        cmap=colours.with_extremes(bad="#bbbbbb"),
        norm=BoundaryNorm(np.arange(len(domains) + 1) - 0.5, len(domains)),
        interpolation="nearest",
    )
    for ax, name in ((ax_top, "topography"), (ax_dom, f"domains ({result.segmentation})")):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(0.0, width)
        ax.set_ylim(height, 0.0)
        ax.set_title(name, fontsize=10)
        if scaled:
            draw_scale_bar(ax, (height, width))
    if len(domains) <= 10:
        handles = [
            Patch(color=_DOMAIN_COLOURS[k % len(_DOMAIN_COLOURS)], label=f"domain {label}")
            for k, label in enumerate(domains)
        ]
        if np.any(result.labels < 0):
            handles.append(Patch(color="#bbbbbb", label="no domain"))
        ax_dom.legend(
            handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
        )
    return figure


def _area_unit(areas: list[float]) -> tuple[float, str]:
    finite = [a for a in areas if a is not None and math.isfinite(a)]
    if not finite:
        return 1.0, "px"
    return (1e-12, "µm²") if max(finite) >= 1e-14 else (1e-18, "nm²")


def _domain_rows(result: CorrelationResult) -> tuple[list[dict[str, Any]], int]:
    """Rows of the per-domain table (values in display units) and how many domains were left out."""
    table = result.domains
    rows = table.rows()
    shown = sorted(range(len(rows)), key=lambda i: -rows[i]["n_pixels"])[:MAX_DOMAIN_ROWS]
    shown.sort()
    scales = {}
    for j, name in enumerate(table.channels):
        span = float(np.nanmax(np.abs(table.mean[:, j]))) if np.isfinite(table.mean[:, j]).any() else 0.0
        scales[name] = display_unit(table.units[j], span)
    area_factor, area_unit = _area_unit([rows[i]["area_m2"] for i in shown])
    out = []
    for i in shown:
        row = rows[i]
        line: dict[str, Any] = {"domain": row["label"], "pixels": row["n_pixels"]}
        area = row["area_m2"]
        line[f"area ({area_unit})"] = area / area_factor if area is not None else row["n_pixels"]
        line["fraction (%)"] = 100.0 * row["fraction"] if row["fraction"] is not None else None
        for name in table.channels:
            factor, unit = scales[name]
            suffix = f" ({unit})" if unit else ""
            for stat in ("mean", "std", "median"):
                value = row[name][stat]
                line[f"{name} {stat}{suffix}"] = None if value is None else value / factor
        out.append(line)
    return out, len(rows) - len(shown)


# --------------------------------------------------------------------------------------------------- section
def _correlation_rows(result: CorrelationResult) -> list[dict[str, Any]]:
    return [
        {
            "property": r.property,
            "unit": r.unit or "(none)",
            "Pearson r": r.pearson_r,
            "Pearson p (adjusted)": _p(r.pearson_p_adjusted),
            "Spearman ρ": r.spearman_rho,
            "Spearman p (adjusted)": _p(r.spearman_p_adjusted),
            "n": r.n,
            "n_eff (r)": r.n_effective,
            "n_eff (ρ)": r.n_effective_spearman,
            "Pearson p (naive)": _p(r.pearson_p_naive),
            "Spearman p (naive)": _p(r.spearman_p_naive),
        }
        for r in result.rows
    ]


def _text(value: float | str) -> str:
    return value if isinstance(value, str) else ("n/a" if not math.isfinite(value) else format_number(value))


def add_correlation_section(
    parent: Any,
    scan: Scan,
    result: CorrelationResult,
    *,
    title: str = "Topography–property correlation",
) -> Section:
    """Add a topography–property correlation analysis to a report.

    Parameters
    ----------
    parent : Report or Section
        Where the section goes (anything with ``add_section``).
    scan : Scan
        The scan that was correlated (its topography and property channels are plotted).
    result : CorrelationResult
        From `scansr.correlate.correlate_scan` on `scan`.
    title : str
        Section title.

    Returns
    -------
    Section

    Raises
    ------
    ValueError
        If `scan` or `result` has the wrong type, or the scan's shape or pixel size is not the one correlated.
    UnknownChannelError
        If the scan lacks the topography or a property channel of the result.
    """
    _check(scan, result)
    top = scan.channel(result.topography)
    section = parent.add_section(title)
    n = result.rows[0].n if result.rows else int(np.isfinite(top.data).sum())
    window = f"{result.window} × {result.window} pixels" + (
        f" ({format_length(result.window * result.pixel_size[1])} × "
        f"{format_length(result.window * result.pixel_size[0])})"
        if result.pixel_size is not None
        else ""
    )
    section.add_text(
        f"Topography {result.topography!r} correlated pixel by pixel with {len(result.rows)} property "
        f"channel(s) ({', '.join(result.properties)}) over {n} pixels"
        + (f" of {result.source}" if result.source else "")
        + f". Significance: {result.significance}; local correlation in a {window} window; domains: "
        f"{result.segmentation}."
    )
    section.add_table(
        _correlation_rows(result),
        caption=(
            f"Pixel-wise correlation of {result.topography} with each property: Pearson r (linear) and "
            f"Spearman ρ (monotone), two-sided p adjusted for spatial autocorrelation "
            f"({result.significance}), the number of pixel pairs n, the effective number of independent "
            "pairs n_eff, and the naive p for comparison"
        ),
        float_format=format_number,
    )
    section.add_text(
        "Read the adjusted p. Neighbouring pixels of an image are not independent samples: a smooth image of "
        "n pixels holds only about n_eff independent values, so the naive p, which treats all n pixels as "
        "independent, is far too small and calls almost any pair of images significantly correlated. The "
        f"adjusted p ({result.significance}) tests the correlation with the effective sample size and is the "
        "one to report; the naive p is shown only to show how misleading it is."
    )

    height = top.data
    for row in result.rows:
        prop = scan.channel(row.property)
        annotation = (
            f"Pearson r = {_text(row.pearson_r)}, p (adj.) = {_text(_p(row.pearson_p_adjusted))}\n"
            f"Spearman ρ = {_text(row.spearman_rho)}, p (adj.) = {_text(_p(row.spearman_p_adjusted))}\n"
            f"n = {row.n}, n_eff = {_text(row.n_effective)}"
        )
        section.add_figure(
            scatter_figure(
                height,
                prop.data,
                x_label=result.topography,
                y_label=row.property,
                x_unit=result.topography_unit,
                y_unit=prop.unit,
                style="hist2d",
                fit_line=True,
                annotation=annotation,
                title=f"{row.property} against {result.topography}",
            ),
            caption=(
                f"{row.property} against {result.topography}: 2-D histogram of the pixel pairs (logarithmic "
                "counts) with the least-squares line."
            ),
        )

    maps = result.local_map_scans()  # in the order of result.local_maps
    defined = {
        label: map_scan
        for (label, map_scan), r_map in zip(maps.items(), result.local_maps.values(), strict=True)
        if np.isfinite(r_map).any()
    }
    if defined:
        section.add_figure(
            map_figure(defined, diverging=True),
            caption=(
                f"Local Pearson r between {result.topography} and each property in a sliding {window} "
                "window (red: positive, blue: negative; grey: undefined, e.g. a flat window). The local r "
                "is descriptive: its windows overlap and hold few independent samples."
            ),
        )
    if len(defined) < len(maps):
        undefined = [label for label in maps if label not in defined]
        section.add_text(f"No local correlation is defined anywhere for: {', '.join(undefined)}.")

    table = result.domains
    section.add_figure(
        _domain_figure(scan, result),
        caption=(
            f"{result.topography} and its {len(table.labels)} domain(s) from "
            + {
                "otsu": "multi-Otsu height classes (domain 0 is the lowest)",
                "watershed": "a watershed segmentation",
                "mask": "the user's mask",
            }.get(result.segmentation, result.segmentation)
            + "."
        ),
    )
    rows, left_out = _domain_rows(result)
    section.add_table(
        rows,
        caption=(
            "Per-domain statistics of every channel: pixel count, area, share of the labelled pixels, and "
            "mean, sample standard deviation and median of each channel"
            + (f"; the {len(rows)} largest of {len(rows) + left_out} domains" if left_out else "")
        ),
        float_format=format_number,
    )
    tests = [
        {
            "channel": t.channel,
            "domains": t.n_domains,
            "ANOVA F": t.anova_f,
            "ANOVA p (adjusted)": _p(t.anova_p_adjusted),
            "ANOVA p (naive)": _p(t.anova_p_naive),
            "Kruskal–Wallis H": t.kruskal_h,
            "Kruskal–Wallis p (adjusted)": _p(t.kruskal_p_adjusted),
            "Kruskal–Wallis p (naive)": _p(t.kruskal_p_naive),
        }
        for t in table.tests
    ]
    section.add_table(
        tests,
        caption=(
            "Do the channels differ across domains? One-way ANOVA (F) and Kruskal–Wallis (H) with the "
            "naive p and the p of a toroidal-shift randomisation test (adjusted)"
        ),
        float_format=format_number,
    )
    note = (
        "As for the correlations, read the adjusted p: it shifts each property image over the fixed domains "
        "and so keeps its spatial autocorrelation, while the naive p treats the pixels as independent."
    )
    if result.segmentation != "mask":
        note += (
            f" The domains were segmented from {result.topography} itself, so its test across them is "
            "circular (significant by construction) and says nothing."
        )
    section.add_text(note)
    return section
