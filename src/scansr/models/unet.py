"""U-Net generator of the SEM paper (de Haan et al., Sci. Rep. 2019): super-resolution GAN for SEM images.

The paper's generator is "an adapted U-net": every convolutional block is two convolutions, each followed by a
leaky ReLU, the second one changing the number of channels; its input is the low-resolution image upsampled to
the output grid. The text gives no widths or depth (only a figure does), so those follow the same group's
published U-Net generators and are parameters: a 3×3 input conv to `base_channels`, `depth` down levels (block
doubling the channels, then 2×2 average pooling), a bottom block, `depth` up levels (bilinear ×2,
concatenation with the skip, block halving the channels), and a 3×3 output conv. The network learns the
residual over the upsampled input (global skip).

As in :class:`scansr.models.VDSR`, the forward upsamples the low-resolution input itself (bicubic, PyTorch's
``F.interpolate``; the paper used a Lanczos filter for its rough alignment), so the call is ``model(lr,
scale)``. Sizes that are not multiples of ``2**depth`` are padded by edge replication and the output cropped
back.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scansr.models._base import SCALES, SRModel

__all__ = ["UNet"]


class ConvBlock(nn.Module):
    """conv(c_in -> c_in) + LeakyReLU, conv(c_in -> c_out, stride) + LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, negative_slope: float, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            nn.LeakyReLU(negative_slope, inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class UNet(SRModel):
    """U-Net generator (SEM paper): two-conv LeakyReLU blocks, 4 levels from 32 channels, residual output.

    Parameters
    ----------
    scales : sequence of int
        Scale factors accepted (default ×2, ×3, ×4, ×8; the SEM paper works at ×2). No per-scale parameters.
    in_channels, out_channels : int
        Input and output channels (default 1); `out_channels` must not exceed `in_channels` (the first
        `out_channels` input channels are the base of the residual).
    base_channels : int
        Channels at full resolution (32); level ``i`` has ``base_channels * 2**i``.
    depth : int
        Down/up levels (4).
    negative_slope : float
        Slope of the leaky ReLUs (0.1).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "unet"

    def __init__(
        self,
        *,
        scales: Iterable[int] = SCALES,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 32,
        depth: int = 4,
        negative_slope: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={"base_channels": base_channels, "depth": depth, "negative_slope": negative_slope},
        )
        if base_channels < 1 or depth < 1:
            raise ValueError(f"need base_channels >= 1 and depth >= 1, got {base_channels!r}, {depth!r}")
        if out_channels > in_channels:
            raise ValueError(
                f"the U-Net adds its output to the upsampled input, so out_channels ({out_channels}) "
                f"must not exceed in_channels ({in_channels})"
            )
        ch = [base_channels * 2**i for i in range(depth + 1)]
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, ch[0], 3, padding=1), nn.LeakyReLU(negative_slope, inplace=True)
        )
        self.down = nn.ModuleList(
            [ConvBlock(ch[i], ch[i + 1], negative_slope=negative_slope) for i in range(depth)]
        )
        self.bottom = ConvBlock(ch[depth], ch[depth], negative_slope=negative_slope)
        self.up = nn.ModuleList(
            [ConvBlock(2 * ch[i + 1], ch[i], negative_slope=negative_slope) for i in range(depth)]
        )
        self.tail = nn.Conv2d(ch[0], out_channels, 3, padding=1)
        self.depth = depth
        self.reset_parameters(generator)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        h, w = lr.shape[-2] * scale, lr.shape[-1] * scale
        up = F.interpolate(lr, size=(h, w), mode="bicubic", align_corners=False)
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        x = F.pad(up, (0, pw, 0, ph), mode="replicate") if ph or pw else up
        x = self.head(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.bottom(x)
        for i in reversed(range(self.depth)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat([x, skips[i]], dim=1))
        return up[:, : self.out_channels] + self.tail(x)[:, :, :h, :w]
