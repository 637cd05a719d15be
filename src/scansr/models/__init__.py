"""Super-resolution networks (torch only): the seed papers' architectures, saving/loading, torchSR weights.

Every network in :data:`MODELS` is called the same way: ``model(lr, scale)`` with ``lr`` of shape
``(N, in_channels, h, w)`` returns ``(N, out_channels, h * scale, w * scale)``.

- VDSR (the AFM paper) and the U-Net generator (the SEM paper) upsample bicubically inside and learn a
  residual; one network serves all its scales.
- EDSR, RCAN, RDN, CARN/CARN-M, NinaSR-B0/B1/B2 (the real-pair study, via torchSR) upsample at the end, with
  one tail per scale on a shared body; :func:`load_torchsr_weights` loads torchSR's pretrained RGB weights
  into them.
- :class:`Discriminator` is the SEM paper's VGG-style critic for GAN training.

A saved model is a folder ``config.json`` + ``model.safetensors`` (:func:`save_model`, :func:`load_model`).
This package imports torch, numpy, safetensors and :mod:`scansr.scan` only.
"""

from scansr.models._base import SCALES, SRModel
from scansr.models.carn import CARN, CARNM
from scansr.models.describe import ModelInfo, count_macs, describe_models, flops_per_pixel
from scansr.models.discriminator import Discriminator
from scansr.models.edsr import EDSR, EDSRBaseline
from scansr.models.fusion import FusionSR
from scansr.models.ninasr import NinaSRB0, NinaSRB1, NinaSRB2
from scansr.models.rcan import RCAN
from scansr.models.rdn import RDN
from scansr.models.registry import MODELS, build_model
from scansr.models.storage import LoadedModel, ModelConfig, ModelLoadError, load_model, save_model
from scansr.models.torchsr import DIV2K_GREY, LUMINANCE, TORCHSR_ARCHS, load_torchsr_weights
from scansr.models.unet import UNet
from scansr.models.vdsr import VDSR

__all__ = [
    "CARN",
    "CARNM",
    "DIV2K_GREY",
    "EDSR",
    "LUMINANCE",
    "MODELS",
    "RCAN",
    "RDN",
    "SCALES",
    "TORCHSR_ARCHS",
    "VDSR",
    "Discriminator",
    "EDSRBaseline",
    "FusionSR",
    "LoadedModel",
    "ModelConfig",
    "ModelInfo",
    "ModelLoadError",
    "NinaSRB0",
    "NinaSRB1",
    "NinaSRB2",
    "SRModel",
    "UNet",
    "build_model",
    "count_macs",
    "describe_models",
    "flops_per_pixel",
    "load_model",
    "load_torchsr_weights",
    "save_model",
]
