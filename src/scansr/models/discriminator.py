"""VGG-style discriminator of the SEM paper's GAN (de Haan et al., Sci. Rep. 2019).

The paper's discriminator is "a modified VGG-type network" built from the same blocks as its generator: two
convolutions each followed by a leaky ReLU, the second changing the number of channels. Here the second
convolution also has stride 2, so each block halves the resolution and doubles the channels (VGG's
conv-conv-pool pattern); then global average pooling and two fully connected layers give one logit per image.
It returns raw logits (no sigmoid): use ``binary_cross_entropy_with_logits`` (numerically stable) for the
non-saturating GAN loss.

It is not in :data:`scansr.models.MODELS` (it is not a super-resolution network and has another call
signature: ``discriminator(hr) -> logits (N, 1)``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scansr.models._base import default_init_
from scansr.models.unet import ConvBlock

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """VGG-style discriminator: input conv, `n_blocks` strided two-conv blocks, global pool, two dense layers.

    Parameters
    ----------
    in_channels : int
        Channels of the images judged (1).
    base_channels : int
        Channels after the input conv (32); block ``i`` outputs ``base_channels * 2**(i+1)``.
    n_blocks : int
        Blocks, each halving the resolution (5: a 128×128 patch ends at 4×4).
    negative_slope : float
        Slope of the leaky ReLUs (0.1).
    generator : torch.Generator, optional
        Source of the initial weights (default: torch's global generator).

    Raises
    ------
    ValueError
        If a size is not positive.
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        base_channels: int = 32,
        n_blocks: int = 5,
        negative_slope: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if in_channels < 1 or base_channels < 1 or n_blocks < 1:
            raise ValueError(
                "in_channels, base_channels and n_blocks must be >= 1, got "
                f"{in_channels!r}, {base_channels!r}, {n_blocks!r}"
            )
        self.in_channels = in_channels
        self.hparams = {
            "base_channels": base_channels,
            "n_blocks": n_blocks,
            "negative_slope": negative_slope,
        }
        ch = [base_channels * 2**i for i in range(n_blocks + 1)]
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, ch[0], 3, padding=1), nn.LeakyReLU(negative_slope, inplace=True)
        )
        self.blocks = nn.Sequential(
            *[ConvBlock(ch[i], ch[i + 1], negative_slope=negative_slope, stride=2) for i in range(n_blocks)]
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(ch[-1], ch[-1]),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Linear(ch[-1], 1),
        )
        default_init_(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 1)`` (high: judged real) for images `x` ``(N, in_channels, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must be (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.pool(self.blocks(self.head(x)))
        return self.fc(torch.flatten(x, 1))
