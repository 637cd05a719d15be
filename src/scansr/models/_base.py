"""What every scansr network shares: the call signature, scale and channel checks, weight init.

Every network in :data:`scansr.models.MODELS` is an :class:`SRModel`: ``model(lr, scale)`` takes a
low-resolution batch ``lr`` of shape ``(N, in_channels, h, w)`` (any float dtype, any device) and an integer
``scale`` among ``model.scales``, and returns ``(N, out_channels, h * scale, w * scale)``. Pre-upsampling
networks (VDSR, U-Net) upsample inside the forward; post-upsampling networks (EDSR, RCAN, RDN, CARN, NinaSR)
share one body and hold one upsampling tail per scale.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "SCALES",
    "SRModel",
    "bicubic_upsample",
    "check_scales",
    "default_init_",
    "pixel_shuffle_upsampler",
]

#: Scale factors any scansr network can be built for.
SCALES = (2, 3, 4, 8)


def check_scales(scales: Iterable[int] | int, *, allowed: tuple[int, ...] = SCALES) -> tuple[int, ...]:
    """Return `scales` as a sorted tuple of distinct ints, each one of `allowed`.

    Raises
    ------
    ValueError
        If `scales` is empty or holds a value that is not one of `allowed`.
    """
    if isinstance(scales, int | float):
        scales = (scales,)
    try:
        values = list(scales)
    except TypeError:
        raise ValueError(f"scales must be a sequence of ints from {allowed}, got {scales!r}") from None
    if not values:
        raise ValueError(f"scales must not be empty; choose from {allowed}")
    out = []
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int | float) or int(s) != s or int(s) not in allowed:
            raise ValueError(f"scale must be one of {allowed}, got {s!r}")
        out.append(int(s))
    return tuple(sorted(set(out)))


def _check_channels(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive int, got {n!r}")
    return n


class SRModel(nn.Module):
    """Base class of the super-resolution networks: ``model(lr, scale) -> hr``.

    Subclasses set the class attribute ``arch`` (their key in :data:`scansr.models.MODELS`) and pass
    ``hparams``, the keyword arguments besides ``scales``, ``in_channels`` and ``out_channels`` that rebuild
    them, so that a saved model can be reconstructed as ``MODELS[arch](scales=..., in_channels=...,
    out_channels=..., **hparams)``.

    Parameters
    ----------
    scales : sequence of int
        Scale factors the network accepts, each one of :data:`SCALES`.
    in_channels, out_channels : int
        Channels of the low-resolution input and of the output.
    hparams : mapping
        JSON-serialisable constructor arguments (recorded, not interpreted).
    """

    arch: str = ""

    def __init__(
        self, *, scales: Iterable[int], in_channels: int, out_channels: int, hparams: Mapping[str, Any]
    ):
        super().__init__()
        self.scales = check_scales(scales)
        self.in_channels = _check_channels(in_channels, "in_channels")
        self.out_channels = _check_channels(out_channels, "out_channels")
        self.hparams = dict(hparams)

    def check_input(self, lr: Tensor, scale: int) -> None:
        """Check a forward call's arguments.

        Raises
        ------
        ValueError
            If `scale` is not one of ``self.scales`` or `lr` is not a float tensor ``(N, in_channels, h, w)``.
        """
        if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale not in self.scales:
            raise ValueError(f"{self.arch}: scale must be one of {self.scales}, got {scale!r}")
        if not isinstance(lr, Tensor) or lr.ndim != 4 or lr.shape[1] != self.in_channels:
            shape = tuple(lr.shape) if isinstance(lr, Tensor) else type(lr).__name__
            raise ValueError(
                f"{self.arch}: input must be a tensor of shape (N, {self.in_channels}, h, w), got {shape}"
            )
        if not lr.is_floating_point():
            raise ValueError(f"{self.arch}: input must be a floating-point tensor, got {lr.dtype}")

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise the weights (PyTorch's default scheme unless the architecture says otherwise)."""
        default_init_(self, generator)

    def extra_repr(self) -> str:
        return f"scales={self.scales}, in_channels={self.in_channels}, out_channels={self.out_channels}"


@torch.no_grad()
def default_init_(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """PyTorch's default initialisation of every Conv2d/Linear in `module`, drawn from `generator`.

    Weights: Kaiming-uniform with ``a = sqrt(5)``; biases: uniform in ``±1/sqrt(fan_in)`` — what ``nn.Conv2d``
    and ``nn.Linear`` do on construction, but reproducible from an explicit generator (``None``: torch's
    global one).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def bicubic_upsample(lr: Tensor, scale: int, channels: int) -> Tensor:
    """Bicubic upsampling of the first `channels` channels of `lr` by `scale` (the base a residual net adds to).

    ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``: Keys' kernel with ``a = -0.75`` and
    half-pixel centres, as OpenCV's ``INTER_CUBIC``.
    """
    _, _, h, w = lr.shape
    return torch.nn.functional.interpolate(
        lr[:, :channels], size=(h * scale, w * scale), mode="bicubic", align_corners=False
    )


def pixel_shuffle_upsampler(
    scale: int, n_feats: int, *, groups: int = 1, relu: bool = False
) -> list[nn.Module]:
    """Layers of a sub-pixel upsampler by `scale` (2, 3, 4 or 8), as EDSR/RCAN/CARN build them.

    A power of two is done in ×2 steps (conv ``n_feats -> 4 n_feats``, [ReLU], PixelShuffle(2)); 3 in one
    step.
    """
    if scale & (scale - 1) == 0:
        steps, r = int(math.log2(scale)), 2
    elif scale == 3:
        steps, r = 1, 3
    else:
        raise ValueError(f"sub-pixel upsampling supports scales 2, 3, 4, 8, got {scale!r}")
    layers: list[nn.Module] = []
    for _ in range(steps):
        layers.append(nn.Conv2d(n_feats, r * r * n_feats, 3, padding=1, groups=groups))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.PixelShuffle(r))
    return layers
