"""Saved models: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` says what the network is and how its data were scaled; ``model.safetensors`` holds the weights
(no pickle, so loading a model cannot run code).

``config.json``::

    {"format": "scansr-model", "format_version": 1, "scansr_version": "0.1.0",
     "arch": "vdsr", "scales": [2, 3, 4], "in_channels": 1, "out_channels": 1,
     "kwargs": {"depth": 20, "n_feats": 64},            # constructor arguments besides scales/channels
     "input_names": ["Height"], "output_names": ["Height"],
     "normalisation": {...}, "training": {...}}          # free-form, JSON values, owned by train/enhance

The network is rebuilt as ``MODELS[arch](scales=..., in_channels=..., out_channels=..., **kwargs)``, and the
weights must match it exactly: every difference is reported by name.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from scansr.models._base import SRModel, check_scales
from scansr.models.registry import MODELS
from scansr.scan import OutputExistsError, ScanError

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "LoadedModel",
    "ModelConfig",
    "ModelLoadError",
    "check_state_dict",
    "load_model",
    "save_model",
]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "scansr-model"
FORMAT_VERSION = 1


class ModelLoadError(ScanError, ValueError):
    """A saved model or a weights file could not be loaded. The message names the path and what is wrong.

    Parameters
    ----------
    path : str or Path
        The folder or file that failed.
    problem : str
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _scansr_version() -> str:
    try:
        return metadata.version("scansr")
    except metadata.PackageNotFoundError:
        return "unknown"


