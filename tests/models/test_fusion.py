import cv2
import numpy as np
import pytest
import torch
from torch import nn

from scansr.models import SCALES, ModelConfig, load_model, save_model
from scansr.models.fusion import FusionSR
from scansr.train.tiled import predict_tiled
from tests.models import common

SMALL = {"n_feats": 8, "guide_feats": 4, "n_blocks": 1}
GUIDED = {**SMALL, "in_channels": 3}


@pytest.mark.parametrize(("in_channels", "out_channels"), [(1, 1), (3, 1), (3, 3)])
def test_forward_every_scale_on_odd_size(in_channels, out_channels):
    kwargs = {**SMALL, "in_channels": in_channels, "out_channels": out_channels}
    common.check_forward_every_scale(FusionSR, kwargs, scales=SCALES)


def test_multichannel():
    common.check_channels(FusionSR, SMALL, in_channels=3, out_channels=2)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(FusionSR(**GUIDED))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 1, "out_channels": 2}, "must not exceed in_channels"),
        ({"attention_window": 4}, "attention_window must be odd"),
        ({"n_feats": 0}, "n_feats must be an integer >= 1"),
        ({"n_blocks": -1}, "n_blocks must be an integer >= 0"),
    ],
)
def test_bad_sizes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FusionSR(**{**SMALL, **kwargs})


def test_gradients_reach_every_encoder():
    model = FusionSR(scales=(4,), generator=common.seeded(0), **GUIDED)
    common.check_gradients_reach_first_layer(model, 4)  # also: every parameter gets a gradient
    for encoder in model.encoders:
        assert encoder[0].weight.grad.abs().max() > 0


@pytest.mark.parametrize("in_channels", [1, 3])
def test_overfits_one_patch(in_channels):
    model = FusionSR(scales=(2,), generator=common.seeded(1), **{**SMALL, "in_channels": in_channels})
    common.check_overfits(model, 2)


def test_deterministic_with_seed():
    common.check_deterministic(FusionSR, GUIDED, 8)


def test_parameter_count_follows_the_structure():
    # Counted by hand from the module docstring: conv k×k from a to b has a·b·k² weights + b biases.
    def conv(a, b, k=3):
        return a * b * k * k + b

    f, g, blocks, c, out = 32, 16, 8, 3, 1
    joint = f + (c - 1) * g
    expected = (
        conv(1, f) + conv(f, f)  # topography encoder
        + (c - 1) * (conv(1, g) + conv(g, g))  # guide encoders
        + conv(joint, joint // 4, 1) + conv(joint // 4, joint, 1)  # local channel attention
        + conv(joint, f, 1)  # fusion
        + conv(joint, g) + conv(g, 1)  # spatial gate
        + blocks * 2 * conv(f, f) + conv(f, f)  # body
        + sum(conv(f, out * s * s) for s in (2, 4, 8))  # tails
    )  # fmt: skip
    model = FusionSR(scales=(2, 4, 8), in_channels=c)
    assert common.count_parameters(model) == expected
    assert 0.2e6 <= expected <= 1e6  # small enough to train on a CPU
    single = FusionSR(scales=(2, 4, 8))
    assert not any(isinstance(m, nn.AvgPool2d) for m in single.modules())  # no fusion stage without guides


def test_zero_tails_give_opencv_bicubic_of_every_output_channel():
    # With the tails' convolutions zero the network is its bicubic skip: output k = bicubic of input k.
    model = FusionSR(
        scales=(2, 3), generator=common.seeded(2), **{**SMALL, "in_channels": 3, "out_channels": 3}
    )
    with torch.no_grad():
        for tail in model.tail.values():
            tail[0].weight.zero_()
            tail[0].bias.zero_()
    lr = torch.rand(1, 3, 11, 14, generator=common.seeded(3), dtype=torch.float64).float()
    with torch.no_grad():
        hr = model(lr, 3)[0].double().numpy()
    for k in range(3):
        ref = cv2.resize(lr[0, k].numpy(), (14 * 3, 11 * 3), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(hr[k], ref, atol=1e-5)


def test_a_closed_gate_ignores_the_guides():
    model = FusionSR(scales=(2,), generator=common.seeded(4), **GUIDED).eval()
    lr = torch.randn(1, 3, 12, 10, generator=common.seeded(5))
    other = lr.clone()
    other[:, 1:] = torch.randn(1, 2, 12, 10, generator=common.seeded(6))
    with torch.no_grad():
        assert not torch.allclose(model(lr, 2), model(other, 2))  # the guides matter
        model.gate[2].weight.zero_()
        model.gate[2].bias.fill_(-200.0)  # sigmoid(-200) = 0 in float32: the gate is shut
        torch.testing.assert_close(model(lr, 2), model(other, 2), rtol=0, atol=0)


@pytest.mark.parametrize("channel", [0, 2])
def test_receptive_radius_is_exact(channel):
    # Change one input pixel; the output changes exactly within ±radius input pixels of it (on the HR grid).
    model = FusionSR(scales=(2,), generator=common.seeded(7), **{**GUIDED, "n_blocks": 2}).double().eval()
    r, s, n = model.receptive_radius, 2, 2 * model.receptive_radius + 9
    lr = torch.randn(1, 3, n, n, generator=common.seeded(8), dtype=torch.float64)
    bumped = lr.clone()
    c = n // 2
    bumped[0, channel, c, c] += 1.0
    with torch.no_grad():
        changed = (model(bumped, s) != model(lr, s))[0, 0].numpy()
    rows = np.flatnonzero(changed.any(axis=1)) // s
    cols = np.flatnonzero(changed.any(axis=0)) // s
    assert (rows.min(), rows.max()) == (c - r, c + r)
    assert (cols.min(), cols.max()) == (c - r, c + r)


def test_tiled_equals_whole_image_with_the_receptive_radius_as_overlap():
    model = FusionSR(scales=(4,), generator=common.seeded(9), **{**GUIDED, "n_blocks": 2}).eval()
    lr = torch.randn(1, 3, 70, 61, generator=common.seeded(10))
    with torch.no_grad():
        whole = model(lr, 4)
    tiled = predict_tiled(model, lr, 4, tile=2 * model.receptive_radius + 12, overlap=model.receptive_radius)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = FusionSR(scales=(2, 4), generator=common.seeded(11), **{**GUIDED, "out_channels": 3})
    config = ModelConfig.for_model(
        model, input_names=("height", "amplitude", "phase"), output_names=("height", "amplitude", "phase")
    )
    loaded = load_model(save_model(model, tmp_path / "m", config=config))
    assert loaded.config == config
    assert loaded.model.receptive_radius == model.receptive_radius
    lr = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(lr, 4), model.eval()(lr, 4), rtol=0, atol=0)
