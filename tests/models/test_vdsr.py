import cv2
import numpy as np
import pytest
import torch
from torch import nn

from scansr.models import SCALES, VDSR
from tests.models import common

SMALL = {"depth": 5, "n_feats": 16}


def test_forward_every_scale_on_odd_size():
    common.check_forward_every_scale(VDSR, SMALL, scales=SCALES)


def test_full_default_network_is_the_afm_papers():
    model = common.check_full_default_forward(VDSR, 4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # 20 layers: input conv, 18 middle conv+ReLU, reconstruction conv; 64 channels of 3x3 filters
    assert len(convs) == 20
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 19
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 19 + [1]
    assert model.scales == (2, 3, 4, 8)
    # Kim et al. (CVPR 2016) / Ahn et al. (CARN, Table) give VDSR 665K parameters
    assert common.count_parameters(model) == pytest.approx(665_000, rel=0.005)


@pytest.mark.parametrize("scale", SCALES)
def test_zero_residual_gives_opencv_bicubic(scale):
    model = VDSR(scales=(scale,), **SMALL)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    lr = np.random.default_rng(scale).standard_normal((15, 22)).astype(np.float32)
    with torch.no_grad():
        out = model(torch.from_numpy(lr)[None, None], scale)[0, 0].numpy()
    ref = cv2.resize(lr, (22 * scale, 15 * scale), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_extra_input_channels_guide_the_first():
    common.check_channels(VDSR, SMALL, in_channels=3, out_channels=2)
    with pytest.raises(ValueError, match="must not exceed"):
        VDSR(in_channels=1, out_channels=2)


def test_rejects_bad_calls():
    common.check_rejects_bad_calls(VDSR(scales=(2, 4), **SMALL))


def test_gradients_reach_first_layer():
    common.check_gradients_reach_first_layer(VDSR(scales=(3,), generator=common.seeded(0), **SMALL), 3)


def test_overfits_one_patch():
    common.check_overfits(VDSR(scales=(2,), generator=common.seeded(1), **SMALL), 2)


def test_deterministic_with_seed():
    common.check_deterministic(VDSR, SMALL, 2)
