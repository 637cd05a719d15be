import inspect
import subprocess
import sys

import pytest
import torch
from torch import nn

from scansr.models import MODELS, SCALES, SRModel, build_model, count_macs, describe_models, flops_per_pixel


def test_the_networks_of_the_papers_are_registered():
    assert list(MODELS) == [
        "vdsr",
        "edsr-baseline",
        "edsr",
        "rcan",
        "rdn",
        "carn",
        "carn-m",
        "ninasr-b0",
        "ninasr-b1",
        "ninasr-b2",
        "unet",
        "fusion",
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_constructor_contract(name):
    params = inspect.signature(MODELS[name]).parameters
    assert all(p.kind is p.KEYWORD_ONLY for p in params.values())
    assert {"scales", "in_channels", "out_channels", "generator"} <= set(params)
    with torch.device("meta"):
        model = build_model(name)
        assert isinstance(model, SRModel)
        assert model.arch == name
        assert (model.in_channels, model.out_channels) == (1, 1)
        # hparams rebuild the same network
        again = MODELS[name](scales=model.scales, **model.hparams)
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown architecture 'srgan'; choose one of vdsr, edsr-baseline, .*unet"
    ):
        build_model("srgan")


def test_unknown_argument_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"vdsr does not take n_resblocks; its arguments are scales, .*depth"
    ):
        build_model("vdsr", n_resblocks=3)


@pytest.mark.parametrize("scales", [(5,), (), (2, 2.5), "4", (True,)])
def test_bad_scales(scales):
    with pytest.raises(ValueError, match="scale"):
        build_model("rdn", scales=scales, n_blocks=1, n_layers=1)


def test_scales_are_sorted_and_unique():
    model = build_model("edsr-baseline", scales=(4, 2, 4), n_resblocks=1, n_feats=4)
    assert model.scales == (2, 4)
    assert list(model.tail) == ["x2", "x4"]
    assert set(SCALES) == {2, 3, 4, 8}


def test_bad_channels():
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        build_model("rcan", in_channels=0)


def test_count_macs_of_one_convolution():
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 5, 3, padding=1, groups=1)

        def forward(self, x, scale):
            return self.conv(x)

    # 5 output channels x 7 x 9 pixels, each 2 x 3 x 3 multiply-accumulates
    assert count_macs(One(), torch.zeros(1, 2, 7, 9), 1) == 5 * 7 * 9 * 2 * 3 * 3


def test_vdsr_flops_per_pixel_is_the_analytic_count():
    # VDSR runs its 20 convs on the HR grid: MACs per output pixel = 1*64*9 + 18*64*64*9 + 64*1*9
    model = build_model("vdsr", scales=(4,))
    macs = 1 * 64 * 9 + 18 * 64 * 64 * 9 + 64 * 1 * 9
    assert flops_per_pixel(model, 4, lr_size=(12, 10)) == pytest.approx(2 * macs)


def test_edsr_flops_per_pixel_is_the_analytic_count():
    # EDSR baseline x4: 33 64->64 convs + the 1->64 head on the LR grid (1/16 of the output pixels),
    # the two upsampling convs 64->256 at LR and 2xLR (1/16, 1/4), and the 64->1 conv at HR
    model = build_model("edsr-baseline", scales=(4,))
    c = 64 * 9
    macs = (1 * 9 * 64 + 33 * 64 * c) / 16 + 256 * c / 16 + 256 * c / 4 + 1 * c
    assert flops_per_pixel(model, 4) == pytest.approx(2 * macs)


def test_describe_models():
    infos = describe_models()
    assert [i.name for i in infos] == list(MODELS)
    by_name = {i.name: i for i in infos}
    assert by_name["vdsr"].parameters == pytest.approx(665_000, rel=0.005)  # Kim et al. 2016: 665K
    assert by_name["carn"].default_scales == (2, 3, 4)
    assert by_name["edsr"].flops_per_pixel > by_name["edsr-baseline"].flops_per_pixel > 0
    assert all(i.description and i.parameters > 0 for i in infos)


def test_models_imports_only_torch_side_and_scan():
    # What importing the package `scansr` itself loads (its top-level `enhance` function) is the baseline;
    # `scansr.models` must add nothing of scansr outside itself.
    code = (
        "import sys, scansr; before = set(sys.modules); import scansr.models; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.startswith('scansr') and not m.startswith('scansr.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
