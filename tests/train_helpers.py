"""Tiny training configurations on the shipped real scans, shared by the tests of scansr.train."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from scansr.train import TrainConfig, recipe
from tests.conftest import TEST_DATA

TRAIN_FILES = (
    TEST_DATA / "DTMicroscope" / "PTO_Funakubo0005.h5",
    TEST_DATA / "NSFopen" / "circles.nid",
    TEST_DATA / "SciFiDatasets" / "IgorIBWReader_ImageStack_BTFO_DSO.ibw",
    TEST_DATA / "afm-cbir-examples" / "CL 0deg xcal.0_00000.spm",
)
VAL_FILES = (TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy", TEST_DATA / "pySPM" / "test.sxm")


def tiny_config(out: Path, *, arch: str = "vdsr", **changes: Any) -> TrainConfig:
    """A few-thousand-parameter network on 12-pixel patches: a step takes milliseconds on one core."""
    base = recipe(arch)
    kwargs = {
        "vdsr": {"depth": 3, "n_feats": 8},
        "unet": {"base_channels": 4, "depth": 2},
        "edsr-baseline": {"n_resblocks": 1, "n_feats": 8},
    }[arch]
    data = dataclasses.replace(
        base.data,
        train=tuple(str(p) for p in TRAIN_FILES),
        validation=tuple(str(p) for p in VAL_FILES),
        patch_size=12,
        batch_size=4,
        degrade_every=7,
    )
    optim = dataclasses.replace(base.optim, schedule="step", step_every=8, warmup_steps=2)
    if arch == "vdsr":
        optim = dataclasses.replace(optim, lr=0.01)
    loss = base.loss
    if arch == "unet":
        loss = dataclasses.replace(loss, discriminator_kwargs={"base_channels": 4, "n_blocks": 2})
    config = dataclasses.replace(
        base,
        scales=(2, 3) if arch != "unet" else (2,),
        model_kwargs=kwargs,
        data=data,
        optim=optim,
        loss=loss,
        validation=dataclasses.replace(base.validation, every=10, tile=24, overlap=6),
        steps=20,
        out=str(out),
        checkpoint_every=5,
        log_every=5,
        threads=1,
    )
    return dataclasses.replace(config, **changes)
