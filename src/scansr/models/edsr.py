"""EDSR (Lim et al., CVPRW 2017): baseline (16 blocks × 64 channels) and full (32 × 256, res. scale 0.1).

Structure and parameter names follow torchSR's ``torchsr/models/edsr.py`` (itself from EDSR-PyTorch):
``head.0``, ``body.<i>.body.{0,2}`` (residual blocks), ``body.<n_resblocks>`` (body's last conv), then the
tail. torchSR builds one network per scale with ``tail.0`` (sub-pixel upsampler) and ``tail.1`` (last conv);
here one body is shared by one tail per scale, ``tail.x<scale>.0`` and ``tail.x<scale>.1`` — with a single
scale it is exactly torchSR's network.

Differences from torchSR, on purpose: no RGB mean shift (``sub_mean``/``add_mean``) and no ×255 input range,
so the network maps data as it is given (scansr feeds normalised scans);
:func:`scansr.models.load_torchsr_weights` folds both into the first and last convolutions when it loads
torchSR weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from scansr.models._base import SRModel, bicubic_upsample, pixel_shuffle_upsampler

__all__ = ["EDSR", "EDSRBaseline"]


class ResBlock(nn.Module):
    """conv-ReLU-conv, scaled by `res_scale`, plus the input."""

    def __init__(self, n_feats: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mul(self.res_scale) + x


class EDSR(SRModel):
    """EDSR: residual blocks without batch norm, sub-pixel upsampling (default: the full 32×256 network).

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels, out_channels : int
        Input and output channels (default 1).
    n_resblocks : int
        Residual blocks (32; baseline 16).
    n_feats : int
        Channels (256; baseline 64).
    res_scale : float
        Residual scaling (0.1; baseline 1.0).
    global_residual : bool
        Add the bicubic upsampling of the input to the output (the network learns the residual over bicubic, as
        VDSR; not in torchSR, no parameters). Default False.
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).
    """

    arch = "edsr"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resblocks: int = 32,
        n_feats: int = 256,
        res_scale: float = 0.1,
        global_residual: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={
                "n_resblocks": n_resblocks,
                "n_feats": n_feats,
                "res_scale": res_scale,
                "global_residual": bool(global_residual),
            },
        )
        self.global_residual = bool(global_residual)
        if n_resblocks < 0 or n_feats < 1:
            raise ValueError(f"need n_resblocks >= 0 and n_feats >= 1, got {n_resblocks!r}, {n_feats!r}")
        self.head = nn.Sequential(nn.Conv2d(in_channels, n_feats, 3, padding=1))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, res_scale) for _ in range(n_resblocks)],
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
        out = self.tail[f"x{scale}"](res)
        if self.global_residual:
            out = out + bicubic_upsample(lr, scale, self.out_channels)
        return out


class EDSRBaseline(EDSR):
    """EDSR baseline: 16 residual blocks of 64 channels, residual scale 1 (torchSR ``edsr_baseline``).

    Parameters are those of :class:`EDSR`, with the baseline's defaults.
    """

    arch = "edsr-baseline"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_resblocks: int = 16,
        n_feats: int = 64,
        res_scale: float = 1.0,
        global_residual: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            n_resblocks=n_resblocks,
            n_feats=n_feats,
            res_scale=res_scale,
            global_residual=global_residual,
            generator=generator,
        )
