"""NinaSR B0/B1/B2 (Gouvine, torchSR 2021): wide residual blocks with local attention, NFNet-style scaling.

Structure and parameter names follow torchSR's ``torchsr/models/ninasr.py``: ``head.1`` (first conv),
``body.<i>`` residual blocks (``body.0`` conv with bias, ``body.2.body.{1,3}`` the local squeeze-excite
attention, ``body.3`` conv without bias; input scaled by 1/sqrt(expected variance), output by
2·4/n_resblocks), then per scale ``tail.x<scale>.0`` (conv to ``out_channels·scale²``, then pixel shuffle)
where torchSR, one network per scale, has ``tail.0``.

Differences from torchSR, on purpose: torchSR's RGB mean shifts ``head.0`` and ``tail.2`` are dropped
(``head.0`` is kept as an empty placeholder so that the first conv keeps its name ``head.1``), and the first
conv has a bias — zero after initialisation — where torchSR's has none:
:func:`scansr.models.load_torchsr_weights` folds torchSR's input mean shift into it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from scansr.models._base import SRModel, bicubic_upsample, default_init_

__all__ = ["NinaSRB0", "NinaSRB1", "NinaSRB2"]


class AttentionBlock(nn.Module):
    """Squeeze-excite attention over local 31×31 windows (stride 16) instead of the whole image."""

    def __init__(self, n_feats: int, reduction: int = 4, stride: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.AvgPool2d(2 * stride - 1, stride=stride, padding=stride - 1, count_include_pad=False),
            nn.Conv2d(n_feats, n_feats // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats // reduction, n_feats, 1),
            nn.Sigmoid(),
            nn.Upsample(scale_factor=stride, mode="nearest"),
        )

    def forward(self, x: Tensor) -> Tensor:
        res = self.body(x)
        return res[:, :, : x.shape[2], : x.shape[3]] * x


class ResBlock(nn.Module):
    """conv-ReLU-attention-conv on ``in_scale * x``, output scaled by ``2 out_scale``, plus the input."""

    def __init__(self, n_feats: int, mid_feats: int, in_scale: float, out_scale: float):
        super().__init__()
        self.in_scale = in_scale
        self.out_scale = out_scale
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, mid_feats, 3, padding=1, bias=True),
            nn.ReLU(inplace=True),
            AttentionBlock(mid_feats),
            nn.Conv2d(mid_feats, n_feats, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x * self.in_scale) * (2 * self.out_scale) + x


class _NinaSR(SRModel):
    """NinaSR of any size (the public classes are the B0/B1/B2 presets)."""

    def __init__(
        self,
        *,
        scales: Iterable[int],
        in_channels: int,
        out_channels: int,
        n_resblocks: int,
        n_feats: int,
        expansion: float,
        global_residual: bool,
        generator: torch.Generator | None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={
                "n_resblocks": n_resblocks,
                "n_feats": n_feats,
                "expansion": expansion,
                "global_residual": bool(global_residual),
            },
        )
        self.global_residual = bool(global_residual)
        mid_feats = int(n_feats * expansion)
        if n_resblocks < 1 or n_feats < 1 or mid_feats < 4:
            raise ValueError(
                "need n_resblocks >= 1 and n_feats * expansion >= 4, got "
                f"n_resblocks={n_resblocks!r}, n_feats={n_feats!r}, expansion={expansion!r}"
            )
        self.head = nn.Sequential(nn.Identity(), nn.Conv2d(in_channels, n_feats, 3, padding=1, bias=True))
        out_scale = 4 / n_resblocks
        expected_variance = 1.0
        blocks = []
        for _ in range(n_resblocks):
            blocks.append(ResBlock(n_feats, mid_feats, 1.0 / math.sqrt(expected_variance), out_scale))
            expected_variance += out_scale**2
        self.body = nn.Sequential(*blocks)
        self.tail = nn.ModuleDict(
            {
                f"x{s}": nn.Sequential(
                    nn.Conv2d(n_feats, out_channels * s * s, 3, padding=1), nn.PixelShuffle(s)
                )
                for s in self.scales
            }
        )
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default init, then He-normal block convs with zero bias (as torchSR); head bias 0."""
        default_init_(self, generator)
        for block in self.body:
            for conv in (block.body[0], block.body[3]):
                nn.init.kaiming_normal_(conv.weight, generator=generator)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        x = self.head(lr)
        res = self.body(x) + x
        out = self.tail[f"x{scale}"](res)
        if self.global_residual:
            out = out + bicubic_upsample(lr, scale, self.out_channels)
        return out


class NinaSRB0(_NinaSR):
    """NinaSR-B0: 10 blocks × 16 channels (torchSR ``ninasr_b0``).

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_resblocks : int
        Residual blocks (10).
    n_feats : int
        Channels (16); the blocks' middle layers have ``int(n_feats * expansion)``.
    expansion : float
        Width factor of the blocks' middle layers (2.0).
    global_residual : bool
        Add the bicubic upsampling of the input to the output, so that the network learns the residual over
        bicubic, as VDSR (not in torchSR; no parameters, so torchSR weights load either way). Default False.
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "ninasr-b0"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resblocks: int = 10,
        n_feats: int = 16,
        expansion: float = 2.0,
        global_residual: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            n_resblocks=n_resblocks,
            n_feats=n_feats,
            expansion=expansion,
            global_residual=global_residual,
            generator=generator,
        )


class NinaSRB1(_NinaSR):
    """NinaSR-B1: 26 blocks × 32 channels (torchSR ``ninasr_b1``).

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_resblocks : int
        Residual blocks (26).
    n_feats : int
        Channels (32); the blocks' middle layers have ``int(n_feats * expansion)``.
    expansion : float
        Width factor of the blocks' middle layers (2.0).
    global_residual : bool
        Add the bicubic upsampling of the input to the output, so that the network learns the residual over
        bicubic, as VDSR (not in torchSR; no parameters, so torchSR weights load either way). Default False.
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "ninasr-b1"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resblocks: int = 26,
        n_feats: int = 32,
        expansion: float = 2.0,
        global_residual: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            n_resblocks=n_resblocks,
            n_feats=n_feats,
            expansion=expansion,
            global_residual=global_residual,
            generator=generator,
        )


class NinaSRB2(_NinaSR):
    """NinaSR-B2: 84 blocks × 56 channels (torchSR ``ninasr_b2``).

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_resblocks : int
        Residual blocks (84).
    n_feats : int
        Channels (56); the blocks' middle layers have ``int(n_feats * expansion)``.
    expansion : float
        Width factor of the blocks' middle layers (2.0).
    global_residual : bool
        Add the bicubic upsampling of the input to the output, so that the network learns the residual over
        bicubic, as VDSR (not in torchSR; no parameters, so torchSR weights load either way). Default False.
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "ninasr-b2"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resblocks: int = 84,
        n_feats: int = 56,
        expansion: float = 2.0,
        global_residual: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            n_resblocks=n_resblocks,
            n_feats=n_feats,
            expansion=expansion,
            global_residual=global_residual,
            generator=generator,
        )
