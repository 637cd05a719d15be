"""Make a blind expert survey: one sheet per sample, ground truth left, shuffled numbered outputs, a key.

This reproduces the survey of the real-pair study (Beilstein J. Nanotechnol. 2025, "Experts survey", Fig. 5):
for every sample one row of images, the experimental ground truth leftmost and labelled, then the outputs of
the methods, shuffled and labelled 1..k, rendered at 1000 dpi so that raters can zoom in; the raters do not
see the key. Here every panel also shares the crop, the colour scale (robust percentiles of the ground truth)
and carries a scale bar.

Folder written by `make_survey`::

    OUT/survey-key.json         the key (keep it from the raters)
    OUT/survey.pdf              every sheet, one page each
    OUT/sheets/S01.png ...      every sheet as a PNG at `dpi`
    OUT/answers/answers-<rater>.csv   a blank answer sheet per rater
    OUT/README.txt              instructions and the 1-6 scale

Sheet geometry: each panel is `panel_size` inches wide (``p`` = 1.5 by default) and ``p·h/w`` high for a
field of height h and width w; with k methods a sheet is ``0.82 + (p + 0.06)(k + 1)`` by ``0.6 + p·h/w``
inches, times `dpi` pixels. At 1000 dpi, three methods and a square field that is 7060 × 2100 pixels (a
few hundred kB to a few MB), a 512-pixel field drawn with about 2.9 PNG pixels per data pixel (nearest
neighbour, no smoothing). The PDF embeds every panel at its own pixel count. The key records each PNG's
pixel size and the pixel box of every panel.

Pairs of scans: the low-resolution scan is upscaled by each method by the integer factor ``s`` that brings
its pixel size to the ground truth's. When the ground truth is exactly the same field at ``s`` times the
pixels (a simulated pair, or a real pair without drift), the outputs lie on its grid as they are. Otherwise
(a zoom, drift, or ``register="always"``) the bicubic upscale is aligned to the ground truth with
`scansr.register.register_scans`, and that one transform warps every method's output onto the ground
truth's grid, cropped to the region all of them cover: every method is resampled the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from scansr._atomic import atomic_path, atomic_write_text
from scansr.interpolate import upscale_scan
from scansr.methods import Method, resolve_methods
from scansr.preprocess import level_plane
from scansr.register import METHODS as REGISTER_METHODS
from scansr.register import Registration, RegistrationError, register_scans, warp
from scansr.report.figures import DEFAULT_CMAPS, display_unit, draw_scale_bar
from scansr.scan import Channel, OutputExistsError, Scan, ScanWriteError
from scansr.survey.answers import answer_file_name, blank_answer_sheet, check_rater_names
from scansr.survey.key import (
    ANCHORS,
    CRITERIA,
    KEY_NAME,
    SCORES,
    SheetRecord,
    SurveyKey,
    file_sha256,
    write_key,
)

__all__ = [
    "GROUND_TRUTH_LABEL",
    "LEVELS",
    "REGISTER_CHOICES",
    "PreparedSample",
    "make_survey",
    "prepare_sample",
    "sheet_figure",
    "shuffle_assignments",
]

logger = logging.getLogger(__name__)

GROUND_TRUTH_LABEL = "Ground truth"
LEVELS = ("plane", "median", "none")
REGISTER_CHOICES = ("auto", "always", "never")
PDF_NAME = "survey.pdf"
README_NAME = "README.txt"
# Relative mismatch of the two fields (and of the pixel-size ratio to the integer scale) below which a pair is
# taken as the same field without registration.
_SAME_FIELD_RTOL = 0.01
_MIN_PANEL = 8
# Pearson correlation of the levelled ground truth and registered bicubic upscale below which a warning says
# that the alignment may have failed.
_MIN_CORRELATION = 0.8
_OUTLINE = [patheffects.withStroke(linewidth=1.6, foreground="black")]

SampleInput = str | Path | Scan


class PreparedSample(NamedTuple):
    """Ground truth and method outputs of one sample on one pixel grid (one channel each)."""

    ground_truth: Scan
    """The ground truth, cropped."""
    outputs: dict[str, Scan]
    """Method name → its upscaled output on the ground truth's grid and crop."""
    scale: int
    """Upscaling factor applied to the low-resolution scan."""
    registration: Registration | None
    """Transform of the upscaled grid onto the ground truth's grid, or None when none was needed."""
    box: tuple[int, int, int, int]
    """``(y0, y1, x0, x1)``: the rows and columns of the ground-truth file shown."""


