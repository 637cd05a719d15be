"""Upscaling methods: what ``benchmark``, ``evaluate`` and the survey compare.

A method is anything with a ``name`` and ``upscale(scan, scale) -> Scan`` (the `Method` protocol). Three kinds
come with scansr:

- `InterpolationMethod`: the classical baselines of `scansr.interpolate` (``"bicubic"``, ``"bilinear"``,
  ``"lanczos"``);
- `ModelMethod`: a trained network, given as a saved model folder (``config.json`` + ``model.safetensors``,
  see `scansr.models.load_model`) or as ``"default"`` (the model shipped with scansr); it runs through
  ``scansr.enhance.enhance``, imported only when the method is first used, so that this module (and
  everything that lists or checks methods) never imports torch;
- `FunctionMethod`: any function ``(scan, scale) -> Scan`` under a name.

`method_from_spec` turns one word of a command line into a method and `resolve_methods` a whole list (or a
mapping name → spec) into uniquely named methods.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from scansr.interpolate import UPSCALE_METHODS, upscale_scan
from scansr.scan import Scan

__all__ = [
    "DEFAULT_MODEL",
    "INTERPOLATIONS",
    "FunctionMethod",
    "InterpolationMethod",
    "Method",
    "ModelMethod",
    "is_model_folder",
    "method_from_spec",
    "resolve_methods",
]

logger = logging.getLogger(__name__)

#: The interpolation baselines, by name.
INTERPOLATIONS: tuple[str, ...] = tuple(UPSCALE_METHODS)
#: The word that selects the model shipped with scansr.
DEFAULT_MODEL = "default"
# The two files of a saved model folder: `scansr.models.storage.CONFIG_FILE` / `WEIGHTS_FILE`, repeated here
# because that module imports torch (a test checks that they agree).
_MODEL_FILES = ("config.json", "model.safetensors")


def _valid_choices() -> str:
    names = ", ".join(repr(n) for n in INTERPOLATIONS)
    return (
        f"an interpolation must be one of ({names}), or give {DEFAULT_MODEL!r} (the shipped model) or a "
        f"model folder holding {' and '.join(_MODEL_FILES)}"
    )


@runtime_checkable
class Method(Protocol):
    """An upscaling method: a name and a function from a low-resolution scan to an upscaled one."""

    name: str

    def upscale(self, scan: Scan, scale: int) -> Scan:
        """Return `scan` upscaled by the integer factor `scale` (shape × scale, same units)."""
        ...


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip() or "\n" in name:
        raise ValueError(f"a method needs a non-empty single-line name, got {name!r}")


@dataclass(frozen=True)
class InterpolationMethod:
    """An interpolation baseline of `scansr.interpolate.upscale_scan`.

    Parameters
    ----------
    name : {"bilinear", "bicubic", "lanczos"}
        The interpolation.

    Raises
    ------
    ValueError
        If `name` is not one of them.
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in UPSCALE_METHODS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.name!r}")

    @property
    def description(self) -> str:
        """What the method is, in words (recorded beside results)."""
        return f"interpolation: scansr.interpolate.upscale_scan(method={self.name!r})"

    def upscale(self, scan: Scan, scale: int) -> Scan:
        """Upscale every channel of `scan` by `scale`."""
        return upscale_scan(scan, scale, method=self.name)


@dataclass(frozen=True)
class FunctionMethod:
    """A method made of a name and a function ``function(scan, scale) -> Scan``.

    Parameters
    ----------
    name : str
        Name shown in tables and keys.
    function : callable
        ``function(scan: Scan, scale: int) -> Scan``.
    description : str
        What the method is (recorded beside results).

    Raises
    ------
    ValueError
        If `name` is empty or `function` is not callable.
    """

    name: str
    function: Callable[[Scan, int], Scan]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not callable(self.function):
            raise ValueError(
                f"function of method {self.name!r} must be callable, got {type(self.function).__name__}"
            )

    def upscale(self, scan: Scan, scale: int) -> Scan:
        """Call the function."""
        return self.function(scan, scale)


def is_model_folder(path: str | Path) -> bool:
    """Whether `path` is a saved model folder (holds ``config.json`` and ``model.safetensors``)."""
    folder = Path(path)
    return folder.is_dir() and all((folder / name).is_file() for name in _MODEL_FILES)


# Folders `scansr train` writes its models into (scansr.train.loop): their parent names the run.
_RUN_SUBFOLDERS = ("best", "model")


