"""Figures for the HTML report: image panels, profiles, 3-D surfaces, spectra and statistics plots.

Every function returns a new `matplotlib.figure.Figure` on the Agg canvas. Nothing here touches pyplot's
global state (no ``plt.figure``, no ``plt.close``), so figures never open a window, never leak, and may be
drawn from threads. `to_png` turns a figure into PNG bytes; `scansr.report.html.Report.add_figure` accepts
either.

Conventions
-----------
- Images come as `scansr.scan.Scan` objects (values in SI units, pixel size ``(dy, dx)`` in metres). Each
  image is drawn over its physical field, ``extent = (0, nx * dx, ny * dy, 0)``, so non-square pixels and
  scans of one field at different pixel counts (LR, HR, upscaled) line up. Scans without a lateral scale are
  drawn over one field measured in pixels of the finest of them (the most pixels) and get no scale bar.
- Positions (`Region`, profile lines) are ``(y, x)`` in metres from the top-left corner of the field, the same
  for every method whatever its pixel count.
- Heights are shown in nm (µm above 10 µm), other SI units with an engineering prefix; lengths on axes in nm
  or µm; spatial frequencies in 1/µm.
- Labels given by the caller are shown literally (``$`` does not start mathtext).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from matplotlib import cbook, colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from scansr.scan import Scan
from scansr.units import format_length

__all__ = [
    "GaussianFit",
    "Region",
    "box_plot_figure",
    "comparison_figure",
    "detail_region",
    "display_unit",
    "fit_gaussian",
    "histogram_figure",
    "line_profiles",
    "map_figure",
    "profile_figure",
    "pvalue_figure",
    "scale_bar_length",
    "scatter_figure",
    "spectrum_figure",
    "surface_figure",
    "to_png",
]

DEFAULT_DPI = 150
#: Colour map per unit for image panels; anything else gets ``"viridis"``.
DEFAULT_CMAPS = {"m": "afmhot", "counts": "gray"}
_ROUND_MANTISSAS = (5.0, 2.0, 1.0)
# Units that take an SI prefix when shown (metres are handled separately: heights in nm).
_PREFIXABLE = ("V", "A", "N", "Pa", "N/m", "s", "Hz", "W", "F", "C", "J", "S", "Ohm", "Ω")
_PREFIXES = (
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("µ", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
)
_OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="black")]
_LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


# --------------------------------------------------------------------------------------------------- types
class Region(NamedTuple):
    """A rectangle of the field: top-left corner ``(y, x)`` and size, in metres (pixels when unscaled)."""

    y: float
    x: float
    height: float
    width: float


class GaussianFit(NamedTuple):
    """Normal distribution fitted to samples: mean and standard deviation (samples' unit), and the count."""

    mean: float
    std: float
    n: int


class _Image(NamedTuple):
    data: np.ndarray  # values in SI units
    pixel_size: tuple[float, float]  # (dy, dx) in metres, or in pixels of the common field when unscaled
    name: str
    unit: str

    @property
    def field(self) -> tuple[float, float]:
        return (self.data.shape[0] * self.pixel_size[0], self.data.shape[1] * self.pixel_size[1])

    @property
    def extent(self) -> tuple[float, float, float, float]:
        height, width = self.field
        return (0.0, width, height, 0.0)


# --------------------------------------------------------------------------------------------------- helpers
def to_png(figure: Figure, *, dpi: float = DEFAULT_DPI) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure (left unchanged apart from its canvas).
    dpi : float
        Resolution in dots per inch.

    Returns
    -------
    bytes
        A PNG file.

    Raises
    ------
    ValueError
        If `dpi` is not positive.
    """
    if not dpi > 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def scale_bar_length(width: float, *, max_fraction: float = 1 / 3) -> float:
    """Return the longest round length (1, 2 or 5 × 10^k) that is at most `max_fraction` of `width`.

    Parameters
    ----------
    width : float
        Width of the panel's field, in metres (any unit: the result is in the same unit).
    max_fraction : float
        Largest fraction of the width the bar may cover, in (0, 1].

    Returns
    -------
    float
        The bar length; always more than ``max_fraction * width / 2.5``.

    Raises
    ------
    ValueError
        If `width` is not a positive finite number or `max_fraction` is not in (0, 1].
    """
    if not (isinstance(width, int | float | np.number) and math.isfinite(width) and width > 0):
        raise ValueError(f"width must be a positive finite length, got {width!r}")
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
    target = float(width) * max_fraction
    exponent = math.floor(math.log10(target))
    for mantissa in _ROUND_MANTISSAS:
        # The decimal string round trip removes binary noise: 5 * 10**-7 -> 5e-07 exactly as printed.
        length = float(f"{mantissa}e{exponent}")
        if length <= target * (1 + 1e-12):
            return length
    return float(f"5e{exponent - 1}")  # pragma: no cover - target >= 10**exponent always admits mantissa 1


def display_unit(unit: str, span: float) -> tuple[float, str]:
    """Choose how to show values of `unit` whose magnitude is about `span`.

    Heights (``"m"``) are shown in nm below 10 µm and in µm above; other SI units (V, A, N, Pa, N/m, ...) get
    the engineering prefix that puts `span` in [1, 1000); ``"deg"``, ``"counts"``, ``""`` and unknown units
    are left as they are.

    Parameters
    ----------
    unit : str
        SI unit of the values.
    span : float
        Typical magnitude (e.g. the largest absolute value or the range), in `unit`.

    Returns
    -------
    (float, str)
        ``(factor, label)``: divide the values by `factor` to get them in `label`.
    """
    span = abs(float(span)) if np.isfinite(span) else 0.0
    if unit == "m":
        return (1e-6, "µm") if span >= 10e-6 else (1e-9, "nm")
    if unit in _PREFIXABLE and span > 0:
        for prefix, factor in _PREFIXES:
            if span >= factor * 0.999999:
                return factor, prefix + unit
        return _PREFIXES[-1][1], _PREFIXES[-1][0] + unit
    return 1.0, unit


def _length_unit(length: float) -> tuple[float, str]:
    """Factor and symbol for lengths on an axis: nm below 1 µm, µm below 1 mm, else mm."""
    if length < 1e-6:
        return 1e-9, "nm"
    if length < 1e-3:
        return 1e-6, "µm"
    return 1e-3, "mm"


def _axis_label(name: str, unit: str) -> str:
    return _plain(f"{name} ({unit})" if unit else name)


def _plain(text: Any) -> str:
    """Make a caller's label safe for matplotlib: literal ``$``, no leading ``_`` (a legend would hide it)."""
    text = str(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(max(width, 2.0), max(height, 1.5)), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _check_mapping(items: Any, what: str) -> dict[str, Any]:
    if not isinstance(items, Mapping) or not items:
        raise ValueError(f"{what} must be a non-empty mapping of label -> value, got {type(items).__name__}")
    return {str(k): v for k, v in items.items()}


def _finite_limits(
    values: Sequence[np.ndarray], percentiles: tuple[float, float], what: str
) -> tuple[float, float]:
    flat = np.concatenate([np.ravel(v) for v in values])
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        raise ValueError(f"{what} holds no finite values (all NaN or inf)")
    lo, hi = (float(p) for p in np.percentile(flat, percentiles))
    if not hi > lo:
        pad = max(abs(lo) * 1e-6, 1e-30)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _pair(item: Any, names: tuple[str, str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Return two 1-D float arrays from a NamedTuple with fields `names` or from a pair."""
    if all(hasattr(item, n) for n in names):
        first, second = (getattr(item, n) for n in names)
    else:
        try:
            first, second = item
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a pair ({names[0]}, {names[1]})") from None
    try:
        return np.asarray(first, dtype=float).ravel(), np.asarray(second, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold numbers") from None


def _check_percentiles(percentiles: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be a pair (low, high) in [0, 100], got {percentiles!r}") from None
    if not 0 <= lo < hi <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return lo, hi


def _images(scans: Mapping[str, Any], channel: str | None, what: str = "images") -> dict[str, _Image]:
    """Pick one channel of every scan and give every image a pixel size on a common field."""
    scans = _check_mapping(scans, what)
    for label, scan in scans.items():
        if not isinstance(scan, Scan):
            raise TypeError(f"{what}[{label!r}] must be a scansr Scan, got {type(scan).__name__}")
    scaled = [scan.pixel_size is not None for scan in scans.values()]
    if any(scaled) and not all(scaled):
        unscaled = [label for label, scan in scans.items() if scan.pixel_size is None]
        raise ValueError(f"{what} mix scans with and without a pixel size; no lateral scale: {unscaled}")
    finest = max(scans.values(), key=lambda s: s.shape[0] * s.shape[1])
    out = {}
    for label, scan in scans.items():
        ch = scan.channel(channel if channel is not None else scan.default_channel)
        if scan.pixel_size is not None:
            pixel_size = scan.pixel_size
        else:  # unscaled: every image covers one field, measured in pixels of the finest image
            pixel_size = (finest.shape[0] / scan.shape[0], finest.shape[1] / scan.shape[1])
        out[label] = _Image(ch.data, pixel_size, ch.name, ch.unit)
    return out


def _default_cmap(unit: str) -> str:
    return DEFAULT_CMAPS.get(unit, "viridis")


def _show(ax: Any, image: _Image, *, factor: float, norm: Normalize, cmap: Any) -> Any:
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.imshow(
        image.data / factor, extent=image.extent, norm=norm, cmap=cmap, interpolation="antialiased"
    )


def draw_scale_bar(
    ax: Any,
    region: Region | tuple[float, float],
    *,
    max_fraction: float = 1 / 3,
    fontsize: float = 8,
    thickness: float = 0.018,
    zorder: float = 5,
) -> float:
    """Draw a round-length scale bar at the bottom left of an image panel; return its length in metres.

    Parameters
    ----------
    ax : matplotlib Axes
        An image panel drawn over its physical field (y growing downwards, as `comparison_figure` draws).
    region : Region or (height, width)
        The part of the field the axes show, in metres; ``(height, width)`` means the whole field from (0, 0).
    max_fraction : float
        Longest bar as a fraction of the shown width (`scale_bar_length`).
    fontsize, thickness, zorder : float
        Label size (points), bar thickness as a fraction of the larger side, drawing order.
    """
    if not isinstance(region, Region):
        region = Region(0.0, 0.0, float(region[0]), float(region[1]))
    length = scale_bar_length(region.width, max_fraction=max_fraction)
    margin_x = 0.05 * region.width
    bar = thickness * max(region.height, region.width)
    bottom = region.y + region.height - 0.06 * region.height  # y grows downwards on image axes
    ax.add_patch(
        Rectangle(
            (region.x + margin_x, bottom - bar),
            length,
            bar,
            facecolor="white",
            edgecolor="black",
            linewidth=0.8,
            zorder=zorder,
        )
    )
    ax.text(
        region.x + margin_x + length / 2,
        bottom - bar - 0.015 * region.height,
        format_length(length),
        color="white",
        ha="center",
        va="bottom",
        fontsize=fontsize,
        path_effects=_OUTLINE,
        zorder=zorder + 1,
    )
    return length


def _draw_scale_bar(ax: Any, region: Region, *, scaled: bool) -> None:
    """Draw `draw_scale_bar` on panels of scans that have a pixel size."""
    if scaled:
        draw_scale_bar(ax, region)


def _check_region(region: Any, field: tuple[float, float], what: str = "zoom") -> Region:
    try:
        region = Region(*(float(v) for v in region))
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a Region (y, x, height, width) in metres, got {region!r}") from None
    height, width = field
    tol = 1e-9 * max(height, width)
    if not (region.height > 0 and region.width > 0):
        raise ValueError(f"{what} must have a positive height and width, got {region!r}")
    if region.y < -tol or region.x < -tol or region.y + region.height > height + tol:
        raise ValueError(f"{what} {region!r} lies outside the field (height {height:g}, width {width:g})")
    if region.x + region.width > width + tol:
        raise ValueError(f"{what} {region!r} lies outside the field (height {height:g}, width {width:g})")
    return region


def _crop(image: _Image, region: Region) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Return the pixels of `image` covering `region` and their extent (the axes limits then cut exactly)."""
    dy, dx = image.pixel_size
    ny, nx = image.data.shape
    r0 = min(max(math.floor(region.y / dy + 1e-9), 0), ny - 1)
    c0 = min(max(math.floor(region.x / dx + 1e-9), 0), nx - 1)
    r1 = max(min(math.ceil((region.y + region.height) / dy - 1e-9), ny), r0 + 1)
    c1 = max(min(math.ceil((region.x + region.width) / dx - 1e-9), nx), c0 + 1)
    return image.data[r0:r1, c0:c1], (c0 * dx, c1 * dx, r1 * dy, r0 * dy)


def detail_region(scan: Scan, *, channel: str | None = None, fraction: float = 0.25) -> Region:
    """Choose a zoom region: the window of `fraction` of the field (per axis) with the most detail.

    Detail is the sum of the squared gradient over the window; on ties the top-left-most window wins.

    Parameters
    ----------
    scan : Scan
        Usually the high-resolution reference.
    channel : str, optional
        Channel to judge; default: the scan's default channel.
    fraction : float
        Window size as a fraction of the field's height and width, in (0, 1].

    Returns
    -------
    Region
        In metres (pixels when the scan has no pixel size).

    Raises
    ------
    ValueError
        If `fraction` is not in (0, 1].
    UnknownChannelError
        If `channel` is not a channel of the scan.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    image = _images({"scan": scan}, channel)["scan"]
    data = np.where(np.isfinite(image.data), image.data, np.nanmean(image.data))
    ny, nx = data.shape
    wy, wx = max(1, round(ny * fraction)), max(1, round(nx * fraction))
    energy = np.zeros_like(data)
    if ny > 1:
        energy += np.gradient(data, axis=0) ** 2
    if nx > 1:
        energy += np.gradient(data, axis=1) ** 2
    cumulative = np.zeros((ny + 1, nx + 1))
    cumulative[1:, 1:] = energy.cumsum(0).cumsum(1)
    sums = (
        cumulative[wy:, wx:] - cumulative[:-wy, wx:] - cumulative[wy:, :-wx] + cumulative[:-wy, :-wx]
    )  # sums[r, c] = energy over rows r..r+wy-1, cols c..c+wx-1
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    dy, dx = image.pixel_size
    return Region(float(r * dy), float(c * dx), float(wy * dy), float(wx * dx))


# --------------------------------------------------------------------------------------------------- images
def comparison_figure(
    images: Mapping[str, Scan],
    *,
    channels: str | Sequence[str] | None = None,
    zoom: Region | Sequence[float] | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    reference: str | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
    limits: Mapping[str, tuple[float, float]] | None = None,
    cmap: str | None = None,
    panel_size: float = 2.4,
) -> Figure:
    """Side-by-side image panels (LR / HR / bicubic / models), one colour scale per channel, scale bars.

    One column per image, one row per channel; with `zoom`, a row of zoomed crops (the same field for every
    image) under each channel's row, and the zoom rectangle drawn on the overview panels.

    Parameters
    ----------
    images : mapping of str to Scan
        Label -> scan, in column order (e.g. ``{"LR": lr, "HR": hr, "bicubic": up, "VDSR": sr}``). The scans
        show the same field at any pixel count.
    channels : str or sequence of str, optional
        Channel name(s), one row each; every scan must have them. Default: each scan's default channel (one
        row).
    zoom : Region, optional
        Detail region ``(y, x, height, width)`` in metres from the field's top-left corner (see
        `detail_region`).
    line : ((y0, x0), (y1, x1)), optional
        A cross-section line to draw on the overviews, in metres; its ends are marked A and B.
    reference : str, optional
        Label whose values set the colour scale (e.g. ``"HR"``); default: all images together.
    percentiles : (float, float)
        Percentiles of the values that span the colour scale (robust to spikes).
    limits : mapping of str to (float, float), optional
        Fixed colour range per channel name, in the channel's SI unit; overrides `percentiles`.
    cmap : str, optional
        Colour map; default by unit (``afmhot`` for heights, ``gray`` for SEM counts, else ``viridis``).
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `images` is empty, `reference` is not one of its labels, scans with and without pixel size are
        mixed, `zoom` lies outside the field, or a channel holds no finite value.
    UnknownChannelError
        If a scan lacks a requested channel.
    """
    percentiles = _check_percentiles(percentiles)
    labels = list(_check_mapping(images, "images"))
    if reference is not None and reference not in labels:
        raise ValueError(f"reference must be one of {labels}, got {reference!r}")
    if channels is None:
        rows: list[str | None] = [None]
    elif isinstance(channels, str):
        rows = [channels]
    else:
        rows = list(channels)
        if not rows:
            raise ValueError("channels must name at least one channel")
    per_row = [_images(images, name) for name in rows]
    first = per_row[0][labels[0]]
    field = first.field
    scaled = next(iter(images.values())).pixel_size is not None
    if zoom is not None:
        zoom = _check_region(zoom, field)
    rows_per_channel = 2 if zoom is not None else 1
    aspect = field[0] / field[1]
    zoom_aspect = zoom.height / zoom.width if zoom is not None else 0.0
    ncols = len(labels)
    height = len(rows) * (panel_size * aspect + 0.35 + (panel_size * zoom_aspect + 0.1 if zoom else 0))
    figure = _new_figure(ncols * panel_size + 1.0, height)
    axes = figure.subplots(len(rows) * rows_per_channel, ncols, squeeze=False)

    for i, row in enumerate(per_row):
        shown = [row[reference]] if reference is not None else list(row.values())
        unit = row[labels[0]].unit
        name = row[labels[0]].name
        units = {label: image.unit for label, image in row.items()}
        if len(set(units.values())) > 1:
            raise ValueError(f"one colour scale needs one unit, but channel {name!r} has units {units}")
        if limits is not None and name in limits:
            lo, hi = (float(v) for v in limits[name])
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ValueError(
                    f"limits[{name!r}] must be finite (low, high) with low < high, got {limits[name]}"
                )
        else:
            lo, hi = _finite_limits([im.data for im in shown], percentiles, f"channel {name!r}")
        factor, shown_unit = display_unit(unit, max(abs(lo), abs(hi), hi - lo))
        norm = Normalize(lo / factor, hi / factor)
        colours = colormaps[cmap or _default_cmap(unit)]
        overview_axes = axes[i * rows_per_channel]
        for j, label in enumerate(labels):
            image = row[label]
            ax = overview_axes[j]
            mappable = _show(ax, image, factor=factor, norm=norm, cmap=colours)
            ax.set_xlim(0, image.field[1])
            ax.set_ylim(image.field[0], 0)
            if i == 0:
                ax.set_title(_plain(label), fontsize=10)
            _draw_scale_bar(ax, Region(0.0, 0.0, *image.field), scaled=scaled)
            if zoom is not None:
                ax.add_patch(
                    Rectangle(
                        (zoom.x, zoom.y), zoom.width, zoom.height, fill=False, edgecolor="cyan", linewidth=1.2
                    )
                )
            if line is not None:
                _draw_line(ax, line)
        if zoom is not None:
            for j, label in enumerate(labels):
                ax = axes[i * rows_per_channel + 1][j]
                crop, extent = _crop(row[label], zoom)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.imshow(crop / factor, extent=extent, norm=norm, cmap=colours, interpolation="antialiased")
                ax.set_xlim(zoom.x, zoom.x + zoom.width)
                ax.set_ylim(zoom.y + zoom.height, zoom.y)
                for spine in ax.spines.values():
                    spine.set_edgecolor("cyan")
                    spine.set_linewidth(1.5)
                _draw_scale_bar(ax, zoom, scaled=scaled)
        figure.colorbar(
            mappable,
            ax=list(axes[i * rows_per_channel : (i + 1) * rows_per_channel].ravel()),
            label=_axis_label(name, shown_unit),
            shrink=0.9,
            aspect=25,
        )
    return figure


def _draw_line(ax: Any, line: Any) -> None:
    try:
        (y0, x0), (y1, x1) = ((float(a), float(b)) for a, b in line)
    except (TypeError, ValueError):
        raise ValueError(f"line must be ((y0, x0), (y1, x1)) in metres, got {line!r}") from None
    ax.plot([x0, x1], [y0, y1], color="cyan", linewidth=1.2)
    for (y, x), tag in (((y0, x0), "A"), ((y1, x1), "B")):
        ax.text(x, y, tag, color="cyan", fontsize=8, ha="center", va="center", path_effects=_OUTLINE)


# --------------------------------------------------------------------------------------------------- profiles
def line_profiles(
    images: Mapping[str, Scan],
    start: Sequence[float],
    end: Sequence[float],
    *,
    sample: Callable[..., Any] | None = None,
    channel: str | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sample every image along one physical line, with a profile function.

    The line is given once in metres, so the same cross-section is taken from images of any pixel count.

    Parameters
    ----------
    images : mapping of str to Scan
        Label -> scan of the same field.
    start, end : (float, float)
        ``(y, x)`` of the line's ends, in metres from the top-left corner of the field (for scans without a
        pixel size: in pixels of the finest image, and the distances come back in those pixels).
    sample : callable, optional
        ``sample(image, start_px, end_px, *, pixel_size) -> (distance_m, values)``; default
        `scansr.metrics.roughness.profile` (linear interpolation, one sample per pixel); pass e.g.
        ``functools.partial(profile, width=3)`` to average a band. It receives the channel's 2-D array, the
        ends in that image's pixel coordinates ``(row, col)`` (pixel centres at integers, so
        ``col = x / dx - 0.5``) and the image's ``(dy, dx)``.
    channel : str, optional
        Channel to sample; default: each scan's default channel.

    Returns
    -------
    dict of str to (numpy.ndarray, numpy.ndarray)
        Label -> ``(distance_m, values)`` as `sample` returned them, ready for `profile_figure`.

    Raises
    ------
    ValueError
        If `images` is empty or `start` / `end` are not pairs of finite numbers.
    UnknownChannelError
        If a scan lacks `channel`.
    """
    ends = []
    for what, point in (("start", start), ("end", end)):
        try:
            y, x = (float(v) for v in point)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a pair (y, x) in metres, got {point!r}") from None
        if not (math.isfinite(y) and math.isfinite(x)):
            raise ValueError(f"{what} must be finite, got {point!r}")
        ends.append((y, x))
    if sample is None:
        from scansr.metrics.roughness import profile as sample
    out = {}
    for label, image in _images(images, channel).items():
        dy, dx = image.pixel_size
        (y0, x0), (y1, x1) = ends
        result = sample(
            image.data, (y0 / dy - 0.5, x0 / dx - 0.5), (y1 / dy - 0.5, x1 / dx - 0.5), pixel_size=(dy, dx)
        )
        distance, values = _pair(result, ("distance_m", "values"), f"the profile of {label!r}")
        out[label] = (distance, values)
    return out


def _line_style(index: int, label: str, reference: str | None) -> dict[str, Any]:
    if label == reference:
        return {"color": "black", "linewidth": 1.8, "zorder": 5}
    return {"color": _LINE_COLOURS[index % len(_LINE_COLOURS)], "linewidth": 1.2}


def profile_figure(
    profiles: Mapping[str, tuple[Any, Any]],
    *,
    unit: str = "m",
    quantity: str = "height",
    distance_unit: str = "m",
    reference: str | None = None,
    title: str | None = None,
    width: float = 7.0,
    height: float = 3.2,
) -> Figure:
    """Cross-section profiles of several images along one line, on one set of axes.

    Parameters
    ----------
    profiles : mapping of str to (array_like, array_like)
        Label -> ``(distance_m, values)``: distance along the line in metres and the values in `unit` (e.g.
        the output of `line_profiles`, or ``scansr.metrics.roughness.Profile`` objects). Profiles with few
        samples (an LR scan) are drawn with markers; NaN samples leave gaps.
    unit : str
        SI unit of the values (heights: ``"m"``, shown in nm).
    quantity : str
        Name of the values for the y axis label.
    distance_unit : {"m", "px"}
        Unit of the distances: metres (shown in nm or µm) or pixels (scans without a pixel size).
    reference : str, optional
        Label drawn in thick black (the HR scan).
    title : str, optional
        Axes title.
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `profiles` is empty, a distance and value array differ in length, or nothing is finite.
    """
    profiles = _check_mapping(profiles, "profiles")
    if distance_unit not in ("m", "px"):
        raise ValueError(f"distance_unit must be one of ('m', 'px'), got {distance_unit!r}")
    if reference is not None and reference not in profiles:
        raise ValueError(f"reference must be one of {list(profiles)}, got {reference!r}")
    clean = {}
    for label, pair in profiles.items():
        distance, values = _pair(pair, ("distance_m", "values"), f"profiles[{label!r}]")
        if distance.shape != values.shape:
            raise ValueError(
                f"profiles[{label!r}]: distance and values differ in size ({distance.size} vs {values.size})"
            )
        clean[label] = (distance, values)
    all_d = np.concatenate([d for d, _ in clean.values()])
    all_v = np.concatenate([v for _, v in clean.values()])
    if not np.isfinite(all_d).any() or not np.isfinite(all_v).any():
        raise ValueError("profiles hold no finite values")
    if distance_unit == "m":
        length_factor, length_unit = _length_unit(float(np.max(np.abs(all_d[np.isfinite(all_d)]))))
    else:
        length_factor, length_unit = 1.0, "px"
    finite_v = all_v[np.isfinite(all_v)]
    factor, shown_unit = display_unit(unit, max(float(np.ptp(finite_v)), float(np.max(np.abs(finite_v)))))
    figure = _new_figure(width, height)
    ax = figure.add_subplot()
    for index, (label, (distance, values)) in enumerate(clean.items()):
        style = _line_style(index, label, reference)
        marker = "o" if distance.size <= 48 else None
        ax.plot(
            distance / length_factor,
            values / factor,
            label=_plain(label),
            marker=marker,
            markersize=3,
            **style,
        )
    ax.set_xlabel(f"distance ({length_unit})")
    ax.set_ylabel(_axis_label(quantity, shown_unit))
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure


# --------------------------------------------------------------------------------------------------- 3-D
def _decimate(data: np.ndarray, max_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Block-average `data` so that neither side exceeds `max_size`; return it and the block (fy, fx)."""
    ny, nx = data.shape
    fy, fx = max(1, math.ceil(ny / max_size)), max(1, math.ceil(nx / max_size))
    if fy == fx == 1:
        return data, (1, 1)
    my, mx = (ny // fy) * fy, (nx // fx) * fx
    blocks = data[:my, :mx].reshape(my // fy, fy, mx // fx, fx)
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(1, 3)), (fy, fx)


def surface_figure(
    images: Mapping[str, Scan],
    *,
    channel: str | None = None,
    max_size: int = 128,
    true_aspect: bool = False,
    z_exaggeration: float = 1.0,
    reference: str | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
    cmap: str | None = None,
    panel_size: float = 3.2,
    columns: int = 4,
    elevation: float = 35.0,
    azimuth: float = -60.0,
) -> Figure:
    """3-D surface views of one channel of several scans, with shared z limits and colours.

    Each surface is block-averaged to at most ``max_size`` × ``max_size`` points for speed. The panel title
    states the vertical exaggeration: with `true_aspect` the z axis is drawn `z_exaggeration` times its true
    scale relative to x and y; otherwise the box height is 0.4 × its larger side and the resulting
    exaggeration is stated.

    Parameters
    ----------
    images : mapping of str to Scan
        Label -> scan of the same field.
    channel : str, optional
        Channel to show; default: each scan's default channel.
    max_size : int
        Largest number of points per side after decimation, >= 2.
    true_aspect : bool
        Draw x, y and z to one scale (times `z_exaggeration`).
    z_exaggeration : float
        Vertical exaggeration used with `true_aspect`, > 0.
    reference : str, optional
        Label whose values set the z and colour range; default: all images.
    percentiles : (float, float)
        Percentiles of the values that span z.
    cmap : str, optional
        Colour map; default by unit as in `comparison_figure`.
    panel_size : float
        Size of one panel in inches.
    columns : int
        Panels per row.
    elevation, azimuth : float
        View angles in degrees.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If an option is out of range, `reference` is not a label, or a channel holds no finite value.
    UnknownChannelError
        If a scan lacks `channel`.
    """
    if not (isinstance(max_size, int | np.integer) and max_size >= 2):
        raise ValueError(f"max_size must be an integer >= 2, got {max_size!r}")
    if not (math.isfinite(z_exaggeration) and z_exaggeration > 0):
        raise ValueError(f"z_exaggeration must be a positive number, got {z_exaggeration!r}")
    if not (isinstance(columns, int | np.integer) and columns >= 1):
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    percentiles = _check_percentiles(percentiles)
    shown = _images(images, channel)
    labels = list(shown)
    if reference is not None and reference not in labels:
        raise ValueError(f"reference must be one of {labels}, got {reference!r}")
    scaled = next(iter(images.values())).pixel_size is not None
    basis = [shown[reference].data] if reference is not None else [im.data for im in shown.values()]
    lo, hi = _finite_limits(basis, percentiles, "surface values")
    first = shown[labels[0]]
    unit = first.unit
    factor, z_unit = display_unit(unit, max(abs(lo), abs(hi), hi - lo))
    field_h, field_w = first.field
    if scaled:
        length_factor, length_unit = _length_unit(max(field_h, field_w))
    else:
        length_factor, length_unit = 1.0, "px"
    ncols = min(columns, len(labels))
    nrows = math.ceil(len(labels) / ncols)
    figure = _new_figure(ncols * (panel_size + 0.3), nrows * panel_size * 0.85)
    figure.get_layout_engine().set(
        rect=(0.0, 0.0, 1.0 - 0.35 / (ncols * (panel_size + 0.3)), 1.0)
    )  # z label room
    colours = colormaps[cmap or _default_cmap(unit)]
    norm = Normalize(lo / factor, hi / factor)
    z_range = hi - lo
    if true_aspect:
        if unit != "m" or not scaled:
            raise ValueError("true_aspect needs heights in metres on a scan with a pixel size")
        box_z = z_range * z_exaggeration
        exaggeration = z_exaggeration
    else:
        box_z = 0.4 * max(field_h, field_w)
        exaggeration = box_z / z_range if unit == "m" and scaled else float("nan")
    for index, label in enumerate(labels):
        image = shown[label]
        data, (fy, fx) = _decimate(image.data, int(max_size))
        dy, dx = image.pixel_size[0] * fy, image.pixel_size[1] * fx
        ny, nx = data.shape
        x = (np.arange(nx) + 0.5) * dx
        y = field_h - (np.arange(ny) + 0.5) * dy  # row 0 (top of the image) at the back of the box
        xx, yy = np.meshgrid(x / length_factor, y / length_factor)
        z = np.clip(data, lo, hi) / factor
        ax = figure.add_subplot(nrows, ncols, index + 1, projection="3d")
        ax.plot_surface(
            xx,
            yy,
            z,
            cmap=colours,
            norm=norm,
            rcount=ny,
            ccount=nx,
            linewidth=0,
            antialiased=False,
            shade=True,
        )
        ax.set_zlim(lo / factor, hi / factor)
        ax.set_box_aspect((field_w, field_h, box_z), zoom=1.05)
        ax.zaxis.set_major_locator(MaxNLocator(4))
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_xlabel(f"x ({length_unit})", fontsize=7, labelpad=-6)
        ax.set_ylabel(f"y ({length_unit})", fontsize=7, labelpad=-6)
        ax.set_zlabel(_axis_label(image.name, z_unit), fontsize=7, labelpad=-4)
        ax.tick_params(labelsize=6, pad=-2)
        if math.isfinite(exaggeration):
            note = f"z ×{exaggeration:.3g}" + (
                " (true aspect)" if true_aspect and z_exaggeration == 1 else ""
            )
        else:
            note = "z not to scale"
        ax.set_title(f"{_plain(label)}\n{note}", fontsize=9)
    return figure


# --------------------------------------------------------------------------------------------------- spectra
def spectrum_figure(
    spectra: Mapping[str, tuple[Any, Any]],
    *,
    power_unit: str = "",
    frequency_unit: str = "1/m",
    reference: str | None = None,
    markers: Mapping[str, float] | None = None,
    title: str | None = None,
    width: float = 6.0,
    height: float = 3.8,
) -> Figure:
    """Radially averaged power spectra on log-log axes, spatial frequency in 1/µm (or 1/px).

    Parameters
    ----------
    spectra : mapping of str to (array_like, array_like)
        Label -> ``(freq_per_m, power)``: spatial frequency in cycles per metre and the power, or
        ``scansr.metrics.spectral.RadialSpectrum`` objects. Points with frequency <= 0 or power <= 0 (or not
        finite) are left out.
    power_unit : str
        Unit of the power for the axis label (e.g. ``"m⁴"`` for the PSD of heights); empty: arbitrary units.
    frequency_unit : {"1/m", "1/px"}
        Unit of the frequencies: cycles per metre (shown per µm) or per pixel (scans without a pixel size).
    reference : str, optional
        Label drawn in thick black (the HR scan).
    markers : mapping of str to float, optional
        Vertical dotted lines at named frequencies in 1/m (e.g. ``{"LR Nyquist": 1 / (2 * dx_lr)}``).
    title : str, optional
        Axes title.
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `spectra` is empty, arrays differ in length, or a spectrum has no positive point.
    """
    spectra = _check_mapping(spectra, "spectra")
    if frequency_unit not in ("1/m", "1/px"):
        raise ValueError(f"frequency_unit must be one of ('1/m', '1/px'), got {frequency_unit!r}")
    scale = 1e-6 if frequency_unit == "1/m" else 1.0  # cycles per µm, or per pixel as given
    if reference is not None and reference not in spectra:
        raise ValueError(f"reference must be one of {list(spectra)}, got {reference!r}")
    figure = _new_figure(width, height)
    ax = figure.add_subplot()
    for index, (label, pair) in enumerate(spectra.items()):
        freq, power = _pair(pair, ("frequency", "power"), f"spectra[{label!r}]")
        if freq.shape != power.shape:
            raise ValueError(
                f"spectra[{label!r}]: frequency and power differ in length ({freq.size} != {power.size})"
            )
        keep = np.isfinite(freq) & np.isfinite(power) & (freq > 0) & (power > 0)
        if not keep.any():
            raise ValueError(f"spectra[{label!r}] has no point with positive frequency and power")
        ax.loglog(
            freq[keep] * scale, power[keep], label=_plain(label), **_line_style(index, label, reference)
        )
    for name, frequency in (markers or {}).items():
        ax.axvline(float(frequency) * scale, color="grey", linestyle=":", linewidth=1)
        ax.text(
            float(frequency) * scale,
            0.98,
            f" {_plain(name)}",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            color="grey",
        )
    ax.set_xlabel("spatial frequency (1/µm)" if frequency_unit == "1/m" else "spatial frequency (1/px)")
    ax.set_ylabel(_axis_label("power", power_unit) if power_unit else "power (arb. units)")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure


# ------------------------------------------------------------------------------------------------ statistics
def box_plot_figure(
    values: Mapping[str, Sequence[float]],
    *,
    metric: str,
    unit: str = "",
    lower_is_better: bool | None = None,
    title: str | None = None,
    show_points: bool = True,
    width: float | None = None,
    height: float = 3.4,
) -> Figure:
    """Box plot of one metric per method, with the individual values as points.

    Parameters
    ----------
    values : mapping of str to sequence of float
        Method -> per-image values of the metric, in `unit`. NaN values are left out.
    metric : str
        Metric name for the y axis (e.g. ``"PSNR"``).
    unit : str
        Unit of the values (``"dB"``, ``""``; ``"m"`` is shown in nm).
    lower_is_better : bool, optional
        Adds "lower is better" / "higher is better" to the axis label.
    title : str, optional
        Axes title.
    show_points : bool
        Overlay every value (spread evenly across the box width, no randomness).
    width, height : float
        Figure size in inches; default width grows with the number of methods.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `values` is empty or a method has no finite value.
    """
    values = _check_mapping(values, "values")
    data = {}
    for label, v in values.items():
        array = np.asarray(v, dtype=float).ravel()
        array = array[np.isfinite(array)]
        if array.size == 0:
            raise ValueError(f"values[{label!r}] has no finite value")
        data[label] = array
    span = max(float(np.max(np.abs(a))) for a in data.values())
    factor, shown_unit = display_unit(unit, span)
    figure = _new_figure(width if width is not None else max(3.5, 1.0 + 0.9 * len(data)), height)
    ax = figure.add_subplot()
    series = [a / factor for a in data.values()]
    for i, array in enumerate(series, start=1):
        _draw_box(ax, i, array, show_fliers=not show_points)
    ax.set_xticks(range(1, len(series) + 1), [_plain(k) for k in data])
    ax.set_xlim(0.4, len(series) + 0.6)
    if show_points:
        for i, array in enumerate(series, start=1):
            offsets = np.linspace(-0.18, 0.18, array.size) if array.size > 1 else np.zeros(1)
            ax.plot(
                i + offsets, array, "o", markersize=3, alpha=0.7, color=_LINE_COLOURS[(i - 1) % 8], zorder=4
            )
    label = _axis_label(metric, shown_unit)
    if lower_is_better is not None:
        label += " — lower is better" if lower_is_better else " — higher is better"
    ax.set_ylabel(label)
    ax.grid(True, axis="y", linewidth=0.4, alpha=0.5)
    if len(data) > 4:
        ax.tick_params(axis="x", labelrotation=30)
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure


def _draw_box(ax: Any, position: float, values: np.ndarray, *, show_fliers: bool, width: float = 0.6) -> None:
    """Draw one Tukey box (quartiles, median, whiskers at 1.5 IQR) from primitives.

    ``Axes.boxplot`` reads every rcParam, which makes matplotlib import pyplot to resolve the backend; drawing
    the box here keeps this module free of pyplot.
    """
    stats = cbook.boxplot_stats(values, whis=1.5)[0]
    half = width / 2
    ax.add_patch(
        Rectangle(
            (position - half, stats["q1"]),
            width,
            stats["q3"] - stats["q1"],
            facecolor="#f2f4f7",
            edgecolor="black",
            linewidth=1,
            zorder=2,
        )
    )
    ax.plot([position - half, position + half], [stats["med"]] * 2, color="black", linewidth=1.6, zorder=3)
    for end, low in ((stats["whishi"], stats["q3"]), (stats["whislo"], stats["q1"])):
        ax.plot([position, position], [low, end], color="black", linewidth=1, zorder=2)
        ax.plot([position - half / 2, position + half / 2], [end, end], color="black", linewidth=1, zorder=2)
    if show_fliers and len(stats["fliers"]):
        ax.plot(
            np.full(len(stats["fliers"]), position),
            stats["fliers"],
            "o",
            mfc="none",
            color="black",
            markersize=4,
        )


def _format_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    if p < 1e-4:
        return f"{p:.0e}"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def pvalue_figure(
    pvalues: Any,
    methods: Sequence[str],
    *,
    alpha: float = 0.05,
    title: str | None = None,
    floor: float = 1e-6,
) -> Figure:
    """Heat map of pairwise p-values (e.g. Tukey HSD) with the value written in each cell.

    Colour is ``log10(p)`` from `floor` (dark) to 1 (light); cells with ``p < alpha`` are written in bold with
    a star. The diagonal and NaN cells are left grey.

    Parameters
    ----------
    pvalues : array_like, shape (k, k)
        ``pvalues[i, j]``: p-value of the difference between method i and method j, in [0, 1] or NaN.
    methods : sequence of str
        The k method names, in the matrix's order.
    alpha : float
        Significance level, in (0, 1).
    title : str, optional
        Axes title.
    floor : float
        Smallest p-value the colour scale resolves, in (0, alpha).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the matrix is not square, does not match `methods`, or holds values outside [0, 1].
    """
    matrix = np.asarray(pvalues, dtype=float)
    names = [str(m) for m in methods]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"pvalues must be a square matrix, got shape {matrix.shape}")
    if matrix.shape[0] != len(names):
        raise ValueError(
            f"pvalues is {matrix.shape[0]}x{matrix.shape[0]} but {len(names)} methods were named"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    finite = matrix[np.isfinite(matrix)]
    if np.any((finite < 0) | (finite > 1)) or np.any(np.isinf(matrix)):
        raise ValueError("pvalues must lie in [0, 1] (or be NaN)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not 0 < floor < alpha:
        raise ValueError(f"floor must be in (0, alpha), got {floor!r}")
    k = len(names)
    shown = matrix.copy()
    np.fill_diagonal(shown, np.nan)
    size = max(3.2, 1.0 + 0.75 * k)
    figure = _new_figure(size + 0.8, size)
    ax = figure.add_subplot()
    colours = colormaps["viridis"].with_extremes(bad="#dddddd")
    image = ax.imshow(
        np.ma.masked_invalid(np.clip(shown, floor, 1.0)),
        cmap=colours,
        norm=LogNorm(floor, 1.0),
        aspect="equal",
    )
    fontsize = 9 if k <= 6 else 7
    for i in range(k):
        for j in range(k):
            if i == j:
                ax.text(j, i, "—", ha="center", va="center", fontsize=fontsize, color="#666666")
                continue
            p = float(shown[i, j])
            significant = math.isfinite(p) and p < alpha
            text = _format_p(p) + ("*" if significant else "")
            light = math.isfinite(p) and p > 10 ** (0.5 * math.log10(floor))
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                fontweight="bold" if significant else "normal",
                color="black" if light or not math.isfinite(p) else "white",
            )
    ax.set_xticks(
        range(k), [_plain(n) for n in names], rotation=30 if k > 3 else 0, ha="right" if k > 3 else "center"
    )
    ax.set_yticks(range(k), [_plain(n) for n in names])
    figure.colorbar(image, ax=ax, label=f"p-value (* p < {alpha:g})", shrink=0.8)
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure


def map_figure(
    maps: Mapping[str, Scan],
    *,
    channel: str | None = None,
    diverging: bool | None = None,
    percentile: float = 99.5,
    cmap: str | None = None,
    panel_size: float = 3.0,
) -> Figure:
    """Per-pixel maps (consistency error, uncertainty), each with its own colour bar, in nm for heights.

    Signed maps (consistency error: enhanced-then-degraded minus measured) use a diverging colour map centred
    on zero with symmetric limits; non-negative maps (uncertainty: spread of the self-ensemble) a sequential
    one from zero.

    Parameters
    ----------
    maps : mapping of str to Scan
        Title -> scan holding the map (values in SI units, e.g. metres).
    channel : str, optional
        Channel to show; default: each scan's default channel.
    diverging : bool, optional
        Force a diverging (True) or sequential (False) colour map; default: diverging when a map has negative
        values.
    percentile : float
        The colour limit is this percentile of ``|values|`` (robust to a few extreme pixels), in (0, 100].
    cmap : str, optional
        Colour map; default ``RdBu_r`` (diverging) or ``magma`` (sequential).
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `maps` is empty, `percentile` is out of range, or a map holds no finite value.
    UnknownChannelError
        If a scan lacks `channel`.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    shown = {}
    for label, scan in _check_mapping(maps, "maps").items():
        shown[label] = _images({label: scan}, channel, "maps")[label]  # each map on its own field
    aspect = max(im.field[0] / im.field[1] for im in shown.values())
    figure = _new_figure(len(shown) * (panel_size + 0.6), panel_size * aspect + 0.5)
    axes = figure.subplots(1, len(shown), squeeze=False)[0]
    for ax, (label, image) in zip(axes, shown.items(), strict=True):
        finite = image.data[np.isfinite(image.data)]
        if finite.size == 0:
            raise ValueError(f"map {label!r} holds no finite values")
        signed = bool(np.any(finite < 0)) if diverging is None else diverging
        bound = float(np.percentile(np.abs(finite), percentile)) or float(np.max(np.abs(finite))) or 1e-30
        factor, shown_unit = display_unit(image.unit, bound)
        if signed:
            norm: Normalize = TwoSlopeNorm(0.0, -bound / factor, bound / factor)
            colours = colormaps[cmap or "RdBu_r"]
        else:
            low = min(0.0, float(np.percentile(finite, 100 - percentile)))
            norm = Normalize(low / factor, bound / factor)
            colours = colormaps[cmap or "magma"]
        mappable = _show(ax, image, factor=factor, norm=norm, cmap=colours.with_extremes(bad="#bbbbbb"))
        ax.set_title(_plain(label), fontsize=10)
        _draw_scale_bar(
            ax, Region(0.0, 0.0, *image.field), scaled=next(iter(maps.values())).pixel_size is not None
        )
        figure.colorbar(mappable, ax=ax, label=_axis_label(image.name, shown_unit), shrink=0.85)
    return figure


def scatter_figure(
    x: Any,
    y: Any,
    *,
    x_label: str,
    y_label: str,
    x_unit: str = "",
    y_unit: str = "",
    style: str = "auto",
    bins: int = 128,
    fit_line: bool = False,
    annotation: str | None = None,
    title: str | None = None,
    width: float = 4.8,
    height: float = 4.0,
) -> Figure:
    """Pixel-wise scatter or 2-D histogram of two quantities (e.g. topography against adhesion).

    Parameters
    ----------
    x, y : array_like
        Paired values of any equal shape (flattened), in SI units; pairs with a NaN are left out.
    x_label, y_label : str
        Names of the quantities.
    x_unit, y_unit : str
        Their SI units (``"m"`` is shown in nm, other units with an SI prefix).
    style : {"auto", "hist2d", "scatter"}
        2-D histogram with logarithmic counts, or points; ``"auto"`` draws points below 5000 pairs.
    bins : int
        Histogram bins per axis, >= 2.
    fit_line : bool
        Overlay the least-squares straight line ``y = a x + b``.
    annotation : str, optional
        Text in the top-left corner (e.g. ``"Pearson r = 0.82, p < 1e-10"``).
    title : str, optional
        Axes title.
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the shapes differ, `style` or `bins` is invalid, or fewer than two finite pairs remain.
    """
    styles = ("auto", "hist2d", "scatter")
    if style not in styles:
        raise ValueError(f"style must be one of {styles}, got {style!r}")
    if not (isinstance(bins, int | np.integer) and bins >= 2):
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have one shape, got {xs.shape} and {ys.shape}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size < 2:
        raise ValueError(f"x and y need at least two finite pairs, got {xs.size}")
    fx, x_shown = display_unit(x_unit, float(np.max(np.abs(xs))))
    fy, y_shown = display_unit(y_unit, float(np.max(np.abs(ys))))
    xs, ys = xs / fx, ys / fy
    figure = _new_figure(width, height)
    ax = figure.add_subplot()
    if style == "scatter" or (style == "auto" and xs.size < 5000):
        ax.plot(xs, ys, ".", markersize=2, alpha=0.5, color=_LINE_COLOURS[0])
    else:
        counts, x_edges, y_edges = np.histogram2d(xs, ys, bins=int(bins))
        mesh = ax.pcolormesh(
            x_edges,
            y_edges,
            np.ma.masked_equal(counts.T, 0),
            norm=LogNorm(1, max(counts.max(), 2)),
            cmap="viridis",
        )
        figure.colorbar(mesh, ax=ax, label="pixels")
    if fit_line and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.array([xs.min(), xs.max()])
        ax.plot(grid, slope * grid + intercept, color="#d62728", linewidth=1.2, label="least-squares line")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    if annotation:
        ax.text(
            0.02,
            0.98,
            _plain(annotation),
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
    ax.set_xlabel(_axis_label(x_label, x_shown))
    ax.set_ylabel(_axis_label(y_label, y_shown))
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure


def fit_gaussian(values: Any) -> GaussianFit:
    """Fit a normal distribution to samples by maximum likelihood (mean, and std with ddof=1 for n > 1).

    Parameters
    ----------
    values : array_like
        Samples in any unit; NaN left out.

    Returns
    -------
    GaussianFit
        ``(mean, std, n)``.

    Raises
    ------
    ValueError
        If there is no finite sample.
    """
    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError("values hold no finite sample")
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return GaussianFit(float(np.mean(array)), std, int(array.size))


def histogram_figure(
    samples: Mapping[str, Any],
    *,
    quantity: str,
    unit: str = "m",
    bins: int | None = None,
    fit: bool = True,
    title: str | None = None,
    width: float = 6.0,
    height: float = 3.6,
) -> Figure:
    """Overlaid histograms (shared bins) of one quantity for several sets, each with its fitted Gaussian.

    Parameters
    ----------
    samples : mapping of str to array_like
        Label -> samples (e.g. gap widths of input, output and target) in `unit`; NaN left out.
    quantity : str
        Name of the quantity for the x axis.
    unit : str
        SI unit of the samples (``"m"`` shown in nm).
    bins : int, optional
        Number of bins over the common range; default from the Freedman–Diaconis rule of all samples, 5 to 60.
    fit : bool
        Draw each set's Gaussian (`fit_gaussian`), scaled to its counts, with mean and σ in the legend.
    title : str, optional
        Axes title.
    width, height : float
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `samples` is empty, a set has no finite sample, or `bins` < 1.
    """
    samples = _check_mapping(samples, "samples")
    if bins is not None and not (isinstance(bins, int | np.integer) and bins >= 1):
        raise ValueError(f"bins must be an integer >= 1 or None, got {bins!r}")
    data = {}
    for label, v in samples.items():
        array = np.asarray(v, dtype=float).ravel()
        array = array[np.isfinite(array)]
        if array.size == 0:
            raise ValueError(f"samples[{label!r}] has no finite sample")
        data[label] = array
    everything = np.concatenate(list(data.values()))
    factor, shown_unit = display_unit(unit, float(np.max(np.abs(everything))))
    lo, hi = float(everything.min()), float(everything.max())
    if not hi > lo:
        pad = max(abs(lo) * 0.05, 1e-30)
        lo, hi = lo - pad, hi + pad
    if bins is None:
        edges_auto = np.histogram_bin_edges(everything, bins="fd", range=(lo, hi))
        bins = int(min(max(edges_auto.size - 1, 5), 60))
    edges = np.linspace(lo, hi, int(bins) + 1)
    bin_width = (hi - lo) / int(bins)
    figure = _new_figure(width, height)
    ax = figure.add_subplot()
    grid = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), 400)
    for index, (label, array) in enumerate(data.items()):
        colour = _LINE_COLOURS[index % len(_LINE_COLOURS)]
        legend = _plain(label)
        if fit:
            g = fit_gaussian(array)
            legend += (
                f": μ = {g.mean / factor:.3g} {shown_unit}, σ = {g.std / factor:.3g} {shown_unit}, n = {g.n}"
            )
        ax.hist(
            array / factor, bins=edges / factor, histtype="step", linewidth=1.4, color=colour, label=legend
        )
        if fit and g.std > 0:
            density = np.exp(-0.5 * ((grid - g.mean) / g.std) ** 2) / (g.std * math.sqrt(2 * math.pi))
            ax.plot(grid / factor, density * g.n * bin_width, color=colour, linestyle="--", linewidth=1)
    ax.set_xlabel(_axis_label(quantity, shown_unit))
    ax.set_ylabel("count")
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(_plain(title), fontsize=10)
    return figure
