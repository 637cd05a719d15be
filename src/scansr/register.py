"""Align a real low-resolution scan (upscaled, or a larger field of view) to a real high-resolution scan.

Real low/high-resolution pairs are two separate measurements: drift, a zoom offset, a small rotation or scale
error separate them, so they must be aligned before any reference metric means anything. This module offers

- `register_sift`: SIFT features + brute-force kNN matching with Lowe's ratio test + RANSAC homography, as the
  real-pair study (Beilstein J. Nanotechnol. 2025) did with OpenCV;
- `register_phase`: subpixel phase correlation (translation only), for feature-poor scans;
- `register_ecc`: OpenCV's ECC maximisation (translation / Euclidean / affine / homography) on a Gaussian
  pyramid, started from a guess such as `initial_transform_from_metadata`;
- `refine_elastic`: dense pyramid optical flow for the residual local distortion (piezo non-linearity, drift
  during the scan), as the SEM paper's pyramid elastic registration;
- `warp` and `crop_common`: resample the moving image onto the fixed grid and crop both to the largest
  rectangle where the moving image is defined;
- `register_scans`: all of it on `Scan` objects, with physical pixel sizes and scan offsets.

Conventions
-----------
Every transform is a 3×3 matrix acting on homogeneous pixel coordinates ``(x, y, 1)`` with ``x`` the column
and ``y`` the row, pixel centres at integer coordinates (OpenCV's convention). `Registration.matrix` maps a
point of the *moving* image to the same point of the *fixed* image. A displacement field ``flow`` of shape
``(ny, nx, 2)`` lives on the fixed grid: fixed pixel ``p`` takes its value from the matrix-warped moving image
at ``p + flow[p]`` (``flow[..., 0]`` along x, ``flow[..., 1]`` along y, in fixed pixels).

Feature detection and optical flow run on 8-bit renderings (a least-squares plane removed, heights clipped to
robust percentiles and scaled to 0-255); the returned transforms are applied to the original float data.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from scipy import ndimage

from scansr.scan import Channel, Scan, ScanError

__all__ = [
    "ECC_MOTIONS",
    "INTERPOLATIONS",
    "METHODS",
    "CommonRegion",
    "RegisteredPair",
    "Registration",
    "RegistrationError",
    "Warped",
    "crop_common",
    "initial_transform_from_metadata",
    "refine_elastic",
    "register_ecc",
    "register_phase",
    "register_scans",
    "register_sift",
    "render8",
    "warp",
]

logger = logging.getLogger(__name__)

METHODS = ("auto", "sift", "phase", "ecc")
ECC_MOTIONS = {
    "translation": cv2.MOTION_TRANSLATION,
    "euclidean": cv2.MOTION_EUCLIDEAN,
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}
SIFT_MODELS = ("homography", "affine", "similarity")
FLOW_METHODS = ("farneback", "dis")
# Spline order of scipy.ndimage.map_coordinates. OpenCV's remap is not used for the data: it quantises
# sampling positions to 1/32 pixel, and OpenCV 5.0's float64 cubic remap returns zeros near the border.
INTERPOLATIONS = {"nearest": 0, "linear": 1, "cubic": 3, "quintic": 5}
# Relative difference of pixel sizes below which two scans count as sampled alike (no resampling).
_SAME_PIXEL_RTOL = 1e-3


class RegistrationError(ScanError, ValueError):
    """Two images could not be aligned; the message says why and what to try instead."""


# --------------------------------------------------------------------------------------------------- types
def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Registration:
    """A transform that maps the moving image onto the fixed image.

    Parameters
    ----------
    matrix : array_like, shape (3, 3)
        Maps homogeneous moving pixel coordinates ``(x, y, 1)`` (x = column, y = row) to fixed pixel
        coordinates.
    method : str
        What produced it (``"sift"``, ``"phase"``, ``"ecc"``, ``"metadata"``, ...).
    flow : array_like, shape (ny, nx, 2), optional
        Residual displacement field on the fixed grid in fixed pixels (``[..., 0]`` along x, ``[..., 1]``
        along y): fixed pixel ``p`` takes the value of the matrix-warped moving image at ``p + flow[p]``.
    n_matches : int, optional
        Feature matches that passed the ratio test (SIFT).
    inliers : int, optional
        Matches consistent with the fitted transform (SIFT).
    score : float, optional
        Correlation coefficient of the aligned images (``"ecc"``: ECC's own, ``"phase"``: Pearson's on the
        common region); 1 is a perfect match.
    """

    matrix: np.ndarray
    method: str
    flow: np.ndarray | None = None
    n_matches: int | None = None
    inliers: int | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float64)
        if matrix.shape == (2, 3):
            matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
        if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
            raise ValueError(f"matrix must be a finite 3x3 (or 2x3) array, got shape {matrix.shape}")
        if abs(matrix[2, 2]) < 1e-12 or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError("matrix must be invertible")
        object.__setattr__(self, "matrix", _frozen(matrix / matrix[2, 2]))
        if self.flow is not None:
            flow = np.asarray(self.flow)
            if flow.ndim != 3 or flow.shape[2] != 2:
                raise ValueError(f"flow must have shape (ny, nx, 2), got {flow.shape}")
            object.__setattr__(self, "flow", _frozen(flow))

    @property
    def scale(self) -> float:
        """Mean linear scale factor moving → fixed (square root of the affine part's determinant)."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:2, :2]))))

    @property
    def rotation_deg(self) -> float:
        """Rotation of the affine part in degrees, counter-clockwise as displayed (row 0 at the top).

        The sign convention of ``cv2.getRotationMatrix2D``.
        """
        a = self.matrix[:2, :2]
        return float(math.degrees(math.atan2(a[0, 1] - a[1, 0], a[0, 0] + a[1, 1])))

    def map_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Map moving pixel coordinates ``(x, y)``, shape ``(n, 2)``, to fixed ones (the matrix only)."""
        return _apply_matrix(self.matrix, np.asarray(points_xy, dtype=np.float64))

    def replace(self, **changes) -> Registration:
        """Return a copy with some fields changed."""
        fields = {
            "matrix": self.matrix,
            "method": self.method,
            "flow": self.flow,
            "n_matches": self.n_matches,
            "inliers": self.inliers,
            "score": self.score,
        }
        fields.update(changes)
        return Registration(**fields)

    def __repr__(self) -> str:
        t = self.matrix[:2, 2]
        extra = f", flow {self.flow.shape[0]}x{self.flow.shape[1]}" if self.flow is not None else ""
        return (
            f"Registration({self.method}, shift x={t[0]:.3f} y={t[1]:.3f} px, scale {self.scale:.4f}, "
            f"rotation {self.rotation_deg:.3f} deg{extra})"
        )


class Warped(NamedTuple):
    """A moving image resampled onto the fixed grid."""

    image: np.ndarray
    """The warped values (float64; NaN where the moving image does not reach)."""
    valid: np.ndarray
    """Boolean mask: where the warped value comes from inside the moving image."""


class CommonRegion(NamedTuple):
    """Fixed and warped moving images cropped to the same rectangle."""

    fixed: np.ndarray
    moving: np.ndarray
    box: tuple[int, int, int, int]
    """``(y0, y1, x0, x1)``: the rows ``y0:y1`` and columns ``x0:x1`` of the fixed grid that were kept."""


class RegisteredPair(NamedTuple):
    """Two scans on one pixel grid, cropped to where both are measured."""

    fixed: Scan
    moving: Scan
    registration: Registration
    box: tuple[int, int, int, int]
    """``(y0, y1, x0, x1)`` of the crop within the fixed scan."""


# --------------------------------------------------------------------------------------------------- helpers
def _check_image(image, what: str) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {array.shape}")
    if min(array.shape) < 8:
        raise ValueError(f"{what} must be at least 8x8 pixels, got {array.shape[0]}x{array.shape[1]}")
    if not np.isfinite(array).any():
        raise ValueError(f"{what} holds no finite value")
    return array


def _check_matrix(matrix, what: str) -> np.ndarray:
    if isinstance(matrix, Registration):
        return matrix.matrix
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"{what} must be a finite 3x3 matrix, got {np.asarray(matrix).shape}")
    return m / m[2, 2]


def _apply_matrix(matrix: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    pts = np.atleast_2d(points_xy)
    h = pts @ matrix[:2, :2].T + matrix[:2, 2]
    w = pts @ matrix[2, :2] + matrix[2, 2]
    return h / w[:, None]


def _fill_nonfinite(image: np.ndarray) -> np.ndarray:
    finite = np.isfinite(image)
    if finite.all():
        return image
    out = image.copy()
    out[~finite] = np.median(image[finite])
    return out


def _remove_plane(image: np.ndarray) -> np.ndarray:
    ny, nx = image.shape
    y, x = np.mgrid[0:ny, 0:nx]
    a = np.column_stack([np.ones(image.size), x.ravel() / nx, y.ravel() / ny])
    coef, *_ = np.linalg.lstsq(a, image.ravel(), rcond=None)
    return image - (a @ coef).reshape(image.shape)


def render8(image, *, percentiles: tuple[float, float] = (0.5, 99.5), level: bool = True) -> np.ndarray:
    """Render a float image (heights in m, or any unit) as 8-bit grey for feature detection.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit; non-finite values are replaced by the median.
    percentiles : (float, float)
        Values below / above these percentiles are clipped before scaling to 0-255 (robust to spikes).
    level : bool
        Subtract the least-squares plane first (AFM sample tilt would otherwise dominate the grey range).

    Returns
    -------
    numpy.ndarray of uint8

    Raises
    ------
    ValueError
        If `percentiles` is not an increasing pair within 0-100.
    """
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise ValueError(f"percentiles must be an increasing pair within 0-100, got {percentiles!r}")
    array = _fill_nonfinite(np.asarray(image, dtype=np.float64))
    if level:
        array = _remove_plane(array)
    lo, hi = np.percentile(array, [lo_p, hi_p])
    if not hi > lo:
        return np.zeros(array.shape, dtype=np.uint8)
    scaled = (np.clip(array, lo, hi) - lo) * (255.0 / (hi - lo))
    return np.round(scaled).astype(np.uint8)


def _zscore(image: np.ndarray) -> np.ndarray:
    array = _fill_nonfinite(image)
    std = array.std()
    return ((array - array.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def _standardise(image: np.ndarray) -> np.ndarray:
    return _zscore(_remove_plane(_fill_nonfinite(image)))


def _maps_to_convex(matrix: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether the moving image's corners map to a convex, same-handed quadrilateral (no fold, no mirror)."""
    ny, nx = shape
    corners = np.array([[0.0, 0.0], [nx - 1.0, 0.0], [nx - 1.0, ny - 1.0], [0.0, ny - 1.0]])
    w = corners @ matrix[2, :2] + matrix[2, 2]
    if np.any(w <= 0):
        return False
    q = _apply_matrix(matrix, corners)
    edges = np.roll(q, -1, axis=0) - q
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    return bool(np.all(cross > 0))


# --------------------------------------------------------------------------------------------------- SIFT
def register_sift(
    fixed,
    moving,
    *,
    ratio: float = 0.75,
    ransac_threshold: float = 3.0,
    min_matches: int = 10,
    model: str = "homography",
    n_features: int = 0,
) -> Registration:
    """Align `moving` to `fixed` with SIFT features, kNN ratio-test matching and a RANSAC fit.

    The real-pair study's method: SIFT keypoints on 8-bit renderings (`render8`), brute-force matching of
    descriptors by Euclidean distance with k = 2 nearest neighbours, Lowe's ratio test, then a homography
    fitted by RANSAC (and refined on its inliers). SIFT is scale- and rotation-invariant, so no starting guess
    is needed, but the images must share distinct features; for smooth or periodic scans use `register_phase`
    or `register_ecc`.

    Parameters
    ----------
    fixed, moving : array_like, shape (ny, nx)
        The reference (high-resolution) image and the image to align to it (e.g. an upscaled low-resolution
        scan).
    ratio : float
        Lowe's ratio: a match is kept when its distance is below `ratio` times that of the second-best match.
    ransac_threshold : float
        Largest reprojection error, in fixed pixels, for a match to count as an inlier.
    min_matches : int
        Fewest ratio-test matches, and fewest inliers, accepted (at least 4).
    model : {"homography", "affine", "similarity"}
        Transform fitted to the matches: a homography (8 parameters, as the study), an affine map (6), or a
        similarity (rotation + uniform scale + shift, 4).
    n_features : int
        Keep at most this many SIFT keypoints per image (0: all).

    Returns
    -------
    Registration
        ``method="sift"`` with `n_matches` and `inliers` filled in.

    Raises
    ------
    RegistrationError
        Too few matches or inliers, or no transform could be fitted.
    ValueError
        A bad argument.
    """
    fixed = _check_image(fixed, "fixed")
    moving = _check_image(moving, "moving")
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be between 0 and 1, got {ratio!r}")
    if not ransac_threshold > 0:
        raise ValueError(f"ransac_threshold must be positive (pixels), got {ransac_threshold!r}")
    if int(min_matches) < 4:
        raise ValueError(f"min_matches must be at least 4, got {min_matches!r}")
    if model not in SIFT_MODELS:
        raise ValueError(f"model must be one of {SIFT_MODELS}, got {model!r}")

    sift = cv2.SIFT_create(nfeatures=int(n_features))
    kp_f, des_f = sift.detectAndCompute(render8(fixed), None)
    kp_m, des_m = sift.detectAndCompute(render8(moving), None)
    advice = "try register_phase (translation) or register_ecc with a starting guess from the scan offsets"
    if des_f is None or des_m is None or len(kp_f) < 2 or len(kp_m) < 2:
        raise RegistrationError(
            f"SIFT found too few features ({len(kp_f)} in fixed, {len(kp_m)} in moving); {advice}"
        )
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_m, des_f, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    if len(good) < min_matches:
        raise RegistrationError(
            f"only {len(good)} SIFT matches passed the ratio test (need {min_matches}); {advice}"
        )
    src = np.float32([kp_m[m.queryIdx].pt for m in good]).reshape(-1, 1, 2)
    dst = np.float32([kp_f[m.trainIdx].pt for m in good]).reshape(-1, 1, 2)
    if model == "homography":
        matrix, mask = cv2.findHomography(
            src, dst, cv2.RANSAC, float(ransac_threshold), maxIters=5000, confidence=0.999
        )
    elif model == "affine":
        matrix, mask = cv2.estimateAffine2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=float(ransac_threshold),
            maxIters=5000,
            confidence=0.999,
            refineIters=20,
        )
    else:
        matrix, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=float(ransac_threshold),
            maxIters=5000,
            confidence=0.999,
            refineIters=20,
        )
    if matrix is None or mask is None:
        raise RegistrationError(f"RANSAC could not fit a {model} to {len(good)} SIFT matches; {advice}")
    inliers = int(np.count_nonzero(mask))
    if inliers < min_matches:
        raise RegistrationError(
            f"only {inliers} of {len(good)} SIFT matches agree on one {model} (need {min_matches}); {advice}"
        )
    try:
        reg = Registration(matrix, "sift", n_matches=len(good), inliers=inliers)
    except ValueError as exc:
        raise RegistrationError(f"SIFT gave a degenerate {model} ({exc}); {advice}") from exc
    if not _maps_to_convex(reg.matrix, moving.shape):
        raise RegistrationError(
            f"SIFT's {model} folds or mirrors the moving image ({inliers} inliers of {len(good)} matches are "
            f"probably chance agreements); {advice}"
        )
    logger.debug("SIFT: %d matches, %d inliers: %r", len(good), inliers, reg)
    return reg


