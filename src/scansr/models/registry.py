"""The table of super-resolution networks: name -> constructor, filled by explicit imports."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from scansr.models._base import SRModel
from scansr.models.carn import CARN, CARNM
from scansr.models.edsr import EDSR, EDSRBaseline
from scansr.models.fusion import FusionSR
from scansr.models.ninasr import NinaSRB0, NinaSRB1, NinaSRB2
from scansr.models.rcan import RCAN
from scansr.models.rdn import RDN
from scansr.models.unet import UNet
from scansr.models.vdsr import VDSR

__all__ = ["MODELS", "build_model"]

#: Network name -> constructor. Every constructor takes keyword arguments only: ``scales``, ``in_channels``,
#: ``out_channels``, the architecture's sizes, and ``generator``; it returns an :class:`SRModel`.
MODELS: dict[str, Callable[..., SRModel]] = {
    "vdsr": VDSR,
    "edsr-baseline": EDSRBaseline,
    "edsr": EDSR,
    "rcan": RCAN,
    "rdn": RDN,
    "carn": CARN,
    "carn-m": CARNM,
    "ninasr-b0": NinaSRB0,
    "ninasr-b1": NinaSRB1,
    "ninasr-b2": NinaSRB2,
    "unet": UNet,
    "fusion": FusionSR,
}


def build_model(arch: str, **kwargs: Any) -> SRModel:
    """Build the network called `arch` with constructor keyword arguments `kwargs`.

    Parameters
    ----------
    arch : str
        A key of :data:`MODELS`.
    **kwargs
        ``scales``, ``in_channels``, ``out_channels``, sizes, ``generator`` (see each class).

    Returns
    -------
    SRModel

    Raises
    ------
    ValueError
        If `arch` is not a key of :data:`MODELS` (the message lists them), or a keyword is not accepted by it.
    """
    try:
        ctor = MODELS[arch]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(MODELS)}") from None
    accepted = [n for n, p in inspect.signature(ctor).parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{arch} does not take {', '.join(unknown)}; its arguments are {', '.join(accepted)}"
        )
    return ctor(**kwargs)
