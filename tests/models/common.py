"""Checks every architecture's test file runs on small configurations (fast on one CPU core)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scansr.models import SCALES, SRModel

ODD_SIZE = (37, 53)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_forward_every_scale(ctor: Callable[..., SRModel], kwargs: dict[str, Any], scales=SCALES) -> None:
    """Forward at every scale on an odd-sized batch: output shape, dtype and finiteness."""
    model = ctor(scales=scales, generator=seeded(0), **kwargs)
    assert model.scales == tuple(sorted(scales))
    lr = torch.randn(2, model.in_channels, *ODD_SIZE, generator=seeded(1))
    with torch.no_grad():
        for s in scales:
            hr = model(lr, s)
            assert hr.shape == (2, model.out_channels, ODD_SIZE[0] * s, ODD_SIZE[1] * s), (s, hr.shape)
            assert hr.dtype == lr.dtype
            assert torch.isfinite(hr).all()


def check_channels(
    ctor: Callable[..., SRModel], kwargs: dict[str, Any], *, in_channels=3, out_channels=2
) -> None:
    model = ctor(
        scales=(2,), in_channels=in_channels, out_channels=out_channels, generator=seeded(0), **kwargs
    )
    with torch.no_grad():
        hr = model(torch.randn(1, in_channels, 9, 11, generator=seeded(1)), 2)
    assert hr.shape == (1, out_channels, 18, 22)


def check_rejects_bad_calls(model: SRModel) -> None:
    import pytest

    unsupported = next(s for s in (5, 6, 7) if s not in model.scales)
    with pytest.raises(ValueError, match="scale must be one of"):
        model(torch.zeros(1, model.in_channels, 8, 8), unsupported)
    with pytest.raises(ValueError, match="scale must be one of"):
        model(torch.zeros(1, model.in_channels, 8, 8), float(model.scales[0]))
    with pytest.raises(ValueError, match="input must be a tensor of shape"):
        model(torch.zeros(1, model.in_channels + 1, 8, 8), model.scales[0])
    with pytest.raises(ValueError, match="input must be a tensor of shape"):
        model(torch.zeros(model.in_channels, 8, 8), model.scales[0])


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def check_gradients_reach_first_layer(model: SRModel, scale: int) -> None:
    lr = torch.randn(2, model.in_channels, 13, 11, generator=seeded(2))
    target = torch.randn(2, model.out_channels, 13 * scale, 11 * scale, generator=seeded(3))
    F.mse_loss(model(lr, scale), target).backward()
    grad = first_conv(model).weight.grad
    assert grad is not None
    assert torch.isfinite(grad).all()
    assert grad.abs().max() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"


def overfit_one_patch(
    model: SRModel, scale: int, *, steps: int = 300, lr: float = 2e-3
) -> tuple[float, float]:
    """Adam on one 16×16 LR patch (HR: smoothed noise); returns (initial loss, best loss)."""
    hr = torch.randn(1, model.out_channels, 16 * scale, 16 * scale, generator=seeded(4))
    hr = F.avg_pool2d(F.pad(hr, (1, 1, 1, 1), mode="replicate"), 3, 1)
    lr_img = F.avg_pool2d(hr, scale).repeat(1, model.in_channels // model.out_channels, 1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = best = None
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(lr_img, scale), hr)
        loss.backward()
        opt.step()
        value = loss.item()
        first = value if first is None else first
        best = value if best is None else min(best, value)
        if first / best >= 20:
            break
    return first, best


def check_overfits(model: SRModel, scale: int, **kwargs: Any) -> None:
    first, best = overfit_one_patch(model, scale, **kwargs)
    assert best <= first / 10, f"loss only fell from {first:.4g} to {best:.4g}"


def check_deterministic(ctor: Callable[..., SRModel], kwargs: dict[str, Any], scale: int) -> None:
    """Same generator seed -> same weights and outputs; another seed -> other weights."""
    a = ctor(scales=(scale,), generator=seeded(7), **kwargs)
    b = ctor(scales=(scale,), generator=seeded(7), **kwargs)
    c = ctor(scales=(scale,), generator=seeded(8), **kwargs)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))
    lr = torch.randn(1, a.in_channels, 11, 9, generator=seeded(5))
    with torch.no_grad():
        assert torch.equal(a(lr, scale), b(lr, scale))
        assert torch.equal(a(lr, scale), a(lr, scale))


def check_full_default_forward(ctor: Callable[..., SRModel], scale: int) -> SRModel:
    """One forward of the full default network (small odd input); returns the network."""
    model = ctor(generator=seeded(0))
    assert scale in model.scales
    with torch.no_grad():
        hr = model(torch.rand(1, 1, 9, 7, generator=seeded(6)), scale)
    assert hr.shape == (1, 1, 9 * scale, 7 * scale)
    assert torch.isfinite(hr).all()
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