# --------------------------------------------------------------------------------------------------- phase
def register_phase(
    fixed,
    moving,
    *,
    upsample: int = 50,
    init=None,
    window: bool = True,
    iterations: int = 3,
    normalization: str | None = "phase",
) -> Registration:
    """Align `moving` to `fixed` by subpixel phase correlation (a pure translation).

    Uses `skimage.registration.phase_cross_correlation` with upsampled matrix multiplication (Guizar-Sicairos
    et al. 2008). Robust for feature-poor and noisy scans, but finds a translation only: remove rotation and
    scale first (`init`, or resample to the same pixel size). Each iteration after the first warps `moving` by
    the current estimate, crops both images to their common region and measures the remaining shift, which
    removes the window's bias towards zero shift.

    Phase correlation weights all spatial frequencies alike. When `moving` is upscaled from a coarser scan,
    its aliased top octave can bias the result by ~0.1 fixed pixel; ``normalization=None`` (plain
    cross-correlation, weighted by power) avoids that but is pulled by uneven backgrounds; `register_ecc` is
    the more accurate choice.

    Parameters
    ----------
    fixed, moving : array_like, shape (ny, nx)
        Reference image and image to align. Without `init` they must have the same shape.
    upsample : int
        Subpixel precision of one measurement is ``1 / upsample`` pixel.
    init : array_like (3, 3) or Registration, optional
        Starting transform moving → fixed (e.g. `initial_transform_from_metadata`); the translation found is
        composed with it.
    window : bool
        Multiply both images by a Hann window (suppresses the edge discontinuity of non-periodic scans).
    iterations : int
        Number of measurements (1: a single plain phase correlation).
    normalization : {"phase", None}
        ``"phase"``: whitened cross-power spectrum (phase correlation); None: plain cross-correlation.

    Returns
    -------
    Registration
        ``method="phase"``; `score` is the correlation coefficient of the aligned images on their common
        region.

    Raises
    ------
    RegistrationError
        The images do not overlap, or the common region is too small.
    ValueError
        A bad argument, or shapes differ without `init`.
    """
    from skimage.filters import window as make_window
    from skimage.registration import phase_cross_correlation

    fixed = _check_image(fixed, "fixed")
    moving = _check_image(moving, "moving")
    if int(upsample) < 1:
        raise ValueError(f"upsample must be a positive integer, got {upsample!r}")
    if int(iterations) < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if normalization not in ("phase", None):
        raise ValueError(f"normalization must be 'phase' or None, got {normalization!r}")
    if init is None and fixed.shape != moving.shape:
        raise ValueError(
            f"fixed {fixed.shape} and moving {moving.shape} differ in shape; pass init (e.g. from "
            "initial_transform_from_metadata) or resample moving to the fixed pixel size"
        )
    current = np.eye(3) if init is None else _check_matrix(init, "init")
    for i in range(int(iterations)):
        if i == 0 and init is None:
            f_img, m_img = fixed, moving
        else:
            warped = warp(moving, Registration(current, "phase"), fixed.shape, interpolation="cubic")
            try:
                common = crop_common(fixed, warped.image, warped.valid)
            except RegistrationError as exc:
                raise RegistrationError(
                    f"the images do not overlap under the current estimate: {exc}"
                ) from exc
            f_img, m_img = common.fixed, common.moving
            if min(f_img.shape) < 16:
                raise RegistrationError(
                    f"the common region is only {f_img.shape[0]}x{f_img.shape[1]} px; check the starting "
                    "guess (scan offsets) or use register_sift"
                )
        f_img = _standardise(f_img).astype(np.float64)
        m_img = _standardise(m_img).astype(np.float64)
        if window:
            w = make_window("hann", f_img.shape)
            f_img, m_img = f_img * w, m_img * w
        shift, _, _ = phase_cross_correlation(
            f_img, m_img, upsample_factor=int(upsample), normalization=normalization
        )
        # The shift moves `moving` onto `fixed`: fixed(p) = moving(p - shift), so moving q -> fixed q + shift.
        current = np.array([[1.0, 0.0, shift[1]], [0.0, 1.0, shift[0]], [0.0, 0.0, 1.0]]) @ current
    final = warp(moving, Registration(current, "phase"), fixed.shape, interpolation="cubic")
    common = crop_common(fixed, final.image, final.valid)
    return Registration(current, "phase", score=_correlation(common.fixed, common.moving))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom > 0 else float("nan")


