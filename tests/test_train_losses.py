"""Loss functions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from scansr.train import LossConfig, discriminator_loss, generator_adversarial_loss, l1_loss, l2_loss, tv_loss
from scansr.train.losses import pixel_losses


def test_tv_is_eq3_divided_by_the_number_of_differences() -> None:
    # x[i, j] = 2 i + 3 j: every vertical difference is 2 and every horizontal one 3.
    i, j = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")
    x = (2 * i + 3 * j)[None, None]
    assert float(tv_loss(x)) == pytest.approx(5.0)
    # Eq. 3 as a sum over a random image, divided by the counts of each direction.
    r = torch.randn(2, 1, 6, 9, generator=torch.Generator().manual_seed(0))
    sum_y = sum(
        abs(float(r[n, 0, a + 1, b] - r[n, 0, a, b])) for n in range(2) for a in range(5) for b in range(9)
    )
    sum_x = sum(
        abs(float(r[n, 0, a, b + 1] - r[n, 0, a, b])) for n in range(2) for a in range(6) for b in range(8)
    )
    assert float(tv_loss(r)) == pytest.approx(sum_y / (2 * 5 * 9) + sum_x / (2 * 6 * 8), rel=1e-6)


def test_pixel_losses() -> None:
    a = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    b = torch.tensor([[[[1.0, 1.0], [0.0, 3.0]]]])
    assert float(l1_loss(a, b)) == pytest.approx(3 / 4)
    assert float(l2_loss(a, b)) == pytest.approx(5 / 4)
    terms = pixel_losses(a, b, LossConfig(l1=2.0, l2=0.0, tv=0.5))
    assert set(terms) == {"l1", "tv"}
    assert float(terms["l1"]) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="one shape"):
        l1_loss(a, b[..., :1])


def test_gan_losses_at_known_logits() -> None:
    zero = torch.zeros(4, 1)
    assert float(generator_adversarial_loss(zero)) == pytest.approx(math.log(2))
    assert float(discriminator_loss(zero, zero)) == pytest.approx(2 * math.log(2))
    big = torch.full((4, 1), 30.0)
    assert float(discriminator_loss(big, -big)) == pytest.approx(0.0, abs=1e-12)  # a perfect discriminator
    assert float(generator_adversarial_loss(big)) == pytest.approx(0.0, abs=1e-12)  # a perfect forger
    # Least squares on probabilities (SEM paper eq. 4): D(G(x))² + (1 − D(z))² with D = σ(logit) = 1/2.
    assert float(discriminator_loss(zero, zero, kind="lsgan")) == pytest.approx(0.5)
    assert float(generator_adversarial_loss(zero, kind="lsgan")) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="nonsaturating"):
        generator_adversarial_loss(zero, kind="wgan")
