"""Colour conventions of the image-quality literature: MATLAB ``rgb2gray`` and PSNR / SSIM of ordinary images.

Published PSNR / SSIM tables of ordinary 8-bit images follow one convention, which `compare_images` reproduces
(checked against the official values of the IQA calibration set, ``results_official.csv``: PSNR to 0.005 dB,
SSIM to 1e-4):

- PSNR over all three RGB channels together, ``data_range = 255``;
- SSIM (`scansr.metrics.fidelity.ssim`, Wang et al.'s ``ssim_index.m``) on the grey image that MATLAB's
  ``rgb2gray`` makes: ``0.298936021293776 R + 0.587043074451121 G + 0.114020904255103 B`` (the first row
  of the inverse NTSC matrix), rounded half away from zero back to ``uint8``; 11 × 11 Gaussian window,
  σ = 1.5, ``'valid'`` filtering, ``K = (0.01, 0.03)``, ``L = 255``, no automatic down-sampling.

`compare_scans` applies that convention to scans read from ordinary image files and, for scans, compares one
physical channel with an explicit (or reported) data range.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from scansr.metrics.fidelity import psnr, ssim
from scansr.scan import Scan

__all__ = ["RGB2GRAY", "Comparison", "ImageComparison", "compare_images", "compare_scans", "rgb2gray"]

logger = logging.getLogger(__name__)

#: MATLAB ``rgb2gray`` weights of R, G, B: first row of
#: ``inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703])``.
RGB2GRAY = (0.298936021293776, 0.587043074451121, 0.114020904255103)

_RGB_NAMES = (("r", "g", "b"), ("red", "green", "blue"))


def rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """Convert an RGB image to grey exactly as MATLAB's ``rgb2gray``.

    Parameters
    ----------
    rgb : array_like, shape (ny, nx, 3)
        Colour image, channels in R, G, B order (OpenCV reads B, G, R: reverse it first).

    Returns
    -------
    numpy.ndarray, shape (ny, nx)
        ``uint8`` for ``uint8`` input (rounded half away from zero, as MATLAB), else ``float64`` (not
        rounded).

    Raises
    ------
    ValueError
        If `rgb` is not of shape ``(ny, nx, 3)``.
    """
    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"rgb must have shape (ny, nx, 3), got {array.shape}")
    grey = array.astype(np.float64) @ np.asarray(RGB2GRAY)
    if array.dtype == np.uint8:
        return np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)
    return grey


class ImageComparison(NamedTuple):
    """PSNR and SSIM of an 8-bit image against its reference (see the module notes for the convention)."""

    psnr: float
    ssim: float


def _as_8bit(image: object, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    values = np.asarray(array, dtype=np.float64)
    if values.size and (
        not np.all(np.isfinite(values))
        or values.min() < 0
        or values.max() > 255
        or np.any(values != np.round(values))
    ):
        raise ValueError(
            f"{what} must hold 8-bit values (uint8, or whole numbers 0..255); for other data use "
            "scansr.metrics.psnr / ssim with an explicit data_range"
        )
    return values.astype(np.uint8)


def compare_images(reference_rgb: np.ndarray, test_rgb: np.ndarray) -> ImageComparison:
    """PSNR and SSIM of an 8-bit image against a reference, in the convention of published IQA tables.

    Parameters
    ----------
    reference_rgb, test_rgb : array_like, shape (ny, nx, 3) or (ny, nx)
        8-bit images (``uint8`` or whole numbers 0..255) of the same shape, channels in R, G, B order.

    Returns
    -------
    ImageComparison
        ``psnr`` in dB over every channel with ``data_range = 255`` (``inf`` for identical images) and
        ``ssim`` on the MATLAB ``rgb2gray`` grey images (grey input is used as it is).

    Raises
    ------
    ValueError
        If the images are not 8-bit, not of one shape, or not grey / RGB.
    """
    ref = _as_8bit(reference_rgb, "reference_rgb")
    tst = _as_8bit(test_rgb, "test_rgb")
    if ref.shape != tst.shape:
        raise ValueError(f"reference and test must have the same shape, got {ref.shape} and {tst.shape}")
    if not (ref.ndim == 2 or (ref.ndim == 3 and ref.shape[2] == 3)):
        raise ValueError(f"images must be grey (ny, nx) or RGB (ny, nx, 3), got shape {ref.shape}")
    p = psnr(ref, tst, data_range=255)
    grey_ref = rgb2gray(ref) if ref.ndim == 3 else ref
    grey_tst = rgb2gray(tst) if tst.ndim == 3 else tst
    s = ssim(grey_ref, grey_tst, data_range=255)
    return ImageComparison(psnr=p, ssim=s)


class Comparison(NamedTuple):
    """Result of `compare_scans`.

    Attributes
    ----------
    psnr : float
        PSNR in dB.
    ssim : float
        Mean SSIM (dimensionless).
    data_range : float
        The data range used, in `unit`.
    channel : str
        The channel compared (``"RGB"`` for colour images).
    unit : str
        Unit of the channel.
    convention : str
        The convention in words (printed by ``scansr compare``).
    """

    psnr: float
    ssim: float
    data_range: float
    channel: str
    unit: str
    convention: str


def _rgb_channels(scan: Scan) -> tuple[str, str, str] | None:
    folded = {c.name.casefold(): c.name for c in scan.channels}
    for names in _RGB_NAMES:
        if all(n in folded for n in names) and len(scan.channels) in (3, 4):
            return (folded[names[0]], folded[names[1]], folded[names[2]])
    return None


def compare_scans(
    reference: Scan, test: Scan, *, channel: str | None = None, data_range: float | None = None
) -> Comparison:
    """PSNR and SSIM of `test` against `reference`: ordinary images by `compare_images`, scans by one channel.

    Parameters
    ----------
    reference, test : Scan
        Scans of the same shape. When both come from ordinary image files (``format == "image"``) and
        `channel` is not given, they are compared as 8-bit images (RGB when they hold R, G, B channels).
    channel : str, optional
        Channel compared in both scans (default: the reference's `Scan.default_channel`).
    data_range : float, optional
        Value range in the channel's unit for PSNR and SSIM. Default: 255 for 8-bit images; for scans,
        ``max - min`` of the reference channel (reported in ``convention``; give it explicitly to compare
        results across scans).

    Returns
    -------
    Comparison
        PSNR, SSIM, the data range, channel and unit used, and the convention in words.

    Raises
    ------
    ValueError
        If the shapes differ, a channel holds NaN / inf, the reference is constant and no `data_range` is
        given, or `data_range` is not positive.
    UnknownChannelError
        If `channel` is not a channel of both scans.
    """
    if channel is None and reference.format == "image" and test.format == "image":
        rgb_ref, rgb_test = _rgb_channels(reference), _rgb_channels(test)
        if rgb_ref and rgb_test:
            ref = np.stack([reference[n].data for n in rgb_ref], axis=-1)
            tst = np.stack([test[n].data for n in rgb_test], axis=-1)
            name, unit = "RGB", reference[rgb_ref[0]].unit
        else:
            ref, tst = reference[reference.default_channel].data, test[test.default_channel].data
            name, unit = reference.default_channel, reference[reference.default_channel].unit
        if ref.shape != tst.shape:
            raise ValueError(f"reference and test must have the same shape, got {ref.shape} and {tst.shape}")
        kind = (
            "RGB image: PSNR over all R, G, B values, SSIM on MATLAB rgb2gray"
            if ref.ndim == 3
            else "grey image"
        )
        if data_range is None or float(data_range) == 255:
            result = compare_images(ref, tst)
            convention = f"8-bit {kind}; data range 255; SSIM Gaussian 11x11, sigma 1.5"
            return Comparison(result.psnr, result.ssim, 255.0, name, unit, convention)
        value_range = float(data_range)
        p = psnr(ref, tst, data_range=value_range)
        s = (
            ssim(rgb2gray(ref), rgb2gray(tst), data_range=value_range)
            if ref.ndim == 3
            else ssim(ref, tst, data_range=value_range)
        )
        convention = f"{kind}; data range {value_range:.6g} (given); SSIM Gaussian 11x11, sigma 1.5"
        return Comparison(p, s, value_range, name, unit, convention)
    name = channel if channel is not None else reference.default_channel
    ref_channel, test_channel = reference[name], test[name]
    ref, tst = ref_channel.data, test_channel.data
    if ref.shape != tst.shape:
        raise ValueError(f"reference and test must have the same shape, got {ref.shape} and {tst.shape}")
    if data_range is None:
        finite = ref[np.isfinite(ref)]
        span = float(finite.max() - finite.min()) if finite.size else 0.0
        if span <= 0:
            raise ValueError(f"channel {name!r} of the reference is constant: give data_range explicitly")
        value_range, how = span, "max - min of the reference"
    else:
        value_range, how = float(data_range), "given"
    p = psnr(ref, tst, data_range=value_range)
    s = ssim(ref, tst, data_range=value_range)
    unit = ref_channel.unit
    convention = (
        f"channel {name!r}, data range {value_range:.6g} {unit or '(no unit)'} ({how}); "
        "SSIM Gaussian 11x11, sigma 1.5"
    )
    return Comparison(p, s, value_range, name, unit, convention)
