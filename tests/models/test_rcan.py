import pytest

from scansr.models import RCAN, SCALES
from tests.models import common

SMALL = {"n_resgroups": 2, "n_resblocks": 1, "n_feats": 16, "reduction": 4}


def test_forward_every_scale_on_odd_size():
    common.check_forward_every_scale(RCAN, SMALL, scales=SCALES)


def test_full_default_forward():
    model = common.check_full_default_forward(RCAN, 4)
    assert model.hparams == {"n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16}


def test_rgb_x2_parameter_count_matches_torchsr():
    # torchSR's README lists rcan with 15.4 M parameters (RGB, x2 network)
    model = RCAN(scales=(2,), in_channels=3, out_channels=3)
    assert common.count_parameters(model) / 1e6 == pytest.approx(15.4, abs=0.05)


def test_reduction_must_leave_a_channel():
    with pytest.raises(ValueError, match="reduction"):
        RCAN(n_feats=8, reduction=16)


def test_multichannel():
    common.check_channels(RCAN, SMALL)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(RCAN(scales=(8,), **SMALL))


def test_gradients_reach_first_layer():
    common.check_gradients_reach_first_layer(RCAN(scales=(3,), generator=common.seeded(0), **SMALL), 3)


def test_overfits_one_patch():
    common.check_overfits(RCAN(scales=(2,), generator=common.seeded(1), **SMALL), 2)


def test_deterministic_with_seed():
    common.check_deterministic(RCAN, SMALL, 4)
