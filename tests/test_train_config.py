"""Training configuration: one definition, JSON round trip, partial files, recipes, input checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scansr.models import MODELS
from scansr.train import DataConfig, LossConfig, OptimConfig, TrainConfig, recipe


def test_json_round_trip_is_exact(tmp_path: Path) -> None:
    config = dataclasses.replace(
        recipe("unet"),
        steps=123,
        model_kwargs={"depth": 3},
        data=dataclasses.replace(
            recipe("unet").data, train=("a", "b/"), clip=None, degradation={"tip_probability": 0}
        ),
    )
    path = tmp_path / "c.json"
    path.write_text(config.to_json())
    assert TrainConfig.from_json(path) == config


def test_partial_file_takes_the_arch_recipe(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"arch": "edsr-baseline", "steps": 5, "data": {"train": ["x"]}}))
    config = TrainConfig.from_json(path)
    assert config.optim == recipe("edsr-baseline").optim  # Adam, not VDSR's SGD
    assert config.data.patch_size == 96
    assert config.data.train == ("x",)
    assert config.steps == 5


def test_vdsr_recipe_is_the_afm_paper() -> None:
    config = recipe("vdsr")
    assert (config.data.patch_size, config.data.batch_size) == (41, 64)
    assert (config.optim.optimizer, config.optim.lr, config.optim.momentum, config.optim.weight_decay) == (
        "sgd",
        0.1,
        0.9,
        1e-4,
    )
    assert config.optim.clip_by_lr
    assert config.optim.clip != "none"
    assert (config.data.clip, config.data.normalisation) == ((2.5, 97.5), "zscore")


def test_gan_recipe_is_the_sem_paper() -> None:
    config = recipe("unet")
    assert config.data.patch_size == 128
    assert config.loss.discriminator_every == 4
    assert config.loss.adversarial > 0
    assert config.loss.l1 > 0
    assert config.loss.tv > 0


@pytest.mark.parametrize("arch", list(MODELS))
def test_every_arch_has_a_recipe(arch: str) -> None:
    assert recipe(arch).arch == arch


def test_unknown_keys_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown setting\(s\) in data \['patch'\]; valid: .*'patch_size'"):
        TrainConfig.from_dict({"data": {"patch": 3}})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['stpes'\]"):
        TrainConfig.from_dict({"stpes": 3})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrainConfig(arch="srcnn"), "arch must be one of"),
        (lambda: TrainConfig(scales=(2, 5)), "each scale must be one of"),
        (lambda: TrainConfig(steps=0), "steps must be an integer >= 1"),
        (lambda: DataConfig(normalisation="robust"), "data.normalisation must be one of"),
        (lambda: DataConfig(clip=(97.5, 2.5)), "data.clip must satisfy"),
        (lambda: OptimConfig(optimizer="rmsprop"), "optim.optimizer must be one of"),
        (lambda: OptimConfig(lr=0), "optim.lr must be a finite number > 0"),
        (lambda: LossConfig(l1=0, l2=0), "must not all be 0"),
        (
            lambda: TrainConfig(validation=dataclasses.replace(TrainConfig().validation, scales=(8,))),
            "not among",
        ),
    ],
)
def test_bad_values_are_refused(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_from_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        TrainConfig.from_json(path)


def test_config_and_data_modules_import_without_torch() -> None:
    # The command line builds its options from scansr.train.config without paying torch's import time.
    import subprocess
    import sys

    import scansr.train

    assert set(scansr.train.__all__) == set(scansr.train._EXPORTS)
    code = "import sys, scansr.train.config, scansr.train.data; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
