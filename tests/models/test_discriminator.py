import pytest
import torch
import torch.nn.functional as F

from scansr.models import Discriminator
from tests.models import common


@pytest.mark.parametrize("size", [(128, 128), (37, 53)])
def test_one_logit_per_image(size):
    d = Discriminator(generator=common.seeded(0))
    with torch.no_grad():
        out = d(torch.rand(3, 1, *size))
    assert out.shape == (3, 1)
    assert torch.isfinite(out).all()


def test_blocks_halve_resolution_and_double_channels():
    d = Discriminator(base_channels=8, n_blocks=3)
    x = d.head(torch.zeros(1, 1, 32, 32))
    shapes = []
    for block in d.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(16, 16, 16), (32, 8, 8), (64, 4, 4)]


def test_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"input must be \(N, 2, H, W\)"):
        Discriminator(2, base_channels=4, n_blocks=1)(torch.zeros(1, 1, 8, 8))


def test_gradients_reach_first_layer():
    d = Discriminator(base_channels=8, n_blocks=3, generator=common.seeded(0))
    d(torch.rand(2, 1, 24, 24)).sum().backward()
    grad = common.first_conv(d).weight.grad
    assert grad is not None
    assert grad.abs().max() > 0


def test_learns_to_tell_two_patches_apart():
    d = Discriminator(base_channels=8, n_blocks=3, generator=common.seeded(1))
    g = common.seeded(2)
    smooth = F.avg_pool2d(torch.rand(1, 1, 36, 36, generator=g), 5, 1)
    noisy = torch.rand(1, 1, 32, 32, generator=g)
    x, y = torch.cat([smooth, noisy]), torch.tensor([[1.0], [0.0]])
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(d(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[0] / losses[-1] >= 20:
            break
    assert min(losses) <= losses[0] / 10


def test_deterministic_with_seed():
    a = Discriminator(base_channels=4, n_blocks=2, generator=common.seeded(3))
    b = Discriminator(base_channels=4, n_blocks=2, generator=common.seeded(3))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
