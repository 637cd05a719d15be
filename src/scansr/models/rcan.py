"""RCAN (Zhang et al., ECCV 2018): residual groups of residual channel-attention blocks.

Structure and parameter names follow torchSR's ``torchsr/models/rcan.py``: ``head.0``; ``body.<g>`` residual
groups whose ``body.<b>`` are RCABs (``body.{0,2}`` convs, ``body.3.conv_du.{0,2}`` the channel attention) and
whose ``body.<n_resblocks>`` is the group's last conv; ``body.<n_resgroups>`` the body's last conv; then one
tail per scale, ``tail.x<scale>.0`` (sub-pixel upsampler) and ``tail.x<scale>.1`` (last conv) where torchSR
has ``tail.0``/``tail.1``. No RGB mean shift and no ×255 range (see :mod:`scansr.models.edsr`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from scansr.models._base import SRModel, pixel_shuffle_upsampler

__all__ = ["RCAN"]


class CALayer(nn.Module):
    """Channel attention: global average pool, squeeze by `reduction`, excite, sigmoid gate."""

    def __init__(self, channel: int, reduction: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    """Residual channel-attention block: conv-ReLU-conv-CA plus the input."""

    def __init__(self, n_feats: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
            CALayer(n_feats, reduction),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class ResidualGroup(nn.Module):
    """`n_resblocks` RCABs and a conv, plus the input."""

    def __init__(self, n_feats: int, reduction: int, n_resblocks: int):
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(n_feats, reduction) for _ in range(n_resblocks)],
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class RCAN(SRModel):
    """RCAN: 10 residual groups × 20 channel-attention blocks × 64 channels (torchSR ``rcan``).

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_resgroups : int
        Residual groups (10).
    n_resblocks : int
        Channel-attention blocks per group (20).
    n_feats : int
        Channels (64).
    reduction : int
        Channel reduction inside the attention (16); ``n_feats // reduction`` must be at least 1.
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "rcan"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resgroups: int = 10,
        n_resblocks: int = 20,
        n_feats: int = 64,
        reduction: int = 16,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={
                "n_resgroups": n_resgroups,
                "n_resblocks": n_resblocks,
                "n_feats": n_feats,
                "reduction": reduction,
            },
        )
        if n_resgroups < 0 or n_resblocks < 0 or n_feats < 1 or reduction < 1 or n_feats // reduction < 1:
            raise ValueError(
                "need n_resgroups, n_resblocks >= 0 and n_feats // reduction >= 1, got "
                f"n_resgroups={n_resgroups!r}, n_resblocks={n_resblocks!r}, n_feats={n_feats!r}, "
                f"reduction={reduction!r}"
            )
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_feats, 3, padding=1))
        self.body = nn.Sequential(
            *[ResidualGroup(n_feats, reduction, n_resblocks) for _ in range(n_resgroups)],
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )
        self.tail = nn.ModuleDict(
            {
                f"x{s}": nn.Sequential(
                    nn.Sequential(*pixel_shuffle_upsampler(s, n_feats)),
                    nn.Conv2d(n_feats, out_channels, 3, padding=1),
                )
                for s in self.scales
            }
        )
        self.reset_parameters(generator)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        x = self.head(lr)
        res = self.body(x) + x
        return self.tail[f"x{scale}"](res)
