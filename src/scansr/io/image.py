"""Ordinary images: read PNG / BMP / JPEG as grey-level channels, write a PNG preview of a scan.

Reading (OpenCV)
    8- or 16-bit images keep their integer grey levels as ``"counts"`` (no rescaling), pixel size ``None``.
    A grey image gives one channel ``"grey"``; a colour image gives ``"red"``, ``"green"``, ``"blue"`` in that
    order (OpenCV's BGR is reversed); a colour image whose three channels are identical is a grey image stored
    as RGB and gives ``"grey"``. Alpha is dropped; a JPEG's EXIF orientation is not applied (pixels as
    stored). Files are decoded from bytes (``cv2.imdecode``) so any path works.

Writing (matplotlib, Agg, no pyplot)
    A preview, not data: the default channel rendered with a colour map suited to it (``afmhot`` for
    heights, ``gray`` for SEM counts, ``viridis`` otherwise), colour limits at the 1st and 99th percentiles,
    a colour bar in readable units (nm for heights), and, when the pixel size is known, a scale bar of a
    round length (1, 2 or 5 × 10^k m) drawn on the image, with the right aspect for non-square pixels. NaN
    pixels are blue (cyan on grey images). Save data as ``.gwy``, ``.tif``, ``.npz`` or ``.txt`` instead.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from scansr.scan import Channel, Scan, ScanReadError

__all__ = ["nice_length", "read", "sniff", "write"]

logger = logging.getLogger(__name__)

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


# ------------------------------------------------------------------------------------------------------ sniff
def sniff(head: bytes, suffix: str) -> bool:
    """Return True when `head` starts a PNG, JPEG or Windows BMP file."""
    if head.startswith((_PNG, _JPEG)):
        return True
    if head.startswith(b"BM") and len(head) >= 18:
        reserved = head[6:10]
        dib = int.from_bytes(head[14:18], "little")
        return reserved == b"\x00\x00\x00\x00" and dib in _BMP_DIB_SIZES
    return False


# ------------------------------------------------------------------------------------------------------- read
def read(path: Path, *, frame: int | None = None) -> Scan:
    """Read a PNG, BMP or JPEG image into grey-level channels (unit ``"counts"``, no pixel size).

    Parameters
    ----------
    path : Path
        The image file.
    frame : int, optional
        Only ``None`` or 0.

    Returns
    -------
    Scan
        ``"grey"``, or ``"red"``, ``"green"``, ``"blue"``; values are the stored integer levels as float64.

    Raises
    ------
    ScanReadError
        OpenCV cannot decode the file.
    ValueError
        `frame` is not 0.
    """
    import cv2

    path = Path(path)
    if frame not in (None, 0):
        raise ValueError(f"frame must be 0 for an image file (one image), got {frame!r}")
    buffer = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ScanReadError(
            path, "not a PNG, BMP or JPEG image that OpenCV can decode (corrupt or truncated?)"
        )
    metadata: dict[str, object] = {"bit_depth": int(image.dtype.itemsize * 8), "dtype": str(image.dtype)}
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        channels = (Channel("grey", image, unit="counts"),)
        metadata["stored_channels"] = 1
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        metadata["stored_channels"] = int(image.shape[2])
        metadata["alpha_dropped"] = image.shape[2] == 4
        blue, green, red = image[:, :, 0], image[:, :, 1], image[:, :, 2]
        if np.array_equal(blue, green) and np.array_equal(green, red):
            channels = (Channel("grey", red, unit="counts"),)
            metadata["grey_stored_as_rgb"] = True
        else:
            channels = tuple(
                Channel(name, plane, unit="counts")
                for name, plane in (("red", red), ("green", green), ("blue", blue))
            )
    else:
        raise ScanReadError(path, f"unsupported image layout {image.shape} ({image.dtype})")
    return Scan(channels, pixel_size=None, metadata=metadata, source=path, format="image")


# ------------------------------------------------------------------------------------------------------ write
def nice_length(target: float) -> float:
    """Return the largest 1, 2 or 5 × 10^k not above `target` (a round scale-bar length, same unit).

    Raises
    ------
    ValueError
        If `target` is not positive and finite.
    """
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target must be positive and finite, got {target!r}")
    exponent = math.floor(math.log10(target))
    for mantissa in (5, 2, 1):
        value = mantissa * 10.0**exponent
        if value <= target * (1 + 1e-12):
            return value
    return 10.0 ** (exponent - 1) * 5  # pragma: no cover - log10 rounding guard


_SI_PREFIXES = (
    (1e-12, "p"),
    (1e-9, "n"),
    (1e-6, "µ"),
    (1e-3, "m"),
    (1.0, ""),
    (1e3, "k"),
    (1e6, "M"),
    (1e9, "G"),
)


def _length_unit(metres: float) -> tuple[float, str]:
    """Scale and symbol to label a length: nm below 1 µm, µm below 1 mm, else mm."""
    if metres < 1e-6:
        return 1e-9, "nm"
    if metres < 1e-3:
        return 1e-6, "µm"
    return 1e-3, "mm"


def _value_unit(unit: str, span: float) -> tuple[float, str]:
    """Scale and label for colour-bar values: heights in nm (pm / µm for very small / large ranges)."""
    if unit == "m":
        if span < 1e-11:
            return 1e-12, "pm"
        if span < 2e-6:
            return 1e-9, "nm"
        if span < 2e-3:
            return 1e-6, "µm"
        return 1.0, "m"
    if unit in ("V", "A", "N", "Pa", "N/m", "Hz", "s", "F", "W") and span > 0:
        for scale, prefix in reversed(_SI_PREFIXES):
            if span >= scale:
                return scale, prefix + unit
        return 1e-12, "p" + unit
    return 1.0, unit


def _colour_map(unit: str) -> tuple[str, str]:
    """Colour map and the colour of NaN pixels."""
    if unit == "m":
        return "afmhot", "#1f77b4"
    if unit == "counts":
        return "gray", "#00c8ff"
    return "viridis", "#ff3030"


def _limits(data: np.ndarray) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        raise ValueError("the channel has no finite value to display")
    low, high = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    if not high > low:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        pad = abs(low) * 1e-6 or 1.0
        low, high = low - pad, high + pad
    return low, high


def write(scan: Scan, path: Path) -> None:
    """Write a PNG preview of the scan's default channel (colour map, colour bar, scale bar).

    Parameters
    ----------
    scan : Scan
        What to show; a scan with several channels shows its default channel (see `Scan.default_channel`).
    path : Path
        Output file (the caller makes the write atomic; it ends in ``.png``).

    Raises
    ------
    ValueError
        The channel holds no finite value.
    """
    from matplotlib import colormaps, patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    channel = scan.channel(scan.default_channel)
    data = channel.data
    ny, nx = data.shape
    low, high = _limits(data)
    value_scale, value_label = _value_unit(channel.unit, high - low)
    cmap_name, bad = _colour_map(channel.unit)
    cmap = colormaps[cmap_name].with_extremes(bad=bad)

    if scan.pixel_size is not None:
        height, width = ny * scan.pixel_size[0], nx * scan.pixel_size[1]
        length_scale, _ = _length_unit(width)
        extent = (0.0, width / length_scale, height / length_scale, 0.0)
        ratio = height / width
    else:
        extent = (0.0, float(nx), float(ny), 0.0)
        ratio = ny / nx

    image_width_in = 5.0
    image_height_in = image_width_in * min(max(ratio, 0.15), 4.0)
    figure = Figure(figsize=(image_width_in + 1.9, image_height_in + 0.9), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.04, 0.08, 0.72, 0.84))
    shown = axes.imshow(
        data / value_scale,
        cmap=cmap,
        vmin=low / value_scale,
        vmax=high / value_scale,
        extent=extent,
        aspect="equal",
        # show the pixels of a small scan as they are; smooth only when shrinking a large one
        interpolation="nearest" if max(nx, ny) <= 512 else "antialiased",
    )
    axes.set_axis_off()
    title = channel.name if scan.source is None else f"{channel.name} — {scan.source.name}"
    axes.set_title(title, fontsize=9)
    colour_bar = figure.colorbar(shown, ax=axes, fraction=0.05, pad=0.03)
    colour_bar.set_label(f"{channel.name} ({value_label})" if value_label else channel.name)

    if scan.pixel_size is not None:
        bar = nice_length(0.25 * width)
        bar_scale, bar_symbol = _length_unit(bar * 1.0000001)
        side = min(extent[1], extent[2])  # sizes relative to the shorter side: same look for any aspect
        x0 = 0.05 * side
        y0 = extent[2] - 0.06 * side
        thickness = 0.02 * side
        outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
        axes.add_patch(
            Rectangle(
                (x0, y0 - thickness), bar / length_scale, thickness, facecolor="white", edgecolor="black"
            )
        )
        axes.text(
            x0 + 0.5 * bar / length_scale,
            y0 - 2.2 * thickness,
            f"{bar / bar_scale:g} {bar_symbol}",
            color="white",
            ha="center",
            va="bottom",
            fontsize=10,
            path_effects=outline,
        )
    else:
        axes.text(0.0, -0.02, "no lateral scale", transform=axes.transAxes, fontsize=8, va="top")
    description = f"scansr preview of {channel.name!r}; colour limits {low:.6g} .. {high:.6g} {channel.unit}"
    figure.savefig(
        path,
        format="png",
        bbox_inches="tight",
        pad_inches=0.1,
        metadata={"Software": "scansr", "Description": description},
    )
