"""Gap analysis of particle images (the SEM paper's resolution measure, Fig. 3).

The SEM paper measures resolution on gold-on-carbon test specimens by the gaps between adjacent nanoparticles:

    "The gap width was defined as the distance between the points at which the intensity drops below 80 % of
    highest intensity value of the adjacent particles, and a gap was determined to exist if the lowest intensity
    point between the particles fell below 60 % of the peak value."

Gaps are picked on the high-resolution (target) image and measured at the same physical positions in the input
and the output; the paper reports the percentage of unresolved gaps, histograms of the gap widths with fitted
Gaussians (unresolved gaps left out), and the mean absolute difference of the gap widths from the target's.

Pipeline
--------
1. `detect_particles`: Gaussian smoothing, a threshold (Otsu where the histogram has two modes, else the upper
   three-class Otsu threshold, which suits sparse particles on a textured substrate; or after background
   flattening; or a value), hole filling, a minimum-area filter, and watershed splitting of touching particles
   (markers: h-maxima of the distance transform; flooding on the distance transform or on the intensity).
   Centroids are intensity weighted (the smoothed intensity above the threshold).
2. Adjacent pairs: edges of the Delaunay triangulation of the centroids whose centre-to-centre band crosses no
   third particle (line of sight in the label image) and whose background run along the centre line (the
   segmented gap) is at most `GapOptions.max_gap`.
3. For every pair, the intensity profile along the centre-to-centre line, averaged over `GapOptions.band`
   parallel lines one (finest) pixel apart, sampled every `GapOptions.step` metres by interpolation at physical
   positions: an image of any pixel size covering the same field is sampled at the same points (pixel ``(i, j)``
   has its centre at ``((i + 0.5) dy, (j + 0.5) dx)``, as `scansr.scan.Scan` defines).
4. The profile is split at the middle of the segmented gap (from the target's labels); the peak of each
   particle is the profile's maximum on its side, the minimum is the lowest sample between the two peaks.

Choices where the paper is not explicit (each is a `GapOptions` field)
----------------------------------------------------------------------
- Reference peak: "80 % of highest intensity value of the adjacent particles" is read as 80 % of the HIGHER
  of the two peaks, and "60 % of the peak value" as 60 % of that same (higher) peak (``reference="higher"``).
  ``"lower"`` uses the lower peak for both levels; ``"each"`` measures each side's 80 % point against its own
  peak and calls a gap resolved when the minimum is below 60 % of both peaks (i.e. of the lower one). With
  ``"higher"``, a side whose peak stays below 80 % of the higher peak has no 80 % point: the width is NaN
  (the gap can still be resolved or not).
- Baseline: the paper uses raw intensities (levels are fractions of the peak above zero,
  ``baseline="zero"``, the default for bright particles). ``"background"`` takes levels above the image's
  background (median of the pixels away from every particle): ``b + f (peak - b)``; it is the default, and the
  only choice, for dark particles on a bright background, which are analysed on the negated image.
- The 80 % points are the first samples at or above the level met when walking outwards from the minimum, so
  noise on the particles' tops does not move them; sub-sample positions by linear interpolation.
- Adjacent pairs have a segmented gap of at most the median equivalent diameter of the particles unless
  `GapOptions.max_gap` says otherwise (the paper picked "gaps between arbitrary adjacent nanoparticles").
- The unresolved fraction counts the evaluated gaps; the histograms and the mean absolute width error use the
  resolved gaps with both 80 % points ("unresolved gaps were not used for mean gap estimation"); the error of
  an image is taken over the gaps resolved in it and in the target.
- No smoothing before the measurement by default (``smooth=0``).
- Images are sampled between pixel centres by cubic spline interpolation (``interpolation="cubic"``): on
  blurred discs sampled at 1-2.5 px blur it puts the 80 % points within 0.02 px of the continuous image's,
  while bilinear interpolation widens gaps by up to 0.25 px (straight chords under the concave upper flank of
  an edge). ``"linear"`` never overshoots the pixel values, so a coarse image cannot show a dip its pixels do
  not hold; the spline can dip a little below the lowest pixel where the true minimum lies between pixels.

The paper upsampled its input ×2 before measuring; here an image of any pixel size is sampled by interpolation
at the target's physical positions, which is the same as measuring a spline (or bilinear) upsampling. To follow
the paper to the letter, pass an input upsampled to the target's grid (e.g. bicubic with `scansr.interpolate`)
with its new pixel size.

Radially averaged spatial-frequency spectra (the paper's Fig. 4) are `scansr.metrics.spectral.radial_power_spectrum`.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.spatial import Delaunay, QhullError

from scansr._checks import image_2d, pixel_size_pair

__all__ = [
    "BASELINES",
    "FITS",
    "INTERPOLATIONS",
    "POLARITIES",
    "REFERENCES",
    "SPLITS",
    "THRESHOLDS",
    "GapComparison",
    "GapHistogram",
    "GapOptions",
    "GapResult",
    "Particles",
    "compare_gaps",
    "detect_particles",
    "histogram",
    "measure_gaps",
]

logger = logging.getLogger(__name__)

POLARITIES = ("bright", "dark")
REFERENCES = ("higher", "lower", "each")
BASELINES = ("zero", "background")
INTERPOLATIONS = {"linear": 1, "cubic": 3}
SPLITS = ("distance", "intensity", None)
FITS = ("mle", "curve_fit")
THRESHOLDS = ("auto", "otsu", "multiotsu", "local")
# Otsu's effectiveness (between-class / total variance) below which the histogram is taken as one background
# mode with a tail of particles: a normal distribution split at its mean scores 2/pi = 0.64, two separated
# modes score close to 1.
_BIMODAL_EFFECTIVENESS = 0.75
# Background pixels are those farther than this many (finest) pixels from every particle.
_BACKGROUND_CLEARANCE_PX = 3.0
_MAX_BACKGROUND_SAMPLES = 200_000


# --------------------------------------------------------------------------------------------------- helpers
def _frozen(array: Any, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _check_image(image: Any, what: str) -> np.ndarray:
    return image_2d(image, what, min_size=3)


def _check_pixel_size(pixel_size: Any, what: str = "pixel_size") -> tuple[float, float]:
    if pixel_size is None:
        raise ValueError(
            f"{what} is required: (dy, dx) in metres (for a file without a lateral scale, give the scan size "
            "when reading it: scansr.io.read(path, scan_size=...))"
        )
    return pixel_size_pair(pixel_size, what)


def _check_choice(value: Any, choices: Any, what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {tuple(choices)}, got {value!r}")


def _check_fraction(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in (0, 1), got {value!r}") from None
    if not 0 < v < 1:
        raise ValueError(f"{what} must be in (0, 1), got {value!r}")
    return v


def _check_positive(value: Any, what: str, *, allow_zero: bool = False, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{what} must be a {kind} finite number, got {value!r}")
    return v


def _signal(image: np.ndarray, polarity: str) -> np.ndarray:
    """Particles bright in the returned array."""
    return image if polarity == "bright" else -image


def _far_background(labels: np.ndarray, pixel_size: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Return (rows, cols) of background pixels well away from every particle (all background if too few)."""
    background = labels == 0
    if not background.any():
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    if labels.any():
        distance = ndimage.distance_transform_edt(background, sampling=pixel_size)
        far = distance > _BACKGROUND_CLEARANCE_PX * min(pixel_size)
        if np.count_nonzero(far) >= 50:
            background = far
    rows, cols = np.nonzero(background)
    stride = max(1, rows.size // _MAX_BACKGROUND_SAMPLES)
    return rows[::stride], cols[::stride]


def _global_threshold(smoothed: np.ndarray, method: str) -> float:
    from skimage.filters import threshold_multiotsu, threshold_otsu

    if float(np.ptp(smoothed)) == 0:
        return float(smoothed.flat[0])
    otsu = float(threshold_otsu(smoothed))
    if method == "otsu":
        return otsu
    if method == "auto":
        low = smoothed <= otsu
        w0 = float(np.mean(low))
        if not 0 < w0 < 1:
            return otsu
        between = w0 * (1 - w0) * (float(smoothed[~low].mean()) - float(smoothed[low].mean())) ** 2
        effectiveness = between / float(np.var(smoothed))
        logger.debug("Otsu threshold %.4g, effectiveness %.3f", otsu, effectiveness)
        if effectiveness >= _BIMODAL_EFFECTIVENESS:
            return otsu
    return float(threshold_multiotsu(smoothed, classes=3)[-1])


# --------------------------------------------------------------------------------------------------- particles
@dataclass(frozen=True, eq=False)
class Particles:
    """Particles found in an image.

    Particle ``k`` (0-based, the index used everywhere in this module) has label ``k + 1`` in `labels`.
    Pixel coordinates are ``(row, col)`` with pixel centres at integers; metres are ``(y, x)`` from the
    top-left corner of the field, so pixel ``(i, j)`` is centred at ``((i + 0.5) dy, (j + 0.5) dx)``.
    """

    labels: np.ndarray
    """Label image, shape (ny, nx), int32: 0 background, ``k + 1`` particle ``k``."""
    centroids: np.ndarray
    """(n, 2) intensity-weighted centroids ``(row, col)`` in pixels."""
    centroids_m: np.ndarray
    """(n, 2) the centroids ``(y, x)`` in metres."""
    peaks: np.ndarray
    """(n, 2) int: pixel ``(row, col)`` of each particle's extreme (maximum, minimum for dark) smoothed value."""
    peak_intensities: np.ndarray
    """(n,) the smoothed image's value there, in the image's unit (the minimum for dark particles)."""
    areas: np.ndarray
    """(n,) int: areas in pixels."""
    pixel_size: tuple[float, float]
    """``(dy, dx)`` in metres."""
    polarity: str
    """``"bright"`` (particles brighter than the background) or ``"dark"``."""
    threshold: float | None
    """Global threshold in the image's unit (after smoothing); None for a local threshold."""
    background: float
    """Median of the image over the pixels away from every particle, in the image's unit."""

    @property
    def n(self) -> int:
        """Number of particles."""
        return int(self.areas.size)

    @property
    def areas_m2(self) -> np.ndarray:
        """Areas in m²."""
        return self.areas * (self.pixel_size[0] * self.pixel_size[1])

    @property
    def equivalent_diameters(self) -> np.ndarray:
        """Diameters of discs of the same areas, in metres."""
        return 2.0 * np.sqrt(self.areas_m2 / math.pi)

    def __repr__(self) -> str:
        return f"Particles(n={self.n}, {self.labels.shape[0]}x{self.labels.shape[1]}, {self.polarity})"


def detect_particles(
    image: Any,
    *,
    pixel_size: tuple[float, float],
    polarity: str = "bright",
    sigma: float = 1.0,
    threshold: str | float = "auto",
    background_sigma: float = 25.0,
    min_area_px: int = 9,
    split: str | None = "distance",
    split_depth: float = 1.0,
    exclude_border: bool = False,
) -> Particles:
    """Find particles in an SEM image: smoothing, threshold, watershed splitting, centroids and peaks.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Intensities (SEM grey levels, ``"counts"``, or any unit).
    pixel_size : (float, float)
        ``(dy, dx)`` in metres.
    polarity : {"bright", "dark"}
        ``"bright"``: particles brighter than the background (gold on carbon); ``"dark"``: darker.
    sigma : float
        Standard deviation of the Gaussian smoothing, in pixels of the finer axis (non-square pixels are
        smoothed isotropically in metres); 0 for none.
    threshold : {"auto", "otsu", "multiotsu", "local"} or float
        ``"otsu"``: Otsu's global threshold, for images whose histogram has a particle mode and a background
        mode; ``"multiotsu"``: the upper of the two thresholds of three-class Otsu, for sparse particles on a
        textured background (one broad background mode with a tail); ``"auto"``: Otsu where its
        effectiveness (between-class over total variance) is at least 0.75 (two modes), else multi-Otsu;
        ``"local"``: for uneven illumination, the ``"auto"`` threshold of the image minus its background (a
        Gaussian smoothing of std `background_sigma`); a number: that value in the image's unit
        (particles above it; below it for dark particles).
    background_sigma : float
        Scale of the background for ``threshold="local"``, in pixels: a few particle diameters.
    min_area_px : int
        Smallest particle kept, in pixels (before and after splitting).
    split : {"distance", "intensity", None}
        Watershed splitting of touching particles. Markers are the h-maxima (depth `split_depth`) of the
        Euclidean distance transform of the mask; the flooding follows the distance transform
        (``"distance"``) or the smoothed intensity (``"intensity"``, which cuts along the darkest line
        between particles). None: connected components only.
    split_depth : float
        How much deeper than the neck (in pixels of the finer axis) the distance transform must be inside each
        of two touching particles for them to be split.
    exclude_border : bool
        Drop particles that touch the image border.

    Returns
    -------
    Particles

    Raises
    ------
    ValueError
        A non-2-D or non-finite image, a missing or bad pixel size, or a bad option.
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import clear_border, watershed

    data = _check_image(image, "image")
    dy, dx = _check_pixel_size(pixel_size)
    _check_choice(polarity, POLARITIES, "polarity")
    _check_choice(split, SPLITS, "split")
    sigma = _check_positive(sigma, "sigma", allow_zero=True)
    split_depth = _check_positive(split_depth, "split_depth")
    if not isinstance(min_area_px, int | np.integer) or min_area_px < 1:
        raise ValueError(f"min_area_px must be an integer >= 1, got {min_area_px!r}")
    if isinstance(threshold, str):
        _check_choice(threshold, THRESHOLDS, "threshold")
    elif not (isinstance(threshold, int | float | np.number) and math.isfinite(threshold)):
        raise ValueError(f"threshold must be one of {THRESHOLDS} or a finite number, got {threshold!r}")
    background_sigma = _check_positive(background_sigma, "background_sigma")

    signal = _signal(data, polarity)
    finest = min(dy, dx)
    smoothed = (
        ndimage.gaussian_filter(signal, (sigma * finest / dy, sigma * finest / dx)) if sigma else signal
    )
    if threshold in ("auto", "otsu", "multiotsu"):
        level: float | np.ndarray = _global_threshold(smoothed, threshold)
    elif threshold == "local":
        # Flatten: subtract the slowly varying background, then threshold the residual as "auto" does.
        flat = smoothed - ndimage.gaussian_filter(smoothed, background_sigma, mode="nearest")
        level = smoothed - flat + _global_threshold(flat, "auto")
    else:
        level = float(threshold) if polarity == "bright" else -float(threshold)
    mask = ndimage.binary_fill_holes(smoothed > level)
    components, _ = ndimage.label(mask)
    mask = (np.bincount(components.ravel()) >= min_area_px)[components] & mask

    if split is None or not mask.any():
        labels, _ = ndimage.label(mask)
    else:
        distance = ndimage.distance_transform_edt(mask, sampling=(dy, dx))
        markers, _ = ndimage.label(h_maxima(distance, split_depth * finest))
        landscape = -distance if split == "distance" else -smoothed
        labels = watershed(landscape, markers, mask=mask)
        # A component without a marker (cannot happen with h-maxima, but be safe) keeps its own label.
        missed, n_missed = ndimage.label(mask & (labels == 0))
        if n_missed:
            labels = np.where(missed > 0, missed + labels.max(), labels)
    if exclude_border:
        labels = clear_border(labels)
    counts = np.bincount(labels.ravel())
    small = np.nonzero(counts < min_area_px)[0]
    small = small[small > 0]
    if small.size:
        labels = np.where(np.isin(labels, small), 0, labels)
    # Relabel 1..n in order of first appearance in raster order: stable, independent of the marker numbering.
    present = np.unique(labels)
    present = present[present > 0]
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lookup[present] = np.arange(1, present.size + 1, dtype=np.int32)
    labels = lookup[labels]
    n = int(present.size)
    index = np.arange(1, n + 1)

    if n:
        weights = np.clip(smoothed - level, 0.0, None)
        weights = np.where(labels > 0, weights, 0.0)
        total = ndimage.sum_labels(weights, labels, index)
        flat = total <= 0  # a particle with no weight (cannot exceed the level): geometric centroid
        centroids = np.array(ndimage.center_of_mass(weights, labels, index), dtype=np.float64).reshape(n, 2)
        if flat.any():
            geometric = np.array(ndimage.center_of_mass(labels > 0, labels, index), dtype=np.float64).reshape(
                n, 2
            )
            centroids[flat] = geometric[flat]
        peaks = np.array(ndimage.maximum_position(smoothed, labels, index), dtype=np.int64).reshape(n, 2)
        peak_values = smoothed[peaks[:, 0], peaks[:, 1]]
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    else:
        centroids = np.zeros((0, 2))
        peaks = np.zeros((0, 2), dtype=np.int64)
        peak_values = np.zeros(0)
        areas = np.zeros(0, dtype=np.int64)
    sign = 1.0 if polarity == "bright" else -1.0
    rows, cols = _far_background(labels, (dy, dx))
    background = float(np.median(data[rows, cols])) if rows.size else float("nan")
    labels.setflags(write=False)
    logger.debug("found %d particle(s) in a %dx%d image", n, *data.shape)
    return Particles(
        labels=labels,
        centroids=_frozen(centroids),
        centroids_m=_frozen((centroids + 0.5) * np.array([dy, dx])),
        peaks=_frozen(peaks, np.int64),
        peak_intensities=_frozen(sign * peak_values),
        areas=_frozen(areas, np.int64),
        pixel_size=(dy, dx),
        polarity=polarity,
        threshold=sign * float(level) if not isinstance(level, np.ndarray) else None,
        background=background,
    )


# --------------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class GapOptions:
    """How gaps are picked and measured (see the module docstring for the choices).

    Parameters
    ----------
    width_level : float
        Fraction of the reference peak at which the gap's edges are taken (the paper: 0.8).
    resolve_level : float
        A gap is resolved when the minimum between the peaks is below this fraction of the reference peak
        (the paper: 0.6).
    reference : {"higher", "lower", "each"}
        Which peak the levels refer to (the paper: the higher one).
    baseline : {"zero", "background"} or None
        Levels as fractions of the raw intensity (``"zero"``, the paper) or of the height above the background
        (``"background"``). None: ``"zero"`` for bright particles, ``"background"`` for dark ones.
    band : int
        Number of parallel lines, one finest pixel apart, averaged into each profile (odd; 1 for the centre
        line only).
    max_gap : float or None
        Largest segmented gap (background run along the centre line) of an adjacent pair, in metres; None:
        the median equivalent diameter of the particles.
    step : float or None
        Sampling step along the profiles in metres; None: a tenth of the finest pixel.
    smooth : float
        Standard deviation in metres of a Gaussian smoothing of each image before its profiles are taken;
        0 for none (the paper).
    interpolation : {"cubic", "linear"}
        Interpolation of the images at the profile positions (cubic spline or bilinear).
    """

    width_level: float = 0.8
    resolve_level: float = 0.6
    reference: str = "higher"
    baseline: str | None = None
    band: int = 3
    max_gap: float | None = None
    step: float | None = None
    smooth: float = 0.0
    interpolation: str = "cubic"

    def __post_init__(self) -> None:
        _check_fraction(self.width_level, "width_level")
        _check_fraction(self.resolve_level, "resolve_level")
        _check_choice(self.reference, REFERENCES, "reference")
        if self.baseline is not None:
            _check_choice(self.baseline, BASELINES, "baseline")
        if not (isinstance(self.band, int | np.integer) and self.band >= 1 and self.band % 2 == 1):
            raise ValueError(f"band must be an odd integer >= 1, got {self.band!r}")
        _check_positive(self.max_gap, "max_gap", allow_zero=True, allow_none=True)
        _check_positive(self.step, "step", allow_none=True)
        _check_positive(self.smooth, "smooth", allow_zero=True)
        _check_choice(self.interpolation, INTERPOLATIONS, "interpolation")

    def baseline_for(self, polarity: str) -> str:
        """Return the baseline used for particles of `polarity`.

        Raises
        ------
        ValueError
            For ``baseline="zero"`` with dark particles (a fraction of a negated intensity means nothing).
        """
        if self.baseline is None:
            return "zero" if polarity == "bright" else "background"
        if self.baseline == "zero" and polarity == "dark":
            raise ValueError(
                "baseline='zero' does not apply to dark particles; use baseline='background' (or None)"
            )
        return self.baseline


# --------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class GapResult:
    """Gaps measured in one image: one row per adjacent pair, in the pair order of the analysis.

    Positions are ``(y, x)`` in metres from the top-left corner of the field. Intensities are in the image's
    unit; for dark particles a "peak" is the particle's lowest value. Rows that could not be evaluated
    (`valid` false) have NaN values and count neither as resolved nor as unresolved.
    """

    pairs: np.ndarray
    """(m, 2) int: particle indices ``(a, b)`` (0-based, label ``- 1``) of the particles defining the gaps."""
    start: np.ndarray
    """(m, 2) centre of particle ``a`` (profile start), m."""
    end: np.ndarray
    """(m, 2) centre of particle ``b`` (profile end), m."""
    centre_distance: np.ndarray
    """(m,) distance between the centres, m."""
    segmented_gap: np.ndarray
    """(m,) background run along the centre line in the defining label image, m."""
    width: np.ndarray
    """(m,) gap width between the two `width_level` points, m; NaN where a side has no such point."""
    edge_a: np.ndarray
    """(m, 2) the `width_level` point on particle ``a``'s side, m (NaN where undefined)."""
    edge_b: np.ndarray
    """(m, 2) the `width_level` point on particle ``b``'s side, m (NaN where undefined)."""
    peak_a: np.ndarray
    """(m,) peak intensity of particle ``a`` along the profile."""
    peak_b: np.ndarray
    """(m,) peak intensity of particle ``b`` along the profile."""
    minimum: np.ndarray
    """(m,) lowest intensity between the two peaks."""
    resolvable: np.ndarray
    """(m,) bool: the minimum is below `resolve_level` of the reference peak."""
    valid: np.ndarray
    """(m,) bool: the profile could be evaluated (two peaks above the baseline, on either side of the split)."""
    baseline: float
    """Intensity the levels are fractions above (0, or the background), in the image's unit."""
    pixel_size: tuple[float, float]
    """``(dy, dx)`` of the measured image, m."""

    @property
    def n(self) -> int:
        """Number of gaps (rows)."""
        return int(self.width.size)

    @property
    def n_valid(self) -> int:
        """Number of gaps that could be evaluated."""
        return int(np.count_nonzero(self.valid))

    @property
    def n_unresolved(self) -> int:
        """Number of evaluated gaps that are not resolved."""
        return int(np.count_nonzero(self.valid & ~self.resolvable))

    @property
    def unresolved_fraction(self) -> float:
        """Unresolved gaps / evaluated gaps (NaN when none was evaluated); ×100 for the paper's percentage."""
        return self.n_unresolved / self.n_valid if self.n_valid else float("nan")

    @property
    def resolved_widths(self) -> np.ndarray:
        """Widths (m) of the resolved gaps that have both edges: the samples of the paper's histograms."""
        keep = self.resolvable & np.isfinite(self.width)
        return self.width[keep]

    def __repr__(self) -> str:
        return (
            f"GapResult(n={self.n}, valid={self.n_valid}, unresolved={self.n_unresolved}, "
            f"resolved widths={self.resolved_widths.size})"
        )


@dataclass(frozen=True, eq=False)
class GapHistogram:
    """A histogram of gap widths with a fitted Gaussian.

    `mean`, `std` and `amplitude` are NaN with fewer than two samples (`mean` is the value with one).
    """

    edges: np.ndarray
    """(k + 1,) bin edges, in the samples' unit (m for widths)."""
    counts: np.ndarray
    """(k,) int: samples per bin."""
    mean: float
    """Mean of the fitted Gaussian."""
    std: float
    """Standard deviation of the fitted Gaussian."""
    amplitude: float
    """Height of the fitted Gaussian in counts per bin."""
    n: int
    """Number of finite samples (including any outside the edges)."""
    fit: str
    """How the Gaussian was fitted: ``"mle"`` (sample mean and std, ddof=1, scaled to the counts) or
    ``"curve_fit"`` (least squares on the bin counts)."""

    @property
    def centres(self) -> np.ndarray:
        """Bin centres."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    def gaussian(self, x: Any) -> np.ndarray:
        """Evaluate the fitted Gaussian, in counts per bin, at `x` (the samples' unit)."""
        x = np.asarray(x, dtype=np.float64)
        return self.amplitude * np.exp(-0.5 * ((x - self.mean) / self.std) ** 2)


@dataclass(frozen=True, eq=False)
class GapComparison:
    """Gaps picked on the target and measured at the same physical lines in every image.

    Every `GapResult` has the same rows (the same pairs, positions in metres). Keys are ``"input"``,
    ``"output"`` (when given) and ``"target"``, in that order.
    """

    particles: Particles
    """Particles of the target, which define the pairs."""
    results: dict[str, GapResult]
    """Image name -> its gaps."""
    histograms: dict[str, GapHistogram]
    """Image name -> histogram of its resolved widths, on bins shared by all images."""
    mean_abs_error: dict[str, float]
    """``"input"``/``"output"`` -> mean |width - target width| in m over the gaps resolved in both (NaN if none)."""
    n_compared: dict[str, int]
    """``"input"``/``"output"`` -> number of gaps in that mean."""
    options: GapOptions = field(default_factory=GapOptions)
    """The options used."""

    @property
    def unresolved_fraction(self) -> dict[str, float]:
        """Image name -> fraction of unresolved gaps (the paper's percentage / 100)."""
        return {name: r.unresolved_fraction for name, r in self.results.items()}


# --------------------------------------------------------------------------------------------------- pairs
@dataclass(frozen=True)
class _Lines:
    """Adjacent pairs and the physical sample points of their profiles."""

    pairs: np.ndarray  # (m, 2)
    start: np.ndarray  # (m, 2) m
    end: np.ndarray  # (m, 2) m
    offsets: np.ndarray  # (m + 1,) start of each pair's samples in `points`
    points: np.ndarray  # (P, band, 2) positions in metres
    split: np.ndarray  # (m,) sample index of the split
    segmented_gap: np.ndarray  # (m,) m
    step: np.ndarray  # (m,) actual step along each line, m


def _delaunay_edges(points: np.ndarray) -> np.ndarray:
    n = points.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if n < 4:
        return np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)
    try:
        # Joggled input ("QJ"): collinear points still triangulate.
        simplices = Delaunay(points, qhull_options="QJ").simplices
    except QhullError:  # pragma: no cover - QJ makes this very unlikely
        return np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)
    edges = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]])
    edges.sort(axis=1)
    return np.unique(edges, axis=0)


