"""Size and cost of the networks: parameters and FLOPs per output pixel (for ``scansr models``).

FLOPs are counted, not timed: forward hooks on every ``Conv2d`` and ``Linear`` add up their
multiply-accumulates (MACs) during one forward pass — ``output elements × input channels per group × kernel
area`` for a convolution, ``output elements × input features`` for a linear layer — and FLOPs = 2 × MACs. Bias
additions, activations, pooling, pixel shuffles, the bicubic upsampling of VDSR/U-Net and attention products
are left out (they are a few per cent at most). The pass runs on PyTorch's "meta" device, so it needs neither
memory nor time, whatever the network size. Per output pixel, the count of a fully convolutional network does
not depend on the image size, except for small border effects of the U-Net's padding; the default sample is a
48×48 low-resolution input.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from scansr.models._base import SRModel
from scansr.models.registry import MODELS

__all__ = ["ModelInfo", "count_macs", "describe_models", "flops_per_pixel"]


class ModelInfo(NamedTuple):
    """One line of ``scansr models``."""

    name: str
    """Key of :data:`scansr.models.MODELS`."""
    description: str
    """First line of the class docstring."""
    parameters: int
    """Trainable and fixed parameters of the default network built for ×4 with one channel in and out."""
    flops_per_pixel: float
    """FLOPs (2 × conv/linear MACs) per output pixel of that network at ×4."""
    default_scales: tuple[int, ...]
    """Scales the constructor builds by default."""


def count_macs(model: nn.Module, lr: torch.Tensor, scale: int) -> int:
    """Multiply-accumulates of the Conv2d and Linear layers in one ``model(lr, scale)`` call.

    Parameters
    ----------
    model : nn.Module
        A network called as ``model(lr, scale)``; any device, including "meta".
    lr : torch.Tensor
        A sample input on the model's device.
    scale : int
        The scale factor.

    Returns
    -------
    int
        MACs for the whole batch.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        else:
            per_output = module.in_features
        total += output.numel() * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            model(lr, scale)
    finally:
        for h in handles:
            h.remove()
    return total


def flops_per_pixel(model: SRModel, scale: int, *, lr_size: tuple[int, int] = (48, 48)) -> float:
    """FLOPs (2 × conv/linear MACs) per output pixel of `model` at `scale`, for a one-image `lr_size` input.

    Raises
    ------
    ValueError
        If `scale` is not one of the model's scales.
    """
    if scale not in model.scales:
        raise ValueError(f"scale must be one of {model.scales}, got {scale!r}")
    param = next(model.parameters())
    lr = torch.zeros((1, model.in_channels, *lr_size), device=param.device, dtype=param.dtype)
    macs = count_macs(model, lr, scale)
    return 2.0 * macs / (lr_size[0] * scale * lr_size[1] * scale)


def describe_models(*, scale: int = 4, lr_size: tuple[int, int] = (48, 48)) -> list[ModelInfo]:
    """Name, description, parameters and FLOPs per output pixel of every network in :data:`MODELS`.

    Each network is built with its default sizes, one channel in and out, for `scale` only (post-upsampling
    networks then have a single tail, as a torchSR network of that scale).

    Parameters
    ----------
    scale : int
        Scale at which to count (4, the real-pair study's).
    lr_size : (int, int)
        Low-resolution sample size for the count.

    Returns
    -------
    list of ModelInfo
        In the order of :data:`MODELS`.
    """
    infos = []
    for name, ctor in MODELS.items():
        with torch.device("meta"):
            default = ctor()
            model = ctor(scales=(scale,))
        doc = (type(model).__doc__ or "").strip().splitlines()
        infos.append(
            ModelInfo(
                name=name,
                description=doc[0] if doc else "",
                parameters=sum(p.numel() for p in model.parameters()),
                flops_per_pixel=flops_per_pixel(model, scale, lr_size=lr_size),
                default_scales=default.scales,
            )
        )
    return infos