@dataclass(frozen=True)
class ModelMethod:
    """A trained network applied with ``scansr.enhance.enhance``.

    ``upscale(scan, scale)`` returns ``scansr.enhance.enhance(scan, scale=scale, model=model).scan``;
    `scansr.enhance` (and with it torch) is imported on the first call, not before.

    Parameters
    ----------
    model : str or Path
        ``"default"`` (the model shipped with scansr) or a saved model folder (``config.json`` +
        ``model.safetensors``, as `scansr.models.save_model` writes it).
    name : str, optional
        Name shown in tables; default: ``"default"``, or the folder's name.

    Raises
    ------
    ValueError
        If `model` is neither ``"default"`` nor a model folder (the message says which file is missing).
    """

    model: str | Path
    name: str = field(default="")

    def __post_init__(self) -> None:
        model = self.model
        if isinstance(model, str) and model == DEFAULT_MODEL:
            default_name = DEFAULT_MODEL
        else:
            folder = Path(model)
            if not folder.is_dir():
                raise ValueError(f"model {str(model)!r} is not a folder; {_valid_choices()}")
            missing = [n for n in _MODEL_FILES if not (folder / n).is_file()]
            if missing:
                raise ValueError(
                    f"folder {str(folder)!r} is not a saved model: {' and '.join(missing)} missing "
                    f"(a model folder holds {' and '.join(_MODEL_FILES)})"
                )
            object.__setattr__(self, "model", folder)
            resolved = folder.resolve()
            default_name = resolved.name or str(folder)
            if default_name in _RUN_SUBFOLDERS:  # a training run's best/ or model/: name it RUN/best
                default_name = f"{resolved.parent.name}/{default_name}"
        if self.name == "":
            object.__setattr__(self, "name", default_name)
        _check_name(self.name)

    @property
    def description(self) -> str:
        """What the method is, in words (recorded beside results)."""
        where = (
            "the model shipped with scansr" if self.model == DEFAULT_MODEL else f"model folder {self.model}"
        )
        return f"network: scansr.enhance.enhance(model={str(self.model)!r}), {where}"

    def upscale(self, scan: Scan, scale: int) -> Scan:
        """Upscale `scan` by `scale` with the network (imports `scansr.enhance` on first use).

        Raises
        ------
        ImportError
            If `scansr.enhance` (or torch) cannot be imported.
        """
        try:
            enhance = importlib.import_module("scansr.enhance")
        except ImportError as exc:
            raise ImportError(
                f"method {self.name!r} runs a network through scansr.enhance, which could not be imported "
                f"({exc}); it needs torch"
            ) from exc
        return enhance.enhance(scan, scale=scale, model=self.model, uncertainty=False).scan


def method_from_spec(spec: str | Path, *, name: str | None = None) -> Method:
    """Turn one method specification (a word of a command line) into a `Method`.

    Parameters
    ----------
    spec : str or Path
        An interpolation name (``"bicubic"``, ``"bilinear"``, ``"lanczos"``; any case), ``"default"`` (the
        shipped model), or the path of a saved model folder. Interpolation names win over a folder of the
        same name in the working directory (write ``./bicubic`` for the folder).
    name : str, optional
        Name of the method; default: the interpolation name, ``"default"`` or the folder's name.

    Returns
    -------
    Method
        `InterpolationMethod`, or `ModelMethod` (which imports nothing until it is used).

    Raises
    ------
    ValueError
        If `spec` is none of these; the message lists the valid choices.
    """
    if isinstance(spec, str) and spec.strip().lower() in UPSCALE_METHODS:
        method = InterpolationMethod(spec.strip().lower())
        if name is not None and name != method.name:
            return FunctionMethod(name, method.upscale, description=method.description)
        return method
    if isinstance(spec, str) and spec.strip() == DEFAULT_MODEL:
        return ModelMethod(DEFAULT_MODEL, name=name or "")
    if isinstance(spec, str | Path) and str(spec).strip() and Path(spec).exists():
        return ModelMethod(Path(spec), name=name or "")
    raise ValueError(f"unknown method {str(spec)!r}: {_valid_choices()}")


def resolve_methods(
    methods: Sequence[str | Path | Method]
    | Mapping[str, str | Path | Callable[[Scan, int], Scan] | Method | None],
    *,
    min_count: int = 1,
) -> tuple[Method, ...]:
    """Turn the caller's methods into `Method` objects with unique names, in the given order.

    Parameters
    ----------
    methods : sequence or mapping
        A sequence of specifications (see `method_from_spec`: interpolation names, ``"default"``, model
        folders) and `Method` objects; or a mapping name → specification, function ``(scan, scale) -> Scan``,
        `Method` (whose name must be the key), or None (the key is a specification).
    min_count : int
        Fewest methods accepted (2 for a comparison such as a survey).

    Returns
    -------
    tuple of Method

    Raises
    ------
    ValueError
        Fewer than `min_count` methods, an unknown name (the message lists the valid ones), or two methods
        sharing a name.
    TypeError
        An entry is neither a specification, a function nor a `Method`.
    """
    resolved: list[Method] = []
    if isinstance(methods, Mapping):
        for key, item in methods.items():
            name = str(key)
            if item is None:
                resolved.append(method_from_spec(name))
            elif isinstance(item, Method):
                if item.name != name:
                    raise ValueError(f"method {item.name!r} is listed under another name, {name!r}")
                resolved.append(item)
            elif isinstance(item, str | Path):
                resolved.append(method_from_spec(item, name=name))
            elif callable(item):
                resolved.append(FunctionMethod(name, item))
            else:
                raise TypeError(
                    f"methods[{name!r}] must be a specification, a function, a Method or None, got "
                    f"{type(item).__name__}"
                )
    else:
        if isinstance(methods, str | Path):
            raise TypeError(f"methods must be a list of methods, not one string: use [{str(methods)!r}]")
        for item in methods:
            if isinstance(item, Method):
                resolved.append(item)
            elif isinstance(item, str | Path):
                resolved.append(method_from_spec(item))
            else:
                raise TypeError(
                    f"each method must be a specification (interpolation name {INTERPOLATIONS}, "
                    f"{DEFAULT_MODEL!r} or a model folder) or a Method (name + upscale), got {type(item).__name__}"
                )
    names = [m.name for m in resolved]
    if len(resolved) < min_count:
        raise ValueError(f"need at least {min_count} methods, got {len(names)}: {names}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"method names must be unique, repeated: {repeated} (name a model folder with a mapping "
            "{name: folder}, or ModelMethod(folder, name=...))"
        )
    for method in resolved:
        _check_name(method.name)
    return tuple(resolved)