def _line_points(start: np.ndarray, end: np.ndarray, step: float, band: int, pitch: float):
    length = float(np.hypot(*(end - start)))
    count = max(math.ceil(length / step), 2) + 1
    t = np.linspace(0.0, length, count)
    u = (end - start) / length
    normal = np.array([-u[1], u[0]])
    offsets = (np.arange(band) - (band - 1) / 2) * pitch
    points = start[None, None, :] + t[:, None, None] * u + offsets[None, :, None] * normal
    return points, length / (count - 1)


def _to_pixels(points: np.ndarray, pixel_size: tuple[float, float]) -> np.ndarray:
    """(..., 2) metres -> (2, N) pixel coordinates (row, col) with pixel centres at integers."""
    flat = points.reshape(-1, 2)
    return np.stack([flat[:, 0] / pixel_size[0] - 0.5, flat[:, 1] / pixel_size[1] - 0.5])


def _adjacent_lines(particles: Particles, options: GapOptions) -> _Lines:
    dy, dx = particles.pixel_size
    finest = min(dy, dx)
    step = options.step if options.step is not None else 0.1 * finest
    max_gap = options.max_gap
    if max_gap is None:
        max_gap = float(np.median(particles.equivalent_diameters)) if particles.n else 0.0
    labels = particles.labels
    ny, nx = labels.shape
    pairs, starts, ends, chunks, splits, gaps, steps = [], [], [], [], [], [], []
    for a, b in _delaunay_edges(particles.centroids_m):
        start, end = particles.centroids_m[a], particles.centroids_m[b]
        if not np.hypot(*(end - start)) > 0:
            continue
        points, actual = _line_points(start, end, step, options.band, finest)
        rc = _to_pixels(points, (dy, dx))
        rows = np.clip(np.rint(rc[0]), 0, ny - 1).astype(np.intp)
        cols = np.clip(np.rint(rc[1]), 0, nx - 1).astype(np.intp)
        seen = labels[rows, cols].reshape(points.shape[:2])
        if np.isin(seen, (0, a + 1, b + 1), invert=True).any():
            continue  # a third particle lies across the band: not adjacent
        centre = seen[:, options.band // 2]
        in_a = np.nonzero(centre == a + 1)[0]
        in_b = np.nonzero(centre == b + 1)[0]
        last_a = int(in_a.max()) if in_a.size else 0
        first_b = int(in_b.min()) if in_b.size else centre.size - 1
        if first_b <= last_a:
            continue  # the two particles interleave along the line (concave shapes): no single gap
        gap = max(first_b - last_a - 1, 0) * actual
        if gap > max_gap:
            continue
        pairs.append((a, b))
        starts.append(start)
        ends.append(end)
        chunks.append(points)
        splits.append((last_a + first_b) // 2)
        gaps.append(gap)
        steps.append(actual)
    offsets = np.cumsum([0] + [c.shape[0] for c in chunks])
    band = options.band
    return _Lines(
        pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        start=np.array(starts, dtype=np.float64).reshape(-1, 2),
        end=np.array(ends, dtype=np.float64).reshape(-1, 2),
        offsets=offsets,
        points=np.concatenate(chunks) if chunks else np.zeros((0, band, 2)),
        split=np.array(splits, dtype=np.int64),
        segmented_gap=np.array(gaps, dtype=np.float64),
        step=np.array(steps, dtype=np.float64),
    )


# --------------------------------------------------------------------------------------------------- profiles
def _background_level(
    signal: np.ndarray, pixel_size: tuple[float, float], particles: Particles, order: int
) -> float:
    rows, cols = _far_background(particles.labels, particles.pixel_size)
    if rows.size == 0:
        raise ValueError("the image has no background pixels: baseline='background' cannot be estimated")
    ty, tx = particles.pixel_size
    points = np.stack([(rows + 0.5) * ty, (cols + 0.5) * tx], axis=-1)
    values = ndimage.map_coordinates(signal, _to_pixels(points, pixel_size), order=order, mode="nearest")
    return float(np.median(values))


def _crossing_left(s: np.ndarray, lo: int, imin: int, level: float) -> float:
    """Sub-sample position of the last sample >= level before imin (walking out from imin); NaN if none."""
    above = np.nonzero(s[lo:imin] >= level)[0]
    if above.size == 0:
        return float("nan")
    j = lo + int(above[-1])
    return j + (s[j] - level) / (s[j] - s[j + 1])


def _crossing_right(s: np.ndarray, imin: int, hi: int, level: float) -> float:
    above = np.nonzero(s[imin + 1 : hi + 1] >= level)[0]
    if above.size == 0:
        return float("nan")
    j = imin + 1 + int(above[0])
    return j - 1 + (level - s[j - 1]) / (s[j] - s[j - 1])


def _measure(
    image: np.ndarray,
    pixel_size: tuple[float, float],
    lines: _Lines,
    particles: Particles,
    options: GapOptions,
) -> GapResult:
    polarity = particles.polarity
    baseline_kind = options.baseline_for(polarity)
    order = INTERPOLATIONS[options.interpolation]
    signal = _signal(image, polarity)
    if options.smooth > 0:
        signal = ndimage.gaussian_filter(
            signal, (options.smooth / pixel_size[0], options.smooth / pixel_size[1])
        )
    b = 0.0 if baseline_kind == "zero" else _background_level(signal, pixel_size, particles, order)
    if baseline_kind == "zero" and float(np.min(image)) < 0:
        logger.warning(
            "the image has negative intensities (min %.3g): levels as fractions of the raw intensity "
            "(baseline='zero') assume a zero-based detector signal; consider baseline='background'",
            float(np.min(image)),
        )
    m = lines.pairs.shape[0]
    band = lines.points.shape[1]
    if m:
        values = ndimage.map_coordinates(
            signal, _to_pixels(lines.points, pixel_size), order=order, mode="nearest"
        ).reshape(-1, band)
        profiles = values.mean(axis=1)
    else:
        profiles = np.zeros(0)
    nan2 = np.full((m, 2), np.nan)
    width, peak_a, peak_b, minimum = (np.full(m, np.nan) for _ in range(4))
    edge_a, edge_b = nan2.copy(), nan2.copy()
    resolvable = np.zeros(m, dtype=bool)
    valid = np.zeros(m, dtype=bool)
    for row in range(m):
        s = profiles[lines.offsets[row] : lines.offsets[row + 1]]
        k = int(lines.split[row])
        ia = int(np.argmax(s[: k + 1]))
        ib = k + int(np.argmax(s[k:]))
        pa, pb = float(s[ia]), float(s[ib])
        if ib - ia < 2 or not (pa > b and pb > b) or not np.isfinite(s).all():
            continue
        imin = ia + int(np.argmin(s[ia : ib + 1]))
        low = float(s[imin])
        if options.reference == "higher":
            ref_left = ref_right = ref_resolve = max(pa, pb)
        elif options.reference == "lower":
            ref_left = ref_right = ref_resolve = min(pa, pb)
        else:
            ref_left, ref_right, ref_resolve = pa, pb, min(pa, pb)
        valid[row] = True
        peak_a[row], peak_b[row], minimum[row] = pa, pb, low
        resolvable[row] = low - b < options.resolve_level * (ref_resolve - b)
        level_left = b + options.width_level * (ref_left - b)
        level_right = b + options.width_level * (ref_right - b)
        if low >= level_left or low >= level_right:
            continue  # no dip below the width level: no edges
        left = _crossing_left(s, ia, imin, level_left)
        right = _crossing_right(s, imin, ib, level_right)
        if not (math.isfinite(left) and math.isfinite(right)):
            continue
        step = lines.step[row]
        direction = (lines.end[row] - lines.start[row]) / np.hypot(*(lines.end[row] - lines.start[row]))
        edge_a[row] = lines.start[row] + left * step * direction
        edge_b[row] = lines.start[row] + right * step * direction
        width[row] = (right - left) * step
    sign = 1.0 if polarity == "bright" else -1.0
    return GapResult(
        pairs=_frozen(lines.pairs, np.int64),
        start=_frozen(lines.start),
        end=_frozen(lines.end),
        centre_distance=_frozen(np.hypot(*(lines.end - lines.start).T) if m else np.zeros(0)),
        segmented_gap=_frozen(lines.segmented_gap),
        width=_frozen(width),
        edge_a=_frozen(edge_a),
        edge_b=_frozen(edge_b),
        peak_a=_frozen(sign * peak_a),
        peak_b=_frozen(sign * peak_b),
        minimum=_frozen(sign * minimum),
        resolvable=_frozen(resolvable, bool),
        valid=_frozen(valid, bool),
        baseline=sign * b,
        pixel_size=pixel_size,
    )


def _check_particles(particles: Any, shape: tuple[int, int], pixel_size: tuple[float, float], what: str):
    if not isinstance(particles, Particles):
        raise ValueError(f"particles must be a Particles object from detect_particles, got {type(particles)}")
    if particles.labels.shape != shape:
        raise ValueError(f"particles were found in a {particles.labels.shape} image, but {what} is {shape}")
    if not np.allclose(particles.pixel_size, pixel_size, rtol=1e-6, atol=0):
        raise ValueError(f"particles have pixel size {particles.pixel_size}, but {what} has {pixel_size}")


def _resolve_polarity(polarity: str | None, particles: Particles | None) -> str:
    if polarity is not None:
        _check_choice(polarity, POLARITIES, "polarity")
    if particles is not None:
        if polarity is not None and polarity != particles.polarity:
            raise ValueError(
                f"polarity={polarity!r} contradicts the particles, which were found as {particles.polarity!r}"
            )
        return particles.polarity
    return polarity or "bright"


def _check_options(options: Any) -> GapOptions:
    if options is None:
        return GapOptions()
    if not isinstance(options, GapOptions):
        raise ValueError(f"options must be a GapOptions or None, got {type(options).__name__}")
    return options


# --------------------------------------------------------------------------------------------------- public
def measure_gaps(
    image: Any,
    *,
    pixel_size: tuple[float, float],
    particles: Particles | None = None,
    polarity: str | None = None,
    options: GapOptions | None = None,
) -> GapResult:
    """Find the gaps between adjacent particles of one image and measure them (80 % width, 60 % rule).

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Intensities (SEM grey levels).
    pixel_size : (float, float)
        ``(dy, dx)`` in metres.
    particles : Particles, optional
        Particles of this image (from `detect_particles` with non-default settings); default: found with
        `detect_particles`'s defaults and `polarity`.
    polarity : {"bright", "dark"}, optional
        Particles brighter or darker than the background; default: that of `particles`, else ``"bright"``.
    options : GapOptions, optional
        Levels, reference peak, baseline, band, maximum gap (defaults: the paper's rule).

    Returns
    -------
    GapResult
        One row per adjacent pair; ``unresolved_fraction`` and ``resolved_widths`` summarise it.

    Raises
    ------
    ValueError
        A non-2-D or non-finite image, a missing or bad pixel size, particles of another image, or bad options.
    """
    data = _check_image(image, "image")
    ps = _check_pixel_size(pixel_size)
    options = _check_options(options)
    polarity = _resolve_polarity(polarity, particles)
    options.baseline_for(polarity)
    if particles is None:
        particles = detect_particles(data, pixel_size=ps, polarity=polarity)
    else:
        _check_particles(particles, data.shape, ps, "the image")
    lines = _adjacent_lines(particles, options)
    result = _measure(data, ps, lines, particles, options)
    logger.info(
        "%d particle(s), %d adjacent gap(s), %d unresolved", particles.n, result.n, result.n_unresolved
    )
    return result


def _check_same_field(
    shapes: Mapping[str, tuple[int, int]], sizes: Mapping[str, tuple[float, float]]
) -> None:
    fields = {name: (shapes[name][0] * sizes[name][0], shapes[name][1] * sizes[name][1]) for name in shapes}
    ty, tx = fields["target"]
    for name, (fy, fx) in fields.items():
        tol_y = max(sizes[name][0], sizes["target"][0]) * 1.01
        tol_x = max(sizes[name][1], sizes["target"][1]) * 1.01
        if abs(fy - ty) > tol_y or abs(fx - tx) > tol_x:
            raise ValueError(
                f"{name} covers {fy:.4g} m x {fx:.4g} m but the target covers {ty:.4g} m x {tx:.4g} m; the "
                "images must show the same field (register and crop them first, and check the pixel sizes)"
            )


def compare_gaps(
    input: Any,
    output: Any,
    target: Any,
    *,
    pixel_size_input: tuple[float, float],
    pixel_size_output: tuple[float, float] | None = None,
    pixel_size_target: tuple[float, float],
    particles: Particles | None = None,
    polarity: str | None = None,
    options: GapOptions | None = None,
    bins: int | None = None,
    fit: str = "mle",
) -> GapComparison:
    """Measure the target's gaps in the input, the output and the target (the SEM paper's Fig. 3 analysis).

    Pairs of adjacent particles are picked on the target; every image is sampled along the same physical
    lines (positions in metres through each image's pixel size), so the images may have different pixel
    counts but must cover the same field.

    Parameters
    ----------
    input : array_like, shape (ny, nx)
        The low-resolution image (any pixel size).
    output : array_like or None
        The enhanced image, or None to compare the input with the target only.
    target : array_like
        The high-resolution image of the same field.
    pixel_size_input, pixel_size_output, pixel_size_target : (float, float)
        ``(dy, dx)`` of each image in metres (`pixel_size_output` is required when `output` is given).
    particles : Particles, optional
        Particles of the target; default: `detect_particles` with its defaults and `polarity`.
    polarity : {"bright", "dark"}, optional
        Default: that of `particles`, else ``"bright"``.
    options : GapOptions, optional
        See `GapOptions`.
    bins : int, optional
        Number of histogram bins shared by all images; default as `histogram`.
    fit : {"mle", "curve_fit"}
        How each histogram's Gaussian is fitted (see `histogram`).

    Returns
    -------
    GapComparison
        Per-image `GapResult` (same rows), histograms on shared bins, mean absolute width errors of the input
        and the output against the target over the gaps resolved in both.

    Raises
    ------
    ValueError
        A non-2-D or non-finite image, a missing or bad pixel size, images of different fields, or a bad
        option.
    """
    images = {"input": _check_image(input, "input")}
    sizes = {"input": _check_pixel_size(pixel_size_input, "pixel_size_input")}
    if output is not None:
        images["output"] = _check_image(output, "output")
        sizes["output"] = _check_pixel_size(pixel_size_output, "pixel_size_output")
    images["target"] = _check_image(target, "target")
    sizes["target"] = _check_pixel_size(pixel_size_target, "pixel_size_target")
    _check_same_field({k: v.shape for k, v in images.items()}, sizes)
    options = _check_options(options)
    _check_choice(fit, FITS, "fit")
    polarity = _resolve_polarity(polarity, particles)
    options.baseline_for(polarity)
    if particles is None:
        particles = detect_particles(images["target"], pixel_size=sizes["target"], polarity=polarity)
    else:
        _check_particles(particles, images["target"].shape, sizes["target"], "the target")
    lines = _adjacent_lines(particles, options)
    results = {name: _measure(images[name], sizes[name], lines, particles, options) for name in images}

    widths = [r.resolved_widths for r in results.values()]
    everything = np.concatenate(widths)
    if everything.size:
        edges = _edges(everything, bins, None)
    else:
        edges = np.linspace(0.0, min(sizes["target"]), (bins or 5) + 1)
    histograms = {name: histogram(results[name].resolved_widths, bins=edges, fit=fit) for name in results}
    target_result = results["target"]
    mae, n_compared = {}, {}
    for name in results:
        if name == "target":
            continue
        r = results[name]
        both = (
            target_result.resolvable & r.resolvable & np.isfinite(target_result.width) & np.isfinite(r.width)
        )
        n_compared[name] = int(np.count_nonzero(both))
        mae[name] = (
            float(np.mean(np.abs(r.width[both] - target_result.width[both]))) if both.any() else math.nan
        )
    logger.info(
        "%d gap(s); unresolved %s; mean |error| %s",
        target_result.n,
        {k: round(v, 4) for k, v in ((k, r.unresolved_fraction) for k, r in results.items())},
        mae,
    )
    return GapComparison(
        particles=particles,
        results=results,
        histograms=histograms,
        mean_abs_error=mae,
        n_compared=n_compared,
        options=options,
    )


# --------------------------------------------------------------------------------------------------- histogram
def _edges(values: np.ndarray, bins: Any, value_range: Any) -> np.ndarray:
    if bins is not None and not isinstance(bins, int | np.integer):
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be an integer >= 1 or increasing finite bin edges")
        return edges
    if bins is not None and bins < 1:
        raise ValueError(f"bins must be an integer >= 1 or increasing finite bin edges, got {bins!r}")
    if value_range is not None:
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"value_range must be finite with high > low, got {value_range!r}")
    elif values.size:
        lo, hi = float(values.min()), float(values.max())
        if not hi > lo:
            pad = max(abs(lo) * 0.05, 1e-30)
            lo, hi = lo - pad, hi + pad
    else:
        raise ValueError("no finite value to histogram: give value_range or explicit bin edges")
    if bins is None:
        inside = values[(values >= lo) & (values <= hi)]
        auto = np.histogram_bin_edges(inside, bins="fd", range=(lo, hi)) if inside.size > 1 else np.zeros(6)
        bins = int(min(max(auto.size - 1, 5), 60))
    return np.linspace(lo, hi, int(bins) + 1)


def _gauss(x: np.ndarray, amplitude: float, mean: float, std: float) -> np.ndarray:
    return amplitude * np.exp(-0.5 * ((x - mean) / std) ** 2)


def _least_squares_gaussian(
    edges: np.ndarray, counts: np.ndarray, amplitude: float, mean: float, std: float
) -> tuple[float, float, float] | None:
    """Fit ``A exp(-(x - μ)² / 2σ²)`` to the bin counts from the MLE start; None if it fails or runs away."""
    centres = 0.5 * (edges[:-1] + edges[1:])
    # Fit in units of the std about the mean: widths in metres (~1e-9) are far from the solver's tolerances.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            popt, _ = curve_fit(
                _gauss, (centres - mean) / std, counts.astype(float), p0=(amplitude, 0.0, 1.0), maxfev=2000
            )
    except (RuntimeError, OptimizeWarning, ValueError) as exc:
        logger.info("Gaussian least-squares fit failed (%s); keeping the MLE", exc)
        return None
    a, m, s = float(popt[0]), mean + float(popt[1]) * std, abs(float(popt[2])) * std
    span = float(edges[-1] - edges[0])
    if not (np.all(np.isfinite(popt)) and a > 0 and edges[0] <= m <= edges[-1] and 0 < s <= span):
        logger.info(
            "Gaussian least-squares fit left the histogram (mean %.3g, std %.3g); keeping the MLE", m, s
        )
        return None
    return a, m, s


