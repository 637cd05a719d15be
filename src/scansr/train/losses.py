"""Loss functions: pixel losses, anisotropic total variation (SEM paper eq. 3), GAN losses, weighted sums.

Every loss returns the mean over the batch of a per-sample value, so that a batch split into groups (one per
scale, or one per process of a distributed run) gives the same total when the group losses are weighted by
their sizes.

`generator_terms` gives the weighted terms of the generator's loss for resolved weights; `share_weights`
turns the terms' shares of the loss at the start of training (`LossConfig` with ``balance="shares"``, the SEM
paper's 84 / 14 / 2 %) and their measured magnitudes into weights.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from scansr.train.config import LOSS_TERMS, LossConfig

__all__ = [
    "discriminator_loss",
    "fixed_weights",
    "generator_adversarial_loss",
    "generator_terms",
    "l1_loss",
    "l2_loss",
    "pixel_losses",
    "share_weights",
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


def fixed_weights(config: LossConfig) -> dict[str, float]:
    """Return the weights of the switched-on terms of a ``balance="fixed"`` `LossConfig`.

    Raises
    ------
    ValueError
        If ``config.balance`` is ``"shares"``: its weights come from a measurement (`share_weights`).
    """
    if config.balance != "fixed":
        raise ValueError(
            f"loss.balance is {config.balance!r}: the weights are set by measuring the terms at the start of "
            "training (share_weights), not given"
        )
    return config.terms


def pixel_losses(sr: Tensor, hr: Tensor, config: LossConfig) -> dict[str, Tensor]:
    """Return the weighted non-adversarial terms that are switched on: ``{"l1": w·L1, "tv": w·TV, ...}``.

    Raises
    ------
    ValueError
        If the shapes differ, or `config` balances by shares (use `generator_terms` with the resolved
        weights).
    """
    weights = {k: v for k, v in fixed_weights(config).items() if k != "adversarial"}
    return generator_terms(sr, hr, weights)


def generator_terms(
    sr: Tensor,
    hr: Tensor,
    weights: Mapping[str, float],
    *,
    fake_logits: Tensor | None = None,
    kind: str = "nonsaturating",
) -> dict[str, Tensor]:
    """Return the weighted terms of the generator's loss: ``{name: weight · term}`` for every weighted term.

    Parameters
    ----------
    sr, hr : Tensor
        Output and target, ``(N, C, H, W)``.
    weights : mapping of str to float
        Term name (one of ``"l1"``, ``"l2"``, ``"tv"``, ``"adversarial"``) -> weight; terms with weight 0 are
        left out. A weight of 1 gives the unweighted term (the magnitudes `share_weights` needs).
    fake_logits : Tensor, optional
        ``D(sr)``: needed when ``"adversarial"`` is weighted.
    kind : {"nonsaturating", "lsgan"}
        The adversarial loss (`generator_adversarial_loss`).

    Returns
    -------
    dict of str to Tensor
        Scalars, in the order of `weights`.

    Raises
    ------
    ValueError
        If a term name is unknown (the message lists the valid ones), the shapes differ, or the adversarial
        term is weighted without `fake_logits`.
    """
    unknown = sorted(set(weights) - set(LOSS_TERMS))
    if unknown:
        raise ValueError(f"unknown loss term(s) {unknown}; valid: {LOSS_TERMS}")
    _check_pair(sr, hr)
    terms: dict[str, Tensor] = {}
    for name, w in weights.items():
        if not w:
            continue
        if name == "l1":
            value = l1_loss(sr, hr)
        elif name == "l2":
            value = l2_loss(sr, hr)
        elif name == "tv":
            value = tv_loss(sr)
        else:
            if fake_logits is None:
                raise ValueError("the adversarial term is weighted: pass fake_logits = D(sr)")
            value = generator_adversarial_loss(fake_logits, kind=kind)
        terms[name] = w * value
    return terms


def share_weights(magnitudes: Mapping[str, float], shares: Mapping[str, float]) -> dict[str, float]:
    """Weights that give each term its share of the loss: ``w_k = (s_k / Σ s) / m_k``.

    With these weights the weighted terms of a batch whose unweighted terms are `magnitudes` sum to 1, term k
    contributing ``s_k / Σ s``.

    Parameters
    ----------
    magnitudes : mapping of str to float
        Term -> mean unweighted value (e.g. on the first batches, with the untrained networks).
    shares : mapping of str to float
        Term -> share (> 0; normalised by the sum), e.g. the SEM paper's ``{"adversarial": 0.84, "l1": 0.14,
        "tv": 0.02}``.

    Returns
    -------
    dict of str to float
        Term -> weight, in the order of `shares`.

    Raises
    ------
    ValueError
        If a share is not a positive finite number, or a term's magnitude is missing, zero or not finite (a
        zero term cannot be given a share: e.g. an L1 of 0 when the LR input equals the target).
    """
    if not shares:
        raise ValueError("shares must name at least one term")
    for name, s in shares.items():
        if isinstance(s, bool) or not (isinstance(s, numbers.Real) and math.isfinite(s) and s > 0):
            raise ValueError(f"the share of {name!r} must be a finite number > 0, got {s!r}")
    total = float(sum(shares.values()))
    weights = {}
    for name, s in shares.items():
        m = magnitudes.get(name)
        if m is None or not math.isfinite(m) or m <= 0:
            raise ValueError(
                f"cannot give the {name!r} term a share of the loss: its measured magnitude is {m!r} (it must be "
                "a finite number > 0)"
            )
        weights[name] = (s / total) / float(m)
    return weights