# --------------------------------------------------------------------------------------------------- checks
def _check_crop(crop: object) -> tuple[int, int, int, int] | None:
    if crop is None:
        return None
    try:
        values = tuple(crop)  # type: ignore[arg-type]
    except TypeError:
        values = ()
    if len(values) != 4 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"crop must be (y0, y1, x0, x1) in ground-truth pixels, got {crop!r}")
    y0, y1, x0, x1 = (int(v) for v in values)
    if not (0 <= y0 < y1 and 0 <= x0 < x1) or y1 - y0 < _MIN_PANEL or x1 - x0 < _MIN_PANEL:
        raise ValueError(
            f"crop (y0, y1, x0, x1) must satisfy 0 <= y0 < y1, 0 <= x0 < x1 and cover at least "
            f"{_MIN_PANEL} x {_MIN_PANEL} pixels, got {crop!r}"
        )
    return (y0, y1, x0, x1)


def _check_percentiles(percentiles: object) -> tuple[float, float]:
    try:
        lo, hi = (float(p) for p in percentiles)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be a pair (low, high) in [0, 100], got {percentiles!r}") from None
    if not 0 <= lo < hi <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return lo, hi


def _select(scan: Scan, channel: str | None) -> Scan:
    return scan.select(channel if channel is not None else scan.default_channel)


def _integer_scale(lr: Scan, hr: Scan) -> tuple[int, bool]:
    """Upscaling factor from the pixel sizes (else the pixel counts) and whether the fields coincide."""
    if lr.pixel_size is not None and hr.pixel_size is not None:
        ratios = (lr.pixel_size[0] / hr.pixel_size[0], lr.pixel_size[1] / hr.pixel_size[1])
    else:
        ratios = (hr.shape[0] / lr.shape[0], hr.shape[1] / lr.shape[1])
    scale = round(math.sqrt(ratios[0] * ratios[1]))
    if scale < 1:
        raise ValueError(
            f"the low-resolution scan has finer pixels than the ground truth (pixel-size ratio {ratios}); "
            "pass (low-resolution, ground truth) in that order"
        )
    same_grid = lr.shape[0] * scale == hr.shape[0] and lr.shape[1] * scale == hr.shape[1]
    if lr.pixel_size is not None and hr.pixel_size is not None:
        same_grid &= all(abs(r / scale - 1.0) <= _SAME_FIELD_RTOL for r in ratios)
    if lr.origin is not None and hr.origin is not None and lr.pixel_size is not None:
        same_grid &= all(
            abs(a - b) <= 0.5 * p for a, b, p in zip(lr.origin, hr.origin, lr.pixel_size, strict=True)
        )
    return scale, same_grid


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images after removing each one's least-squares plane."""
    a, b = level_plane(a), level_plane(b)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denominator = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denominator) if denominator > 0 else float("nan")


def _run_method(method: Method, lr: Scan, scale: int) -> Channel:
    try:
        out = method.upscale(lr, scale)
    except (ValueError, OSError) as exc:  # bad input or a missing model: say which method and scan
        raise ValueError(f"method {method.name!r} failed on {lr.source or 'the scan'}: {exc}") from exc
    if not isinstance(out, Scan):
        raise TypeError(f"method {method.name!r} must return a Scan, got {type(out).__name__}")
    name = lr.channels[0].name
    if name in out:
        channel = out.channel(name)
    elif len(out) == 1:
        channel = out.channels[0]
    else:
        raise ValueError(f"method {method.name!r} returned channels {list(out.names)}, none called {name!r}")
    expected = (lr.shape[0] * scale, lr.shape[1] * scale)
    if channel.shape != expected:
        raise ValueError(
            f"method {method.name!r} returned {channel.shape[0]}x{channel.shape[1]} pixels for a "
            f"{lr.shape[0]}x{lr.shape[1]} scan at scale {scale}; expected {expected[0]}x{expected[1]}"
        )
    if channel.unit != lr.channels[0].unit:
        raise ValueError(
            f"method {method.name!r} returned values in {channel.unit!r}, the input was in {lr.channels[0].unit!r}"
        )
    if not np.isfinite(channel.data).all():
        raise ValueError(f"method {method.name!r} returned NaN or infinite pixels")
    return channel