# --------------------------------------------------------------------------------------------------- ECC
def _pyramid_levels(shape: tuple[int, int], levels: int | None) -> int:
    if levels is None:
        return max(0, math.floor(math.log2(max(min(shape), 1) / 96.0)))
    if int(levels) < 0:
        raise ValueError(f"levels must be >= 0 or None, got {levels!r}")
    return int(levels)


def _scale_matrix(matrix: np.ndarray, factor: float) -> np.ndarray:
    s = np.diag([factor, factor, 1.0])
    return s @ matrix @ np.linalg.inv(s)


def register_ecc(
    fixed,
    moving,
    *,
    motion: str = "affine",
    init=None,
    levels: int | None = None,
    max_iterations: int = 200,
    epsilon: float = 1e-7,
    gauss_size: int = 5,
) -> Registration:
    """Align `moving` to `fixed` by maximising the enhanced correlation coefficient (ECC).

    OpenCV's `findTransformECC` (Evangelidis & Psarakis 2008), run coarse to fine on a Gaussian pyramid. ECC
    is intensity-based and insensitive to gain and offset; it needs a starting guess within a few pixels at
    the coarsest level, e.g. from the scans' offsets (`initial_transform_from_metadata`). The smaller of the
    two images is used as the template, so a zoom is registered inside the larger scan.

    ECC is not insensitive to a *plane* (sample tilt), and two scans may carry different ones. The first pass
    is started from three renderings: both images as they are, one plane per image fitted over the overlap
    that `init` predicts, and each image's own plane; each result is then refined with the planes refitted
    over the overlap it gives, until it stops moving, and the highest correlation wins. (Separate planes
    alone fail on smooth scans: those of a crop and of the whole scan differ by the crop's local slope.) The
    Gaussian pre-filter is applied here and the filtered borders are cut off, so that a crop of a scan is
    found exactly where it was cut (OpenCV's own filter pads the template at its edges, which biases the
    scale by about 0.1 %).

    Parameters
    ----------
    fixed, moving : array_like, shape (ny, nx)
        Reference image and image to align (shapes may differ).
    motion : {"translation", "euclidean", "affine", "homography"}
        Transform model.
    init : array_like (3, 3) or Registration, optional
        Starting transform moving → fixed (default: identity).
    levels : int, optional
        Pyramid levels above full resolution (default: enough for the coarsest level to be ~100 px).
    max_iterations : int
        Iterations per level.
    epsilon : float
        Stop when the correlation coefficient improves by less than this.
    gauss_size : int
        Size of OpenCV's Gaussian pre-filter (odd; 1 = none).

    Returns
    -------
    Registration
        ``method="ecc"``; `score` is the final correlation coefficient (1 = perfect).

    Raises
    ------
    RegistrationError
        ECC did not converge; the message suggests what to try.
    ValueError
        A bad argument.
    """
    fixed = _check_image(fixed, "fixed")
    moving = _check_image(moving, "moving")
    if motion not in ECC_MOTIONS:
        raise ValueError(f"motion must be one of {tuple(ECC_MOTIONS)}, got {motion!r}")
    if int(gauss_size) < 1 or int(gauss_size) % 2 == 0:
        raise ValueError(f"gauss_size must be a positive odd integer, got {gauss_size!r}")
    if int(max_iterations) < 1:
        raise ValueError(f"max_iterations must be positive, got {max_iterations!r}")
    m2f = np.eye(3) if init is None else _check_matrix(init, "init")
    if motion != "homography" and not np.allclose(m2f[2, :2], 0.0):
        raise ValueError(
            f"init is a homography; use motion='homography' or an affine init, got motion={motion!r}"
        )

    # The template is the image that fits inside the other; ECC's warp maps template to input coordinates.
    moving_is_template = moving.size < fixed.size
    template, target = (moving, fixed) if moving_is_template else (fixed, moving)
    warp_full = m2f if moving_is_template else np.linalg.inv(m2f)
    warp_full = warp_full / warp_full[2, 2]
    n_levels = _pyramid_levels(template.shape, levels)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, int(max_iterations), float(epsilon))
    solve = _EccSolver(template, target, motion, criteria, int(gauss_size))

    # Sample tilt: each scan may carry a plane of its own (instrument levelling, drift), and separate planes
    # fitted to a crop and to the whole scan differ by the crop's local slope, which pulls ECC off a correct
    # start on smooth scans. The result is therefore refined with one plane per image fitted over their common
    # region, refitted as the estimate moves (`_EccSolver.relevel_and_refine`). That alternation converges
    # slowly on bowed surfaces, so the first pass starts from three renderings and the best refined result
    # (highest correlation) wins: the images as they are (z-scored: right when both were levelled alike, as
    # a crop of a scan), one plane fitted over the overlap the starting guess predicts, and each image's own
    # plane (when the guess is too far off to predict the overlap).
    starts = [("as levelled", (_zscore(template), _zscore(target)))]
    joint = _level_common(template, target, warp_full)
    if joint is not None:
        starts.append(("joint plane", joint))
    starts.append(("separate planes", (_standardise(template), _standardise(target))))
    best: tuple[float, np.ndarray] | None = None
    failure: RegistrationError | None = None
    for label, images in starts:
        try:
            score, current = solve.coarse_to_fine(*images, warp_full, n_levels)
        except RegistrationError as exc:
            logger.debug("ECC from %s failed: %s", label, exc)
            failure = exc
            continue
        score, current = solve.relevel_and_refine(current, score)
        logger.debug("ECC from %s: correlation %.6f", label, score)
        if best is None or score > best[0]:
            best = (score, current)
    if best is None:
        raise failure if failure is not None else RegistrationError("ECC did not converge")
    score, current = best
    matrix = current if moving_is_template else np.linalg.inv(current)
    return Registration(matrix, "ecc", score=float(score))


