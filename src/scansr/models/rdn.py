"""RDN (Zhang et al., CVPR 2018): residual dense blocks with local and global feature fusion.

Structure and parameter names follow torchSR's ``torchsr/models/rdn.py`` (configuration "B", the one torchSR
ships weights for): ``sfe1``, ``sfe2`` (shallow features), ``rdbs.<d>.layers.<c>.conv`` and ``rdbs.<d>.lff``
(dense blocks), ``gff.{0,1}`` (global fusion), then per scale ``upscale.x<scale>`` and ``output.x<scale>``
where torchSR, one network per scale, has ``upscale`` and ``output``. torchSR's RDN supports ×2, ×3, ×4; ×8
here is three ×2 sub-pixel steps (conv ``G0 -> 4G``, shuffle, then conv ``G -> 4G``, shuffle, twice),
extending its ×4 pattern. RDN has no mean shift.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from scansr.models._base import SRModel

__all__ = ["RDN"]


class RDBConv(nn.Module):
    """One densely connected layer: conv-ReLU, output concatenated to the input."""

    def __init__(self, in_channels: int, growth_rate: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, growth_rate, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((x, self.relu(self.conv(x))), 1)


class RDB(nn.Module):
    """Residual dense block: `n_layers` dense layers, 1×1 local feature fusion, plus the input."""

    def __init__(self, n_feats: int, growth_rate: int, n_layers: int):
        super().__init__()
        self.layers = nn.Sequential(
            *[RDBConv(n_feats + c * growth_rate, growth_rate) for c in range(n_layers)]
        )
        self.lff = nn.Conv2d(n_feats + n_layers * growth_rate, n_feats, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.lff(self.layers(x)) + x


def _upscale(scale: int, n_feats: int, growth_rate: int) -> nn.Sequential:
    if scale in (2, 3):
        return nn.Sequential(
            nn.Conv2d(n_feats, growth_rate * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )
    layers: list[nn.Module] = []
    c_in = n_feats
    for _ in range({4: 2, 8: 3}[scale]):
        layers += [nn.Conv2d(c_in, growth_rate * 4, 3, padding=1), nn.PixelShuffle(2)]
        c_in = growth_rate
    return nn.Sequential(*layers)


class RDN(SRModel):
    """RDN: 16 residual dense blocks × 8 layers, 64 features, growth 64 (torchSR ``rdn``, configuration B).

    Parameters
    ----------
    scales : sequence of int
        Scales to build an upsampler for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_feats : int
        Feature channels G0 (64).
    n_blocks : int
        Residual dense blocks D (16).
    n_layers : int
        Conv layers per block C (8).
    growth_rate : int
        Channels each dense layer adds, G (64).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "rdn"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_feats: int = 64,
        n_blocks: int = 16,
        n_layers: int = 8,
        growth_rate: int = 64,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={
                "n_feats": n_feats,
                "n_blocks": n_blocks,
                "n_layers": n_layers,
                "growth_rate": growth_rate,
            },
        )
        if min(n_feats, n_blocks, n_layers, growth_rate) < 1:
            raise ValueError(
                f"n_feats, n_blocks, n_layers, growth_rate must be >= 1, got {n_feats!r}, {n_blocks!r}, "
                f"{n_layers!r}, {growth_rate!r}"
            )
        self.sfe1 = nn.Conv2d(in_channels, n_feats, 3, padding=1)
        self.sfe2 = nn.Conv2d(n_feats, n_feats, 3, padding=1)
        self.rdbs = nn.ModuleList([RDB(n_feats, growth_rate, n_layers) for _ in range(n_blocks)])
        self.gff = nn.Sequential(
            nn.Conv2d(n_blocks * n_feats, n_feats, 1),
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )
        self.upscale = nn.ModuleDict({f"x{s}": _upscale(s, n_feats, growth_rate) for s in self.scales})
        self.output = nn.ModuleDict(
            {f"x{s}": nn.Conv2d(growth_rate, out_channels, 3, padding=1) for s in self.scales}
        )
        self.reset_parameters(generator)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        f1 = self.sfe1(lr)
        x = self.sfe2(f1)
        outs = []
        for rdb in self.rdbs:
            x = rdb(x)
            outs.append(x)
        x = self.gff(torch.cat(outs, 1)) + f1
        key = f"x{scale}"
        return self.output[key](self.upscale[key](x))
