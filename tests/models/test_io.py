import json
import os

import pytest
import torch

from scansr.models import (
    MODELS,
    LoadedModel,
    ModelConfig,
    ModelLoadError,
    build_model,
    load_model,
    save_model,
    storage,
)
from scansr.scan import OutputExistsError
from tests.models import common

SMALL = {
    "vdsr": {"depth": 3, "n_feats": 4},
    "edsr-baseline": {"n_resblocks": 1, "n_feats": 4},
    "edsr": {"n_resblocks": 1, "n_feats": 4},
    "rcan": {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 4, "reduction": 2},
    "rdn": {"n_feats": 4, "n_blocks": 1, "n_layers": 1, "growth_rate": 2},
    "carn": {"n_feats": 4},
    "carn-m": {"n_feats": 4, "group": 2},
    "ninasr-b0": {"n_resblocks": 1, "n_feats": 2},
    "ninasr-b1": {"n_resblocks": 1, "n_feats": 2},
    "ninasr-b2": {"n_resblocks": 1, "n_feats": 2},
    "unet": {"base_channels": 2, "depth": 1},
    "fusion": {"n_feats": 4, "guide_feats": 2, "n_blocks": 1},
}


def small(arch="edsr-baseline", scales=(2, 4), **kw):
    return build_model(arch, scales=scales, generator=common.seeded(0), **{**SMALL[arch], **kw})


def saved(tmp_path, model=None, name="m", **extra):
    model = model if model is not None else small()
    config = ModelConfig.for_model(model, **extra)
    return save_model(model, tmp_path / name, config=config), model, config


@pytest.mark.parametrize("arch", list(MODELS))
def test_round_trip_every_architecture(tmp_path, arch):
    model = small(arch, scales=(2, 3))
    folder, model, config = saved(tmp_path, model)
    loaded = load_model(folder)
    assert isinstance(loaded, LoadedModel)
    assert loaded.config == config
    assert type(loaded.model) is type(model)
    assert not loaded.model.training
    for (name, a), b in zip(model.state_dict().items(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    lr = torch.rand(1, 1, 7, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(lr, 3), model.eval()(lr, 3), rtol=0, atol=0)


def test_folder_content(tmp_path):
    folder, model, _ = saved(
        tmp_path,
        input_names=["Height"],
        output_names=["Height"],
        normalisation={"method": "percentile-zscore", "percentiles": [2.5, 97.5]},
        training={"steps": 10, "data": ["a.spm"]},
    )
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # an ordinary folder, not mkdtemp's private one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left behind
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["format"] == "scansr-model"
    assert cfg["arch"] == "edsr-baseline"
    assert cfg["scales"] == [2, 4]
    assert cfg["kwargs"] == {"n_resblocks": 1, "n_feats": 4, "res_scale": 1.0, "global_residual": False}
    assert cfg["input_names"] == ["Height"]
    assert cfg["normalisation"]["percentiles"] == [2.5, 97.5]
    assert cfg["training"] == {"steps": 10, "data": ["a.spm"]}
    assert cfg["scansr_version"]
    # safetensors: 8-byte little-endian header length, then a JSON header naming every tensor (no pickle)
    raw = (folder / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert set(header) - {"__metadata__"} == set(model.state_dict())


def test_existing_folder_is_kept_unless_overwrite(tmp_path):
    folder, model, config = saved(tmp_path)
    with pytest.raises(OutputExistsError, match="exists"):
        save_model(model, folder, config=config)
    other = small(scales=(3,))
    save_model(other, folder, config=ModelConfig.for_model(other), overwrite=True)
    assert load_model(folder).config.scales == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "save_file", broken)
    model = small()
    with pytest.raises(OSError, match="disk full"):
        save_model(model, tmp_path / "m", config=ModelConfig.for_model(model))
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_model(tmp_path, monkeypatch):
    folder, model, config = saved(tmp_path)
    monkeypatch.setattr(storage, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_model(model, folder, config=config, overwrite=True)
    monkeypatch.undo()
    assert load_model(folder).config == config


def test_config_must_describe_the_model(tmp_path):
    model = small()
    config = ModelConfig.for_model(small(scales=(2,)))
    with pytest.raises(ValueError, match=r"scales: config \(2,\), model \(2, 4\)"):
        save_model(model, tmp_path / "m", config=config)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown architecture 'esrgan'; choose one of vdsr"):
        ModelConfig(arch="esrgan", scales=(2,))
    with pytest.raises(ValueError, match="scale must be one of"):
        ModelConfig(arch="vdsr", scales=(5,))
    with pytest.raises(ValueError, match="input_names has 2 names for 1 channels"):
        ModelConfig(arch="vdsr", scales=(2,), input_names=("Height", "Phase"))
    with pytest.raises(ValueError, match="training must hold only JSON values"):
        ModelConfig(arch="vdsr", scales=(2,), training={"lr": float("nan")})
    with pytest.raises(ValueError, match="training must hold only JSON values"):
        ModelConfig(arch="vdsr", scales=(2,), training={"when": object()})


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model folder"):
        load_model(tmp_path / "nothing")
    folder, _, _ = saved(tmp_path)
    os.remove(folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"m: not a scansr model folder: model\.safetensors missing"):
        load_model(folder)


def test_unreadable_config(tmp_path):
    folder, _, _ = saved(tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config\.json: unreadable"):
        load_model(folder)


def edit_config(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def test_unknown_arch_in_config(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, arch="srcnn")
    with pytest.raises(
        ModelLoadError, match="unknown architecture 'srcnn'; choose one of vdsr, edsr-baseline"
    ):
        load_model(folder)


def test_newer_format(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, format_version=99)
    with pytest.raises(ModelLoadError, match="format_version 99 is not supported"):
        load_model(folder)


def test_scale_without_weights_is_named(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, scales=[2, 3, 4])
    with pytest.raises(ModelLoadError, match=r"missing 4 tensor\(s\): tail\.x3\.0\.0\.weight"):
        load_model(folder)


def test_weights_for_fewer_scales_are_named(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, scales=[2])
    with pytest.raises(
        ModelLoadError, match=r"unexpected 6 tensor\(s\): tail\.x4\.0\.0\.bias, tail\.x4\.0\.0\.weight"
    ):
        load_model(folder)


def test_shape_mismatch_is_named(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, kwargs={"n_resblocks": 1, "n_feats": 8, "res_scale": 1.0})
    with pytest.raises(
        ModelLoadError, match=r"shape mismatch\(es\): head\.0\.weight \(4, 1, 3, 3\) \(needs \(8, 1, 3, 3\)\)"
    ):
        load_model(folder)


def test_unknown_kwarg_in_config(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, kwargs={"n_resblocks": 1, "n_feats": 4, "res_scale": 1.0, "depth": 3})
    with pytest.raises(ModelLoadError, match=r"kwargs \['depth'\] are not arguments of edsr-baseline"):
        load_model(folder)


def test_bad_kwarg_value_in_config(tmp_path):
    folder, _, _ = saved(tmp_path)
    edit_config(folder, kwargs={"n_resblocks": 1, "n_feats": "four", "res_scale": 1.0})
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load_model(folder)


def test_corrupt_weights(tmp_path):
    folder, _, _ = saved(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ModelLoadError, match="unreadable weights"):
        load_model(folder)


def test_load_to_device(tmp_path):
    folder, _, _ = saved(tmp_path)
    model = load_model(folder, device="cpu").model
    assert next(model.parameters()).device.type == "cpu"
    assert next(model.parameters()).requires_grad  # ready for fine-tuning
