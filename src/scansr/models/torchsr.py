"""Load weights of torchSR's pretrained RGB networks into scansr's one-channel networks.

torchSR: github.com/Coloquinte/torchSR (MIT), the package the real-pair study used.

The real-pair study ran torchSR's pretrained EDSR, RCAN, RDN, CARN and NinaSR on AFM heights min–max scaled to
[0, 1] and copied into the three RGB channels, then turned the RGB output into grey. scansr's networks take
one channel and have no RGB mean shift; :func:`load_torchsr_weights` turns a torchSR checkpoint into the
equivalent one-channel network, folding everything that is linear around the network into its first and last
convolutions:

- **Input.** A grey image ``g`` fed as RGB ``(g, g, g)`` reaches the first conv as ``x_c = k (A g)_c + a_c``,
  where ``A``, ``a`` is torchSR's ``sub_mean`` (identity and minus the DIV2K mean, 0.4488/0.4371/0.4040) and
  ``k`` its value range (255 for EDSR and RCAN, which compute in [0, 255]; 1 otherwise). The first conv
  ``W_c * x_c + b`` becomes ``W' = k Σ_c s_c W_c`` (``s_c``: row sums of ``A``, 1) and
  ``b' = b + Σ_c a_c ΣW_c``: the input weights are summed over the RGB channels, the ×255 goes into the
  weights and the mean subtraction into the bias.
- **Output.** torchSR's RGB output ``o = (B z + β) / k`` (``add_mean`` after the last conv ``z``) becomes the
  luminance ``y = Σ_c w_c o_c`` with ``w = (0.299, 0.587, 0.114)`` (ITU-R BT.601, what OpenCV's RGB→grey
  uses): the last conv's weights and bias are combined with ``w`` (through ``B``), the mean is added in its
  bias and ÷255 scales both. For NinaSR, whose last conv feeds a pixel shuffle, the combination is done per
  sub-pixel.

So the loaded network takes the grey image scaled to [0, 1] — as torchSR and the study — and returns grey
values on the same scale; the caller subtracts no mean and multiplies by nothing. The result equals the
luminance of torchSR's RGB output for the grey-RGB input (to float rounding, ~1e-8) everywhere except near the
image border. There the padding differs: torchSR zero-pads the mean-subtracted image, i.e. surrounds the image
with the DIV2K mean grey, the folded conv zero-pads the [0, 1] image, i.e. surrounds it with black. This
changes the outer receptive-field ring (a few pixels per conv layer), and through the attention of RCAN
(global) and NinaSR (31×31 windows) every pixel slightly. To get torchSR's border behaviour to within the
spread of the RGB means (0.40–0.45), pass ``input_offset=DIV2K_GREY`` and feed the [0, 1] image minus that
value: the network then zero-pads with that grey, as torchSR does up to the colour differences; its output is
still on the [0, 1] scale. RDN has no mean shift in torchSR: leave its offset at 0, which is exact. (Padding
the input by reflection before inference, as tiled prediction does, makes the question moot.)

The checkpoint must be a plain state dict as torchSR publishes (``.pt``); it is read with
``torch.load(weights_only=True)``, which loads tensors only and cannot execute code. Key names and shapes are
checked against torchSR's definition of the architecture before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from scansr.models._base import SRModel
from scansr.models.registry import build_model
from scansr.models.storage import ModelLoadError, check_state_dict

__all__ = ["DIV2K_GREY", "LUMINANCE", "TORCHSR_ARCHS", "load_torchsr_weights"]

#: ITU-R BT.601 luma weights (R, G, B).
LUMINANCE = (0.299, 0.587, 0.114)

#: Luma of the DIV2K mean colour (0.4488, 0.4371, 0.4040) that torchSR's networks subtract from their input.
DIV2K_GREY = 0.299 * 0.4488 + 0.587 * 0.4371 + 0.114 * 0.4040


@dataclass(frozen=True)
class _Spec:
    first: str  # our name of the first conv
    last: str  # our name of the last conv ("{s}": scale)
    renames: tuple[tuple[str, str], ...]  # (our prefix, torchSR prefix); "{s}" in ours: scale
    value_range: float  # k: torchSR multiplies the [0, 1] input by it and divides the output by it
    in_shift: tuple[str, str] | None  # torchSR names of the input mean shift (weight or None, bias)
    out_shift: tuple[str, str] | None  # torchSR names of the output mean shift (weight or None, bias)
    scales: tuple[int, ...] | None = None  # network scales when the checkpoint holds several (CARN)
    pixel_shuffle_last: bool = False  # the last conv feeds a pixel shuffle (NinaSR)


_EDSR = _Spec(
    first="head.0",
    last="tail.x{s}.1",
    renames=(("tail.x{s}.", "tail."),),
    value_range=255.0,
    in_shift=("sub_mean.weight", "sub_mean.bias"),
    out_shift=("add_mean.weight", "add_mean.bias"),
)
_CARN = _Spec(
    first="entry",
    last="exit",
    renames=(),
    value_range=1.0,
    in_shift=("sub_mean.shifter.weight", "sub_mean.shifter.bias"),
    out_shift=("add_mean.shifter.weight", "add_mean.shifter.bias"),
    scales=(2, 3, 4),
)
_NINASR = _Spec(
    first="head.1",
    last="tail.x{s}.0",
    renames=(("tail.x{s}.", "tail."),),
    value_range=1.0,
    in_shift=(None, "head.0.bias"),
    out_shift=(None, "tail.2.bias"),
    pixel_shuffle_last=True,
)

#: Architectures whose torchSR weights can be loaded, and how their names and layers map.
TORCHSR_ARCHS: dict[str, _Spec] = {
    "edsr-baseline": _EDSR,
    "edsr": _EDSR,
    "rcan": _EDSR,
    "rdn": _Spec(
        first="sfe1",
        last="output.x{s}",
        renames=(("upscale.x{s}.", "upscale."), ("output.x{s}.", "output.")),
        value_range=1.0,
        in_shift=None,
        out_shift=None,
    ),
    "carn": _CARN,
    "carn-m": _CARN,
    "ninasr-b0": _NINASR,
    "ninasr-b1": _NINASR,
    "ninasr-b2": _NINASR,
}


def _to_torchsr(name: str, spec: _Spec, scale: int) -> str:
    for ours, theirs in spec.renames:
        ours = ours.format(s=scale)
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    return name


def _expected_torchsr_shapes(model: SRModel, spec: _Spec, scale: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes a torchSR checkpoint of `model`'s architecture and sizes holds."""
    first, last = spec.first, spec.last.format(s=scale)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, tensor in model.state_dict().items():
        shape = list(tensor.shape)
        if name == f"{first}.weight":
            shape[1] = 3
        elif name == f"{first}.bias" and spec.in_shift is not None and spec.in_shift[0] is None:
            continue  # NinaSR: torchSR's first conv has no bias; ours receives the folded mean shift
        elif name in (f"{last}.weight", f"{last}.bias"):
            shape[0] = 3 * shape[0]
        shapes[_to_torchsr(name, spec, scale)] = tuple(shape)
    for shift in (spec.in_shift, spec.out_shift):
        if shift is None:
            continue
        weight, bias = shift
        if weight is None:  # NinaSR's Rescale: a (1, 3, 1, 1) bias parameter
            shapes[bias] = (1, 3, 1, 1)
        else:  # a 3→3 1×1 conv
            shapes[weight] = (3, 3, 1, 1)
            shapes[bias] = (3,)
    return shapes


