"""FusionSR: topography super-resolution guided by the property channels measured in the same pass.

A multichannel AFM scan (PFM height + amplitude + phase, PeakForce height + adhesion + modulus, c-AFM height +
current, ...) holds channels that are co-registered pixel for pixel. Edges of domains, particles and steps often
show more sharply in a property channel (a phase or amplitude contrast, a modulus step) than in the height, so
the network may read the position of an edge from the guides and its height from the topography. The multimodal
AFM paper (Anal. Chem. 2026) enhances multichannel AFM data with a CNN that fuses the channels; it publishes no
architecture details, so this network follows the structure of guided depth super-resolution (separate
encoders per modality, attention-weighted fusion, a shared body) with the post-upsampling tails of EDSR /
NinaSR, small enough to train on a CPU.

Structure (input ``(N, C, h, w)``: channel 0 the topography, channels 1 … C−1 the guides):

1. **Encoders**, one per input channel: conv 3×3 → ReLU → conv 3×3 (``n_feats`` features for the topography,
   ``guide_feats`` for each guide). Channels are encoded separately because their statistics differ (each is
   z-scored on its own by `scansr.train` and `scansr.enhance`).
2. **Fusion** (only with guides): the encoded features are concatenated; a *local channel attention* (squeeze
   and excitation over a ``attention_window``² neighbourhood instead of the whole image, so that the result
   does not depend on the image size or on tiling) weights every feature map per pixel, a 1×1 convolution maps
   them to ``n_feats``, and a *spatial gate* in [0, 1] (conv 3×3 → ReLU → conv 3×3 → sigmoid, computed from
   the topography and guide features together) says where the guides are trusted::

       t = encoder_0(x_0);  z = concat(t, encoder_1(x_1), …)
       fused = t + gate(z) · fuse(z · attention(z))

   Where a guide carries no information about the height (noise, a contrast unrelated to the topography) the
   gate can close, and the network falls back on the topography alone.
3. **Body**: ``n_blocks`` residual blocks conv–ReLU–conv (EDSR-baseline's, residual scale 1) and a conv, with a
   skip over the body.
4. **Tails**, one per scale: conv 3×3 to ``out_channels · s²`` and a pixel shuffle (NinaSR's / ESPCN's cheap
   tail), plus the bicubic upsampling of the first ``out_channels`` input channels, so that the network learns
   the residual over bicubic (as VDSR).

``out_channels = 1`` gives the enhanced topography; ``out_channels = in_channels`` gives every channel enhanced
(output ``k`` is input ``k`` super-resolved). With ``in_channels = 1`` there is no fusion stage: the network
is the same encoder, body and tails on the topography alone, the single-channel baseline of equal body.

Every operation is local, so tiled inference equals whole-image inference when the tiles overlap by
`FusionSR.receptive_radius` input pixels. The bicubic upsampling is ``torch.nn.functional.interpolate(
mode="bicubic", align_corners=False)``, the kernel of VDSR here and of OpenCV's ``INTER_CUBIC``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scansr.models._base import SRModel, default_init_

__all__ = ["FusionSR"]


def _encoder(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=1),
    )


class LocalChannelAttention(nn.Module):
    """Squeeze-and-excitation over a ``window × window`` neighbourhood of every pixel: weights in (0, 1).

    The squeeze (1×1 conv to ``channels // reduction``) comes before the average pooling: both are linear, so
    this equals pooling first, at a fraction of the cost. The pooling has stride 1 and ignores the padding, so
    the weights are a local, translation-equivariant function of the features.
    """

    def __init__(self, channels: int, *, reduction: int, window: int):
        super().__init__()
        mid = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, mid, 1)
        self.pool = nn.AvgPool2d(window, stride=1, padding=window // 2, count_include_pad=False)
        self.excite = nn.Conv2d(mid, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.excite(F.relu(self.pool(self.squeeze(x)))))


class ResBlock(nn.Module):
    """conv-ReLU-conv plus the input (EDSR-baseline's block)."""

    def __init__(self, n_feats: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feats, n_feats, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class FusionSR(SRModel):
    """FusionSR: guided topography SR, per-channel encoders, local attention fusion, spatial gate, EDSR body.

    Parameters
    ----------
    scales : sequence of int
        Scales to build a tail for (default ×4); each of 2, 3, 4, 8.
    in_channels : int
        Input channels: the topography first, then the guides (default 1: no guides).
    out_channels : int
        1 (the topography) up to `in_channels` (output ``k`` is input ``k`` enhanced).
    n_feats : int
        Features of the topography encoder, the fused map and the body (32).
    guide_feats : int
        Features of each guide's encoder (16).
    n_blocks : int
        Residual blocks of the body (8).
    attention_window : int
        Odd side, in input pixels, of the neighbourhood the channel attention averages over (7).
    attention_reduction : int
        Squeeze factor of the channel attention (4).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).

    Raises
    ------
    ValueError
        If a size is not positive, `attention_window` is even, or `out_channels` > `in_channels`.
    """

    arch = "fusion"

    def __init__(
        self,
        *,
        scales: Iterable[int] = (4,),
        in_channels: int = 1,
        out_channels: int = 1,
        n_feats: int = 32,
        guide_feats: int = 16,
        n_blocks: int = 8,
        attention_window: int = 7,
        attention_reduction: int = 4,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            scales=scales,
            in_channels=in_channels,
            out_channels=out_channels,
            hparams={
                "n_feats": n_feats,
                "guide_feats": guide_feats,
                "n_blocks": n_blocks,
                "attention_window": attention_window,
                "attention_reduction": attention_reduction,
            },
        )
        for name, value, minimum in (
            ("n_feats", n_feats, 1),
            ("guide_feats", guide_feats, 1),
            ("n_blocks", n_blocks, 0),
            ("attention_window", attention_window, 1),
            ("attention_reduction", attention_reduction, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if attention_window % 2 == 0:
            raise ValueError(f"attention_window must be odd, got {attention_window!r}")
        if out_channels > in_channels:
            raise ValueError(
                f"output k is input k enhanced, so out_channels ({out_channels}) must not exceed in_channels "
                f"({in_channels})"
            )
        self.encoders = nn.ModuleList(
            [_encoder(n_feats), *(_encoder(guide_feats) for _ in range(in_channels - 1))]
        )
        self.attention: LocalChannelAttention | None = None
        self.fuse: nn.Conv2d | None = None
        self.gate: nn.Sequential | None = None
        if in_channels > 1:
            joint = n_feats + (in_channels - 1) * guide_feats
            self.attention = LocalChannelAttention(
                joint, reduction=attention_reduction, window=attention_window
            )
            self.fuse = nn.Conv2d(joint, n_feats, 1)
            self.gate = nn.Sequential(
                nn.Conv2d(joint, guide_feats, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(guide_feats, 1, 3, padding=1),
                nn.Sigmoid(),
            )
        self.body = nn.Sequential(
            *[ResBlock(n_feats) for _ in range(n_blocks)], nn.Conv2d(n_feats, n_feats, 3, padding=1)
        )
        self.tail = nn.ModuleDict(
            {
                f"x{s}": nn.Sequential(
                    nn.Conv2d(n_feats, out_channels * s * s, 3, padding=1), nn.PixelShuffle(s)
                )
                for s in self.scales
            }
        )
        self.reset_parameters(generator)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side of a pixel that its output depends on (the overlap tiles need)."""
        fusion = max(self.hparams["attention_window"] // 2, 2) if self.in_channels > 1 else 0
        network = 2 + fusion + 2 * self.hparams["n_blocks"] + 1 + 1  # encoder, fusion, body, tail
        return max(network, 2)  # 2: the support of the bicubic skip

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default initialisation; the gate starts half open (its last bias 0)."""
        default_init_(self, generator)
        if self.gate is not None:
            nn.init.zeros_(self.gate[2].bias)

    def features(self, lr: Tensor) -> Tensor:
        """Return the encoded and fused features ``(N, n_feats, h, w)`` of a checked input (before the body)."""
        t = self.encoders[0](lr[:, :1])
        if self.attention is None or self.fuse is None or self.gate is None:
            return t
        z = torch.cat([t, *(enc(lr[:, k : k + 1]) for k, enc in enumerate(self.encoders) if k > 0)], dim=1)
        return t + self.gate(z) * self.fuse(z * self.attention(z))

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Super-resolve `lr` ``(N, in_channels, h, w)`` to ``(N, out_channels, h*scale, w*scale)``."""
        self.check_input(lr, scale)
        x = self.features(lr)
        res = self.body(x) + x
        h, w = lr.shape[-2:]
        base = F.interpolate(
            lr[:, : self.out_channels], size=(h * scale, w * scale), mode="bicubic", align_corners=False
        )
        return self.tail[f"x{scale}"](res) + base