def _json_value(value: Any, what: str) -> Any:
    """Return `value` as plain JSON data, or raise ValueError naming `what`."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{what} must hold only JSON values (finite numbers, str, bool, lists, dicts): {exc}"
        ) from None


@dataclass(frozen=True)
class ModelConfig:
    """Everything ``config.json`` says about a saved network.

    Parameters
    ----------
    arch : str
        Key of :data:`scansr.models.MODELS`.
    scales : tuple of int
        Scale factors the network was built for.
    in_channels, out_channels : int
        Input and output channels.
    kwargs : mapping
        The constructor's other keyword arguments (sizes), JSON values.
    input_names, output_names : tuple of str
        Names of the scan channels fed in and produced, in order (empty when not recorded); lengths must equal
        `in_channels` / `out_channels`.
    normalisation : mapping
        How scans were scaled before entering the network (free-form JSON, written and read by train/enhance).
    training : mapping
        Free-form record of the training (data, steps, losses...), JSON values.
    scansr_version : str
        Version of scansr that wrote the model.

    Raises
    ------
    ValueError
        If a field is malformed (unknown `arch` lists the valid ones; bad scale lists the valid scales).
    """

    arch: str
    scales: tuple[int, ...]
    in_channels: int = 1
    out_channels: int = 1
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    normalisation: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    scansr_version: str = field(default_factory=_scansr_version)

    def __post_init__(self) -> None:
        if self.arch not in MODELS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(MODELS)}")
        object.__setattr__(self, "scales", check_scales(self.scales))
        for what in ("in_channels", "out_channels"):
            n = getattr(self, what)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{what} must be a positive int, got {n!r}")
        for what, n in (("input_names", self.in_channels), ("output_names", self.out_channels)):
            names = getattr(self, what)
            if isinstance(names, str):
                names = (names,)
            names = tuple(names)
            if not all(isinstance(x, str) and x for x in names):
                raise ValueError(f"{what} must be non-empty strings, got {names!r}")
            if names and len(names) != n:
                raise ValueError(f"{what} has {len(names)} names for {n} channels: {names!r}")
            object.__setattr__(self, what, names)
        for what in ("kwargs", "normalisation", "training"):
            value = getattr(self, what)
            if not isinstance(value, Mapping):
                raise ValueError(f"{what} must be a mapping, got {type(value).__name__}")
            object.__setattr__(self, what, _json_value(dict(value), what))
        if not isinstance(self.scansr_version, str):
            raise ValueError(f"scansr_version must be a string, got {self.scansr_version!r}")

    @classmethod
    def for_model(
        cls,
        model: SRModel,
        *,
        input_names: Sequence[str] = (),
        output_names: Sequence[str] = (),
        normalisation: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
    ) -> ModelConfig:
        """Describe `model` (arch, scales, channels, sizes), adding the given extra information.

        Raises
        ------
        ValueError
            If `model` is not a scansr network or an extra field is malformed.
        """
        if not isinstance(model, SRModel):
            raise ValueError(f"model must be a scansr network (SRModel), got {type(model).__name__}")
        return cls(
            arch=model.arch,
            scales=model.scales,
            in_channels=model.in_channels,
            out_channels=model.out_channels,
            kwargs=model.hparams,
            input_names=tuple(input_names),
            output_names=tuple(output_names),
            normalisation=normalisation or {},
            training=training or {},
        )

    def build(self, *, generator: torch.Generator | None = None) -> SRModel:
        """Build a freshly initialised network of this configuration.

        Raises
        ------
        ValueError
            If `kwargs` holds an argument the architecture does not take.
        """
        accepted = set(_keyword_arguments(self.arch)) - {"scales", "in_channels", "out_channels", "generator"}
        unknown = sorted(set(self.kwargs) - accepted)
        if unknown:
            raise ValueError(
                f"kwargs {unknown} are not arguments of {self.arch}; its arguments are {sorted(accepted)}"
            )
        return MODELS[self.arch](
            scales=self.scales,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            generator=generator,
            **self.kwargs,
        )

    def to_json(self) -> dict[str, Any]:
        """``config.json`` content as a dict."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "scansr_version": self.scansr_version,
            "arch": self.arch,
            "scales": list(self.scales),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kwargs": dict(self.kwargs),
            "input_names": list(self.input_names),
            "output_names": list(self.output_names),
            "normalisation": dict(self.normalisation),
            "training": dict(self.training),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Parse ``config.json`` content.

        Raises
        ------
        ValueError
            If it is not a scansr model configuration, is of a newer format version, or a field is malformed.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f'not a scansr model configuration (no "format": "{FORMAT}")')
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"format_version {version!r} is not supported (this scansr reads up to {FORMAT_VERSION}); "
                "update scansr"
            )
        missing = [k for k in ("arch", "scales") if k not in data]
        if missing:
            raise ValueError(f"config lacks {', '.join(missing)}")
        known = {"format", "format_version", *cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            logger.warning("model config: ignoring unknown fields %s", unknown)
        return cls(
            arch=data["arch"],
            scales=tuple(data["scales"]) if isinstance(data["scales"], list) else data["scales"],
            in_channels=data.get("in_channels", 1),
            out_channels=data.get("out_channels", 1),
            kwargs=data.get("kwargs", {}),
            input_names=tuple(data.get("input_names", ())),
            output_names=tuple(data.get("output_names", ())),
            normalisation=data.get("normalisation", {}),
            training=data.get("training", {}),
            scansr_version=data.get("scansr_version", "unknown"),
        )


def _keyword_arguments(arch: str) -> list[str]:
    params = inspect.signature(MODELS[arch]).parameters
    return [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]


class LoadedModel(NamedTuple):
    """A network loaded from a folder, with its configuration."""

    model: SRModel
    config: ModelConfig


def check_state_dict(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]], *, limit: int = 8
) -> list[str]:
    """Differences between two ``{name: shape}`` tables, in words (empty list: they match).

    Parameters
    ----------
    expected : mapping
        Tensor name -> shape the network needs.
    found : mapping
        Tensor name -> shape the file holds.
    limit : int
        Names listed at most per kind of difference.

    Returns
    -------
    list of str
        One line per kind: missing tensors, unexpected tensors, shape mismatches.
    """

    def listing(names: list[str]) -> str:
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    problems = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [
        f"{k} {tuple(found[k])} (needs {tuple(expected[k])})"
        for k in expected
        if k in found and tuple(found[k]) != tuple(expected[k])
    ]
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {listing(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {listing(mismatched)}")
    return problems


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def save_model(model: SRModel, folder: str | Path, *, config: ModelConfig, overwrite: bool = False) -> Path:
    """Save `model` and its `config` as a folder ``config.json`` + ``model.safetensors``, atomically.

    The files are written into a hidden temporary folder beside `folder`, which is then renamed to `folder`: a
    reader never sees a half-written model. With ``overwrite=True`` an existing model folder is replaced
    (moved aside, replaced, then deleted).

    Parameters
    ----------
    model : SRModel
        The network (any device; weights are written from CPU copies as they are, float32 usually).
    folder : str or Path
        The model folder to create.
    config : ModelConfig
        Its configuration, e.g. ``ModelConfig.for_model(model, input_names=..., normalisation=...,
        training=...)``; its arch, scales, channels and kwargs must describe `model`.
    overwrite : bool
        Replace an existing `folder`.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    ValueError
        If `config` does not describe `model` (the message names the differing fields).
    OutputExistsError
        If `folder` exists and `overwrite` is false, or it exists and is not a directory.
    """
    folder = Path(folder)
    if not isinstance(model, SRModel):
        raise ValueError(f"model must be a scansr network (SRModel), got {type(model).__name__}")
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    own = ModelConfig.for_model(model)
    differing = [
        f"{name}: config {getattr(config, name)!r}, model {getattr(own, name)!r}"
        for name in ("arch", "scales", "in_channels", "out_channels", "kwargs")
        if getattr(config, name) != getattr(own, name)
    ]
    if differing:
        raise ValueError("config does not describe the model: " + "; ".join(differing))
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(folder, "exists and is not a folder")
    if folder.exists() and not overwrite:
        raise OutputExistsError(folder, "exists; pass overwrite=True to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.part-", dir=folder.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a model folder is an ordinary folder
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT, "arch": config.arch})
        (tmp / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2) + "\n", encoding="utf-8")
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            os.chmod(
                tmp / name, 0o666 & ~_umask()
            )  # safetensors writes 0600; others (Dask workers) must read it
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    logger.info("saved %s model (%d tensors) to %s", config.arch, len(tensors), folder)
    return folder


