"""VDSR (Kim et al., CVPR 2016) as the AFM paper uses it: one 20-layer network for several scales.

The AFM paper (Liu et al. 2019) trains MATLAB's VDSR: an input convolution, 18 middle layers of convolution +
ReLU and a reconstruction convolution, 64 channels of 3×3 filters, learning the residual between the
bicubic-upsampled low-resolution image and the high-resolution one; ×2, ×4 and ×8 are trained together in one
network.

Here the bicubic upsampling happens inside the forward, so that every scansr network has the same call
``model(lr, scale)``. It is ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``: Keys'
cubic convolution with ``a = -0.75`` on half-pixel-centred coordinates, with edge pixels replicated — the same
kernel and geometry as OpenCV's ``cv2.resize(..., interpolation=INTER_CUBIC)`` (a test checks the two agree).
MATLAB's ``imresize`` (used by the paper's MATLAB code) uses ``a = -0.5``, so upsampled values differ slightly
from the paper's; the network learns the residual of whichever upsampler it is trained with, so train and
apply with this one.

Layer names follow torchSR's ``vdsr`` (``body.0`` ... ``body.38``); the first convolution is followed by a
ReLU as in the original VDSR and MATLAB's implementation. Weights start from He-normal initialisation (as
VDSR), biases 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scansr.models._base import SCALES, SRModel

__all__ = ["VDSR"]


class VDSR(SRModel):
    """VDSR: 20 conv layers, residual on the bicubic-upsampled input; one network for several scales.

    Parameters
    ----------
    scales : sequence of int
        Scale factors the network is trained for and accepts (default ×2, ×3, ×4, ×8). VDSR has no per-scale
        parameters: this only restricts which scales ``forward`` accepts.
    in_channels, out_channels : int
        Input and output channels (default 1). With more input than output channels, the first `out_channels`
        input channels are the ones super-resolved (their upsampled values are the residual's base) and the
        others guide them.
    depth : int
        Number of convolution layers (20 in VDSR and the AFM paper), at least 2.
    n_feats : int
        Channels of the hidden layers (64).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).

    Raises
    ------
    ValueError
        If a size is not positive, `depth` < 2, or `out_channels` > `in_channels`.
    """

    arch = "vdsr"

    def __init__(
        self,
        *,
        scales: Iterable[int] = SCALES,
        in_channels: int = 1,
        out_channels: int = 1,
        depth: int = 20,
        n_feats: int = 64,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={"depth": depth, "n_feats": n_feats},
        )
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth!r}")
        if n_feats < 1:
            raise ValueError(f"n_feats must be >= 1, got {n_feats!r}")
        if out_channels > in_channels:
            raise ValueError(
                f"VDSR adds its output to the upsampled input, so out_channels ({out_channels}) "
                f"must not exceed in_channels ({in_channels})"
            )
        layers: list[nn.Module] = [nn.Conv2d(in_channels, n_feats, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(n_feats, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """He-normal weights (fan-in, ReLU gain) and zero biases, as in VDSR."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                nn.init.zeros_(m.bias)

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        h, w = lr.shape[-2:]
        up = F.interpolate(lr, size=(h * scale, w * scale), mode="bicubic", align_corners=False)
        return up[:, : self.out_channels] + self.body(up)