def _shift_matrix(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


class _EccSolver:
    """OpenCV's ECC with the Gaussian pre-filter applied here and the filtered borders cut off.

    ``findTransformECC`` blurs the template and the input separately, padding each at its own edges: the
    template's border pixels then differ from the same points of the input, which lies around them, and the
    fit leans towards a slightly smaller scale (0.999 on a 128-px crop of a smooth scan: 0.1 px at its
    corners). Blurring here and dropping ``gauss_size // 2`` pixels at each edge of both images removes that.
    """

    def __init__(self, template, target, motion: str, criteria, gauss_size: int) -> None:
        self.template = template
        self.target = target
        self.motion = motion
        self.criteria = criteria
        self.gauss_size = gauss_size
        self.trim = gauss_size // 2

    def _filtered(self, image: np.ndarray) -> np.ndarray:
        if self.gauss_size > 1:
            image = cv2.GaussianBlur(image, (self.gauss_size, self.gauss_size), 0, 0)
        t = self.trim
        return image[t : image.shape[0] - t, t : image.shape[1] - t] if t else image

    def run(
        self, tpl: np.ndarray, tgt: np.ndarray, start: np.ndarray, level: int
    ) -> tuple[float, np.ndarray]:
        """One ECC solve at pyramid `level` from `start` (full-resolution template → target)."""
        t = float(self.trim)
        w = _scale_matrix(start, 0.5**level)
        w = _shift_matrix(-t, -t) @ w @ _shift_matrix(t, t)  # in the trimmed images' pixels
        w = (w if self.motion == "homography" else w[:2]).astype(np.float32)
        try:
            cc, w = cv2.findTransformECC(
                self._filtered(tpl), self._filtered(tgt), w, ECC_MOTIONS[self.motion], self.criteria, None, 1
            )
        except cv2.error as exc:
            raise RegistrationError(
                f"ECC ({self.motion}) did not converge at pyramid level {level} (the images may not overlap "
                "or not correlate there); give a closer starting guess (init, e.g. from the scan offsets), "
                "a simpler motion, or try register_sift"
            ) from exc
        w = np.vstack([w, [0.0, 0.0, 1.0]]) if w.shape == (2, 3) else w
        w = _shift_matrix(t, t) @ w.astype(np.float64) @ _shift_matrix(-t, -t)
        return float(cc), _scale_matrix(w / w[2, 2], 2.0**level)

    def coarse_to_fine(
        self, tpl: np.ndarray, tgt: np.ndarray, start: np.ndarray, n_levels: int
    ) -> tuple[float, np.ndarray]:
        """ECC on a Gaussian pyramid of the given (standardised) images, coarsest level first."""
        tpl_pyr, tgt_pyr = [tpl], [tgt]
        for _ in range(n_levels):
            if min(tpl_pyr[-1].shape) < 16 + 2 * self.trim or min(tgt_pyr[-1].shape) < 16 + 2 * self.trim:
                break
            tpl_pyr.append(cv2.pyrDown(tpl_pyr[-1]))
            tgt_pyr.append(cv2.pyrDown(tgt_pyr[-1]))
        current, score = start, float("nan")
        for level in range(len(tpl_pyr) - 1, -1, -1):
            score, current = self.run(tpl_pyr[level], tgt_pyr[level], current, level)
        return score, current

    def relevel_and_refine(
        self, current: np.ndarray, score: float, *, rounds: int = 50, tolerance: float = 1e-3
    ) -> tuple[float, np.ndarray]:
        """Refit one plane per image over the overlap that `current` gives and refine, until the corners stay.

        A fixed-point iteration: on smooth, bowed scans each round removes only part of the remaining error
        (typically 30-50 %), hence up to `rounds` rounds, stopping when no template corner moves by more
        than `tolerance` pixels.
        """
        ny, nx = self.template.shape
        corners = np.array([[0.0, 0.0], [nx - 1.0, 0.0], [0.0, ny - 1.0], [nx - 1.0, ny - 1.0]])
        for _ in range(rounds):
            levelled = _level_common(self.template, self.target, current)
            if levelled is None:
                break
            try:
                new_score, new = self.run(*levelled, current, 0)
            except RegistrationError as exc:
                logger.debug("ECC refinement after re-levelling failed (%s); keeping the previous fit", exc)
                break
            moved = float(np.abs(_apply_matrix(new, corners) - _apply_matrix(current, corners)).max())
            score, current = new_score, new
            if moved < tolerance:
                break
        return score, current


def _plane_fit(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    yy, xx = np.nonzero(mask)
    a = np.column_stack([np.ones(yy.size), xx, yy])
    coef, *_ = np.linalg.lstsq(a, image[mask], rcond=None)
    return coef


def _level_common(
    template: np.ndarray, target: np.ndarray, tpl_to_tgt: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Template and target (z-scored, float32) with one physical plane removed: fitted over their overlap."""
    tpl = _fill_nonfinite(template)
    tgt = _fill_nonfinite(target)
    on_template = warp(
        tgt, Registration(np.linalg.inv(tpl_to_tgt), "level"), tpl.shape, interpolation="linear"
    )
    if np.count_nonzero(on_template.valid) < 0.1 * tpl.size:
        return None
    c_tpl = _plane_fit(tpl, on_template.valid)
    c_tgt = _plane_fit(on_template.image, on_template.valid)
    yy, xx = np.mgrid[0 : tpl.shape[0], 0 : tpl.shape[1]]
    tpl = tpl - (c_tpl[0] + c_tpl[1] * xx + c_tpl[2] * yy)
    # the target's plane is known in template coordinates: evaluate it where each target pixel maps to
    inv = np.linalg.inv(tpl_to_tgt)
    ty = np.arange(tgt.shape[0], dtype=np.float64)[:, None]
    tx = np.arange(tgt.shape[1], dtype=np.float64)[None, :]
    w = inv[2, 0] * tx + inv[2, 1] * ty + inv[2, 2]
    back_x = (inv[0, 0] * tx + inv[0, 1] * ty + inv[0, 2]) / w
    back_y = (inv[1, 0] * tx + inv[1, 1] * ty + inv[1, 2]) / w
    tgt = tgt - (c_tgt[0] + c_tgt[1] * back_x + c_tgt[2] * back_y)
    out = []
    for a in (tpl, tgt):
        sd = a.std()
        out.append(((a - a.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32))
    return out[0], out[1]


# --------------------------------------------------------------------------------------------------- metadata
def initial_transform_from_metadata(fixed: Scan, moving: Scan) -> np.ndarray:
    """Predict the transform moving → fixed from the scans' offsets and pixel sizes.

    ``Scan.origin`` is the top-left corner of the top-left pixel (Gwyddion's convention, as the `scansr.io`
    readers set it), so the centre of pixel ``(x, y)`` lies at ``origin + ((y + ½)·dy, (x + ½)·dx)`` in the
    instrument's scan coordinates, y growing down the rows. Two scans of one session (e.g. a zoom inside a
    larger scan) are then related by a scale and a shift. Rotation (a scan angle) is not modelled.

    Parameters
    ----------
    fixed, moving : Scan
        Both need `pixel_size` and `origin`.

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Maps moving pixel coordinates ``(x, y, 1)`` to fixed pixel coordinates.

    Raises
    ------
    ValueError
        A scan lacks a pixel size or an origin.
    """
    for what, scan in (("fixed", fixed), ("moving", moving)):
        if not isinstance(scan, Scan):
            raise TypeError(f"{what} must be a Scan, got {type(scan).__name__}")
        if scan.pixel_size is None or scan.origin is None:
            missing = " and ".join(
                n for n, v in (("pixel_size", scan.pixel_size), ("origin", scan.origin)) if v is None
            )
            raise ValueError(f"{what} scan has no {missing}; the metadata cannot predict the alignment")
    (dyf, dxf), (y0f, x0f) = fixed.pixel_size, fixed.origin
    (dym, dxm), (y0m, x0m) = moving.pixel_size, moving.origin
    sx, sy = dxm / dxf, dym / dyf
    # pixel centres: x0m + (x + 1/2) dxm = x0f + (xf + 1/2) dxf, so xf = sx x + (x0m - x0f)/dxf + (sx - 1)/2
    return np.array(
        [
            [sx, 0.0, (x0m - x0f) / dxf + 0.5 * (sx - 1.0)],
            [0.0, sy, (y0m - y0f) / dyf + 0.5 * (sy - 1.0)],
            [0.0, 0.0, 1.0],
        ]
    )


# --------------------------------------------------------------------------------------------------- elastic
def refine_elastic(
    fixed,
    warped,
    *,
    method: str = "farneback",
    levels: int = 4,
    window: int = 21,
    iterations: int = 5,
    smooth: float = 2.0,
    valid=None,
) -> np.ndarray:
    """Dense displacement field that aligns an already (globally) registered image to `fixed`.

    Pyramid optical flow on 8-bit renderings: Farnebäck's polynomial expansion (default) or DIS
    (dense inverse search). It corrects what a global transform cannot, such as piezo non-linearity and drift
    within a scan, as the SEM paper's pyramid elastic registration.

    Parameters
    ----------
    fixed : array_like, shape (ny, nx)
        The reference image.
    warped : array_like, shape (ny, nx)
        The moving image already resampled onto the fixed grid (`warp`).
    method : {"farneback", "dis"}
        Optical-flow algorithm.
    levels : int
        Pyramid levels (Farnebäck).
    window : int
        Averaging window in pixels (Farnebäck); larger is smoother and more robust to noise.
    iterations : int
        Iterations per pyramid level (Farnebäck).
    smooth : float
        Standard deviation, in pixels, of a Gaussian applied to the field (0: none).
    valid : array_like of bool, shape (ny, nx), optional
        Where `warped` holds data; elsewhere the field is filled from the nearest valid pixels.

    Returns
    -------
    numpy.ndarray, shape (ny, nx, 2)
        ``flow[..., 0]`` along x and ``flow[..., 1]`` along y, in pixels: fixed pixel ``p`` corresponds to
        ``warped`` at ``p + flow[p]``. Pass it as ``Registration.flow``.

    Raises
    ------
    ValueError
        Shapes differ, or a bad argument.
    """
    fixed = _check_image(fixed, "fixed")
    warped = _check_image(warped, "warped")
    if fixed.shape != warped.shape:
        raise ValueError(
            f"fixed {fixed.shape} and warped {warped.shape} must have one shape (use warp first)"
        )
    if method not in FLOW_METHODS:
        raise ValueError(f"method must be one of {FLOW_METHODS}, got {method!r}")
    if int(levels) < 0 or int(window) < 3 or int(iterations) < 1 or smooth < 0:
        raise ValueError(
            f"need levels >= 0, window >= 3, iterations >= 1 and smooth >= 0; got levels={levels!r}, "
            f"window={window!r}, iterations={iterations!r}, smooth={smooth!r}"
        )
    mask = np.isfinite(warped) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(warped))
    if mask.shape != fixed.shape:
        raise ValueError(f"valid must have shape {fixed.shape}, got {mask.shape}")
    moving_filled = warped.copy()
    if not mask.all():
        if not mask.any():
            raise ValueError("warped holds no valid pixel")
        idx = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
        moving_filled = warped[tuple(idx)]
    a = render8(fixed)
    b = render8(moving_filled)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(
            a, b, None, 0.5, int(levels), int(window), int(iterations), 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN
        )
    else:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    flow = flow.astype(np.float64)
    if not mask.all():
        idx = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
        flow = flow[idx[0], idx[1]]
    if smooth > 0:
        flow = np.stack(
            [ndimage.gaussian_filter(flow[..., k], smooth, mode="nearest") for k in range(2)], axis=-1
        )
    return flow


# ------------------------------------------------------------------------------------------------ warp & crop
def _sampling_maps(registration: Registration, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    if registration.flow is not None:
        if registration.flow.shape[:2] != (ny, nx):
            raise ValueError(
                f"the registration's flow is {registration.flow.shape[:2]}, the output shape {shape}"
            )
        x = x + registration.flow[..., 0]
        y = y + registration.flow[..., 1]
    inv = np.linalg.inv(registration.matrix)
    w = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
    mx = (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]) / w
    my = (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / w
    return mx, my


def warp(
    moving, registration: Registration, shape: tuple[int, int], *, interpolation: str = "cubic"
) -> Warped:
    """Resample `moving` onto the fixed pixel grid.

    The matrix and the flow are applied in one interpolation (`scipy.ndimage.map_coordinates`, exact sampling
    positions, edge values extended). When the transform shrinks the image (moving pixels finer than fixed
    ones), the moving image is first low-pass filtered against aliasing (σ = (1/scale − 1)/2 moving pixels).

    Parameters
    ----------
    moving : array_like, shape (my, mx)
        Image to resample (any unit). NaN pixels stay invalid.
    registration : Registration
        Transform moving → fixed.
    shape : (int, int)
        Shape ``(ny, nx)`` of the fixed grid.
    interpolation : {"nearest", "linear", "cubic", "quintic"}
        Interpolation: spline of order 0, 1, 3 or 5.

    Returns
    -------
    Warped
        ``image`` (float64, NaN where invalid) and ``valid`` (bool: the sampling position lies within the
        moving image and no NaN pixel contributes).

    Raises
    ------
    ValueError
        A bad argument.
    """
    moving = np.asarray(moving, dtype=np.float64)
    if moving.ndim != 2:
        raise ValueError(f"moving must be a 2-D array, got shape {moving.shape}")
    if not isinstance(registration, Registration):
        raise TypeError(f"registration must be a Registration, got {type(registration).__name__}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {tuple(INTERPOLATIONS)}, got {interpolation!r}")
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (ny, nx), got {shape!r}") from None
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    order = INTERPOLATIONS[interpolation]
    finite = np.isfinite(moving)
    if not finite.any():
        raise ValueError("moving holds no finite value")
    source = _fill_nonfinite(moving)
    scale = registration.scale
    if scale < 0.9 and order > 0:
        source = ndimage.gaussian_filter(source, (1.0 / scale - 1.0) / 2.0, mode="nearest")
    mx, my = _sampling_maps(registration, (ny, nx))
    eps = 1e-6
    valid = (
        (mx >= -eps) & (mx <= moving.shape[1] - 1 + eps) & (my >= -eps) & (my <= moving.shape[0] - 1 + eps)
    )
    out = ndimage.map_coordinates(source, [my, mx], order=order, mode="nearest")
    if not finite.all():
        touched = ndimage.map_coordinates((~finite).astype(np.float64), [my, mx], order=1, mode="nearest")
        valid &= touched == 0
    out[~valid] = np.nan
    return Warped(out, valid)


def _largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Largest axis-aligned all-True rectangle, as (y0, y1, x0, x1); the row-wise histogram method."""
    ny, nx = mask.shape
    cols = np.arange(nx)
    height = np.zeros(nx, dtype=np.int64)
    left = np.zeros(nx, dtype=np.int64)
    right = np.full(nx, nx, dtype=np.int64)
    best, box = 0, (0, 0, 0, 0)
    for i in range(ny):
        row = mask[i]
        height = np.where(row, height + 1, 0)
        cur_left = np.maximum.accumulate(np.where(row, 0, cols + 1))
        left = np.where(row, np.maximum(left, cur_left), 0)
        cur_right = np.minimum.accumulate(np.where(row, nx, cols)[::-1])[::-1]
        right = np.where(row, np.minimum(right, cur_right), nx)
        area = (right - left) * height
        j = int(np.argmax(area))
        if area[j] > best:
            best = int(area[j])
            box = (i - int(height[j]) + 1, i + 1, int(left[j]), int(right[j]))
    return box


def crop_common(fixed, warped, valid_mask) -> CommonRegion:
    """Crop the fixed image and the warped moving image to the largest rectangle where both are defined.

    Parameters
    ----------
    fixed, warped : array_like, shape (ny, nx)
        The fixed image and the moving image on the fixed grid (`warp`).
    valid_mask : array_like of bool, shape (ny, nx)
        Where `warped` holds data (``Warped.valid``); non-finite pixels of either image count as invalid.

    Returns
    -------
    CommonRegion
        Both crops (copies) and the box ``(y0, y1, x0, x1)``.

    Raises
    ------
    RegistrationError
        The images do not overlap.
    ValueError
        Shapes differ.
    """
    fixed = np.asarray(fixed, dtype=np.float64)
    warped = np.asarray(warped, dtype=np.float64)
    mask = np.asarray(valid_mask, dtype=bool)
    if not (fixed.shape == warped.shape == mask.shape) or fixed.ndim != 2:
        raise ValueError(
            f"fixed {fixed.shape}, warped {warped.shape} and valid_mask {mask.shape} must be 2-D of one shape"
        )
    mask = mask & np.isfinite(fixed) & np.isfinite(warped)
    y0, y1, x0, x1 = _largest_rectangle(mask)
    if y1 - y0 < 2 or x1 - x0 < 2:
        raise RegistrationError(
            "the registered images do not overlap (no common region of 2x2 pixels or more)"
        )
    return CommonRegion(fixed[y0:y1, x0:x1].copy(), warped[y0:y1, x0:x1].copy(), (y0, y1, x0, x1))


# --------------------------------------------------------------------------------------------------- scans
def _registration_channel(scan: Scan, name: str | None) -> np.ndarray:
    if name is None:
        return scan.channel(scan.default_channel).data
    return scan.channel(name).data


def _resample_for_registration(image: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Resample so that pixel x → x·sx, y → y·sy (pixel 0 stays at 0); anti-aliased when shrinking."""
    ny, nx = image.shape
    out_shape = (math.floor((ny - 1) * sy + 1e-9) + 1, math.floor((nx - 1) * sx + 1e-9) + 1)
    reg = Registration(np.diag([sx, sy, 1.0]), "resample")
    return warp(image, reg, out_shape, interpolation="cubic").image


def register_scans(
    fixed: Scan,
    moving: Scan,
    *,
    method: str = "auto",
    elastic: bool = False,
    channel: str | None = None,
    interpolation: str = "cubic",
    motion: str = "affine",
) -> RegisteredPair:
    """Register two scans of one area and return both on the fixed pixel grid, cropped to their common region.

    When both scans have pixel sizes and they differ (a zoom, or a low-pixel scan not yet upscaled), the
    moving scan is first resampled to the fixed pixel size for the search; the returned transform maps the
    *original* moving pixels to the fixed grid, and every channel is interpolated once.

    Parameters
    ----------
    fixed : Scan
        The reference, typically the real high-resolution scan.
    moving : Scan
        The scan to align: an upscaled low-resolution scan, or a scan of a larger or smaller field of view.
    method : {"auto", "sift", "phase", "ecc"}
        ``"sift"``: `register_sift`; ``"phase"``: `register_phase` (translation); ``"ecc"``: `register_ecc`
        started from the scan offsets where both scans have them; ``"auto"``: SIFT refined by ECC
        (``method="sift+ecc"``), or ECC from the offsets when SIFT fails or gives an implausible scale.
    elastic : bool
        Add a dense displacement field (`refine_elastic`) after the global transform.
    channel : str, optional
        Channel used to compute the alignment, in both scans (default: each scan's `Scan.default_channel`).
        Every channel of `moving` is warped.
    interpolation : {"nearest", "linear", "cubic", "quintic"}
        Spline order for warping the moving channels (see `warp`).
    motion : {"translation", "euclidean", "affine", "homography"}
        Transform model for ECC.

    Returns
    -------
    RegisteredPair
        ``fixed`` cropped, ``moving`` warped and cropped (same shape, pixel size and origin as the cropped
        fixed), the `Registration` (original moving pixels → fixed pixels) and the crop box.

    Raises
    ------
    RegistrationError
        No method could align the scans, or they do not overlap.
    UnknownChannelError
        `channel` is not in one of the scans.
    ValueError
        A bad argument.
    """
    if not isinstance(fixed, Scan) or not isinstance(moving, Scan):
        raise TypeError("fixed and moving must be Scan objects")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {tuple(INTERPOLATIONS)}, got {interpolation!r}")
    if motion not in ECC_MOTIONS:
        raise ValueError(f"motion must be one of {tuple(ECC_MOTIONS)}, got {motion!r}")
    f_img = _registration_channel(fixed, channel)
    m_img = _registration_channel(moving, channel)

    # Pre-scale moving pixels to the fixed pixel size: S maps original moving pixels to resampled ones.
    scale = np.eye(3)
    if fixed.pixel_size is not None and moving.pixel_size is not None:
        sy = moving.pixel_size[0] / fixed.pixel_size[0]
        sx = moving.pixel_size[1] / fixed.pixel_size[1]
        if abs(sx - 1.0) > _SAME_PIXEL_RTOL or abs(sy - 1.0) > _SAME_PIXEL_RTOL:
            scale = np.diag([sx, sy, 1.0])
            m_img = _resample_for_registration(m_img, sx, sy)
            logger.info(
                "moving scan resampled by (%.4g, %.4g) to the fixed pixel size for registration", sy, sx
            )
    guess = None
    if fixed.origin is not None and moving.origin is not None and fixed.pixel_size and moving.pixel_size:
        guess = initial_transform_from_metadata(fixed, moving) @ np.linalg.inv(scale)

    def run_ecc() -> Registration:
        return register_ecc(f_img, m_img, motion=motion, init=guess)

    if method == "sift":
        reg = register_sift(f_img, m_img)
    elif method == "phase":
        if guess is None and f_img.shape != m_img.shape:
            guess = np.eye(3)
        reg = register_phase(f_img, m_img, init=guess)
    elif method == "ecc":
        reg = run_ecc()
    else:
        try:
            reg = register_sift(f_img, m_img)
            if not 0.67 < reg.scale < 1.5:
                raise RegistrationError(f"SIFT gave an implausible scale {reg.scale:.3f} after resampling")
        except RegistrationError as exc:
            logger.info(
                "SIFT failed (%s); falling back to ECC from the %s",
                exc,
                "scan offsets" if guess is not None else "identity",
            )
            reg = run_ecc()
        else:
            # SIFT's fit rests on tens to hundreds of keypoints (0.1-0.5 px at the corners); ECC refines it
            # on every pixel. The homography's tiny perspective terms are dropped for an affine ECC.
            start = reg.matrix.copy()
            if motion != "homography":
                start[2] = (0.0, 0.0, 1.0)
            try:
                refined = register_ecc(f_img, m_img, motion=motion, init=start, levels=0)
                reg = refined.replace(method="sift+ecc", n_matches=reg.n_matches, inliers=reg.inliers)
            except RegistrationError as exc:
                logger.info("ECC refinement of the SIFT result failed (%s); keeping SIFT's", exc)
    reg = reg.replace(matrix=reg.matrix @ scale)

    if elastic:
        first = warp(
            moving.channel(channel or moving.default_channel).data, reg, f_img.shape, interpolation="linear"
        )
        flow = refine_elastic(f_img, first.image, valid=first.valid)
        reg = reg.replace(flow=flow, method=f"{reg.method}+elastic")

    warped = {c.name: warp(c.data, reg, fixed.shape, interpolation=interpolation) for c in moving.channels}
    valid = np.logical_and.reduce([w.valid for w in warped.values()])
    ref_name = channel or fixed.default_channel
    y0, y1, x0, x1 = crop_common(fixed.channel(ref_name).data, next(iter(warped.values())).image, valid).box
    origin = None
    if fixed.origin is not None and fixed.pixel_size is not None:
        origin = (fixed.origin[0] + y0 * fixed.pixel_size[0], fixed.origin[1] + x0 * fixed.pixel_size[1])
    fixed_out = fixed.replace(
        channels=tuple(c.replace(data=c.data[y0:y1, x0:x1]) for c in fixed.channels), origin=origin
    )
    moving_channels = tuple(
        Channel(c.name, warped[c.name].image[y0:y1, x0:x1], c.unit, c.direction) for c in moving.channels
    )
    metadata = dict(moving.metadata)
    metadata["registration_method"] = reg.method
    moving_out = moving.replace(
        channels=moving_channels, pixel_size=fixed.pixel_size, origin=origin, metadata=metadata
    )
    return RegisteredPair(fixed_out, moving_out, reg, (y0, y1, x0, x1))
