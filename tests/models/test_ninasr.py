import math

import pytest
import torch

from scansr.models import SCALES, NinaSRB0, NinaSRB1, NinaSRB2
from tests.models import common

SMALL = {"n_resblocks": 2, "n_feats": 8}
ALL = [NinaSRB0, NinaSRB1, NinaSRB2]


@pytest.mark.parametrize("ctor", ALL)
def test_forward_every_scale_on_odd_size(ctor):
    common.check_forward_every_scale(ctor, SMALL, scales=SCALES)


@pytest.mark.parametrize(
    ("ctor", "blocks", "feats", "millions", "rounding"),
    [
        (NinaSRB0, 10, 16, 0.10, 0.005),
        (NinaSRB1, 26, 32, 1.02, 0.005),
        (NinaSRB2, 84, 56, 10.0, 0.05),
    ],
)
def test_default_sizes_match_torchsr(ctor, blocks, feats, millions, rounding):
    model = common.check_full_default_forward(ctor, 4) if ctor is not NinaSRB2 else ctor()
    assert (len(model.body), model.hparams["n_feats"]) == (blocks, feats)
    # torchSR's README: ninasr_b0 0.10 M, b1 1.02 M, b2 10.0 M parameters (RGB, x2 networks)
    rgb = ctor(scales=(2,), in_channels=3, out_channels=3)
    assert common.count_parameters(rgb) / 1e6 == pytest.approx(millions, abs=rounding)


def test_full_default_forward_b2():
    common.check_full_default_forward(NinaSRB2, 4)


def test_block_scales_follow_the_variance_recursion():
    model = NinaSRB0(n_resblocks=4, n_feats=8)
    # in_scale = 1/sqrt(1 + i (4/n)^2), out_scale = 4/n (torchSR make_body)
    for i, block in enumerate(model.body):
        assert block.out_scale == pytest.approx(1.0)
        assert block.in_scale == pytest.approx(1 / math.sqrt(1 + i))


def test_attention_handles_images_smaller_than_its_window():
    model = NinaSRB0(scales=(2,), **SMALL)
    with torch.no_grad():
        assert model(torch.rand(1, 1, 3, 5), 2).shape == (1, 1, 6, 10)


def test_multichannel():
    common.check_channels(NinaSRB0, SMALL)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(NinaSRB1(**SMALL))


@pytest.mark.parametrize("ctor", ALL)
def test_gradients_reach_first_layer(ctor):
    common.check_gradients_reach_first_layer(ctor(scales=(4,), generator=common.seeded(0), **SMALL), 4)


@pytest.mark.parametrize("ctor", ALL)
def test_overfits_one_patch(ctor):
    common.check_overfits(ctor(scales=(2,), generator=common.seeded(1), **SMALL), 2)


def test_deterministic_with_seed():
    common.check_deterministic(NinaSRB0, SMALL, 8)


@pytest.mark.parametrize("arch", ["ninasr-b0", "edsr-baseline"])
def test_global_residual_adds_bicubic_and_keeps_torchsr_parameters(arch):
    import torch

    from scansr.models import build_model
    from scansr.models._base import bicubic_upsample

    kwargs = {"n_resblocks": 1, "n_feats": 8} if arch == "ninasr-b0" else {"n_resblocks": 1, "n_feats": 4}
    plain = build_model(arch, scales=(2, 4), generator=torch.Generator().manual_seed(0), **kwargs)
    skip = build_model(
        arch, scales=(2, 4), generator=torch.Generator().manual_seed(0), global_residual=True, **kwargs
    )
    # no new parameters: torchSR checkpoints load into either
    assert [k for k, _ in plain.named_parameters()] == [k for k, _ in skip.named_parameters()]
    lr = torch.randn(2, 1, 13, 17, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for scale in (2, 4):
            expected = plain(lr, scale) + bicubic_upsample(lr, scale, 1)
            torch.testing.assert_close(skip(lr, scale), expected)
    assert skip.hparams["global_residual"] is True
    assert plain.hparams["global_residual"] is False
