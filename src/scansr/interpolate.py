"""Interpolation baselines: upscale (bilinear / bicubic / Lanczos), downsample (block mean, MATLAB bicubic).

These are the classical baselines every super-resolution result is compared against, and the degradation
that published AFM super-resolution pipelines used to make their low-resolution inputs (MATLAB ``imresize``).

Upscaling (`upscale`)
    OpenCV's ``cv2.resize`` with ``INTER_LINEAR`` (bilinear), ``INTER_CUBIC`` (Keys cubic convolution with
    ``a = -0.75``, OpenCV's constant in ``interpolateCubic``) or ``INTER_LANCZOS4`` (8 × 8 Lanczos window).
    OpenCV accepts ``float64`` and accumulates in double precision, but keeps its interpolation weights in
    ``float32``; the image is interpolated around its mean, so the error is about 1e-7 of the local deviation
    from the mean (not of a large offset), far below instrument noise.
    OpenCV maps pixel *centres* (``x_src = (x_dst + 0.5) / s - 0.5``), so the field of view is preserved, and
    replicates the edge pixels outside the image.

Downsampling (`downsample`)
    ``"area"``: exact mean of each ``s × s`` block (what a detector integrating over a larger pixel records).
    ``"bicubic"``: MATLAB ``imresize(image, 1/s)`` (cubic kernel ``a = -0.5``, widened by ``s`` for
    anti-aliasing, half-sample symmetric padding), reproduced by `imresize`. Both first crop the image to a
    multiple of ``s`` by dropping the **last** rows and columns (bottom and right), so the output is
    ``(ny // s, nx // s)`` and the top-left corner stays where it was.

Scans (`upscale_scan`, `downsample_scan`)
    ``Scan.origin`` is taken as the outer top-left **corner** of the top-left pixel (as Gwyddion's offsets).
    Every method here keeps the field of view anchored at that corner (pixel-area alignment), so the origin
    is unchanged and the pixel size is divided (upscale) or multiplied (downsample) by the scale on both
    axes. Where a file's origin means the centre of the first pixel instead, the centre of the new first
    pixel lies ``(1 - 1/s) / 2`` old pixels before it (upscale) or ``(s - 1) / 2`` old pixels after it
    (downsample).

`imresize` is written here rather than taken from a library because no maintained Python package
reproduces MATLAB's ``imresize``: scikit-image, OpenCV and Pillow differ in the antialiasing kernel or the
padding. It follows the algorithm of MATLAB's ``imresize.m`` (``contributions``: ``u = x/s + (1 - 1/s)/2``,
kernel ``s · k(s · x)`` of width ``width / s`` when shrinking, ``ceil(width) + 2`` taps, normalised weights,
edge indices mirrored as ``[1..n, n..1]``, all-zero taps dropped) and resizes first along the axis that
shrinks most. ``uint8`` input gives ``uint8`` output, rounded half away from zero and saturated after *each*
1-D pass, as MATLAB's ``imresizemex``. MATLAB releases before about 2014 clamped (replicated) edge indices
instead of mirroring them: ``padding="replicate"`` reproduces those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from scansr.scan import Scan

__all__ = [
    "DOWNSAMPLE_METHODS",
    "IMRESIZE_METHODS",
    "UPSCALE_METHODS",
    "downsample",
    "downsample_scan",
    "imresize",
    "upscale",
    "upscale_scan",
]

logger = logging.getLogger(__name__)

UPSCALE_METHODS: dict[str, int] = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
DOWNSAMPLE_METHODS = ("area", "bicubic")


# --------------------------------------------------------------------------------------------------- checks
def _check_scale(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    return int(scale)


def _as_image(image: object, what: str = "image") -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim not in (2, 3) or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"{what} must be a non-empty 2-D array (or 3-D with channels last), got shape {array.shape}"
        )
    return array


# --------------------------------------------------------------------------------------------------- upscale
def upscale(image: np.ndarray, scale: int, *, method: str = "bicubic") -> np.ndarray:
    """Upscale an image by an integer factor with OpenCV's bilinear, bicubic or Lanczos interpolation.

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, c)
        Values in any unit; converted to ``float64``. Must be finite (NaN would spread to its neighbours).
    scale : int
        Upscaling factor, >= 1.
    method : {"bilinear", "bicubic", "lanczos"}
        ``cv2.INTER_LINEAR``, ``cv2.INTER_CUBIC`` (Keys, ``a = -0.75``) or ``cv2.INTER_LANCZOS4``.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(ny * scale, nx * scale[, c])`` in the unit of `image`; pixel centres are
        aligned so that the field of view is unchanged.

    Raises
    ------
    ValueError
        If `scale` is not an integer >= 1, `method` is unknown, `image` is not 2-D / 3-D or holds NaN / inf.
    """
    scale = _check_scale(scale)
    if method not in UPSCALE_METHODS:
        raise ValueError(f"method must be one of {tuple(UPSCALE_METHODS)}, got {method!r}")
    array = _as_image(image)
    _check_finite(array, "image")
    if scale == 1:
        return array.copy()
    ny, nx = array.shape[:2]
    if array.ndim == 3 and array.shape[2] > 4:
        # cv2.resize handles at most 4 channels reliably for every interpolation: do them one by one.
        return np.stack(
            [upscale(array[..., k], scale, method=method) for k in range(array.shape[2])], axis=-1
        )
    # OpenCV's float32 weights sum to 1 only within ~1e-7: interpolate around the mean, so that the error
    # scales with the variation of the image, not with a large offset (heights of -650 nm varying by 60 nm).
    offset = array.mean(axis=(0, 1))
    out = cv2.resize(
        np.ascontiguousarray(array - offset), (nx * scale, ny * scale), interpolation=UPSCALE_METHODS[method]
    )
    if array.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of length 1
        out = out[..., np.newaxis]
    return np.asarray(out, dtype=np.float64) + offset


# ------------------------------------------------------------------------------------------- MATLAB imresize
def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys (1981) cubic convolution with a = -0.5, as MATLAB's imresize.
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((x >= -1) & (x < 0)) + (1 - x) * ((x >= 0) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


def _lanczos(a: int) -> Callable[[np.ndarray], np.ndarray]:
    eps = np.finfo(np.float64).eps

    def kernel(x: np.ndarray) -> np.ndarray:
        # MATLAB adds eps to numerator and denominator so that x = 0 gives 1.
        return (
            (np.sin(np.pi * x) * np.sin(np.pi * x / a) + eps) / (np.pi**2 * x * x / a + eps) * (np.abs(x) < a)
        )

    return kernel


IMRESIZE_METHODS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic, 4.0),
    "bilinear": (_triangle, 2.0),
    "box": (_box, 1.0),
    "lanczos2": (_lanczos(2), 4.0),
    "lanczos3": (_lanczos(3), 6.0),
}

_PADDINGS = ("symmetric", "replicate")


def _contributions(
    in_length: int,
    out_length: int,
    scale: float,
    kernel: Callable[[np.ndarray], np.ndarray],
    width: float,
    antialiasing: bool,
    padding: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_length, taps) and 0-based source indices, as MATLAB's ``contributions``."""
    if scale < 1 and antialiasing:

        def h(x: np.ndarray) -> np.ndarray:
            return scale * kernel(scale * x)

        width = width / scale
    else:
        h = kernel
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    indices = left[:, np.newaxis] + np.arange(taps)[np.newaxis, :]
    weights = h(u[:, np.newaxis] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    if padding == "symmetric":
        mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
        indices = mirror[np.mod(indices - 1, 2 * in_length).astype(np.intp)]
    else:
        indices = np.clip(indices - 1, 0, in_length - 1).astype(np.intp)
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_along(array: np.ndarray, axis: int, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    moved = np.moveaxis(array, axis, 0)
    out = np.zeros((weights.shape[0], *moved.shape[1:]), dtype=np.float64)
    extra = (slice(None),) + (np.newaxis,) * (moved.ndim - 1)
    for k in range(weights.shape[1]):
        out += weights[:, k][extra] * moved[indices[:, k]]
    return np.moveaxis(out, 0, axis)


def _round_uint8(array: np.ndarray) -> np.ndarray:
    # MATLAB: round half away from zero, saturate to 0..255.
    return np.clip(np.floor(array + 0.5), 0, 255)


def imresize(
    image: np.ndarray,
    scale_or_shape: float | Sequence[int],
    *,
    method: str = "bicubic",
    antialiasing: bool = True,
    padding: str = "symmetric",
) -> np.ndarray:
    """Resize an image exactly as MATLAB's ``imresize`` does.

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, c)
        ``uint8`` (treated as MATLAB's uint8) or any real array (treated as ``double``).
    scale_or_shape : float or (int, int)
        A scale factor (output shape ``ceil(scale * (ny, nx))``, as MATLAB) or the output shape
        ``(rows, cols)`` (the scale of each axis is then ``out / in``).
    method : {"bicubic", "bilinear", "box", "lanczos2", "lanczos3"}
        MATLAB's interpolation kernel.
    antialiasing : bool
        MATLAB's ``'Antialiasing'`` option (default true): when shrinking, the kernel is stretched by
        ``1/scale``.
    padding : {"symmetric", "replicate"}
        How pixels beyond the edge are taken: ``"symmetric"`` (half-sample mirror, ``[1..n, n..1]``) as MATLAB
        R2015b and later; ``"replicate"`` (clamped indices) as older releases (e.g. the 2013 answers online).

    Returns
    -------
    numpy.ndarray
        ``uint8`` when `image` is ``uint8`` (rounded half away from zero and saturated after each axis, as
        MATLAB), else ``float64``.

    Raises
    ------
    ValueError
        If `method` or `padding` is unknown, the scale is not positive and finite, the shape is not two
        positive integers, or `image` is not 2-D / 3-D.
    """
    if method not in IMRESIZE_METHODS:
        raise ValueError(f"method must be one of {tuple(IMRESIZE_METHODS)}, got {method!r}")
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
    is_uint8 = np.asarray(image).dtype == np.uint8
    array = _as_image(image)
    in_shape = array.shape[:2]
    if np.ndim(scale_or_shape) == 0:
        s = float(scale_or_shape)  # type: ignore[arg-type]
        if not np.isfinite(s) or s <= 0:
            raise ValueError(f"scale must be a positive finite number, got {scale_or_shape!r}")
        scales = (s, s)
        out_shape = tuple(int(np.ceil(s * n)) for n in in_shape)
    else:
        shape = tuple(scale_or_shape)  # type: ignore[arg-type]
        if len(shape) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in shape
        ):
            raise ValueError(
                f"output shape must be two positive integers (rows, cols), got {scale_or_shape!r}"
            )
        out_shape = (int(shape[0]), int(shape[1]))
        scales = (out_shape[0] / in_shape[0], out_shape[1] / in_shape[1])
    kernel, width = IMRESIZE_METHODS[method]
    # MATLAB resizes first along the dimension that shrinks most (stable sort: rows first on a tie).
    order = sorted((0, 1), key=lambda d: scales[d])
    out = array
    for axis in order:
        weights, indices = _contributions(
            in_shape[axis], out_shape[axis], scales[axis], kernel, width, antialiasing, padding
        )
        out = _resize_along(out, axis, weights, indices)
        if is_uint8:
            out = _round_uint8(out)
    if is_uint8:
        return out.astype(np.uint8)
    return out


# ------------------------------------------------------------------------------------------------ downsample
def downsample(image: np.ndarray, scale: int, *, method: str = "area") -> np.ndarray:
    """Reduce an image by an integer factor: exact block mean, or MATLAB bicubic ``imresize(image, 1/scale)``.

    The image is first cropped to a multiple of `scale` by dropping its last ``ny % scale`` rows (bottom) and
    ``nx % scale`` columns (right), so the top-left corner is kept.

    Parameters
    ----------
    image : array_like, shape (ny, nx) or (ny, nx, c)
        Values in any unit; converted to ``float64``. ``ny`` and ``nx`` must be >= `scale`.
    scale : int
        Reduction factor, >= 1.
    method : {"area", "bicubic"}
        ``"area"``: mean of each ``scale × scale`` block. ``"bicubic"``: `imresize` with the antialiased
        cubic kernel (as the published MATLAB pipelines made their low-resolution inputs).

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(ny // scale, nx // scale[, c])`` in the unit of `image`.

    Raises
    ------
    ValueError
        If `scale` is not an integer >= 1 or is larger than the image, `method` is unknown, or the image holds
        NaN / inf.
    """
    scale = _check_scale(scale)
    if method not in DOWNSAMPLE_METHODS:
        raise ValueError(f"method must be one of {DOWNSAMPLE_METHODS}, got {method!r}")
    array = _as_image(image)
    _check_finite(array, "image")
    ny, nx = array.shape[:2]
    if ny < scale or nx < scale:
        raise ValueError(f"scale {scale} is larger than the image ({ny} x {nx} pixels)")
    my, mx = ny // scale, nx // scale
    cropped = array[: my * scale, : mx * scale]
    if scale == 1:
        return cropped.copy()
    if method == "area":
        blocks = cropped.reshape(my, scale, mx, scale, *cropped.shape[2:])
        return blocks.mean(axis=(1, 3))
    return imresize(cropped, 1 / scale, method="bicubic", antialiasing=True)


# --------------------------------------------------------------------------------------------------- scans
def _check_finite(array: np.ndarray, what: str) -> None:
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(
            f"{what} has {bad} non-finite pixel(s) (NaN or inf); interpolation would spread them to their "
            "neighbours: fill them (e.g. from their neighbours) or crop them away first"
        )


def _history(scan: Scan, entry: str) -> dict[str, object]:
    metadata = dict(scan.metadata)
    previous = metadata.get("scansr.history")
    metadata["scansr.history"] = f"{previous}; {entry}" if previous else entry
    return metadata


def upscale_scan(
    scan: Scan, scale: int, *, method: str = "bicubic", channels: str | Sequence[str] | None = None
) -> Scan:
    """Upscale every channel (or the chosen ones) of a scan; the pixel size is divided by `scale`.

    Parameters
    ----------
    scan : Scan
        The scan to upscale.
    scale : int
        Upscaling factor, >= 1.
    method : {"bilinear", "bicubic", "lanczos"}
        See `upscale`.
    channels : str or sequence of str, optional
        Channels to upscale; the result holds only these (a scan has one pixel grid). Default: all.

    Returns
    -------
    Scan
        Channels of shape ``(ny * scale, nx * scale)`` in their own units; ``pixel_size``
        ``(dy / s, dx / s)``; ``origin`` unchanged (the top-left corner of the field stays put, see the module
        notes); ``metadata`` gains ``"scansr.upscale"`` (e.g. ``"bicubic x4"``) and an entry in
        ``"scansr.history"``.

    Raises
    ------
    ValueError
        If `scale` or `method` is invalid, or a channel holds NaN / inf (the message names the channel and
        the count).
    UnknownChannelError
        If a name in `channels` is not a channel of the scan.
    """
    scale = _check_scale(scale)
    if method not in UPSCALE_METHODS:
        raise ValueError(f"method must be one of {tuple(UPSCALE_METHODS)}, got {method!r}")
    chosen = scan if channels is None else scan.select(channels)
    new_channels = []
    for channel in chosen.channels:
        _check_finite(channel.data, f"channel {channel.name!r}")
        new_channels.append(channel.replace(data=upscale(channel.data, scale, method=method)))
    pixel_size = None if scan.pixel_size is None else (scan.pixel_size[0] / scale, scan.pixel_size[1] / scale)
    entry = f"upscale {method} x{scale}"
    metadata = _history(scan, entry)
    metadata["scansr.upscale"] = f"{method} x{scale}"
    return scan.replace(channels=tuple(new_channels), pixel_size=pixel_size, metadata=metadata)


def downsample_scan(scan: Scan, scale: int, *, method: str = "area") -> Scan:
    """Downsample every channel of a scan; the pixel size is multiplied by `scale`.

    Parameters
    ----------
    scan : Scan
        The scan to reduce; its last ``ny % scale`` rows and ``nx % scale`` columns are dropped first.
    scale : int
        Reduction factor, >= 1.
    method : {"area", "bicubic"}
        See `downsample`.

    Returns
    -------
    Scan
        Channels of shape ``(ny // scale, nx // scale)``; ``pixel_size`` ``(dy * s, dx * s)``; ``origin``
        unchanged (top-left corner kept); ``metadata`` gains ``"scansr.downsample"`` (e.g. ``"area /4"``)
        and an entry in ``"scansr.history"``.

    Raises
    ------
    ValueError
        If `scale` or `method` is invalid, `scale` exceeds the image, or a channel holds NaN / inf.
    """
    scale = _check_scale(scale)
    if method not in DOWNSAMPLE_METHODS:
        raise ValueError(f"method must be one of {DOWNSAMPLE_METHODS}, got {method!r}")
    new_channels = []
    for channel in scan.channels:
        _check_finite(channel.data, f"channel {channel.name!r}")
        new_channels.append(channel.replace(data=downsample(channel.data, scale, method=method)))
    pixel_size = None if scan.pixel_size is None else (scan.pixel_size[0] * scale, scan.pixel_size[1] * scale)
    ny, nx = scan.shape
    entry = f"downsample {method} /{scale}"
    if ny % scale or nx % scale:
        entry += f" (cropped {ny % scale} bottom rows, {nx % scale} right columns)"
    metadata = _history(scan, entry)
    metadata["scansr.downsample"] = f"{method} /{scale}"
    return scan.replace(channels=tuple(new_channels), pixel_size=pixel_size, metadata=metadata)
