"""No-reference sharpness: mean gradient magnitude and the real-pair study's Fourier sharpness.

Fourier sharpness
    The real-pair study (Beilstein J. Nanotechnol. 2025, "No-reference metrics") computes "the Fourier
    sharpness by the mean of the logarithm of the absolute value shifted DFT" on its 8-bit grey images:
    heights min-max normalised and converted to 0-255, super-resolved outputs clamped to [0, 1] of the
    low-resolution image's range and converted to 0-255. `fourier_sharpness` reproduces that: scale `image`
    linearly so that `value_range` (default: the image's own minimum and maximum) maps to 0-255, clip, round
    to integers, then ``mean(ln |fftshift(fft2(grey))|)`` with the natural logarithm. The natural logarithm of
    8-bit grey levels gives values of 5-6 for ~370² AFM images, the range of the study's Tables 1-2 (log10
    would give 2-3); the rounding to integers matters (it adds a white floor to the spectrum: up to +0.5 for
    smooth upscaled images), so it is on by default. fftshift only reorders the coefficients and does not
    change the mean. The value grows with the image size (by ln of the side), so compare only images of one
    size; higher means more high-frequency content, which noise also provides.

Gradient sharpness
    `gradient_sharpness` is the mean magnitude of the first-order gradient: differences along x and y at the
    centre of each 2 × 2 cell (each the mean of two neighbouring differences), divided by the pixel pitch when
    `pixel_size` is given. For a height map in metres that is the mean surface slope (dimensionless); a plane
    of slope ``(a, b)`` gives exactly ``sqrt(a² + b²)``.
"""

from __future__ import annotations

import logging

import numpy as np

from scansr._checks import image_2d, pixel_size_pair

__all__ = ["fourier_sharpness", "gradient_sharpness", "to_grey8"]

logger = logging.getLogger(__name__)


def _image(image: object, what: str = "image") -> np.ndarray:
    return image_2d(image, what)


def _pixel_size(pixel_size: object) -> tuple[float, float] | None:
    return None if pixel_size is None else pixel_size_pair(pixel_size)


def to_grey8(
    image: object, *, value_range: tuple[float, float] | None = None, quantize: bool = True
) -> np.ndarray:
    """Map an image linearly to 8-bit grey levels 0-255, as the real-pair study prepared its images.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit.
    value_range : (float, float), optional
        ``(low, high)`` mapped to 0 and 255; values outside are clipped. Default: the image's minimum and
        maximum (min-max normalisation). Give the reference's range to score several images on one scale.
    quantize : bool
        Round to integers (the study's 8-bit images); False keeps the float grey levels.

    Returns
    -------
    numpy.ndarray of float64
        Grey levels in [0, 255].

    Raises
    ------
    ValueError
        A non-2-D or non-finite image, a constant image without `value_range`, or ``high <= low``.
    """
    array = _image(image)
    if value_range is None:
        low, high = float(array.min()), float(array.max())
        if not high > low:
            raise ValueError("the image is constant; min-max normalisation is undefined (give value_range)")
    else:
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
        if not (np.isfinite(low) and np.isfinite(high) and high > low):
            raise ValueError(f"value_range must be finite with high > low, got {value_range!r}")
    grey = (np.clip(array, low, high) - low) * (255.0 / (high - low))
    return np.round(grey) if quantize else grey


def fourier_sharpness(
    image: object, *, value_range: tuple[float, float] | None = None, quantize: bool = True
) -> float:
    """Fourier sharpness of the real-pair study: mean natural log of the magnitude of the centred 2-D DFT.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit (heights in m, grey levels, ...); scaled to 8-bit grey levels first (`to_grey8`).
    value_range : (float, float), optional
        Values mapped to grey 0 and 255 (default: the image's own minimum and maximum).
    quantize : bool
        Round the grey levels to integers, as the study's 8-bit images (default).

    Returns
    -------
    float
        ``mean(ln |fftshift(fft2(grey))|)`` (dimensionless; higher is sharper). DFT coefficients that are
        exactly zero (possible only in synthetic images) are left out of the mean.

    Raises
    ------
    ValueError
        A non-2-D, non-finite or constant image, or a bad `value_range`.
    """
    grey = to_grey8(image, value_range=value_range, quantize=quantize)
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(grey)))
    nonzero = magnitude > 0
    if not nonzero.all():
        logger.debug(
            "fourier_sharpness: %d DFT coefficient(s) are exactly 0", int(np.count_nonzero(~nonzero))
        )
    return float(np.mean(np.log(magnitude[nonzero])))


def gradient_sharpness(image: object, *, pixel_size: tuple[float, float] | None = None) -> float:
    """Mean gradient magnitude (first-order differences along x and y).

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit.
    pixel_size : (float, float), optional
        ``(dy, dx)`` in metres: the gradient is then per metre (for heights in m: the mean slope); default:
        per pixel.

    Returns
    -------
    float
        Mean over the ``(ny - 1) × (nx - 1)`` cell centres of ``sqrt(gx² + gy²)``, in the image's unit per
        pixel (or per metre). Higher is sharper.

    Raises
    ------
    ValueError
        A non-2-D or non-finite image, or a bad `pixel_size`.
    """
    z = _image(image)
    dy, dx = _pixel_size(pixel_size) or (1.0, 1.0)
    gx = ((z[:-1, 1:] - z[:-1, :-1]) + (z[1:, 1:] - z[1:, :-1])) / (2.0 * dx)
    gy = ((z[1:, :-1] - z[:-1, :-1]) + (z[1:, 1:] - z[:-1, 1:])) / (2.0 * dy)
    return float(np.mean(np.hypot(gx, gy)))