def load_model(folder: str | Path, *, device: str | torch.device | None = None) -> LoadedModel:
    """Load a model folder written by :func:`save_model`.

    Parameters
    ----------
    folder : str or Path
        The model folder (``config.json`` + ``model.safetensors``).
    device : str or torch.device, optional
        Where to put the network (default: CPU).

    Returns
    -------
    LoadedModel
        ``(model, config)``; the model is in eval mode.

    Raises
    ------
    ModelLoadError
        If a file is missing or unreadable, the configuration is malformed (unknown architecture: the message
        lists the valid ones; bad scale: the valid scales), or the weights do not match the architecture (the
        message lists missing and unexpected tensors and shape mismatches).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(folder, "no such model folder" if not folder.exists() else "not a folder")
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(folder, f"not a scansr model folder: {' and '.join(missing)} missing")
    try:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(folder / CONFIG_FILE, f"unreadable: {exc}") from None
    try:
        config = ModelConfig.from_json(data)
        with torch.device("meta"):  # no memory, no initialisation cost: the weights come from the file
            model = config.build()
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(folder / CONFIG_FILE, str(exc)) from None
    try:
        state = load_file(str(folder / WEIGHTS_FILE), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(folder / WEIGHTS_FILE, f"unreadable weights: {exc}") from None
    problems = check_state_dict(_shapes(model.state_dict()), _shapes(state))
    if problems:
        raise ModelLoadError(
            folder / WEIGHTS_FILE,
            f"weights do not match {config.arch} with scales {list(config.scales)} and kwargs "
            f"{dict(config.kwargs)}: " + "; ".join(problems),
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelLoadError(folder / WEIGHTS_FILE, f"non-finite values in {', '.join(bad[:8])}")
    model.load_state_dict(state, strict=True, assign=True)
    if device is not None:
        model.to(device)
    model.eval()
    return LoadedModel(model, config)
