"""CARN and CARN-M (Ahn et al., ECCV 2018): cascading residual network, and its mobile variant.

Structure and parameter names follow torchSR's ``torchsr/models/carn.py`` (from CARN-pytorch): ``entry``;
three cascading blocks ``b1..b3`` (each with residual blocks ``b1..b3`` — CARN-M: one efficient residual block
``b1`` used three times — and 1×1 fusions ``c1..c3``); global fusions ``c1..c3``; ``upsample.up<scale>``;
``exit``. CARN is a multi-scale network already in torchSR: one body, one upsampler per scale, and a shared
``exit`` conv; torchSR's weights hold ``up2``, ``up3`` and ``up4``, so ``scales`` defaults to (2, 3, 4). ×8
(``up8``) is three ×2 steps.

Differences from torchSR: no RGB mean shift (see :mod:`scansr.models.edsr`), and the width ``n_feats`` (64 in
torchSR, where it is fixed) is a parameter so that tests can use small networks.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scansr.models._base import SRModel, pixel_shuffle_upsampler

__all__ = ["CARN", "CARNM"]


class BasicBlock(nn.Module):
    """Conv + ReLU (1×1 in the cascading fusions)."""

    def __init__(self, in_channels: int, out_channels: int, ksize: int = 3, pad: int = 1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, out_channels, ksize, 1, pad), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv, plus the input, then ReLU."""

    def __init__(self, n_feats: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


class EResidualBlock(nn.Module):
    """Efficient residual block of CARN-M: two grouped 3×3 convs and a 1×1 conv, plus the input, then ReLU."""

    def __init__(self, n_feats: int, group: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 1, 1, 0),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


class _Cascade(nn.Module):
    """Cascading connections: o_i = c_i(cat(x, b_1(x), ..., b_i(o_{i-1})))."""

    def _cascade(self, x: Tensor, blocks: tuple[nn.Module, nn.Module, nn.Module]) -> Tensor:
        c = o = x
        for block, fuse in zip(blocks, (self.c1, self.c2, self.c3), strict=True):
            c = torch.cat([c, block(o)], dim=1)
            o = fuse(c)
        return o


class CARNBlock(_Cascade):
    """Cascading block of CARN: three residual blocks with cascading 1×1 fusions."""

    def __init__(self, n_feats: int):
        super().__init__()
        self.b1 = ResidualBlock(n_feats)
        self.b2 = ResidualBlock(n_feats)
        self.b3 = ResidualBlock(n_feats)
        self.c1 = BasicBlock(n_feats * 2, n_feats, 1, 0)
        self.c2 = BasicBlock(n_feats * 3, n_feats, 1, 0)
        self.c3 = BasicBlock(n_feats * 4, n_feats, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self._cascade(x, (self.b1, self.b2, self.b3))


class CARNMBlock(_Cascade):
    """Cascading block of CARN-M: one efficient residual block applied three times (shared weights)."""

    def __init__(self, n_feats: int, group: int):
        super().__init__()
        self.b1 = EResidualBlock(n_feats, group)
        self.c1 = BasicBlock(n_feats * 2, n_feats, 1, 0)
        self.c2 = BasicBlock(n_feats * 3, n_feats, 1, 0)
        self.c3 = BasicBlock(n_feats * 4, n_feats, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self._cascade(x, (self.b1, self.b1, self.b1))


class _UpsampleBlock(nn.Module):
    def __init__(self, n_feats: int, scale: int, group: int):
        super().__init__()
        self.body = nn.Sequential(*pixel_shuffle_upsampler(scale, n_feats, groups=group, relu=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class CARN(SRModel, _Cascade):
    """CARN: cascading residual network, 64 channels, one upsampler per scale (torchSR ``carn``).

    Parameters
    ----------
    scales : sequence of int
        Scales to build an upsampler for (default ×2, ×3, ×4, as torchSR's weights); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_feats : int
        Channels (64).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "carn"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (2, 3, 4),
        in_channels: int = 1,
        out_channels: int = 1,
        n_feats: int = 64,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales, in_channels=in_channels, out_channels=out_channels, hparams={"n_feats": n_feats}
        )
        self._build(n_feats, mobile=False, group=1, generator=generator)

    def _build(self, n_feats: int, *, mobile: bool, group: int, generator: torch.Generator | None) -> None:
        if n_feats < 1 or group < 1 or n_feats % group:
            raise ValueError(
                f"n_feats must be a positive multiple of group, got n_feats={n_feats!r}, group={group!r}"
            )
        self.entry = nn.Conv2d(self.in_channels, n_feats, 3, 1, 1)
        if mobile:
            self.b1, self.b2, self.b3 = (CARNMBlock(n_feats, group) for _ in range(3))
        else:
            self.b1, self.b2, self.b3 = (CARNBlock(n_feats) for _ in range(3))
        self.c1 = BasicBlock(n_feats * 2, n_feats, 1, 0)
        self.c2 = BasicBlock(n_feats * 3, n_feats, 1, 0)
        self.c3 = BasicBlock(n_feats * 4, n_feats, 1, 0)
        self.upsample = nn.ModuleDict({f"up{s}": _UpsampleBlock(n_feats, s, group) for s in self.scales})
        self.exit = nn.Conv2d(n_feats, self.out_channels, 3, 1, 1)
        self.reset_parameters(generator)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        x = self._cascade(self.entry(lr), (self.b1, self.b2, self.b3))
        return self.exit(self.upsample[f"up{scale}"](x))


class CARNM(CARN):
    """CARN-M: mobile CARN with grouped, shared efficient residual blocks (torchSR ``carn_m``).

    Parameters
    ----------
    scales, in_channels, out_channels, n_feats, generator
        As :class:`CARN`.
    group : int
        Groups of the grouped convolutions (4); must divide `n_feats`.
    """

    arch = "carn-m"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (2, 3, 4),
        in_channels: int = 1,
        out_channels: int = 1,
        n_feats: int = 64,
        group: int = 4,
        generator: torch.Generator | None = None,
    ):
        SRModel.__init__(
            self,
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={"n_feats": n_feats, "group": group},
        )
        self._build(n_feats, mobile=True, group=group, generator=generator)
