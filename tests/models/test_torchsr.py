"""load_torchsr_weights against synthetic checkpoints written from torchSR's own definitions.

The key names and shapes below are transcribed from github.com/Coloquinte/torchSR
``torchsr/models/{edsr,rcan,rdn, carn,ninasr}.py`` (v1.0.4), not derived from scansr's networks, so a naming
or shape mismatch fails here. The reference forwards are the same files' ``forward`` methods rewritten with
``torch.nn.functional`` on those tensors: the folded one-channel network must give the luminance of torchSR's
RGB output for a grey image copied to R, G, B.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scansr.models import DIV2K_GREY, TORCHSR_ARCHS, ModelLoadError, load_torchsr_weights

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
LUMA = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)

# torchSR's defaults: edsr_baseline r16f64, edsr r32f256, rcan g10r20f64, rdn B, carn 64, ninasr b0/b1/b2
DEFAULTS = {
    "edsr-baseline": {"n_resblocks": 16, "n_feats": 64},
    "edsr": {"n_resblocks": 32, "n_feats": 256},
    "rcan": {"n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16},
    "rdn": {"n_feats": 64, "n_blocks": 16, "n_layers": 8, "growth_rate": 64},
    "carn": {"n_feats": 64},
    "carn-m": {"n_feats": 64, "group": 4},
    "ninasr-b0": {"n_resblocks": 10, "n_feats": 16},
    "ninasr-b1": {"n_resblocks": 26, "n_feats": 32},
    "ninasr-b2": {"n_resblocks": 84, "n_feats": 56},
}
SMALL = {
    "edsr-baseline": {"n_resblocks": 2, "n_feats": 8},
    "edsr": {"n_resblocks": 2, "n_feats": 8},
    "rcan": {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 8, "reduction": 4},
    "rdn": {"n_feats": 8, "n_blocks": 2, "n_layers": 2, "growth_rate": 4},
    "carn": {"n_feats": 8},
    "carn-m": {"n_feats": 8, "group": 4},
    "ninasr-b0": {"n_resblocks": 3, "n_feats": 8},
    "ninasr-b1": {"n_resblocks": 3, "n_feats": 8},
    "ninasr-b2": {"n_resblocks": 3, "n_feats": 8},
}
TORCHSR_SCALES = {  # scales torchSR publishes weights for
    "edsr-baseline": (2, 3, 4),
    "edsr": (2, 3, 4),
    "rcan": (2, 3, 4, 8),
    "rdn": (2, 3, 4),
    "carn": (2, 3, 4),
    "carn-m": (2, 3, 4),
    "ninasr-b0": (2, 3, 4, 8),
    "ninasr-b1": (2, 3, 4, 8),
    "ninasr-b2": (2, 3, 4, 8),
}
CASES = [(arch, s) for arch, scales in TORCHSR_SCALES.items() for s in scales]


# -------------------------------------------------------------------------------------- torchSR key tables
def _conv(d, name, c_out, c_in, k, bias=True):
    d[f"{name}.weight"] = (c_out, c_in, k, k)
    if bias:
        d[f"{name}.bias"] = (c_out,)


def _edsr_upsampler(d, prefix, scale, n_feats):
    if scale == 3:
        _conv(d, f"{prefix}.0", 9 * n_feats, n_feats, 3)
    else:
        for i in range(int(math.log2(scale))):
            _conv(d, f"{prefix}.{2 * i}", 4 * n_feats, n_feats, 3)


def torchsr_shapes(arch: str, scale: int, **p) -> dict[str, tuple[int, ...]]:
    d: dict[str, tuple[int, ...]] = {}
    if arch in ("edsr-baseline", "edsr", "rcan"):
        f = p["n_feats"]
        _conv(d, "sub_mean", 3, 3, 1)
        _conv(d, "add_mean", 3, 3, 1)
        _conv(d, "head.0", f, 3, 3)
        if arch == "rcan":
            r = f // p["reduction"]
            for g in range(p["n_resgroups"]):
                for b in range(p["n_resblocks"]):
                    _conv(d, f"body.{g}.body.{b}.body.0", f, f, 3)
                    _conv(d, f"body.{g}.body.{b}.body.2", f, f, 3)
                    _conv(d, f"body.{g}.body.{b}.body.3.conv_du.0", r, f, 1)
                    _conv(d, f"body.{g}.body.{b}.body.3.conv_du.2", f, r, 1)
                _conv(d, f"body.{g}.body.{p['n_resblocks']}", f, f, 3)
            _conv(d, f"body.{p['n_resgroups']}", f, f, 3)
        else:
            for i in range(p["n_resblocks"]):
                _conv(d, f"body.{i}.body.0", f, f, 3)
                _conv(d, f"body.{i}.body.2", f, f, 3)
            _conv(d, f"body.{p['n_resblocks']}", f, f, 3)
        _edsr_upsampler(d, "tail.0", scale, f)
        _conv(d, "tail.1", 3, f, 3)
    elif arch == "rdn":
        g0, g, n_c = p["n_feats"], p["growth_rate"], p["n_layers"]
        _conv(d, "sfe1", g0, 3, 3)
        _conv(d, "sfe2", g0, g0, 3)
        for b in range(p["n_blocks"]):
            for c in range(n_c):
                _conv(d, f"rdbs.{b}.layers.{c}.conv", g, g0 + c * g, 3)
            _conv(d, f"rdbs.{b}.lff", g0, g0 + n_c * g, 1)
        _conv(d, "gff.0", g0, p["n_blocks"] * g0, 1)
        _conv(d, "gff.1", g0, g0, 3)
        if scale in (2, 3):
            _conv(d, "upscale.0", g * scale * scale, g0, 3)
        else:
            _conv(d, "upscale.0", g * 4, g0, 3)
            _conv(d, "upscale.2", g * 4, g, 3)
        _conv(d, "output", 3, g, 3)
    elif arch in ("carn", "carn-m"):
        f = p["n_feats"]
        grp = p.get("group", 1)
        _conv(d, "sub_mean.shifter", 3, 3, 1)
        _conv(d, "add_mean.shifter", 3, 3, 1)
        _conv(d, "entry", f, 3, 3)
        for i in (1, 2, 3):
            if arch == "carn":
                for j in (1, 2, 3):
                    _conv(d, f"b{i}.b{j}.body.0", f, f, 3)
                    _conv(d, f"b{i}.b{j}.body.2", f, f, 3)
            else:
                _conv(d, f"b{i}.b1.body.0", f, f // grp, 3)
                _conv(d, f"b{i}.b1.body.2", f, f // grp, 3)
                _conv(d, f"b{i}.b1.body.4", f, f, 1)
            for j in (1, 2, 3):
                _conv(d, f"b{i}.c{j}.body.0", f, (j + 1) * f, 1)
        for j in (1, 2, 3):
            _conv(d, f"c{j}.body.0", f, (j + 1) * f, 1)
        for s in (2, 3, 4):  # multi_scale=True: every checkpoint holds all three
            if s == 3:
                _conv(d, f"upsample.up{s}.body.0", 9 * f, f // grp, 3)
            else:
                for i in range(int(math.log2(s))):
                    _conv(d, f"upsample.up{s}.body.{3 * i}", 4 * f, f // grp, 3)
        _conv(d, "exit", 3, f, 3)
    else:  # ninasr
        f = p["n_feats"]
        m = int(f * 2.0)
        d["head.0.bias"] = (1, 3, 1, 1)
        _conv(d, "head.1", f, 3, 3, bias=False)
        for i in range(p["n_resblocks"]):
            _conv(d, f"body.{i}.body.0", m, f, 3)
            _conv(d, f"body.{i}.body.2.body.1", m // 4, m, 1)
            _conv(d, f"body.{i}.body.2.body.3", m, m // 4, 1)
            _conv(d, f"body.{i}.body.3", f, m, 3, bias=False)
        _conv(d, "tail.0", 3 * scale * scale, f, 3)
        d["tail.2.bias"] = (1, 3, 1, 1)
    return d


def synthetic_checkpoint(
    arch: str, scale: int, *, seed: int = 0, mean=DIV2K_MEAN, **p
) -> dict[str, torch.Tensor]:
    """Random weights of torchSR's shapes, with torchSR's real mean shifts (eye weights, DIV2K mean
    biases)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in torchsr_shapes(arch, scale, **p).items():
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
        state[name] = (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan_in)
    mean_t = torch.tensor(mean)
    if arch in ("edsr-baseline", "edsr", "rcan"):  # MeanShift(rgb_range=255)
        state["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
        state["sub_mean.bias"] = -255 * mean_t
        state["add_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
        state["add_mean.bias"] = 255 * mean_t
    elif arch in ("carn", "carn-m"):
        state["sub_mean.shifter.weight"] = torch.eye(3).view(3, 3, 1, 1)
        state["sub_mean.shifter.bias"] = -mean_t
        state["add_mean.shifter.weight"] = torch.eye(3).view(3, 3, 1, 1)
        state["add_mean.shifter.bias"] = mean_t
    elif arch.startswith("ninasr"):  # Rescale(-1), Rescale(+1)
        state["head.0.bias"] = -mean_t.reshape(1, 3, 1, 1)
        state["tail.2.bias"] = mean_t.reshape(1, 3, 1, 1)
    return state


# -------------------------------------------------------------------------------------- torchSR forwards
def conv(sd, name, x, padding=None):
    w = sd[f"{name}.weight"]
    groups = x.shape[1] // w.shape[1]
    pad = w.shape[-1] // 2 if padding is None else padding
    return F.conv2d(x, w, sd.get(f"{name}.bias"), padding=pad, groups=groups)


def first(sd, name, x_rgb, shift, pad_raw):
    """torchSR's first conv after its input shift; pad_raw=True zero-pads the raw image before the shift
    instead."""
    if pad_raw:
        return conv(sd, name, shift(F.pad(x_rgb, (1, 1, 1, 1))), padding=0)
    return conv(sd, name, shift(x_rgb))


def sub_pixel(sd, prefix, x, scale, step):
    """EDSR/RCAN/CARN upsampler; `step` = index stride of the convs in the Sequential (2, or 3 with a
    ReLU)."""
    relu = step == 3
    if scale == 3:
        y = conv(sd, f"{prefix}.0", x)
        return F.pixel_shuffle(F.relu(y) if relu else y, 3)
    for i in range(int(math.log2(scale))):
        y = conv(sd, f"{prefix}.{step * i}", x)
        x = F.pixel_shuffle(F.relu(y) if relu else y, 2)
    return x


def torchsr_forward(arch, sd, x, scale, p, *, pad_raw=False):
    if arch in ("edsr-baseline", "edsr", "rcan"):

        def shift(t):
            return conv(sd, "sub_mean", 255 * t)

        h = first(sd, "head.0", x, shift, pad_raw)
        y = h
        if arch == "rcan":
            for g in range(p["n_resgroups"]):
                z = y
                for b in range(p["n_resblocks"]):
                    n = f"body.{g}.body.{b}.body"
                    r = conv(sd, f"{n}.2", F.relu(conv(sd, f"{n}.0", z)))
                    a = r.mean(dim=(2, 3), keepdim=True)
                    a = torch.sigmoid(conv(sd, f"{n}.3.conv_du.2", F.relu(conv(sd, f"{n}.3.conv_du.0", a))))
                    z = r * a + z
                y = conv(sd, f"body.{g}.body.{p['n_resblocks']}", z) + y
            y = conv(sd, f"body.{p['n_resgroups']}", y) + h
        else:
            res_scale = 0.1 if arch == "edsr" else 1.0
            for i in range(p["n_resblocks"]):
                y = conv(sd, f"body.{i}.body.2", F.relu(conv(sd, f"body.{i}.body.0", y))) * res_scale + y
            y = conv(sd, f"body.{p['n_resblocks']}", y) + h
        y = conv(sd, "tail.1", sub_pixel(sd, "tail.0", y, scale, 2))
        return conv(sd, "add_mean", y) / 255
    if arch == "rdn":
        f1 = first(sd, "sfe1", x, lambda t: t, pad_raw)
        y = conv(sd, "sfe2", f1)
        outs = []
        for b in range(p["n_blocks"]):
            t = y
            for c in range(p["n_layers"]):
                t = torch.cat((t, F.relu(conv(sd, f"rdbs.{b}.layers.{c}.conv", t))), 1)
            y = conv(sd, f"rdbs.{b}.lff", t) + y
            outs.append(y)
        y = conv(sd, "gff.1", conv(sd, "gff.0", torch.cat(outs, 1))) + f1
        if scale in (2, 3):
            y = F.pixel_shuffle(conv(sd, "upscale.0", y), scale)
        else:
            y = F.pixel_shuffle(conv(sd, "upscale.2", F.pixel_shuffle(conv(sd, "upscale.0", y), 2)), 2)
        return conv(sd, "output", y)
    if arch in ("carn", "carn-m"):

        def cascade(t, prefix, blocks):
            c = o = t
            for j, blk in enumerate(blocks, start=1):
                c = torch.cat([c, blk(o)], 1)
                o = F.relu(conv(sd, f"{prefix}c{j}.body.0", c))
            return o

        def res_block(n):
            return lambda t: F.relu(conv(sd, f"{n}.body.2", F.relu(conv(sd, f"{n}.body.0", t))) + t)

        def eres_block(n):
            def run(t):
                r = F.relu(conv(sd, f"{n}.body.2", F.relu(conv(sd, f"{n}.body.0", t))))
                return F.relu(conv(sd, f"{n}.body.4", r) + t)

            return run

        y = first(sd, "entry", x, lambda t: conv(sd, "sub_mean.shifter", t), pad_raw)
        blocks = []
        for i in (1, 2, 3):
            inner = (
                [res_block(f"b{i}.b{j}") for j in (1, 2, 3)]
                if arch == "carn"
                else [eres_block(f"b{i}.b1")] * 3
            )
            blocks.append(lambda t, i=i, inner=inner: cascade(t, f"b{i}.", inner))
        y = cascade(y, "", blocks)
        y = conv(sd, "exit", sub_pixel(sd, f"upsample.up{scale}.body", y, scale, 3))
        return conv(sd, "add_mean.shifter", y)
    # ninasr
    y = first(sd, "head.1", x, lambda t: t + sd["head.0.bias"], pad_raw)
    h = y
    n = p["n_resblocks"]
    variance = 1.0
    for i in range(n):
        in_scale, out_scale = 1 / math.sqrt(variance), 4 / n
        variance += out_scale**2
        t = F.relu(conv(sd, f"body.{i}.body.0", y * in_scale))
        a = F.avg_pool2d(t, 31, stride=16, padding=15, count_include_pad=False)
        a = torch.sigmoid(conv(sd, f"body.{i}.body.2.body.3", F.relu(conv(sd, f"body.{i}.body.2.body.1", a))))
        a = F.interpolate(a, scale_factor=16, mode="nearest")[:, :, : t.shape[2], : t.shape[3]]
        y = conv(sd, f"body.{i}.body.3", t * a) * (2 * out_scale) + y
    y = F.pixel_shuffle(conv(sd, "tail.0", y + h), scale)
    return y + sd["tail.2.bias"]


def luminance(rgb):
    return torch.einsum("c,nchw->nhw", LUMA.to(rgb.dtype), rgb).unsqueeze(1)


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_default_checkpoint_names_and_shapes_load(arch, scale):
    # full-size checkpoints as meta tensors: names and shapes are checked, nothing is allocated
    shapes = torchsr_shapes(arch, scale, **DEFAULTS[arch])
    state = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    model = load_torchsr_weights(state, arch, scale)
    assert model.arch == arch
    assert model.in_channels == model.out_channels == 1
    assert scale in model.scales
    assert model.hparams.items() >= DEFAULTS[arch].items()


@pytest.mark.parametrize(("arch", "scale"), CASES)
def test_folded_network_equals_torchsr_on_grey_input(arch, scale):
    p = SMALL[arch]
    sd = synthetic_checkpoint(arch, scale, seed=scale, **p)
    model = load_torchsr_weights(sd, arch, scale, model_kwargs=p)
    grey = torch.rand(2, 1, 19, 23, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(grey, scale)
        sd64 = {k: v.double() for k, v in sd.items()}
        ref = luminance(torchsr_forward(arch, sd64, grey.double().repeat(1, 3, 1, 1), scale, p, pad_raw=True))
    assert ours.shape == ref.shape == (2, 1, 19 * scale, 23 * scale)
    # pad_raw: the one intended difference (padding of the raw instead of the mean-subtracted image) removed
    torch.testing.assert_close(ours.double(), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


@pytest.mark.parametrize("arch", ["edsr-baseline", "rcan", "rdn", "carn"])
def test_folded_network_equals_torchsr_away_from_the_border(arch):
    p, scale = SMALL[arch], 2
    sd = {k: v.double() for k, v in synthetic_checkpoint(arch, scale, **p).items()}
    model = load_torchsr_weights(sd, arch, scale, model_kwargs=p).double()
    grey = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        ours = model(grey, scale)
        ref = luminance(torchsr_forward(arch, sd, grey.repeat(1, 3, 1, 1), scale, p))
    # the border change spreads one LR pixel per 3x3 conv: these small networks have at most 16 of them
    # (RCAN's channel attention averages over the whole image, so a small change remains everywhere)
    m = 2 * 16
    tol = 1e-3 if arch == "rcan" else 1e-6  # weights are rounded to float32 by the loader
    torch.testing.assert_close(
        ours[..., m:-m, m:-m], ref[..., m:-m, m:-m], rtol=0, atol=tol * float(ref.abs().max())
    )
    border_equal = torch.allclose(
        ours[..., :2, :], ref[..., :2, :], rtol=0, atol=1e-3 * float(ref.abs().max())
    )
    assert border_equal == (arch == "rdn")  # RDN has no mean shift: no border effect


@pytest.mark.parametrize("arch", ["edsr", "rcan", "carn-m", "ninasr-b1"])
def test_input_offset_reproduces_torchsr_padding_exactly_for_a_grey_mean(arch):
    # with equal R, G, B means, feeding g - mean makes the zero padding identical to torchSR's
    p, scale, mean = SMALL[arch], 3, 0.45
    sd = {k: v.double() for k, v in synthetic_checkpoint(arch, scale, mean=(mean,) * 3, **p).items()}
    model = load_torchsr_weights(sd, arch, scale, model_kwargs=p, input_offset=mean).double()
    grey = torch.rand(1, 1, 21, 18, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        ours = model(grey - mean, scale)
        ref = luminance(torchsr_forward(arch, sd, grey.repeat(1, 3, 1, 1), scale, p))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6 * float(ref.abs().max()))


@pytest.mark.parametrize("arch", ["edsr-baseline", "rcan", "carn", "ninasr-b0"])
def test_input_offset_brings_the_border_close_to_torchsr(arch):
    p, scale = SMALL[arch], 2
    sd = {k: v.double() for k, v in synthetic_checkpoint(arch, scale, **p).items()}
    grey = torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        ref = luminance(torchsr_forward(arch, sd, grey.repeat(1, 3, 1, 1), scale, p))
        plain = load_torchsr_weights(sd, arch, scale, model_kwargs=p).double()(grey, scale)
        centred = load_torchsr_weights(sd, arch, scale, model_kwargs=p, input_offset=DIV2K_GREY).double()
        centred = centred(grey - DIV2K_GREY, scale)
    # the padded value is then off by the spread of the RGB means (|0.4368 - 0.4040| < 0.035) instead of 0.44
    assert (centred - ref).abs().max() < 0.2 * (plain - ref).abs().max()
    assert float(LUMA @ torch.tensor(DIV2K_MEAN, dtype=torch.float64)) == pytest.approx(DIV2K_GREY)


def test_checkpoint_file_is_read_with_weights_only(tmp_path):
    p = SMALL["ninasr-b0"]
    sd = synthetic_checkpoint("ninasr-b0", 4, **p)
    path = tmp_path / "ninasr_b0_x4.pt"
    torch.save(sd, path)
    from_file = load_torchsr_weights(path, "ninasr-b0", 4, model_kwargs=p)
    from_dict = load_torchsr_weights(sd, "ninasr-b0", 4, model_kwargs=p)
    for (name, a), b in zip(from_file.state_dict().items(), from_dict.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not from_file.training


def test_file_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "x.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(ModelLoadError, match="not a state dict"):
        load_torchsr_weights(path, "rdn", 2)


def test_garbage_file(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="cannot read"):
        load_torchsr_weights(path, "rdn", 2)


def test_wrong_scale_names_the_shape_mismatch():
    p = SMALL["edsr"]
    sd = synthetic_checkpoint("edsr", 2, **p)
    with pytest.raises(ModelLoadError, match=r"missing 2 tensor\(s\): tail\.0\.2\.weight, tail\.0\.2\.bias"):
        load_torchsr_weights(sd, "edsr", 4, model_kwargs=p)
    sd3 = synthetic_checkpoint("edsr", 3, **p)
    with pytest.raises(
        ModelLoadError, match=r"shape mismatch.*tail\.0\.0\.weight \(72, 8, 3, 3\) \(needs \(32, 8, 3, 3\)\)"
    ):
        load_torchsr_weights(sd3, "edsr", 2, model_kwargs=p)


def test_missing_mean_shift_and_foreign_key_are_named():
    p = SMALL["carn"]
    sd = synthetic_checkpoint("carn", 2, **p)
    del sd["add_mean.shifter.bias"]
    sd["module.extra"] = torch.zeros(1)
    with pytest.raises(
        ModelLoadError, match=r"missing 1 tensor\(s\): add_mean\.shifter\.bias.*unexpected.*module"
    ):
        load_torchsr_weights(sd, "carn", 2, model_kwargs=p)


def test_wrong_sizes_are_reported():
    sd = synthetic_checkpoint("rdn", 2, **SMALL["rdn"])
    with pytest.raises(ModelLoadError, match="not a torchSR rdn"):
        load_torchsr_weights(sd, "rdn", 2)  # default sizes expected


def test_unknown_arch_lists_the_supported_ones():
    with pytest.raises(ValueError, match="choose one of edsr-baseline, edsr, rcan"):
        load_torchsr_weights({}, "vdsr", 2)


def test_carn_scale_outside_its_checkpoint():
    with pytest.raises(ValueError, match=r"hold scales \(2, 3, 4\)"):
        load_torchsr_weights({}, "carn", 8)


def test_model_kwargs_cannot_set_channels():
    with pytest.raises(ValueError, match="must not set in_channels"):
        load_torchsr_weights({}, "rdn", 2, model_kwargs={"in_channels": 3})


def test_every_torchsr_arch_is_covered():
    assert set(TORCHSR_ARCHS) == set(TORCHSR_SCALES)


@pytest.mark.parametrize(
    ("arch", "name", "scale"),
    [("edsr-baseline", "edsr_baseline", 3), ("carn-m", "carn_m", 4), ("ninasr-b0", "ninasr_b0", 2)],
)
def test_against_the_real_torchsr_package(arch, name, scale):
    # runs only where torchSR (and the torchvision it needs) is installed; scansr does not depend on it
    tsr = pytest.importorskip("torchsr.models")
    reference = getattr(tsr, name)(scale).double().eval()
    model = load_torchsr_weights(reference.state_dict(), arch, scale).double()
    grey = torch.rand(1, 1, 40, 44, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        ref = luminance(reference(grey.repeat(1, 3, 1, 1)))
        ours = model(grey, scale)
    m = 12 * scale
    tol = 1e-3 if arch.startswith("ninasr") else 1e-4  # NinaSR: 31x31 attention spreads the border change;
    # others: the folded weights are rounded to float32
    torch.testing.assert_close(ours[..., m:-m, m:-m], ref[..., m:-m, m:-m], rtol=0, atol=tol)
