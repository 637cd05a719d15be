"""Apply a trained network to a scan: prepare, tile, infer, restore metres; consistency and uncertainty maps.

``enhance(scan, scale=4)`` returns an `EnhanceResult`: the enhanced scan (pixel size ÷ scale, heights in metres in
the input's own frame), a *consistency* map (the output reduced back to the input's grid minus the measured input)
and an *uncertainty* map (the spread of the 8 flip/rotation self-ensemble members). `write_enhanced` writes them.

Preparation, exactly as the model was trained (``config.json`` → ``normalisation``)
    Training levels each high-resolution scan (least-squares plane), aligns its rows (per-row median, mean or
    line fit), clips it to percentiles (the AFM paper's eq. 1), degrades it, and normalises the degraded scan
    with μ, σ fitted on it (``fit_on="lr"``). Enhancement does the same on the measured scan, but splits it
    into a *background* and a *residual* instead of throwing the background away:

    1. background = the plane fitted to the input + the per-row offsets (or per-row lines) that the model's
       row alignment removes from it; residual = input − background (what training fed the network);
    2. the residual is clipped to the model's percentiles and normalised with μ, σ (or min, max) fitted on the
       clipped values, and the network receives exactly what training fed it. Clipping alone would flatten
       every feature taller than the bounds (a particle on a flat substrate; 2.5 % of the pixels of any scan)
       and no network can bring the lost heights back, so the part clipped away, ``r − clip(r)``, is upscaled
       bicubically and added to the output (``beyond_clip="bicubic"``, the default). ``beyond_clip="network"``
       feeds the unclipped residual to the network instead (values it never saw in training: a small test
       network overshot a tall feature by 16 % this way, against 4 % by default, and scored 0.01–1 dB lower on
       four shipped scans); ``"drop"`` reproduces training exactly and
       loses what lies beyond the bounds;
    3. the network's output is mapped back, ``y · σ + μ``, and the background is added back on the output
       grid: the plane evaluated exactly at the output pixel centres, and the row offsets (or per-row lines,
       evaluated at the output pixel centres) either interpolated between the input rows with the cubic
       kernel of the bicubic upscaler (``row_offsets="interpolate"``, the default) or given to every output
       row from the input row it lies in (``"replicate"``). Row offsets are not only scan-line artefacts:
       they also carry the part of the topography that a plane does not describe (scanner bow, curved
       samples), and replicated offsets turn that into terraces s rows high — on the shipped and shared
       scans the two choices differ by 0.5–7 % of the data range (RMS) at ×4. Replicated offsets reduce
       exactly to the input's under the area operator (the plane always does), so with ``"replicate"`` the
       background adds nothing to the consistency map; interpolated offsets add their high-frequency part
       (random line-to-line jumps).

    The result is in metres (the channel's unit) in the input's frame: no levelling, no row alignment is left
    applied. A model trained with ``fit_on="hr"`` is applied with statistics fitted on the input (the only
    scan enhancement has).

Tiled inference
    The network runs window by window (`scansr.train.tiled.predict_tiled`) with an overlap that covers its
    receptive field, so the result equals whole-image inference up to float rounding while memory stays
    bounded (no whole-image feature maps). `default_tiling` chooses the window: 512 output pixels wide, or 6
    overlaps where that is more, but at most 1024 output pixels. The overlap comes from the architecture: VDSR
    of depth ``d``, ``ceil(d / s) + 3`` input pixels; U-Net, its pooled receptive field, with windows aligned
    to its pooling grid; a network that states its ``receptive_radius`` (FusionSR), that radius + 1; other
    post-upsampling networks, the sum of their convolution radii, capped at 32 input pixels, NinaSR's windows
    aligned to the 16-pixel grid of its attention pooling (EDSR, RDN, NinaSR and RCAN reach further in theory —
    NinaSR through its attention windows — and RCAN's channel attention pools each window globally:
    their tiled results may differ slightly from whole-image ones; pass a `tile` larger than the scan for
    whole-image inference).

Self-ensemble (``tta``) and uncertainty
    The 8 members apply one of the 8 rotations/flips to the normalised input, run the network, and undo the
    transform exactly (``numpy.rot90`` / flips). ``tta=True`` returns their mean; the *uncertainty* map is
    their per-pixel standard deviation (population, ``ddof=0``) in metres, computed whenever
    ``uncertainty=True`` (then the 8 members run even without ``tta``, and the returned image is the identity
    member). A network that is exactly flip/rotation equivariant has zero uncertainty; the map shows where the
    network's answer depends on the orientation of the scan, i.e. where it invents rather than reads detail.

Consistency and back-projection
    ``consistency = reduce(output) − input`` on the input's grid, in metres, where ``reduce`` is the
    low-resolution model (`downsample`):

    - ``"area"`` (default): the mean of each ``s × s`` block — a detector or feedback loop that averages over the
      low-resolution pixel. Training draws its degradations at random (area, bicubic, point sampling, fast-axis
      averaging, tip, noise), so no single operator is *the* training degradation; area is the physical one
      and the only one under which the restored background is exactly consistent.
    - ``"bicubic"``: MATLAB's antialiased ``imresize(x, 1/s)`` (the seed papers' degradation).
    - ``"point"``: the output at the centre of each input pixel (the centre pixel for odd ``s``; the mean of the
      2 × 2 central pixels — bilinear interpolation at the centre — for even ``s``), as a point-sampling AFM.

    ``back_projection=k`` runs k iterations of iterative back-projection (Irani & Peleg 1991):
    ``x ← x + bicubic_upscale(input − reduce(x))``, after the self-ensemble and before the consistency map; it
    pulls the output towards consistency with the measurement (the uncertainty map is of the members before
    it). The upscaler is OpenCV's bicubic (Keys, ``a = −0.75``), the one the network's residual builds on.

Multichannel models (guided enhancement)
    A model of several input channels (`scansr.models.fusion.FusionSR`, trained with
    ``DataConfig.channel_mode="stack"``) takes the topography and its guides (e.g. amplitude and phase, or
    adhesion and modulus) measured in the same pass. Its ``input_names`` (kinds such as ``"height"``,
    ``"phase"``) are resolved against the scan's channels with `scansr.channels.resolve_channels` (vendor names
    mapped, all in one scan direction so that the channels are co-registered), or `channels` names them
    explicitly, in the model's input order. Each input channel is prepared and normalised on its own, exactly
    as above; output k (the topography, or every channel for a model with as many outputs as inputs) is input
    k enhanced, mapped back with input k's statistics and background, in its own unit, with its own
    consistency and uncertainty maps.

Models
    ``model="default"`` is the model shipped inside the package (``scansr/data/models/afm-default``); a path is a
    model folder (``config.json`` + ``model.safetensors``, `scansr.models.save_model`); a `LoadedModel` is used
    as is (e.g. right after training). Folders are loaded once per (folder, device) and kept in a small
    least-recently-used cache (4 models), so a batch passing the same path does not reload the weights; the
    cache key includes the files' modification times, so a re-saved model is reloaded.

This module imports only numpy, `scansr.scan` and `scansr.preprocess` at import time; torch, the networks, OpenCV
and the file formats are imported when first used, so ``import scansr.enhance`` is cheap and works without torch
(``scansr/__init__.py`` can re-export `enhance`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from scansr import preprocess
from scansr.scan import Channel, Scan

if TYPE_CHECKING:
    import torch

    from scansr.models import LoadedModel, ModelConfig

__all__ = [
    "BEYOND_CLIP",
    "DEFAULT_MODEL",
    "DOWNSAMPLE_METHODS",
    "MIN_SIZE",
    "MULTI_CHANNEL_SUFFIXES",
    "OTHER_CHANNELS",
    "ROW_OFFSETS",
    "EnhanceResult",
    "ModelSummary",
    "Tiling",
    "back_project",
    "clear_model_cache",
    "consistency_map",
    "default_model_folder",
    "default_tiling",
    "enhance",
    "reduce",
    "resolve_model",
    "write_enhanced",
]

logger = logging.getLogger(__name__)

#: The word that selects the model shipped with scansr.
DEFAULT_MODEL = "default"
#: Where the shipped model lies inside the package.
_DEFAULT_PARTS = ("data", "models", "afm-default")
#: Low-resolution models for the consistency map and back-projection.
DOWNSAMPLE_METHODS = ("area", "bicubic", "point")
#: What happens to the values beyond the model's clip percentiles.
BEYOND_CLIP = ("bicubic", "network", "drop")
#: How the row offsets of the input come back on the output grid.
ROW_OFFSETS = ("interpolate", "replicate")
#: What happens to the channels that are not enhanced.
OTHER_CHANNELS = ("drop", "bicubic")
#: Smallest input side in pixels.
MIN_SIZE = 4
#: Output formats (suffixes) that hold several channels: the maps are written into the same file.
MULTI_CHANNEL_SUFFIXES = (".gwy", ".npz", ".tif", ".tiff")

_TILE_OUTPUT_PX = 512  # target window side on the output grid: 512² × 64 float32 features = 64 MiB per layer
_MAX_TILE_OUTPUT_PX = 1024  # largest window side on the output grid (memory of the last layers)
_MAX_OVERLAP = 32  # input pixels; post-upsampling networks' theoretical receptive fields reach hundreds
_CACHE_SIZE = 4


# ------------------------------------------------------------------------------------------------ models
class ModelSummary(NamedTuple):
    """Which network produced a result.

    Attributes
    ----------
    name : str
        ``"default"``, the model folder's name, or ``"<arch> (in memory)"``.
    path : str or None
        The model folder, None for a model passed in memory.
    arch : str
        Architecture (a key of `scansr.models.MODELS`).
    scales : tuple of int
        Scales the model accepts.
    """

    name: str
    path: str | None
    arch: str
    scales: tuple[int, ...]


class _Resolved(NamedTuple):
    loaded: LoadedModel
    summary: ModelSummary
    device: torch.device


_cache: OrderedDict[tuple, tuple[LoadedModel, Path]] = OrderedDict()
_cache_lock = threading.Lock()


def clear_model_cache() -> None:
    """Forget the models loaded by `resolve_model` / `enhance` (frees their memory)."""
    with _cache_lock:
        _cache.clear()


def default_model_folder() -> Path:
    """Return the folder of the model shipped with scansr (``scansr/data/models/afm-default``).

    Returns
    -------
    Path
        The folder, which holds ``config.json`` and ``model.safetensors``.

    Raises
    ------
    ModelLoadError
        If the package holds no default model (e.g. a source checkout without the weights): the message says
        how to pass a model folder instead.
    """
    folder = _default_model_folder()
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        from scansr.models import ModelLoadError

        raise ModelLoadError(
            folder,
            "the default model is not installed in this copy of scansr (no config.json + model.safetensors "
            "there); pass a model folder instead: enhance(scan, scale=..., model='path/to/model') or "
            "`scansr enhance ... --model PATH` (a folder written by scansr train / scansr.models.save_model)",
        )
    return folder


def _default_model_folder() -> Path:
    from importlib import resources

    root = resources.files("scansr")
    return Path(str(root.joinpath(*_DEFAULT_PARTS)))


def _torch_device(device: str | torch.device | None) -> torch.device:
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from None


def _model_device(loaded: LoadedModel) -> torch.device:
    import torch

    for p in loaded.model.parameters():
        return p.device
    return torch.device("cpu")


def resolve_model(
    model: str | Path | LoadedModel = DEFAULT_MODEL, *, device: str | torch.device | None = None
) -> LoadedModel:
    """Return the network `model` names, loaded (from the cache when it was loaded before on this device).

    Parameters
    ----------
    model : str, Path or LoadedModel
        ``"default"`` (the shipped model), a model folder, or a `LoadedModel` (returned as is).
    device : str or torch.device, optional
        Where to load it (default: CUDA when available, else the CPU; a `LoadedModel` stays where it is).

    Returns
    -------
    LoadedModel
        ``(model, config)``, in eval mode. Do not modify it: it is shared through the cache.

    Raises
    ------
    ModelLoadError
        If the folder is missing, not a model folder, or corrupt (the message names the folder or file), or
        ``"default"`` is asked and no default model is installed.
    ValueError
        If `device` is not a device, or a `LoadedModel` lives on another device than `device`.
    """
    return _resolve(model, device).loaded


def _resolve(model: Any, device: str | torch.device | None) -> _Resolved:
    from scansr.models import LoadedModel, load_model

    if isinstance(model, LoadedModel):
        own = _model_device(model)
        if device is not None and _torch_device(device) != own:
            raise ValueError(
                f"the loaded model is on {own}, not on {device!r}: pass device=None, or move it first "
                "(loaded.model.to(device)) — enhance does not move a model it was given"
            )
        path = None
        with _cache_lock:
            for cached, folder in _cache.values():
                if cached is model:
                    path = folder
        name = _folder_name(path) if path is not None else f"{model.config.arch} (in memory)"
        summary = ModelSummary(name, str(path) if path else None, model.config.arch, model.config.scales)
        return _Resolved(model, summary, own)
    if isinstance(model, str) and model == DEFAULT_MODEL:
        folder, name = default_model_folder(), DEFAULT_MODEL
    elif isinstance(model, str | Path) and str(model).strip():
        folder = Path(model)
        name = _folder_name(folder)
    else:
        raise ValueError(
            f"model must be {DEFAULT_MODEL!r}, a model folder or a LoadedModel, got {type(model).__name__} "
            f"{model!r}"
        )
    dev = _torch_device(device)
    key = (str(folder.resolve()), str(dev), *_stamp(folder))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        loaded = load_model(folder, device=dev)  # raises ModelLoadError naming the folder or file
        if dev.type == "cpu":
            # channels-last weights: 1.3-1.6x faster convolutions on CPU (docs/benchmarks.md), same results
            # up to float rounding
            import torch

            loaded.model.to(memory_format=torch.channels_last)
        with _cache_lock:
            _cache[key] = (loaded, folder)
            _cache.move_to_end(key)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        logger.info("loaded %s model %s on %s", loaded.config.arch, folder, dev)
    else:
        loaded = hit[0]
    return _Resolved(loaded, ModelSummary(name, str(folder), loaded.config.arch, loaded.config.scales), dev)


def _folder_name(folder: Path) -> str:
    try:
        if folder.resolve() == _default_model_folder().resolve():
            return DEFAULT_MODEL
    except OSError:
        pass
    return folder.resolve().name or str(folder)


def _stamp(folder: Path) -> tuple[int, ...]:
    out = []
    for name in ("config.json", "model.safetensors"):
        try:
            st = (folder / name).stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [-1, -1]
    return tuple(out)


def _model_unit(config: ModelConfig) -> str | None:
    """Return the unit of the channels the model was trained on, where its configuration says or implies it."""
    for record in (config.normalisation, config.training):
        unit = record.get("unit")
        if isinstance(unit, str):
            return unit
    # Trained on each scan's default channel: the topography, in metres (scansr.train's default).
    if config.training.get("channels", "default") == "default":
        return "m"
    return None


# ------------------------------------------------------------------------------------------------ tiling
class Tiling(NamedTuple):
    """Windows of tiled inference, in input (low-resolution) pixels: see `scansr.train.tiled.predict_tiled`."""

    tile: int
    overlap: int
    align: int


def _receptive_radius(loaded: LoadedModel, scale: int) -> tuple[int, bool]:
    """Receptive-field radius in input pixels, and whether it is exact enough to tile without seams."""
    from torch import nn

    config = loaded.config
    own = getattr(loaded.model, "receptive_radius", None)  # a network that knows its own (FusionSR)
    if isinstance(own, int) and not isinstance(own, bool):
        return min(own, _MAX_OVERLAP - 1), own + 1 <= _MAX_OVERLAP
    if config.arch == "vdsr":
        depth = int(config.kwargs.get("depth", 20))
        return math.ceil(depth / scale) + 2, True  # + 2: the support of the bicubic upsampling
    if config.arch == "unet":
        d = int(config.kwargs.get("depth", 4))
        # head + tail, per level: two convs down, 2×2 pooling, bilinear ×2 up, two convs up; bottom block.
        radius_hr = 2 + 7 * (2**d - 1) + 2 ** (d + 1)
        return math.ceil(radius_hr / scale) + 2, True
    radius = 0
    for m in loaded.model.modules():
        if isinstance(m, nn.Conv2d):
            radius += (m.kernel_size[0] - 1) // 2 * m.dilation[0]
    exact = config.arch != "rcan" and radius + 1 <= _MAX_OVERLAP
    return min(radius + 1, _MAX_OVERLAP - 1), exact


def _align(loaded: LoadedModel, scale: int) -> int:
    if loaded.config.arch == "unet":
        m = 2 ** int(loaded.config.kwargs.get("depth", 4))
        return m // math.gcd(m, scale)
    if loaded.config.arch.startswith("ninasr"):
        # NinaSR's attention pools on a 16-pixel grid of its (input-resolution) features: windows that start on
        # that grid see the whole image's pooling cells (measured: seams 1e-3 -> 6e-6 of the range at overlap 26).
        return 16
    return 1


def default_tiling(model: LoadedModel, scale: int) -> Tiling:
    """Window, overlap and alignment of tiled inference for `model` at `scale` (see the module notes).

    Parameters
    ----------
    model : LoadedModel
        The network and its configuration.
    scale : int
        Scale factor.

    Returns
    -------
    Tiling
        ``overlap`` covers the receptive field (input pixels; capped at 32 for post-upsampling networks);
        ``tile`` is 512 output pixels (``512 / scale`` input pixels), or 6 overlaps where that is more (the
        windows' overlap then costs at most 2.25 times the work), but at most 1024 output pixels (memory);
        ``align`` is the pooling grid of the U-Net or of NinaSR's attention (1 for other networks).
    """
    radius, exact = _receptive_radius(model, scale)
    if not exact:
        logger.debug("%s: tiled inference is not exactly whole-image inference", model.config.arch)
    overlap = radius + 1
    align = _align(model, scale)
    tile = max(math.ceil(_TILE_OUTPUT_PX / scale), 6 * overlap + align)
    tile = min(tile, max(math.ceil(_MAX_TILE_OUTPUT_PX / scale), 2 * overlap + align + 16))
    return Tiling(tile, overlap, align)


# ------------------------------------------------------------------------------------------------ background
class _Prepared(NamedTuple):
    """One channel split into background and residual, with the normalisation of the network's input."""

    residual: np.ndarray  # input − background, in the channel's unit, unclipped
    excess: np.ndarray | None  # residual − clip(residual): what the clipping removes (None without clipping)
    net_input: np.ndarray  # float32, normalised (clipped or not)
    offset: float
    norm_scale: float
    bounds: tuple[float, float] | None
    plane: np.ndarray | None  # coefficients (a, b, c) of a + b·(x − x0) + c·(y − y0), centred below
    centre: tuple[float, float]
    rows: np.ndarray | None  # (ny, degree + 1) per-row polynomial coefficients in u = -1 … 1 along the row


def _fit_plane(values: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Coefficients of the plane `values` (a plane sampled at the pixel centres), exactly."""
    ny, nx = values.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    y0, x0 = (ny - 1) / 2, (nx - 1) / 2
    design = np.column_stack([np.ones(values.size), (xx - x0).ravel(), (yy - y0).ravel()])
    coefficients, *_ = np.linalg.lstsq(design, values.ravel(), rcond=None)
    return coefficients, (y0, x0)


def _row_axis(nx: int) -> np.ndarray:
    # The coordinate of `preprocess.align_rows(method="polynomial")`: -1 … 1 across the row's pixel centres.
    return np.linspace(-1.0, 1.0, nx) if nx > 1 else np.zeros(1)


def _prepare(z: np.ndarray, norm: Mapping[str, Any], *, beyond_clip: str, what: str) -> _Prepared:
    plane = rows = None
    centre = (0.0, 0.0)
    residual = z
    if norm.get("level_plane"):
        levelled = preprocess.level_plane(residual)
        plane, centre = _fit_plane(residual - levelled)
        residual = levelled
    method = norm.get("align_rows")
    if method is not None:
        if method not in preprocess.ALIGN_METHODS:
            raise ValueError(
                f"the model's normalisation.align_rows is {method!r}; this scansr knows {preprocess.ALIGN_METHODS}"
            )
        aligned = preprocess.align_rows(residual, method=method)
        background = residual - aligned
        degree = 1 if method == "polynomial" else 0
        vander = np.polynomial.polynomial.polyvander(_row_axis(z.shape[1]), degree)
        coefficients, *_ = np.linalg.lstsq(vander, background.T, rcond=None)
        rows = coefficients.T
        residual = aligned
    bounds = None
    clipped = residual
    if norm.get("clip") is not None:
        low, high = (float(v) for v in norm["clip"])
        bounds = preprocess.percentile_bounds(residual, low=low, high=high)
        clipped = np.clip(residual, *bounds)
    kind = norm.get("kind", "zscore")
    try:
        if kind == "zscore":
            n = preprocess.fit_zscore(clipped)
            offset, scale = n.offset, n.scale
        elif kind == "minmax":
            n = preprocess.fit_minmax(clipped)
            offset, scale = n.offset, n.scale
        elif kind == "none":
            offset, scale = 0.0, 1.0
        else:
            raise ValueError(
                f"the model's normalisation.kind is {kind!r}; this scansr knows ('zscore', 'minmax', 'none')"
            )
    except ValueError as exc:
        raise ValueError(f"{what}: cannot be normalised as the model expects: {exc}") from None
    fed = residual if beyond_clip == "network" else clipped
    net_input = ((fed - offset) / scale).astype(np.float32)
    excess = residual - clipped if bounds is not None and beyond_clip == "bicubic" else None
    return _Prepared(residual, excess, net_input, offset, scale, bounds, plane, centre, rows)


def _add_background(out: np.ndarray, p: _Prepared, scale: int, *, rows: str) -> None:
    """Add the input's background to `out` on the output grid (plane at the pixel centres, rows as `rows` says).

    In place and without whole-image temporaries where possible (outputs reach 4096² pixels).
    """
    ny, nx = out.shape[0] // scale, out.shape[1] // scale
    # Output pixel k lies at input coordinate (k + 0.5) / s − 0.5 (pixel-area alignment, origin kept).
    y = (np.arange(ny * scale) + 0.5) / scale - 0.5
    x = (np.arange(nx * scale) + 0.5) / scale - 0.5
    if p.plane is not None:
        a, b, c = p.plane
        y0, x0 = p.centre
        out += (a + b * (x - x0))[None, :]
        out += (c * (y - y0))[:, None]
    if p.rows is not None:
        u = -1.0 + 2.0 * x / (nx - 1) if nx > 1 else np.zeros_like(x)
        vander = np.polynomial.polynomial.polyvander(u, p.rows.shape[1] - 1)  # (nx·s, degree + 1)
        per_row = p.rows @ vander.T  # (ny, nx·s): each input row's line on the output columns
        if rows == "replicate":
            out.reshape(ny, scale, nx * scale)[...] += per_row[:, None, :]
        else:
            out += _upscale_rows(per_row, scale)


def _upscale_rows(values: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscaling along the rows only (y), as `scansr.interpolate.upscale` (OpenCV, Keys a = -0.75)."""
    import cv2

    # Along x the scale is 1: OpenCV's cubic weights at integer positions are exactly (0, 1, 0, 0).
    offset = values.mean()
    out = cv2.resize(
        np.ascontiguousarray(values - offset),
        (values.shape[1], values.shape[0] * scale),
        interpolation=cv2.INTER_CUBIC,
    )
    return np.asarray(out, dtype=np.float64).reshape(values.shape[0] * scale, values.shape[1]) + offset


# ------------------------------------------------------------------------------------------ consistency
def _check_downsample(method: object) -> str:
    if method not in DOWNSAMPLE_METHODS:
        raise ValueError(f"downsample must be one of {DOWNSAMPLE_METHODS}, got {method!r}")
    return str(method)


def _check_scale_int(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    return int(scale)


def reduce(image: np.ndarray, scale: int, *, downsample: str = "area") -> np.ndarray:
    """Reduce an output-grid image to the input grid with the low-resolution model `downsample`.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
        Values in any unit (heights in m); both sides must be multiples of `scale`.
    scale : int
        Reduction factor.
    downsample : {"area", "bicubic", "point"}
        ``"area"``: mean of each ``s × s`` block; ``"bicubic"``: MATLAB's antialiased ``imresize(x, 1/s)``;
        ``"point"``: the value at each block's centre (centre pixel for odd `scale`, mean of the 2 × 2 central
        pixels for even `scale`).

    Returns
    -------
    numpy.ndarray
        ``(ny / s, nx / s)`` float64, same unit.

    Raises
    ------
    ValueError
        Unknown `downsample`, a bad `scale`, sides that are not multiples of `scale`, or non-finite values.
    """
    downsample = _check_downsample(downsample)
    scale = _check_scale_int(scale)
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] % scale or x.shape[1] % scale or min(x.shape) < scale:
        raise ValueError(f"image must be 2-D with sides that are multiples of {scale}, got shape {x.shape}")
    if downsample == "point":
        a, b = (scale - 1) // 2, scale // 2
        if a == b:
            return x[a::scale, a::scale].copy()
        return (
            x[a::scale, a::scale] + x[a::scale, b::scale] + x[b::scale, a::scale] + x[b::scale, b::scale]
        ) / 4
    from scansr import interpolate

    return interpolate.downsample(x, scale, method=downsample)


def consistency_map(
    output: np.ndarray, measured: np.ndarray, scale: int, *, downsample: str = "area"
) -> np.ndarray:
    """Return ``reduce(output) − measured``: how far the enhanced image is from explaining the measurement.

    Parameters
    ----------
    output : array_like, shape (ny·s, nx·s)
        Enhanced image (heights in m).
    measured : array_like, shape (ny, nx)
        The measured low-resolution image, same unit.
    scale : int
        Scale factor.
    downsample : {"area", "bicubic", "point"}
        The low-resolution model (see `reduce`).

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` float64, in the unit of the images; 0 where the output reduces exactly to the measurement.

    Raises
    ------
    ValueError
        If the shapes do not match ``output = measured × scale``, or as `reduce`.
    """
    measured = np.asarray(measured, dtype=np.float64)
    out = np.asarray(output, dtype=np.float64)
    if measured.ndim != 2 or out.shape != (measured.shape[0] * scale, measured.shape[1] * scale):
        raise ValueError(
            f"output must be the measured image's shape × {scale}: measured {measured.shape}, output {out.shape}"
        )
    return reduce(out, scale, downsample=downsample) - measured


def back_project(
    output: np.ndarray, measured: np.ndarray, scale: int, *, iterations: int, downsample: str = "area"
) -> np.ndarray:
    """Run iterative back-projection (Irani & Peleg 1991): ``x ← x + bicubic_upscale(measured − reduce(x))``.

    Parameters
    ----------
    output : array_like, shape (ny·s, nx·s)
        Starting image (the network's output), e.g. in metres.
    measured : array_like, shape (ny, nx)
        The measurement it must be consistent with, same unit.
    scale : int
        Scale factor.
    iterations : int
        Number of iterations (>= 0; 0 returns a copy of `output`).
    downsample : {"area", "bicubic", "point"}
        The low-resolution model (see `reduce`).

    Returns
    -------
    numpy.ndarray
        float64, shape of `output`. Reducing a bicubic upscaling passes every spatial frequency with a gain
        between 0.47 and 1.01 (``"area"``: 0.63 to 1), so away from the edges each iteration multiplies the
        consistency error at every frequency by at most 0.53 (``"area"``: 0.37), changing the image only by
        upscaled corrections.

    Raises
    ------
    ValueError
        Bad `iterations`, or as `consistency_map`.
    """
    from scansr import interpolate

    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        raise ValueError(f"back-projection iterations must be an integer >= 0, got {iterations!r}")
    x = np.array(output, dtype=np.float64)
    for _ in range(int(iterations)):
        error = -consistency_map(x, measured, scale, downsample=downsample)
        x += interpolate.upscale(error, scale, method="bicubic")
    return x


# ---------------------------------------------------------------------------------------- self-ensemble
def _forward(d: int, a: np.ndarray) -> np.ndarray:
    """Member `d` of the dihedral group: rotate by d·90° (d mod 4), then flip left-right when d >= 4."""
    out = np.rot90(a, d % 4)
    return out[:, ::-1] if d >= 4 else out


def _inverse(d: int, a: np.ndarray) -> np.ndarray:
    out = a[:, ::-1] if d >= 4 else a
    return np.rot90(out, -(d % 4))


class _Members:
    """Running mean and variance (Welford) of the self-ensemble members, float64 on the output grid.

    Only the first member, the running mean and the running sum of squared deviations are kept, so memory does
    not grow with the number of members; a single member allocates nothing more.
    """

    def __init__(self) -> None:
        self.n = 0
        self.first: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, y: np.ndarray) -> None:
        """Add member `y` (which the ensemble then owns: it is kept or overwritten)."""
        self.n += 1
        if self.first is None:
            self.first = y
            return
        if self._mean is None:
            self._mean = self.first.copy()
            self._m2 = np.zeros_like(y)
        # Welford: mean += (y − mean) / n; m2 += (y − old mean)·(y − new mean), with one temporary.
        delta = y - self._mean
        delta /= self.n
        self._mean += delta
        delta *= self.n
        y -= self._mean
        y *= delta
        self._m2 += y

    @property
    def mean(self) -> np.ndarray:
        return self.first if self._mean is None else self._mean

    def std(self) -> np.ndarray:
        if self._m2 is None:
            return np.zeros_like(self.first)
        return np.sqrt(np.maximum(self._m2, 0.0) / self.n)

    def take(self, *, mean: bool) -> np.ndarray:
        """Return the mean (or the first member) and forget every array (the caller then owns it)."""
        out = self.mean if mean else self.first
        self.first = self._mean = self._m2 = None
        return out


# ------------------------------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class EnhanceResult:
    """What `enhance` produced.

    Attributes
    ----------
    scan : Scan
        The enhanced scan: the enhanced channel(s) under their own names and units (and, with
        ``other_channels="bicubic"``, the other channels upscaled bicubically), pixel size ÷ scale, origin
        kept, metadata recording the model, scale, options and scansr version.
    consistency : Scan or None
        ``reduce(enhanced) − input`` per enhanced channel, on the **input** grid (input pixel size), in the
        channel's unit; None when not asked.
    uncertainty : Scan or None
        Standard deviation of the 8 self-ensemble members per enhanced channel, on the output grid, in the
        channel's unit; None when not asked.
    model : ModelSummary
        The network used.
    options : mapping
        The effective options (scale, channels, tta, back_projection, downsample, tiling, device, ...), JSON
        values.
    """

    scan: Scan
    consistency: Scan | None
    uncertainty: Scan | None
    model: ModelSummary
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scale(self) -> int:
        """The scale factor."""
        return int(self.options["scale"])

    @property
    def consistency_on_output(self) -> Scan | None:
        """The consistency map block-replicated onto the output grid (each input pixel's value on its block)."""
        if self.consistency is None:
            return None
        s = self.scale
        return self.consistency.replace(
            channels=tuple(
                c.replace(data=np.repeat(np.repeat(c.data, s, axis=0), s, axis=1)) for c in self.consistency
            ),
            pixel_size=self.scan.pixel_size,
        )

    def to_scan(self, *, maps: bool = True) -> Scan:
        """Return the enhanced scan, with the maps as extra channels when `maps` is true (for .gwy/.npz/.tif).

        The maps are named ``"<channel> consistency"`` (block-replicated onto the output grid, see
        `consistency_on_output`) and ``"<channel> uncertainty"``, each after the enhanced channels; a name
        already taken gets a number appended.

        Parameters
        ----------
        maps : bool
            Add the maps that were computed.

        Returns
        -------
        Scan
        """
        if not maps:
            return self.scan
        channels = list(self.scan.channels)
        taken = {c.name.casefold() for c in channels}
        for kind, scan in (("consistency", self.consistency_on_output), ("uncertainty", self.uncertainty)):
            if scan is None:
                continue
            for c in scan.channels:
                name = _unique(f"{c.name} {kind}", taken)
                taken.add(name.casefold())
                channels.append(c.replace(name=name))
        return self.scan.replace(channels=tuple(channels))


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate.casefold() in taken:
        candidate, k = f"{name} {k}", k + 1
    return candidate


# ------------------------------------------------------------------------------------------------ checks
def _check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _check_optional_int(value: object, what: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum} or None, got {value!r}")
    return int(value)


def _channel_names(scan: Scan, channels: str | Iterable[str] | None) -> list[str]:
    if channels is None:
        return [scan.default_channel]
    if isinstance(channels, str):
        channels = [channels]
    try:
        names = [scan.channel(str(n)).name for n in channels]  # UnknownChannelError lists the channels
    except TypeError:
        raise ValueError(f"channels must be a channel name or a list of names, got {channels!r}") from None
    if not names:
        raise ValueError(f"channels must name at least one channel; the scan has {list(scan.names)}")
    return list(dict.fromkeys(names))


def _model_inputs(
    scan: Scan, config: ModelConfig, channels: str | Sequence[str] | None, summary: ModelSummary
) -> tuple[str, ...]:
    """Return the scan's channels that a multichannel model takes, in its input order (topography first)."""
    from scansr.channels import CHANNEL_ALIASES, UnresolvedChannelError, channel_kind, resolve_channels

    wanted = tuple(config.input_names)
    if channels is None:
        if len(wanted) != config.in_channels:
            raise ValueError(
                f"model {summary.name!r} takes {config.in_channels} channels but does not record which; pass "
                f"channels=[...] naming {config.in_channels} channels of the scan ({list(scan.names)}), the "
                "topography first"
            )
        given = wanted
    else:
        given = (channels,) if isinstance(channels, str) else tuple(channels)
        if len(given) != config.in_channels:
            takes = f" ({', '.join(wanted)})" if wanted else ""
            raise ValueError(
                f"model {summary.name!r} takes {config.in_channels} channels{takes}, the topography first; "
                f"got {len(given)}: {list(given)}"
            )
    try:
        names = resolve_channels(scan, [str(n) for n in given])  # one call: one scan direction
    except UnresolvedChannelError as exc:
        exc.args = (f"{exc.args[0]}. Model {summary.name!r} takes {list(wanted or given)}",)
        raise
    if channels is not None and wanted:
        for k, (name, expected) in enumerate(zip(names, wanted, strict=True)):
            kind = channel_kind(scan.channel(name))
            if expected not in CHANNEL_ALIASES:
                continue
            if kind is None:
                logger.warning(
                    "channel %r (input %d) is not recognised as %s, which model %s takes there",
                    name, k, expected, summary.name,
                )  # fmt: skip
            elif kind.kind != expected:
                raise ValueError(
                    f"channel {name!r} measures {kind.kind}, but input {k} of model {summary.name!r} is "
                    f"{expected} (it takes {list(wanted)}, in this order)"
                )
    return names


def _check_guide_unit(channel: Channel, config: ModelConfig, k: int, summary: ModelSummary) -> None:
    entries = config.normalisation.get("channels")
    if not isinstance(entries, list) or k >= len(entries) or not isinstance(entries[k], Mapping):
        return
    units = entries[k].get("units") or []
    if units and channel.unit not in units:
        logger.warning(
            "channel %r is in %r, but model %s saw %s in %s in training (each channel is normalised on its "
            "own, so only the meaning of the values matters)",
            channel.name, channel.unit, summary.name, entries[k].get("name"), units,
        )  # fmt: skip


def _check_channel(scan: Scan, channel: Channel, unit: str | None, summary: ModelSummary) -> None:
    if not np.isfinite(channel.data).all():
        bad = int(np.count_nonzero(~np.isfinite(channel.data)))
        raise ValueError(
            f"channel {channel.name!r} has {bad} missing (NaN or infinite) pixel(s); the network needs every "
            "pixel: fill them (e.g. from their neighbours) or crop them away first"
        )
    if min(channel.shape) < MIN_SIZE:
        raise ValueError(
            f"channel {channel.name!r} is {channel.shape[0]}x{channel.shape[1]} pixels; enhancement needs at least "
            f"{MIN_SIZE}x{MIN_SIZE}"
        )
    if unit is not None and channel.unit != unit:
        kind = "heights (topography)" if unit == "m" else "channels"
        fitting = [c.name for c in scan.channels if c.unit == unit]
        hint = f"; channels of this scan in {unit!r}: {fitting}" if fitting else ""
        raise ValueError(
            f"channel {channel.name!r} is in {channel.unit!r}, but the model {summary.name!r} was trained on "
            f"{kind} in {unit!r}: it cannot enhance this channel{hint}"
        )


# ------------------------------------------------------------------------------------------------ enhance
def enhance(
    scan: Scan,
    *,
    scale: int,
    model: str | Path | LoadedModel = DEFAULT_MODEL,
    channels: str | Sequence[str] | None = None,
    other_channels: str = "drop",
    tta: bool = False,
    back_projection: int = 0,
    uncertainty: bool = True,
    consistency: bool = True,
    downsample: str = "area",
    beyond_clip: str = "bicubic",
    row_offsets: str = "interpolate",
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> EnhanceResult:
    """Super-resolve a scan with a trained network; return the enhanced scan and its consistency/uncertainty maps.

    See the module notes for how the scan is prepared, tiled, ensembled and checked.

    Parameters
    ----------
    scan : Scan
        The measured (low-resolution) scan.
    scale : int
        Scale factor, one of the model's scales.
    model : str, Path or LoadedModel
        ``"default"`` (the model shipped with scansr), a model folder, or a loaded model (e.g. from
        `resolve_model`, to load once for a batch; passing the same folder again also reuses the cached
        network).
    channels : str or sequence of str, optional
        Single-channel model: the channel(s) to enhance, each on its own (default: the scan's topography,
        ``scan.default_channel``); each must be in the unit the model was trained on (metres for a height
        model). Multichannel model: the channels to feed it, one per input in its order, the topography first
        (names or kinds, e.g. ``("Height", "Adhesion", "DMTModulus")``); default: the model's
        ``input_names`` resolved against the scan (`scansr.channels.resolve_channels`).
    other_channels : {"drop", "bicubic"}
        What becomes of the scan's other channels: ``"drop"`` (default; the result holds only the enhanced
        channels) or ``"bicubic"`` (upscaled with OpenCV's bicubic interpolation, marked in the metadata;
        channels with missing pixels are left out with a warning).
    tta : bool
        Return the mean of the 8 flip/rotation self-ensemble members instead of the plain output.
    back_projection : int
        Iterations of iterative back-projection towards consistency with the input (0: none).
    uncertainty : bool
        Compute the uncertainty map (runs all 8 members even without `tta`: 8 network passes).
    consistency : bool
        Return the consistency map.
    downsample : {"area", "bicubic", "point"}
        Low-resolution model of the consistency map and of back-projection (see `reduce`).
    beyond_clip : {"bicubic", "network", "drop"}
        What happens to the values beyond the model's clip percentiles: ``"bicubic"`` (default) feeds the
        network the clipped scan, exactly as in training, and adds back the part clipped away, upscaled
        bicubically, so that tall features survive; ``"network"`` feeds the network the unclipped scan (μ, σ
        still fitted on the clipped values); ``"drop"`` loses it, as training does.
    row_offsets : {"interpolate", "replicate"}
        How the row offsets removed by the model's row alignment come back on the output grid: cubic
        interpolation between the input rows (default), or the input row's offset on each of its `scale`
        output rows (exactly consistent under the area operator; terraces where the offsets carry curvature).
    tile, overlap : int, optional
        Window side and overlap of tiled inference, in input pixels (default: `default_tiling`).
    device : str or torch.device, optional
        Where the network runs (default: CUDA when available, else the CPU; a `LoadedModel` runs where it is).
    progress : bool
        Show a progress bar (one step per channel and ensemble member) on stderr.

    Returns
    -------
    EnhanceResult
        ``scan``, ``consistency``, ``uncertainty``, ``model``, ``options``; ``to_scan()`` adds the maps as
        channels, `write_enhanced` writes everything.

    Raises
    ------
    ValueError
        `scale` not among the model's scales (the message lists them); a channel with missing pixels, smaller
        than 4 × 4 pixels, flat, or in another unit than the model's (the message names the channel and the
        model's kind); a bad option (the message names the valid choices); for a multichannel model, `channels`
        of another length than its inputs, or a channel of another kind than the input it is given for.
    UnknownChannelError
        A name in `channels`, or an input of a multichannel model, that the scan does not have (the message
        lists the channels and what they were recognised as).
    ModelLoadError
        The model folder is missing or corrupt, or no default model is installed (the message names the
        folder and says how to pass one).
    """
    if not isinstance(scan, Scan):
        raise ValueError(f"scan must be a scansr Scan (scansr.io.read(path)), got {type(scan).__name__}")
    if other_channels not in OTHER_CHANNELS:
        raise ValueError(f"other_channels must be one of {OTHER_CHANNELS}, got {other_channels!r}")
    downsample = _check_downsample(downsample)
    tta = _check_bool(tta, "tta")
    uncertainty = _check_bool(uncertainty, "uncertainty")
    consistency = _check_bool(consistency, "consistency")
    if beyond_clip not in BEYOND_CLIP:
        raise ValueError(f"beyond_clip must be one of {BEYOND_CLIP}, got {beyond_clip!r}")
    if row_offsets not in ROW_OFFSETS:
        raise ValueError(f"row_offsets must be one of {ROW_OFFSETS}, got {row_offsets!r}")
    progress = _check_bool(progress, "progress")
    iterations = _check_optional_int(back_projection, "back_projection", 0) or 0
    tile = _check_optional_int(tile, "tile", 1)
    overlap = _check_optional_int(overlap, "overlap", 0)

    resolved = _resolve(model, device)
    loaded, summary, dev = resolved
    config = loaded.config
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or int(scale) not in config.scales:
        raise ValueError(
            f"scale must be one of {config.scales} (the scales of model {summary.name!r}), got {scale!r}"
        )
    scale = int(scale)
    multichannel = config.in_channels > 1
    if multichannel:
        inputs = _model_inputs(scan, config, channels, summary)
        names = list(inputs[: config.out_channels])
    else:
        if config.out_channels != 1:
            raise ValueError(
                f"model {summary.name!r} takes 1 channel and gives {config.out_channels}; enhance applies "
                "single-channel models one channel at a time, and multichannel models to their input channels"
            )
        names = _channel_names(scan, channels)
        inputs = ()
    unit = _model_unit(config)
    if unit is None:
        logger.warning(
            "model %s does not record the unit of its training channels (%s); the channels' units are not checked",
            summary.name,
            config.training.get("channels"),
        )
    for k, name in enumerate(inputs or names):
        # Input 0 of a multichannel model is the topography; its guides are z-scored on their own, so their
        # units only warn.
        guide = multichannel and k > 0
        _check_channel(scan, scan.channel(name), None if guide else unit, summary)
        if guide:
            _check_guide_unit(scan.channel(name), config, k, summary)

    tiling = default_tiling(loaded, scale)
    tiling = Tiling(
        tile if tile is not None else tiling.tile,
        overlap if overlap is not None else tiling.overlap,
        tiling.align,
    )
    if tiling.tile <= 2 * tiling.overlap + tiling.align - 1:
        raise ValueError(
            f"tile ({tiling.tile}) must exceed twice the overlap ({tiling.overlap}) plus {tiling.align - 1} "
            "(the network's pooling alignment)"
        )
    norm = dict(config.normalisation)
    if norm.get("fit_on", "lr") != "lr":
        logger.info("model %s normalised with HR statistics in training; using the input's", summary.name)
    members = tuple(range(8)) if (tta or uncertainty) else (0,)

    from tqdm.auto import tqdm

    from scansr import interpolate

    enhanced: list[Channel] = []
    maps_c: list[Channel] = []
    maps_u: list[Channel] = []
    stats: dict[str, dict[str, Any]] = {}
    passes = len(members) * (1 if multichannel else len(names))
    bar = tqdm(total=passes, disable=not progress, unit="pass", desc=f"enhance ×{scale}")

    def finish(channel: Channel, prepared: _Prepared, ensemble: _Members) -> None:
        """Map one output back to its channel's units and frame; add it, its maps and its record."""
        z = channel.data
        record: dict[str, Any] = {
            "offset": prepared.offset,
            "norm_scale": prepared.norm_scale,
            "clip_bounds": list(prepared.bounds) if prepared.bounds else None,
        }
        if uncertainty:
            spread = ensemble.std()
            spread *= abs(prepared.norm_scale)
            maps_u.append(channel.replace(data=spread))
            record["uncertainty_mean"] = float(spread.mean())
            del spread
        out = ensemble.take(mean=tta)  # the ensemble's own array: modified in place
        out *= prepared.norm_scale
        out += prepared.offset
        _add_background(out, prepared, scale, rows=row_offsets)
        if prepared.excess is not None and prepared.excess.any():
            out += interpolate.upscale(prepared.excess, scale, method="bicubic")
        if iterations:
            out = back_project(out, z, scale, iterations=iterations, downsample=downsample)
        error = consistency_map(out, z, scale, downsample=downsample)
        record["consistency_rms"] = float(np.sqrt(np.mean(error**2)))
        enhanced.append(channel.replace(data=out))
        del out
        if consistency:
            maps_c.append(channel.replace(data=error))
        stats[channel.name] = record

    try:
        if multichannel:
            # Every input channel is prepared and normalised on its own (as in training); output k is input k
            # enhanced, mapped back with input k's statistics and background.
            ready = [
                _prepare(scan.channel(n).data, norm, beyond_clip=beyond_clip, what=f"channel {n!r}")
                for n in inputs
            ]
            ensembles = [_Members() for _ in names]
            for d in members:
                x = np.stack([_forward(d, p.net_input) for p in ready])
                y = _infer_stack(loaded.model, x, scale, tiling, dev)
                for k, ensemble in enumerate(ensembles):
                    ensemble.add(np.ascontiguousarray(_inverse(d, y[k])))
                bar.update(1)
            for k, name in enumerate(names):
                finish(scan.channel(name), ready[k], ensembles[k])
            for k, name in enumerate(inputs):
                if k >= len(names):  # the guides' normalisation, for the record
                    stats[name] = {
                        "offset": ready[k].offset,
                        "norm_scale": ready[k].norm_scale,
                        "guide": True,
                    }
        else:
            for name in names:
                channel = scan.channel(name)
                prepared = _prepare(
                    channel.data, norm, beyond_clip=beyond_clip, what=f"channel {channel.name!r}"
                )
                ensemble = _Members()
                for d in members:
                    y = _infer(loaded.model, _forward(d, prepared.net_input), scale, tiling, dev)
                    ensemble.add(np.ascontiguousarray(_inverse(d, y)))
                    bar.update(1)
                finish(channel, prepared, ensemble)
                del ensemble
    finally:
        bar.close()

    others: list[str] = []
    if other_channels == "bicubic":
        for c in scan.channels:
            if c.name in names:
                continue
            if not np.isfinite(c.data).all():
                logger.warning("channel %r has missing pixels: left out of the enhanced scan", c.name)
                continue
            enhanced.append(c.replace(data=interpolate.upscale(c.data, scale, method="bicubic")))
            others.append(c.name)
        order = {n: i for i, n in enumerate(scan.names)}
        enhanced.sort(key=lambda c: order[c.name])

    import scansr

    options: dict[str, Any] = {
        "scale": scale,
        "channels": names,
        "inputs": list(inputs),
        "other_channels": other_channels,
        "tta": tta,
        "back_projection": iterations,
        "uncertainty": uncertainty,
        "consistency": consistency,
        "downsample": downsample,
        "beyond_clip": beyond_clip,
        "row_offsets": row_offsets,
        "tile": tiling.tile,
        "overlap": tiling.overlap,
        "align": tiling.align,
        "device": str(dev),
    }
    pixel_size = None if scan.pixel_size is None else (scan.pixel_size[0] / scale, scan.pixel_size[1] / scale)
    metadata = dict(scan.metadata)
    entry = (
        f"enhance {summary.name} x{scale}"
        + (" tta" if tta else "")
        + (f" back-projection {iterations}" if iterations else "")
    )
    previous = metadata.get("scansr.history")
    metadata.update(
        {
            "scansr.history": f"{previous}; {entry}" if previous else entry,
            "scansr.version": scansr.__version__,
            "scansr.enhance.model": summary.name,
            "scansr.enhance.model_path": summary.path or "",
            "scansr.enhance.arch": summary.arch,
            "scansr.enhance.scale": scale,
            "scansr.enhance.channels": json.dumps(names),
            "scansr.enhance.inputs": json.dumps(list(inputs)),
            "scansr.enhance.bicubic_channels": json.dumps(others),
            "scansr.enhance.options": json.dumps(options),
            "scansr.enhance.stats": json.dumps(stats),
        }
    )
    out_scan = scan.replace(channels=tuple(enhanced), pixel_size=pixel_size, metadata=metadata)
    consistency_scan = (
        scan.replace(channels=tuple(maps_c), metadata={"scansr.enhance.map": "consistency", **metadata})
        if consistency
        else None
    )
    uncertainty_scan = (
        out_scan.replace(channels=tuple(maps_u), metadata={"scansr.enhance.map": "uncertainty", **metadata})
        if uncertainty
        else None
    )
    return EnhanceResult(out_scan, consistency_scan, uncertainty_scan, summary, options)


def _infer_stack(net: Any, x: np.ndarray, scale: int, tiling: Tiling, device: torch.device) -> np.ndarray:
    """Run the network tiled on one normalised multichannel input ``(c, h, w)``; return ``(out, H, W)`` float64."""
    import torch

    from scansr.train.tiled import predict_tiled

    lr = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None].to(device)
    y = predict_tiled(net, lr, scale, tile=tiling.tile, overlap=tiling.overlap, align=tiling.align)
    return y[0].to("cpu", torch.float64).numpy()


def _infer(net: Any, x: np.ndarray, scale: int, tiling: Tiling, device: torch.device) -> np.ndarray:
    """Run the network tiled on one normalised input image; return its output as float64."""
    import torch

    from scansr.train.tiled import predict_tiled

    lr = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None].to(device)
    y = predict_tiled(net, lr, scale, tile=tiling.tile, overlap=tiling.overlap, align=tiling.align)
    return y[0, 0].to("cpu", torch.float64).numpy()


