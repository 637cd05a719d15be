import pytest

from scansr.models import EDSR, SCALES, EDSRBaseline
from tests.models import common

SMALL = {"n_resblocks": 2, "n_feats": 16}


@pytest.mark.parametrize("ctor", [EDSRBaseline, EDSR])
def test_forward_every_scale_on_odd_size(ctor):
    common.check_forward_every_scale(ctor, SMALL, scales=SCALES)


def test_full_default_forward_baseline():
    model = common.check_full_default_forward(EDSRBaseline, 4)
    assert model.hparams == {"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0, "global_residual": False}


def test_full_default_forward_full():
    model = common.check_full_default_forward(EDSR, 4)
    assert model.hparams == {"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1, "global_residual": False}


@pytest.mark.parametrize(("ctor", "millions", "rounding"), [(EDSRBaseline, 1.37, 0.005), (EDSR, 40.7, 0.05)])
def test_rgb_x2_parameter_count_matches_torchsr(ctor, millions, rounding):
    # torchSR's README lists edsr_baseline 1.37 M and edsr 40.7 M parameters (RGB, x2 networks)
    model = ctor(scales=(2,), in_channels=3, out_channels=3)
    assert common.count_parameters(model) / 1e6 == pytest.approx(millions, abs=rounding)


def test_multichannel():
    common.check_channels(EDSRBaseline, SMALL)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(EDSRBaseline(scales=(2, 3), **SMALL))


@pytest.mark.parametrize("ctor", [EDSRBaseline, EDSR])
def test_gradients_reach_first_layer(ctor):
    common.check_gradients_reach_first_layer(ctor(scales=(4,), generator=common.seeded(0), **SMALL), 4)


@pytest.mark.parametrize("ctor", [EDSRBaseline, EDSR])
def test_overfits_one_patch(ctor):
    common.check_overfits(ctor(scales=(2,), generator=common.seeded(1), **SMALL), 2, lr=5e-3)


def test_deterministic_with_seed():
    common.check_deterministic(EDSRBaseline, SMALL, 3)
