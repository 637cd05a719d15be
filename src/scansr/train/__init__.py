"""Training engine: patch datasets, losses, the loop, checkpoints, distributed data parallel.

``train(config)`` trains the network described by a `TrainConfig` (start from ``recipe(arch)``: the AFM paper's
VDSR recipe, the SEM paper's GAN, or EDSR's) on the scans of ``config.data.train``, validates on whole scans of
``config.data.validation`` against bicubic upscaling in physical units, and writes a run folder that a later
``train(config, resume=True)`` continues exactly. ``predict_tiled`` runs a network on any image size with bounded
memory.

Modules: `scansr.train.config` (the dataclasses, JSON, recipes), `scansr.train.data` (images, degradation of whole
scans, patch pairs, validation pairs), `scansr.train.losses`, `scansr.train.tiled`, `scansr.train.loop`.
"""

from scansr.train.config import (
    DataConfig,
    LossConfig,
    OptimConfig,
    TrainConfig,
    ValidationConfig,
    recipe,
)
from scansr.train.data import PairSampler, PreparedImage, Split, load_images, load_split, prepare_validation
from scansr.train.losses import (
    discriminator_loss,
    generator_adversarial_loss,
    l1_loss,
    l2_loss,
    tv_loss,
)
from scansr.train.loop import TrainResult, learning_rate, train, validate
from scansr.train.tiled import predict_tiled

__all__ = [
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "PairSampler",
    "PreparedImage",
    "Split",
    "TrainConfig",
    "TrainResult",
    "ValidationConfig",
    "discriminator_loss",
    "generator_adversarial_loss",
    "l1_loss",
    "l2_loss",
    "learning_rate",
    "load_images",
    "load_split",
    "predict_tiled",
    "prepare_validation",
    "recipe",
    "train",
    "tv_loss",
    "validate",
]
