import pytest

from scansr.models import RDN, SCALES
from tests.models import common

SMALL = {"n_feats": 16, "n_blocks": 2, "n_layers": 2, "growth_rate": 8}


def test_forward_every_scale_on_odd_size():
    common.check_forward_every_scale(RDN, SMALL, scales=SCALES)


def test_full_default_forward():
    model = common.check_full_default_forward(RDN, 4)
    assert model.hparams == {"n_feats": 64, "n_blocks": 16, "n_layers": 8, "growth_rate": 64}


def test_rgb_x2_parameter_count_matches_torchsr():
    # torchSR's README lists rdn with 22.1 M parameters (RGB, x2 network)
    model = RDN(scales=(2,), in_channels=3, out_channels=3)
    assert common.count_parameters(model) / 1e6 == pytest.approx(22.1, abs=0.05)


def test_multichannel():
    common.check_channels(RDN, SMALL)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(RDN(scales=(2,), **SMALL))


def test_gradients_reach_first_layer():
    common.check_gradients_reach_first_layer(RDN(scales=(8,), generator=common.seeded(0), **SMALL), 8)


def test_overfits_one_patch():
    common.check_overfits(RDN(scales=(2,), generator=common.seeded(1), **SMALL), 2)


def test_deterministic_with_seed():
    common.check_deterministic(RDN, SMALL, 3)