# ------------------------------------------------------------------------------------------------ writing
def write_enhanced(result: EnhanceResult, out_path: str | Path, *, force: bool = False) -> list[Path]:
    """Write an enhanced scan and its maps; return the files written.

    Formats that hold several channels (``.gwy``, ``.npz``, ``.tif``/``.tiff``) get one file with the maps as
    extra channels (`EnhanceResult.to_scan`). Single-channel formats (``.gsf``, ``.txt``, ``.png``, ...) get the
    enhanced channel in `out_path` and the maps, on the same output grid, in sibling files
    ``<stem>.consistency<suffix>`` and ``<stem>.uncertainty<suffix>``. Each file is written atomically
    (`scansr.io.write`); when a later file fails, the files this call created are removed again.

    Parameters
    ----------
    result : EnhanceResult
        From `enhance`.
    out_path : str or Path
        The main output file; its suffix chooses the format.
    force : bool
        Replace existing files (the input scan's own file is never replaced).

    Returns
    -------
    list of Path
        The main file first, then the sibling map files.

    Raises
    ------
    OutputExistsError
        A target exists and `force` is false (nothing is written), or a target is the input file.
    ScanWriteError
        Unknown suffix, missing folder, a writer failed.
    ValueError
        A single-channel format asked for a result of several channels (write .gwy/.npz/.tif instead, or
        enhance one channel).
    """
    from scansr import io
    from scansr.scan import OutputExistsError

    if not isinstance(result, EnhanceResult):
        raise ValueError(f"result must be an EnhanceResult (from enhance), got {type(result).__name__}")
    out = Path(out_path)
    suffix = out.suffix.lower()
    if suffix in MULTI_CHANNEL_SUFFIXES:
        jobs = [(out, result.to_scan(maps=True))]
    else:
        if len(result.scan.channels) > 1:
            raise ValueError(
                f"{out.name}: a {suffix or 'suffix-less'} file holds one channel, but the result has "
                f"{list(result.scan.names)}; write {', '.join(MULTI_CHANNEL_SUFFIXES)}, or enhance one channel "
                "without other channels"
            )
        jobs = [(out, result.scan)]
        for kind, scan in (
            ("consistency", result.consistency_on_output),
            ("uncertainty", result.uncertainty),
        ):
            if scan is not None:  # the maps keep their channel's name, with the kind appended
                named = scan.replace(
                    channels=tuple(c.replace(name=f"{c.name} {kind}") for c in scan.channels)
                )
                jobs.append((out.with_name(f"{out.stem}.{kind}{out.suffix}"), named))
    if not force:
        for path, _ in jobs:
            if path.exists():
                raise OutputExistsError(
                    path, "exists already; choose another name or pass force=True (--force)"
                )
    written: list[Path] = []
    created: list[Path] = []  # files that did not exist before: removed again if a later one fails
    try:
        for path, scan in jobs:
            existed = path.exists()
            written.append(io.write(scan, path, force=force))
            if not existed:
                created.append(path)
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return written
