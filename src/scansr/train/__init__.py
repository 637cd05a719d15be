"""Training engine: patch datasets, losses, the loop, checkpoints, distributed data parallel.

``train(config)`` trains the network described by a `TrainConfig` (start from ``recipe(arch)``: the AFM
paper's VDSR recipe, the SEM paper's GAN, or EDSR's) on the scans of ``config.data.train``, validates on whole
scans of ``config.data.validation`` against bicubic upscaling in physical units, and writes a run folder that
a later ``train(config, resume=True)`` continues exactly. ``predict_tiled`` runs a network on any image size
with bounded memory.

Modules: `scansr.train.config` (the dataclasses, JSON, recipes), `scansr.train.data` (images, degradation of
whole scans, patch pairs, validation pairs; numpy only), `scansr.train.losses`, `scansr.train.tiled`,
`scansr.train.loop`. The names below are imported from them on first use, so that importing
``scansr.train.config`` (e.g. for command-line choices) does not import torch; building a `TrainConfig` does,
to check the architecture.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it (explicit: no auto-import).
_EXPORTS = {
    "DataConfig": "scansr.train.config",
    "LossConfig": "scansr.train.config",
    "OptimConfig": "scansr.train.config",
    "TrainConfig": "scansr.train.config",
    "ValidationConfig": "scansr.train.config",
    "recipe": "scansr.train.config",
    "PairSampler": "scansr.train.data",
    "PreparedImage": "scansr.train.data",
    "PreparedStack": "scansr.train.data",
    "Split": "scansr.train.data",
    "StackValidationPair": "scansr.train.data",
    "degrade_stack": "scansr.train.data",
    "load_images": "scansr.train.data",
    "load_split": "scansr.train.data",
    "load_stacks": "scansr.train.data",
    "prepare_stack_validation": "scansr.train.data",
    "prepare_validation": "scansr.train.data",
    "TrainResult": "scansr.train.loop",
    "learning_rate": "scansr.train.loop",
    "train": "scansr.train.loop",
    "validate": "scansr.train.loop",
    "discriminator_loss": "scansr.train.losses",
    "generator_adversarial_loss": "scansr.train.losses",
    "l1_loss": "scansr.train.losses",
    "l2_loss": "scansr.train.losses",
    "tv_loss": "scansr.train.losses",
    "predict_tiled": "scansr.train.tiled",
}

__all__ = [
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "PairSampler",
    "PreparedImage",
    "PreparedStack",
    "Split",
    "StackValidationPair",
    "TrainConfig",
    "TrainResult",
    "ValidationConfig",
    "degrade_stack",
    "discriminator_loss",
    "generator_adversarial_loss",
    "l1_loss",
    "l2_loss",
    "learning_rate",
    "load_images",
    "load_split",
    "load_stacks",
    "predict_tiled",
    "prepare_stack_validation",
    "prepare_validation",
    "recipe",
    "train",
    "tv_loss",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scansr.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
