import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scansr.models import SCALES, UNet
from tests.models import common

SMALL = {"base_channels": 8, "depth": 2}


def test_forward_every_scale_on_odd_size():
    common.check_forward_every_scale(UNet, SMALL, scales=SCALES)


def test_full_default_forward():
    model = common.check_full_default_forward(UNet, 2)
    assert model.hparams == {"base_channels": 32, "depth": 4, "negative_slope": 0.1}


def test_blocks_are_two_convs_with_leaky_relu_the_second_changing_channels():
    model = UNet(**SMALL)
    blocks = [*model.down, model.bottom, *model.up]
    for block in blocks:
        layers = list(block.body)
        assert [type(m) for m in layers] == [nn.Conv2d, nn.LeakyReLU, nn.Conv2d, nn.LeakyReLU]
        assert layers[0].in_channels == layers[0].out_channels == layers[2].in_channels
    assert [b.body[2].out_channels for b in model.down] == [16, 32]
    assert [b.body[2].out_channels for b in model.up] == [8, 16]


def test_zero_residual_gives_bicubic():
    model = UNet(scales=(2,), **SMALL)
    with torch.no_grad():
        model.tail.weight.zero_()
        model.tail.bias.zero_()
        lr = torch.rand(1, 1, 9, 13)
        expected = F.interpolate(lr, size=(18, 26), mode="bicubic", align_corners=False)
        torch.testing.assert_close(model(lr, 2), expected)


def test_padding_does_not_shift_the_output():
    # a translation of the input by 2**depth LR pixels translates the output exactly, away from the borders
    model = UNet(scales=(2,), generator=common.seeded(0), **SMALL).eval()
    lr = torch.rand(1, 1, 21, 29, generator=common.seeded(1))
    with torch.no_grad():
        a = model(lr, 2)
        b = model(lr[:, :, 4:, 4:], 2)
    torch.testing.assert_close(
        a[:, :, 8 + 12 : -12, 8 + 12 : -12], b[:, :, 12:-12, 12:-12], atol=1e-5, rtol=1e-4
    )


def test_multichannel():
    common.check_channels(UNet, SMALL)
    with pytest.raises(ValueError, match="must not"):
        UNet(in_channels=1, out_channels=2)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(UNet(scales=(2,), **SMALL))


def test_gradients_reach_first_layer():
    common.check_gradients_reach_first_layer(UNet(scales=(3,), generator=common.seeded(0), **SMALL), 3)


def test_overfits_one_patch():
    common.check_overfits(UNet(scales=(2,), generator=common.seeded(1), **SMALL), 2)


def test_deterministic_with_seed():
    common.check_deterministic(UNet, SMALL, 2)