def _shift(
    state: Mapping[str, Tensor], names: tuple[str | None, str] | None, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Return (A, a) of the affine RGB map x -> A x + a (identity and zero when there is none)."""
    eye = torch.eye(3, dtype=torch.float64, device=device)
    if names is None:
        return eye, torch.zeros(3, dtype=torch.float64, device=device)
    weight, bias = names
    a = state[bias].to(torch.float64).reshape(3)
    if weight is None:
        return eye, a
    return state[weight].to(torch.float64).reshape(3, 3), a


def _fold(
    state: Mapping[str, Tensor],
    spec: _Spec,
    scale: int,
    luminance: tuple[float, float, float],
    input_offset: float,
) -> dict[str, Tensor]:
    """TorchSR tensors of the first and last conv folded to one channel, under our names (float64)."""
    first, last = spec.first, spec.last.format(s=scale)
    k = spec.value_range

    def theirs(name: str) -> str:
        return _to_torchsr(name, spec, scale)

    out: dict[str, Tensor] = {}

    # input g' = g - μ: x_c = k s_c (g' + μ) + a_c  ->  W' = k Σ_c s_c W_c,  b' = b + Σ_c (a_c + k s_c μ) ΣW_c
    w0 = state[theirs(f"{first}.weight")].to(torch.float64)  # (F, 3, kh, kw)
    device = w0.device
    A, a = _shift(state, spec.in_shift, device)
    s = A.sum(dim=1)
    a = a + k * s * input_offset
    b0 = state.get(theirs(f"{first}.bias"))
    b0 = torch.zeros(w0.shape[0], dtype=torch.float64, device=device) if b0 is None else b0.to(torch.float64)
    out[f"{first}.weight"] = k * torch.einsum("c,fchw->fhw", s, w0).unsqueeze(1)
    out[f"{first}.bias"] = b0 + torch.einsum("c,fchw->f", a, w0)

    # output: y = Σ_c w_c ((B z)_c + β_c) / k,  z_d = W_d * h + b_d
    B, beta = _shift(state, spec.out_shift, device)
    w = torch.tensor(luminance, dtype=torch.float64, device=device)
    u = w @ B  # u_d = Σ_c w_c B_cd
    wl = state[theirs(f"{last}.weight")].to(torch.float64)  # (3 r, F, kh, kw), colour-major
    bl = state[theirs(f"{last}.bias")].to(torch.float64)
    r = wl.shape[0] // 3
    wl = wl.reshape(3, r, *wl.shape[1:])
    bl = bl.reshape(3, r)
    out[f"{last}.weight"] = torch.einsum("d,drfhw->rfhw", u, wl) / k
    out[f"{last}.bias"] = (torch.einsum("d,dr->r", u, bl) + w @ beta) / k
    return out


def load_torchsr_weights(
    source: str | Path | Mapping[str, Tensor],
    arch: str,
    scale: int,
    *,
    luminance: tuple[float, float, float] = LUMINANCE,
    input_offset: float = 0.0,
    model_kwargs: Mapping[str, Any] | None = None,
) -> SRModel:
    """Build the one-channel scansr network equivalent to a torchSR RGB checkpoint.

    Parameters
    ----------
    source : str, Path or mapping
        The torchSR checkpoint file (a ``.pt`` state dict, e.g. ``edsr64_x4.pt``, ``rcan_x4.pt``, ``carn.pt``,
        ``ninasr_b0_x4.pt`` from torchSR's releases) or the state dict itself.
    arch : str
        One of :data:`TORCHSR_ARCHS` (``edsr-baseline`` is torchSR's ``edsr_baseline``/``edsr64``, ``edsr``
        its full ``edsr``, ``rdn`` its ``rdn`` = configuration B, ``carn-m`` its ``carn_m``...).
    scale : int
        The checkpoint's scale. torchSR's CARN checkpoints hold ×2, ×3 and ×4 together: the network returned
        then has all three, and `scale` only has to be one of them.
    luminance : (float, float, float)
        Weights combining torchSR's R, G, B outputs into the grey output (default BT.601).
    input_offset : float
        What the caller subtracts from the [0, 1]-scaled image before feeding it (0: feed it as it is). With
        :data:`DIV2K_GREY` (0.4368), the network's zero padding is close to torchSR's (see the module notes;
        not for RDN, which torchSR does not mean-shift). The output is on the [0, 1] scale either way.
    model_kwargs : mapping, optional
        Sizes of the architecture when the checkpoint is not of its torchSR default (e.g. torchSR's ``rdn_a``:
        ``{"n_blocks": 20, "n_layers": 6, "growth_rate": 32}``).

    Returns
    -------
    SRModel
        The network (CPU, float32, eval mode) with ``in_channels = out_channels = 1``; feed it grey images
        scaled to [0, 1] (see the module notes for what the folding means).

    Raises
    ------
    ValueError
        If `arch` is not one of :data:`TORCHSR_ARCHS` (the message lists them), `scale` is not supported, or
        `model_kwargs` sets scales or channels.
    ModelLoadError
        If the file cannot be read, or its tensors do not match torchSR's definition of `arch` at `scale` (the
        message lists missing and unexpected tensors and shape mismatches, in torchSR's names).
    """
    if arch not in TORCHSR_ARCHS:
        raise ValueError(f"no torchSR weights for {arch!r}; choose one of {', '.join(TORCHSR_ARCHS)}")
    spec = TORCHSR_ARCHS[arch]
    kwargs = dict(model_kwargs or {})
    fixed = sorted({"scales", "in_channels", "out_channels", "generator"} & set(kwargs))
    if fixed:
        raise ValueError(f"model_kwargs must not set {', '.join(fixed)}")
    if len(luminance) != 3:
        raise ValueError(f"luminance must be three weights (R, G, B), got {luminance!r}")
    if spec.scales is not None and (isinstance(scale, bool) or scale not in spec.scales):
        raise ValueError(f"torchSR's {arch} weights hold scales {spec.scales}, got {scale!r}")
    scales = spec.scales if spec.scales is not None else (scale,)
    with torch.device("meta"):
        model = build_model(arch, scales=scales, in_channels=1, out_channels=1, **kwargs)

    where = Path(source) if isinstance(source, str | Path) else Path("<state dict>")
    if isinstance(source, str | Path):
        try:
            state = torch.load(where, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file (pickle, zip, weights_only)
            raise ModelLoadError(where, f"cannot read a torchSR checkpoint: {exc}") from None
    else:
        state = source
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ModelLoadError(where, "not a state dict (a mapping of names to tensors)")

    folded_scales = model.scales
    expected = {}
    for s in folded_scales:
        expected.update(_expected_torchsr_shapes(model, spec, s))
    problems = check_state_dict(expected, {k: tuple(v.shape) for k, v in state.items()})
    if problems:
        raise ModelLoadError(
            where,
            f"not a torchSR {arch} ×{scale} checkpoint"
            + (f" with {kwargs}" if kwargs else "")
            + ": "
            + "; ".join(problems),
        )

    ours: dict[str, Tensor] = {}
    last_names = {spec.last.format(s=s) for s in folded_scales}
    for name in model.state_dict():
        if name.rsplit(".", 1)[0] in {spec.first, *last_names}:
            continue
        ours[name] = state[_to_torchsr(name, spec, folded_scales[0])].detach()
    for s in folded_scales:
        ours.update(_fold(state, spec, s, tuple(float(x) for x in luminance), float(input_offset)))
    ours = {k: v.to(torch.float32).clone() for k, v in ours.items()}
    model.load_state_dict(ours, strict=True, assign=True)
    return model.eval()
