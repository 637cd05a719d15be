import pytest
import torch

from scansr.models import CARN, CARNM, SCALES
from tests.models import common

SMALL = {"n_feats": 8}
SMALL_M = {"n_feats": 8, "group": 2}


@pytest.mark.parametrize(("ctor", "kwargs"), [(CARN, SMALL), (CARNM, SMALL_M)])
def test_forward_every_scale_on_odd_size(ctor, kwargs):
    common.check_forward_every_scale(ctor, kwargs, scales=SCALES)


@pytest.mark.parametrize("ctor", [CARN, CARNM])
def test_full_default_forward(ctor):
    model = common.check_full_default_forward(ctor, 4)
    assert model.scales == (2, 3, 4)  # torchSR's CARN weights hold x2, x3, x4 on one body


@pytest.mark.parametrize(("ctor", "millions", "rounding"), [(CARN, 1.59, 0.005), (CARNM, 0.41, 0.005)])
def test_rgb_parameter_count_matches_torchsr(ctor, millions, rounding):
    # torchSR's README: carn 1.59 M, carn_m 0.41 M parameters (RGB, one network for x2/x3/x4)
    model = ctor(in_channels=3, out_channels=3)
    assert common.count_parameters(model) / 1e6 == pytest.approx(millions, abs=rounding)


def test_carn_m_shares_its_residual_block():
    model = CARNM(**SMALL_M)
    assert not hasattr(model.b1, "b2")
    # the block's one efficient residual block is called three times per cascading block
    calls = []
    handle = model.b1.b1.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model(torch.zeros(1, 1, 5, 5), 2)
    handle.remove()
    assert len(calls) == 3


def test_group_must_divide_channels():
    with pytest.raises(ValueError, match="multiple of group"):
        CARNM(n_feats=10, group=4)


def test_multichannel():
    common.check_channels(CARN, SMALL)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(CARN(**SMALL))


@pytest.mark.parametrize(("ctor", "kwargs"), [(CARN, SMALL), (CARNM, SMALL_M)])
def test_gradients_reach_first_layer(ctor, kwargs):
    model = ctor(scales=(3,), generator=common.seeded(0), **kwargs)
    common.check_gradients_reach_first_layer(model, 3)


@pytest.mark.parametrize(("ctor", "kwargs"), [(CARN, SMALL), (CARNM, SMALL_M)])
def test_overfits_one_patch(ctor, kwargs):
    common.check_overfits(ctor(scales=(2,), generator=common.seeded(1), **kwargs), 2, lr=1e-2)


@pytest.mark.parametrize(("ctor", "kwargs"), [(CARN, SMALL), (CARNM, SMALL_M)])
def test_deterministic_with_seed(ctor, kwargs):
    common.check_deterministic(ctor, kwargs, 4)