def histogram(
    values: Any,
    *,
    bins: int | Any | None = None,
    value_range: tuple[float, float] | None = None,
    fit: str = "mle",
) -> GapHistogram:
    """Histogram of samples (gap widths) with a fitted Gaussian, for the paper's Fig. 3.

    Parameters
    ----------
    values : array_like
        Samples (gap widths in m); NaN and infinities are left out.
    bins : int or array_like, optional
        Number of equal bins over `value_range`, or the bin edges. Default: the Freedman–Diaconis rule, 5 to
        60 bins (as `scansr.report.figures.histogram_figure`).
    value_range : (float, float), optional
        ``(low, high)`` of the bins; default: the samples' range.
    fit : {"mle", "curve_fit"}
        ``"mle"``: the normal distribution's maximum-likelihood mean and the sample std (ddof=1), the same
        numbers as `scansr.report.figures.fit_gaussian`, scaled to counts per bin; ``"curve_fit"``: least
        squares fit of ``A exp(-(x - μ)² / 2σ²)`` to the bin counts (starting from the MLE; if it fails the
        MLE is kept and `GapHistogram.fit` says ``"mle"``).

    Returns
    -------
    GapHistogram
        Edges, counts, the Gaussian's mean, std and amplitude, and a `gaussian` method to evaluate it.

    Raises
    ------
    ValueError
        Bad `bins`, `value_range` or `fit`, or no finite sample and no range to place the bins.
    """
    _check_choice(fit, FITS, "fit")
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[np.isfinite(array)]
    edges = _edges(array, bins, value_range)
    counts, _ = np.histogram(array, bins=edges)
    n = int(array.size)
    bin_width = float(np.median(np.diff(edges)))
    if n < 2:
        mean = float(array[0]) if n == 1 else math.nan
        return GapHistogram(_frozen(edges), _frozen(counts, np.int64), mean, math.nan, math.nan, n, "mle")
    mean, std = float(np.mean(array)), float(np.std(array, ddof=1))
    amplitude = n * bin_width / (std * math.sqrt(2 * math.pi)) if std > 0 else math.nan
    method = "mle"
    if fit == "curve_fit" and std > 0 and np.count_nonzero(counts) >= 4:
        fitted = _least_squares_gaussian(edges, counts, amplitude, mean, std)
        if fitted is not None:
            amplitude, mean, std = fitted
            method = "curve_fit"
    return GapHistogram(_frozen(edges), _frozen(counts, np.int64), mean, std, amplitude, n, method)
