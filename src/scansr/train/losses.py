"""Loss functions: pixel losses, anisotropic total variation (SEM paper eq. 3), GAN losses, weighted sums.

Every loss returns the mean over the batch of a per-sample value, so that a batch split into groups (one per
scale, or one per process of a distributed run) gives the same total when the group losses are weighted by
their sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from scansr.train.config import LossConfig

__all__ = [
    "discriminator_loss",
    "generator_adversarial_loss",
    "l1_loss",
    "l2_loss",
    "pixel_losses",
    "tv_loss",
]


def _check_pair(sr: Tensor, hr: Tensor) -> None:
    if sr.shape != hr.shape:
        raise ValueError(
            f"output and target must have one shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )


def l1_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean absolute error (the L1 term of the SEM paper; EDSR's loss).

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    _check_pair(sr, hr)
    return F.l1_loss(sr, hr)


def l2_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean squared error (VDSR's loss).

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    _check_pair(sr, hr)
    return F.mse_loss(sr, hr)


def tv_loss(x: Tensor) -> Tensor:
    """Anisotropic total variation (SEM paper eq. 3) as means: ``mean|∂y x| + mean|∂x x|``.

    ``mean|x[i+1,j] − x[i,j]| + mean|x[i,j+1] − x[i,j]|``. Eq. 3 sums the absolute differences to the next pixel
    down and to the right over the image; dividing each sum by its number of terms makes the weight independent
    of the patch size.

    Parameters
    ----------
    x : Tensor
        ``(N, C, H, W)``.

    Returns
    -------
    Tensor
        Scalar.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got {tuple(x.shape)}")
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() if x.shape[-2] > 1 else x.new_zeros(())
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean() if x.shape[-1] > 1 else x.new_zeros(())
    return dy + dx


def generator_adversarial_loss(fake_logits: Tensor, *, kind: str = "nonsaturating") -> Tensor:
    """Return the generator's adversarial loss from the discriminator's logits on generated images.

    Parameters
    ----------
    fake_logits : Tensor
        ``D(G(x))``, raw logits.
    kind : {"nonsaturating", "lsgan"}
        ``mean softplus(−D(G(x)))`` = ``−log σ(D(G(x)))`` (non-saturating), or ``mean (σ(D(G(x))) − 1)²``
        (least squares on the discriminator's probability, as the SEM paper's eq. 4).
    """
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "lsgan":
        return (torch.sigmoid(fake_logits) - 1).pow(2).mean()
    raise ValueError(f"kind must be one of ('nonsaturating', 'lsgan'), got {kind!r}")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, *, kind: str = "nonsaturating") -> Tensor:
    """Return the discriminator's loss: real judged real, generated judged fake.

    ``mean softplus(−D(z)) + mean softplus(D(G(x)))`` (binary cross-entropy on logits), or the SEM paper's eq.
    4 ``mean σ(D(G(x)))² + mean (1 − σ(D(z)))²`` for ``kind="lsgan"``.
    """
    if kind == "nonsaturating":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "lsgan":
        return torch.sigmoid(fake_logits).pow(2).mean() + (1 - torch.sigmoid(real_logits)).pow(2).mean()
    raise ValueError(f"kind must be one of ('nonsaturating', 'lsgan'), got {kind!r}")


def pixel_losses(sr: Tensor, hr: Tensor, config: LossConfig) -> dict[str, Tensor]:
    """Return the weighted non-adversarial terms that are switched on: ``{"l1": w·L1, "tv": w·TV, ...}``."""
    terms: dict[str, Tensor] = {}
    if config.l1:
        terms["l1"] = config.l1 * l1_loss(sr, hr)
    if config.l2:
        terms["l2"] = config.l2 * l2_loss(sr, hr)
    if config.tv:
        terms["tv"] = config.tv * tv_loss(sr)
    return terms