# --------------------------------------------------------------------------------------------------- pairing
def prepare_sample(
    lr: Scan,
    hr: Scan,
    methods: Sequence[Method],
    *,
    channel: str | None = None,
    register: str = "auto",
    register_method: str = "auto",
    crop: tuple[int, int, int, int] | None = None,
) -> PreparedSample:
    """Upscale a low-resolution scan with every method and put the outputs on the ground truth's grid.

    Parameters
    ----------
    lr : Scan
        The low-resolution scan.
    hr : Scan
        The ground truth (a real high-resolution scan of the same area, or of a part of it).
    methods : sequence of Method
        The methods (see `scansr.methods.resolve_methods`).
    channel : str, optional
        Channel to show, in both scans; default: each scan's `Scan.default_channel` (the topography).
    register : {"auto", "always", "never"}
        ``"auto"``: align the outputs to the ground truth unless the two scans are the same field at an
        integer ratio of pixel counts (same pixel-size ratio within 1 %, scan offsets within half a
        low-resolution pixel where recorded); ``"always"``: align (real pairs with drift); ``"never"``: the
        ground truth must have exactly ``scale`` times the pixels of the low-resolution scan.
    register_method : {"auto", "sift", "phase", "ecc"}
        Method of `scansr.register.register_scans` (``"phase"``: translation only, robust for drift).
        ``"auto"`` also tries ``"phase"`` when the first alignment leaves the levelled ground truth and the
        registered bicubic upscale correlated below r = 0.8, and keeps the better one. The key records the
        method and r; r below 0.8 is logged as a warning.
    crop : (int, int, int, int), optional
        ``(y0, y1, x0, x1)``: rows ``y0:y1`` and columns ``x0:x1`` of the ground-truth file to show; after a
        registration it must lie in the region every output covers. Default: that whole region.

    Returns
    -------
    PreparedSample

    Raises
    ------
    ValueError
        Bad options, units that differ, a method's output of the wrong shape or unit, a crop outside the
        common region, or ``register="never"`` with pixel counts that are not a multiple.
    UnknownChannelError
        If a scan lacks `channel`.
    RegistrationError
        If the scans cannot be aligned.
    """
    if register not in REGISTER_CHOICES:
        raise ValueError(f"register must be one of {REGISTER_CHOICES}, got {register!r}")
    if register_method not in REGISTER_METHODS:
        raise ValueError(f"register_method must be one of {REGISTER_METHODS}, got {register_method!r}")
    crop = _check_crop(crop)
    lr = _select(lr, channel)
    hr = _select(hr, channel)
    if lr.channels[0].unit != hr.channels[0].unit:
        raise ValueError(
            f"the low-resolution channel {lr.names[0]!r} is in {lr.channels[0].unit!r} but the ground truth "
            f"{hr.names[0]!r} in {hr.channels[0].unit!r}; choose one channel with `channel`"
        )
    scale, same_grid = _integer_scale(lr, hr)
    if register == "never" and (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape:
        raise ValueError(
            f"register='never' needs the ground truth ({hr.shape[0]}x{hr.shape[1]}) to have exactly {scale} "
            f"times the pixels of the low-resolution scan ({lr.shape[0]}x{lr.shape[1]}); use register='auto'"
        )
    outputs = {m.name: _run_method(m, lr, scale) for m in methods}
    registration = None
    if register == "always" or (register == "auto" and not same_grid):
        reference = upscale_scan(lr, scale, method="bicubic")
        pair = register_scans(hr, reference, method=register_method)
        correlation = _correlation(pair.fixed.channels[0].data, pair.moving.channels[0].data)
        if register_method == "auto" and not correlation >= _MIN_CORRELATION:
            # SIFT finds few features on smooth scans and ECC can wander off; a translation often does better
            try:
                other = register_scans(hr, reference, method="phase")
            except RegistrationError as exc:
                logger.info("phase correlation failed too: %s", exc)
            else:
                other_r = _correlation(other.fixed.channels[0].data, other.moving.channels[0].data)
                logger.info(
                    "registration %s: r = %.3f; phase correlation: r = %.3f",
                    pair.registration.method,
                    correlation,
                    other_r,
                )
                if other_r > correlation:
                    pair, correlation = other, other_r
        registration = pair.registration.replace(score=correlation)
        region = pair.box
        logger.info("registered %s onto the ground truth: %r", lr.source or "scan", registration)
        if not correlation >= _MIN_CORRELATION:
            logger.warning(
                "%s: after registration (%s) the bicubic upscale correlates with the ground truth only at "
                "r = %.2f; check the sheet, or try another register_method",
                hr.source or "sample",
                registration.method,
                correlation,
            )
        grids = {
            name: warp(ch.data, registration, hr.shape, interpolation="cubic").image
            for name, ch in outputs.items()
        }
    else:
        region = (0, hr.shape[0], 0, hr.shape[1])
        grids = {name: ch.data for name, ch in outputs.items()}
    y0, y1, x0, x1 = region
    if crop is not None:
        cy0, cy1, cx0, cx1 = crop
        if not (y0 <= cy0 and cy1 <= y1 and x0 <= cx0 and cx1 <= x1):
            raise ValueError(
                f"crop {crop} lies outside the region shown for {hr.source or 'the ground truth'}: rows "
                f"{y0}:{y1}, columns {x0}:{x1} of the ground truth"
            )
        y0, y1, x0, x1 = crop
    if y1 - y0 < _MIN_PANEL or x1 - x0 < _MIN_PANEL:
        raise ValueError(f"the region all outputs cover is only {y1 - y0}x{x1 - x0} pixels")
    origin = None
    if hr.origin is not None and hr.pixel_size is not None:
        origin = (hr.origin[0] + y0 * hr.pixel_size[0], hr.origin[1] + x0 * hr.pixel_size[1])
    gt_channel = hr.channels[0]
    ground_truth = hr.replace(
        channels=(gt_channel.replace(data=gt_channel.data[y0:y1, x0:x1]),), origin=origin
    )
    shown = {}
    for name, data in grids.items():
        crop_data = data[y0:y1, x0:x1]
        if not np.isfinite(crop_data).all():
            raise ValueError(f"the output of {name!r} does not cover rows {y0}:{y1}, columns {x0}:{x1}")
        shown[name] = ground_truth.replace(
            channels=(Channel(gt_channel.name, crop_data, gt_channel.unit, gt_channel.direction),),
            metadata={"scansr.survey.method": name},
            source=None,
        )
    return PreparedSample(ground_truth, shown, scale, registration, (y0, y1, x0, x1))


# --------------------------------------------------------------------------------------------------- sheet
def _levelled(data: np.ndarray, level: str) -> np.ndarray:
    if level == "plane":
        return level_plane(data)
    if level == "median":
        return data - np.nanmedian(data)
    return np.array(data, dtype=np.float64)


def sheet_figure(
    ground_truth: Scan,
    panels: Mapping[str, Scan],
    *,
    title: str | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
    level: str = "plane",
    cmap: str | None = None,
    panel_size: float = 1.5,
) -> Figure:
    """One survey sheet: the ground truth leftmost, then the panels in the given order, one colour scale.

    Every panel is levelled alike (`level`), drawn over its physical field with nearest-neighbour pixels and
    a scale bar; the colour scale spans the `percentiles` of the (levelled) ground truth and is shown in a
    colour bar. Axes are placed explicitly (no layout engine), so the figure is ``panel_size`` inches per
    panel plus fixed margins, and each panel's axes carries its label (``Axes.get_label()``).

    Parameters
    ----------
    ground_truth : Scan
        The reference; its default channel is shown, titled ``"Ground truth"``.
    panels : mapping of str to Scan
        Label → scan of the same field, in display order; the first channel of each is shown.
    title : str, optional
        Line of text above the panels (e.g. the sample id).
    percentiles : (float, float)
        Percentiles of the ground truth's values that span the colour scale.
    level : {"plane", "median", "none"}
        Display levelling of every panel: subtract its least-squares plane, its median, or nothing.
    cmap : str, optional
        Matplotlib colour map; default by unit (``afmhot`` for heights, ``gray`` for SEM counts, else
        ``viridis``).
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        On the Agg canvas; pyplot is not involved.

    Raises
    ------
    ValueError
        Bad options, no panels, panels whose unit or field differs from the ground truth's, or a ground truth
        without finite values.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    percentiles = _check_percentiles(percentiles)
    if not (isinstance(panel_size, int | float) and 0.3 <= panel_size <= 20):
        raise ValueError(f"panel_size must be between 0.3 and 20 inches, got {panel_size!r}")
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty mapping of label -> Scan")
    gt = ground_truth.channel(ground_truth.default_channel)
    images = {GROUND_TRUTH_LABEL: gt}
    for label, scan in panels.items():
        if str(label) == GROUND_TRUTH_LABEL:
            raise ValueError(f"{GROUND_TRUTH_LABEL!r} is reserved for the ground truth")
        ch = scan.channels[0]
        if ch.unit != gt.unit or ch.shape != gt.shape:
            raise ValueError(
                f"panel {label!r} ({ch.shape[0]}x{ch.shape[1]}, {ch.unit!r}) must match the ground truth "
                f"({gt.shape[0]}x{gt.shape[1]}, {gt.unit!r})"
            )
        images[str(label)] = ch
    shown = {label: _levelled(ch.data, level) for label, ch in images.items()}
    reference = shown[GROUND_TRUTH_LABEL]
    finite = reference[np.isfinite(reference)]
    if finite.size == 0:
        raise ValueError("the ground truth holds no finite value")
    lo, hi = (float(v) for v in np.percentile(finite, percentiles))
    if not hi > lo:
        pad = max(abs(lo) * 1e-6, 1e-30)
        lo, hi = lo - pad, hi + pad
    factor, shown_unit = display_unit(gt.unit, max(abs(lo), abs(hi), hi - lo))
    norm = Normalize(lo / factor, hi / factor)
    colours = colormaps[cmap or DEFAULT_CMAPS.get(gt.unit, "viridis")]

    pixel = ground_truth.pixel_size or (1.0, 1.0)
    field = (gt.shape[0] * pixel[0], gt.shape[1] * pixel[1])
    aspect = min(max(field[0] / field[1], 0.2), 5.0)
    n = len(images)
    margin, gap, top, bottom = 0.08, 0.06, 0.52, 0.08
    bar_pad, bar_width, bar_label = 0.08, 0.1, 0.62
    pw, ph = float(panel_size), float(panel_size) * aspect
    width = margin + n * pw + (n - 1) * gap + bar_pad + bar_width + bar_label
    height = top + ph + bottom
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    mappable = None
    for i, (label, data) in enumerate(shown.items()):
        ax = figure.add_axes(
            (
                float((margin + i * (pw + gap)) / width),
                float(bottom / height),
                float(pw / width),
                float(ph / height),
            ),
            label=label,
        )
        mappable = ax.imshow(
            data / factor,
            extent=(0.0, field[1], field[0], 0.0),
            norm=norm,
            cmap=colours,
            interpolation="none",
            aspect="auto",
        )
        ax.set_xlim(0.0, field[1])
        ax.set_ylim(field[0], 0.0)
        ax.set_xticks([])
        ax.set_yticks([])
        is_gt = label == GROUND_TRUTH_LABEL
        ax.set_title(label, fontsize=8 if is_gt else 10, fontweight="normal" if is_gt else "bold", pad=3)
        if ground_truth.pixel_size is not None:
            draw_scale_bar(ax, field, max_fraction=0.3, fontsize=6, thickness=0.022)
    cax = figure.add_axes(
        (
            float((width - bar_label - bar_width) / width),
            float(bottom / height),
            float(bar_width / width),
            float(ph / height),
        ),
        label="colour bar",
    )
    axis_label = f"{gt.name} ({shown_unit})" if shown_unit else gt.name
    figure.colorbar(mappable, cax=cax).set_label(axis_label.replace("$", r"\$"), fontsize=7)
    cax.tick_params(labelsize=6)
    if title:
        figure.text(
            float(margin / width), 1.0 - 0.06 / height, title.replace("$", r"\$"), va="top", fontsize=8
        )
    return figure


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _panel_boxes(figure: Figure, size: tuple[int, int]) -> dict[str, list[int]]:
    """Pixel box ``[x0, y0, x1, y1]`` (y from the top) of every labelled panel in the PNG."""
    width, height = size
    boxes = {}
    for ax in figure.axes:
        label = ax.get_label()
        if label == "colour bar":
            continue
        pos = ax.get_position()
        boxes[label] = [
            round(pos.x0 * width),
            round((1 - pos.y1) * height),
            round(pos.x1 * width),
            round((1 - pos.y0) * height),
        ]
    return boxes


# --------------------------------------------------------------------------------------------------- shuffling
def shuffle_assignments(
    n_sheets: int, n_methods: int, rng: np.random.Generator, *, balanced: bool = True
) -> np.ndarray:
    """Which method goes to which label on every sheet.

    Parameters
    ----------
    n_sheets, n_methods : int
        Number of sheets and of methods (labels per sheet).
    rng : numpy.random.Generator
        Source of the randomness; the same state gives the same assignments.
    balanced : bool
        True: sheets come in blocks of `n_methods` whose rows form a random Latin square (cyclic square with
        shuffled rows, columns and symbols), so within each complete block every method appears at every
        label exactly once and position bias (raters favour the image next to the ground truth) cancels.
        False: an independent random permutation per sheet, as in the real-pair study.

    Returns
    -------
    numpy.ndarray, shape (n_sheets, n_methods)
        Row s: the method index shown at label ``1 .. k`` of sheet s; every row a permutation.

    Raises
    ------
    ValueError
        If a count is below 1.
    """
    if n_sheets < 1 or n_methods < 1:
        raise ValueError(f"need at least 1 sheet and 1 method, got {n_sheets} and {n_methods}")
    if not balanced:
        return np.array([rng.permutation(n_methods) for _ in range(n_sheets)], dtype=np.int64)
    cyclic = (np.arange(n_methods)[:, None] + np.arange(n_methods)[None, :]) % n_methods
    blocks = []
    for _ in range(math.ceil(n_sheets / n_methods)):
        square = rng.permutation(n_methods)[cyclic]
        square = square[rng.permutation(n_methods)][:, rng.permutation(n_methods)]
        blocks.append(square)
    return np.concatenate(blocks)[:n_sheets].astype(np.int64)


# --------------------------------------------------------------------------------------------------- survey
def _load(item: SampleInput, what: str) -> tuple[Scan, str, str | None]:
    if isinstance(item, Scan):
        described = str(item.source) if item.source is not None else f"in-memory scan {item!r}"
        return item, described, None
    if isinstance(item, str | Path):
        from scansr.io import read  # the io package loads every reader; only needed for files

        path = Path(item)
        return read(path), str(path.resolve()), file_sha256(path)
    raise TypeError(f"{what} must be a file path or a Scan, got {type(item).__name__}")


def _sample_ids(n: int) -> list[str]:
    width = max(2, len(str(n)))
    return [f"S{i:0{width}d}" for i in range(1, n + 1)]


def _readme(key: SurveyKey, dpi: float) -> str:
    k = len(key.labels)
    sizes = sorted({s.png_size for s in key.sheets})
    size_text = ", ".join(f"{w} x {h}" for w, h in sizes[:3]) + (" ..." if len(sizes) > 3 else "")
    lines = [
        "scansr blind expert survey",
        "==========================",
        "",
        f"{len(key.sheets)} sheets, one per sample ({key.samples[0]} to {key.samples[-1]}). On every sheet the",
        f"leftmost image, labelled 'Ground truth', is the measured high-resolution scan. The images labelled 1 to {k}",
        "are the same field reconstructed from a low-resolution scan by different methods, in a random order that",
        "changes from sheet to sheet. All images of a sheet share the crop and the colour scale; the bar gives the",
        "length scale.",
        "",
        f"Sheets: survey.pdf (one page per sheet) and sheets/*.png ({size_text} pixels at {dpi:g} dpi; zoom in to",
        "see individual pixels).",
        "",
        "For raters",
        "----------",
        "Open your answer sheet answers/answers-<your name>.csv (a spreadsheet or a text editor) and give every",
        f"numbered image of every sheet two whole numbers from {SCORES[0]} (lowest) to {SCORES[-1]} (highest):",
        "",
    ]
    for criterion, meaning in CRITERIA.items():
        lines.append(f"  {criterion}: {meaning}.")
        lines.extend(f"    {score} = {ANCHORS[criterion][score]}" for score in SCORES)
        lines.append("")
    lines += [
        "Judge fidelity against the ground truth; judge quality on the numbered image alone. Score every image",
        "on its own merits (ties are allowed). Do not change the columns rater, sample and label; save as CSV",
        "and return the file.",
        "",
        "For the organiser",
        "-----------------",
        f"{KEY_NAME} holds which method is behind every number: do NOT give it to the raters. Send each rater",
        "survey.pdf (or sheets/), this README and their own answer sheet. Keep the folder unchanged: the key",
        "records a hash of itself and of every sheet, and scoring stops if either was edited. Score with",
        "",
        f"  scansr survey score --key {KEY_NAME} --answers answers-A.csv answers-B.csv ... --report survey.html",
        "",
    ]
    return "\n".join(lines)


def make_survey(
    samples: Sequence[tuple[SampleInput, SampleInput]],
    methods: Sequence[str | Method] | Mapping[str, Callable[[Scan, int], Scan] | Method | None],
    out_dir: str | Path,
    *,
    seed: int,
    dpi: float = 1000,
    crop: tuple[int, int, int, int] | None = None,
    channel: str | None = None,
    raters: int | Sequence[str] = 3,
    register: str = "auto",
    register_method: str = "auto",
    level: str = "plane",
    percentiles: tuple[float, float] = (0.5, 99.5),
    panel_size: float = 1.5,
    balanced: bool = True,
    overwrite: bool = False,
) -> SurveyKey:
    """Make a blind survey: a sheet (PNG + PDF page) per sample, a key, and blank answer sheets.

    Parameters
    ----------
    samples : sequence of (lr, hr)
        Pairs of a low-resolution scan and its ground truth, as file paths (any format `scansr.io.read`
        reads) or `Scan` objects. Sheets are numbered S01, S02, ... in this order.
    methods : sequence or mapping
        The methods to compare (at least 2): interpolation names (``"bicubic"``, ``"bilinear"``,
        ``"lanczos"``), `Method` objects (``name`` + ``upscale(scan, scale) -> Scan``), or a mapping name →
        function ``(scan, scale) -> Scan``; see `scansr.methods.resolve_methods`.
    out_dir : str or Path
        Folder to write (created if needed); see the module notes for its content.
    seed : int
        Seed of the shuffling (`numpy.random.default_rng`); the same seed gives the same sheets.
    dpi : float
        Resolution of the PNG sheets, dots per inch (the real-pair study used 1000).
    crop : (int, int, int, int), optional
        ``(y0, y1, x0, x1)`` rows and columns of every ground-truth file to show (see `prepare_sample`).
    channel : str, optional
        Channel to show; default: each scan's topography (`Scan.default_channel`).
    raters : int or sequence of str
        Number of raters (named rater1, rater2, ...) or their names; one blank answer sheet each.
    register : {"auto", "always", "never"}
        When to align the outputs to the ground truth (see `prepare_sample`).
    register_method : {"auto", "sift", "phase", "ecc"}
        How to align them (see `prepare_sample`).
    level : {"plane", "median", "none"}
        Display levelling of every panel (see `sheet_figure`).
    percentiles : (float, float)
        Percentiles of the ground truth that span the colour scale.
    panel_size : float
        Width of one panel in inches (sets the PNG's pixel size with `dpi`).
    balanced : bool
        Balance the positions of the methods over blocks of sheets (see `shuffle_assignments`).
    overwrite : bool
        Replace the files of an earlier survey in `out_dir`.

    Returns
    -------
    SurveyKey
        The key as written to ``out_dir/survey-key.json``.

    Raises
    ------
    ValueError
        Bad options, fewer than 2 methods, no sample, a method whose output does not fit (see
        `prepare_sample`).
    OutputExistsError
        If a file of the survey exists in `out_dir` and `overwrite` is false.
    ScanReadError
        If a sample file cannot be read.
    RegistrationError
        If a pair cannot be aligned.
    """
    from scansr import __version__

    resolved = resolve_methods(methods, min_count=2)
    samples = list(samples)
    if not samples:
        raise ValueError("give at least one (low-resolution, ground truth) pair")
    for i, pair in enumerate(samples):
        if isinstance(pair, str | Path | Scan) or len(pair) != 2:
            raise ValueError(f"samples[{i}] must be a pair (low-resolution, ground truth), got {pair!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(dpi, int | float) and 10 <= dpi <= 4000):
        raise ValueError(f"dpi must be between 10 and 4000, got {dpi!r}")
    if register not in REGISTER_CHOICES:
        raise ValueError(f"register must be one of {REGISTER_CHOICES}, got {register!r}")
    if register_method not in REGISTER_METHODS:
        raise ValueError(f"register_method must be one of {REGISTER_METHODS}, got {register_method!r}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    percentiles = _check_percentiles(percentiles)
    crop = _check_crop(crop)
    rater_names = check_rater_names(raters)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ScanWriteError(out, "is a file; give a folder for the survey")
    ids = _sample_ids(len(samples))
    planned = [out / KEY_NAME, out / PDF_NAME, out / README_NAME]
    planned += [out / "sheets" / f"{s}.png" for s in ids]
    planned += [out / "answers" / answer_file_name(r) for r in rater_names]
    existing = [p for p in planned if p.exists()]
    if existing and not overwrite:
        listed = ", ".join(str(p) for p in existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise OutputExistsError(out, f"holds a survey already ({listed}); choose another folder or overwrite")
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    (out / "answers").mkdir(exist_ok=True)

    rng = np.random.default_rng(int(seed))
    assignments = shuffle_assignments(len(samples), len(resolved), rng, balanced=balanced)
    labels = tuple(str(i) for i in range(1, len(resolved) + 1))
    records = []
    with atomic_path(out / PDF_NAME) as pdf_tmp:
        pdf_metadata = {
            "Title": "scansr blind survey",
            "Creator": f"scansr {__version__}",
            "CreationDate": None,
        }
        with PdfPages(pdf_tmp, metadata=pdf_metadata) as pdf:
            for sample_id, (lr_item, hr_item), order in zip(ids, samples, assignments, strict=True):
                lr, lr_text, lr_hash = _load(lr_item, f"low-resolution scan of {sample_id}")
                hr, hr_text, hr_hash = _load(hr_item, f"ground truth of {sample_id}")
                prepared = prepare_sample(
                    lr,
                    hr,
                    resolved,
                    channel=channel,
                    register=register,
                    register_method=register_method,
                    crop=crop,
                )
                mapping = {label: resolved[int(m)].name for label, m in zip(labels, order, strict=True)}
                panels = {label: prepared.outputs[name] for label, name in mapping.items()}
                figure = sheet_figure(
                    prepared.ground_truth,
                    panels,
                    title=f"Sample {sample_id}: score images {labels[0]}-{labels[-1]} for fidelity to the "
                    f"ground truth and for quality, {SCORES[0]} (low) to {SCORES[-1]} (high)",
                    percentiles=percentiles,
                    level=level,
                    panel_size=panel_size,
                )
                png = out / "sheets" / f"{sample_id}.png"
                with atomic_path(png) as tmp:
                    figure.savefig(tmp, format="png", dpi=dpi, facecolor="white")
                pdf.savefig(figure, facecolor="white")
                size = _png_size(png)
                hr_name = prepared.ground_truth.names[0]
                details: dict[str, Any] = {
                    "channel": hr_name,
                    "lr_channel": lr.channel(channel if channel is not None else lr.default_channel).name,
                    "unit": prepared.ground_truth.channels[0].unit,
                    "scale": prepared.scale,
                    "registration": None
                    if prepared.registration is None
                    else {
                        "method": prepared.registration.method,
                        "matrix": prepared.registration.matrix.tolist(),
                        "correlation": prepared.registration.score,
                    },
                    "box": list(prepared.box),
                    "shape": list(prepared.ground_truth.shape),
                    "pixel_size": None
                    if prepared.ground_truth.pixel_size is None
                    else list(prepared.ground_truth.pixel_size),
                    "panel_boxes": _panel_boxes(figure, size),
                }
                name = Path(hr_text).stem if hr_hash is not None else sample_id
                records.append(
                    SheetRecord(
                        sample=sample_id,
                        name=name,
                        lr=lr_text,
                        hr=hr_text,
                        lr_sha256=lr_hash,
                        hr_sha256=hr_hash,
                        mapping=mapping,
                        png=f"sheets/{sample_id}.png",
                        png_sha256=file_sha256(png),
                        png_size=size,
                        details=details,
                    )
                )
                logger.info("sheet %s: %s (%d x %d px)", sample_id, mapping, *size)
    settings = {
        "dpi": float(dpi),
        "crop": None if crop is None else list(crop),
        "channel": channel,
        "register": register,
        "register_method": register_method,
        "level": level,
        "percentiles": list(percentiles),
        "panel_size": float(panel_size),
        "method_descriptions": {
            m.name: str(getattr(m, "description", "") or type(m).__name__) for m in resolved
        },
    }
    key = SurveyKey(
        methods=tuple(m.name for m in resolved),
        labels=labels,
        sheets=tuple(records),
        seed=int(seed),
        balanced=bool(balanced),
        raters=rater_names,
        answer_files={r: f"answers/{answer_file_name(r)}" for r in rater_names},
        pdf=PDF_NAME,
        pdf_sha256=file_sha256(out / PDF_NAME),
        scansr_version=__version__,
        settings=settings,
    )
    key = dataclasses.replace(key, content_hash=key.to_json()["content_hash"])
    for rater in rater_names:
        atomic_write_text(out / "answers" / answer_file_name(rater), blank_answer_sheet(key, rater))
    atomic_write_text(out / README_NAME, _readme(key, dpi))
    return write_key(key, out / KEY_NAME)
