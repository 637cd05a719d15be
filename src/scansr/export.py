"""Export a network to ONNX, and run an exported network with ONNX Runtime through `scansr.enhance`.

``export_onnx("run/model", "vdsr-x4.onnx", scale=4)`` writes the network's forward pass at one scale (baked in)
as an ONNX graph: input ``lr`` ``(N, C, h, w)`` float32, output ``hr`` ``(N, C, h·s, w·s)``, with the batch
and the image sides as dynamic axes (any size runs). The model's configuration (architecture, sizes,
normalisation, training record) and the tiling that `scansr.enhance.default_tiling` chooses for it are stored
in the file's metadata (``scansr.config``, ``scansr.scale``, ``scansr.tile``, ``scansr.overlap``,
``scansr.align``), so `OnnxRunner` can prepare scans exactly as `scansr.enhance.enhance` does: its ``enhance``
*is* `scansr.enhance.enhance`, with the network's forward pass done by ONNX Runtime.

Exporters
    ``"torchscript"`` (default): torch's tracing exporter (``torch.onnx.export(..., dynamo=False)``). It needs no
    package besides torch and exports every scansr network in under a second. Tracing freezes Python control
    flow, so the example input has odd sides (37 × 29): the U-Net then records its padding to its pooling grid
    with sizes computed from the input, and pads every input correctly (an even example would record "no
    padding" and fail on other sizes). Torch marks this exporter deprecated since 2.9; its warnings are
    silenced here.
    ``"dynamo"``: torch's ``torch.export`` based exporter; needs the ``onnxscript`` package, and is slow on
    networks with many blocks (about 90 s for NinaSR-B0 on a 2-core machine, 3 s for VDSR).

Dependencies: exporting needs ``onnx`` (to write the metadata and check the graph); running needs only
``onnxruntime`` (and numpy). Neither is imported before it is used.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from scansr.models import LoadedModel, ModelConfig, SRModel

if TYPE_CHECKING:
    from scansr.enhance import EnhanceResult, Tiling
    from scansr.scan import Scan

__all__ = ["EXPORTERS", "OnnxRunner", "export_onnx"]

logger = logging.getLogger(__name__)

#: The exporters `export_onnx` can use.
EXPORTERS = ("torchscript", "dynamo")
_EXAMPLE_SIZE = (37, 29)  # odd sides: see the module notes (U-Net padding)
_META_PREFIX = "scansr."


class _FixedScale(nn.Module):
    """``model(lr, scale)`` with the scale baked in: the one-input forward an ONNX graph needs."""

    def __init__(self, model: nn.Module, scale: int):
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, lr: Tensor) -> Tensor:
        return self.model(lr, self.scale)


def _cpu_model(model: str | Path | LoadedModel) -> LoadedModel:
    from scansr.enhance import resolve_model

    if isinstance(model, LoadedModel):
        device = next((p.device for p in model.model.parameters()), torch.device("cpu"))
        if device.type != "cpu":
            return LoadedModel(copy.deepcopy(model.model).cpu().eval(), model.config)
        return model
    return resolve_model(model, device="cpu")


def _check_size(size: object) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (height, width) in pixels, got {size!r}") from None
    if h < 4 or w < 4:
        raise ValueError(f"input_size must be at least 4 × 4 pixels, got {size!r}")
    return h, w


def export_onnx(
    model: str | Path | LoadedModel,
    out_path: str | Path,
    *,
    scale: int,
    opset: int = 17,
    dynamic: bool = True,
    input_size: Sequence[int] = (64, 64),
    exporter: str = "torchscript",
    force: bool = False,
) -> Path:
    """Write `model`'s forward pass at `scale` as an ONNX file (atomically), with scansr's metadata.

    Parameters
    ----------
    model : str, Path or LoadedModel
        ``"default"``, a model folder, or a loaded model (copied to the CPU if it is elsewhere).
    out_path : str or Path
        The ``.onnx`` file to write.
    scale : int
        Scale factor baked into the graph (one of the model's scales).
    opset : int
        ONNX opset version (17: ONNX Runtime 1.14 and later).
    dynamic : bool
        Dynamic batch and image sides (default); False fixes the input to ``(1, C, *input_size)``.
    input_size : (int, int)
        Input (low-resolution) size of a static export, in pixels.
    exporter : {"torchscript", "dynamo"}
        Torch's exporter (see the module notes).
    force : bool
        Replace an existing file.

    Returns
    -------
    Path
        `out_path`.

    Raises
    ------
    ValueError
        `scale` not among the model's scales, a bad option (the message names the valid choices).
    ModelLoadError
        The model folder is missing or corrupt.
    OutputExistsError
        `out_path` exists and `force` is false.
    ImportError
        ``onnx`` (or, for ``exporter="dynamo"``, ``onnxscript``) is not installed.
    """
    from scansr._atomic import atomic_path
    from scansr.enhance import default_tiling
    from scansr.scan import OutputExistsError

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 11 <= opset <= 23:
        raise ValueError(f"opset must be an integer from 11 to 23, got {opset!r}")
    size = _check_size(input_size)
    out = Path(out_path)
    if out.exists() and not force:
        raise OutputExistsError(out, "exists already; choose another name or pass force=True (--force)")
    if not out.parent.is_dir():
        raise ValueError(f"the folder of {out} does not exist")
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"exporting to ONNX needs the 'onnx' package (pip install onnx): {exc}") from None

    loaded = _cpu_model(model)
    config = loaded.config
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in config.scales:
        raise ValueError(f"scale must be one of {config.scales} (the model's scales), got {scale!r}")
    tiling = default_tiling(loaded, scale)
    net = _FixedScale(loaded.model.eval(), scale).eval()
    example_size = _EXAMPLE_SIZE if dynamic else size
    generator = torch.Generator().manual_seed(0)
    example = torch.randn((1, config.in_channels, *example_size), generator=generator)

    with atomic_path(out) as tmp:
        _export(net, example, tmp, opset=opset, dynamic=dynamic, exporter=exporter)
        graph = onnx.load(str(tmp))
        meta = {
            "config": json.dumps(config.to_json()),
            "scale": str(scale),
            "tile": str(tiling.tile),
            "overlap": str(tiling.overlap),
            "align": str(tiling.align),
            "dynamic": json.dumps(dynamic),
            "exporter": exporter,
            "version": _version(),
        }
        del graph.metadata_props[:]
        for key, value in meta.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = _META_PREFIX + key, value
        graph.producer_name = "scansr"
        onnx.checker.check_model(graph)
        onnx.save(graph, str(tmp))
    logger.info("exported %s ×%d to %s (%s, opset %d)", config.arch, scale, out, exporter, opset)
    return out


def _version() -> str:
    import scansr

    return scansr.__version__


def _export(net: nn.Module, example: Tensor, path: Path, *, opset: int, dynamic: bool, exporter: str) -> None:
    names = {"input_names": ["lr"], "output_names": ["hr"]}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the torchscript exporter's deprecation notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # Python ints from shapes: intended
        warnings.simplefilter("ignore", FutureWarning)  # torch.export's notices about its own internals
        if exporter == "torchscript":
            axes = (
                {
                    "lr": {0: "batch", 2: "height", 3: "width"},
                    "hr": {0: "batch", 2: "out_height", 3: "out_width"},
                }
                if dynamic
                else None
            )
            torch.onnx.export(
                net, (example,), str(path), dynamo=False, opset_version=opset, dynamic_axes=axes, **names
            )
            return
        try:
            import onnxscript  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"exporter='dynamo' needs the 'onnxscript' package (pip install onnxscript): {exc}"
            ) from None
        shapes = None
        if dynamic:
            dim = torch.export.Dim
            shapes = {"lr": {2: dim("height", min=4), 3: dim("width", min=4)}}
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=shapes,
            verbose=False,
            external_data=False,
            **names,
        )
        program.save(str(path), external_data=False)


# ------------------------------------------------------------------------------------------------ running
class _OnnxNet(SRModel):
    """An ONNX Runtime session behind the ``model(lr, scale)`` call of scansr's networks (no parameters)."""

    def __init__(self, runner: OnnxRunner):
        config = runner.config
        super().__init__(
            scales=(runner.scale,),
            in_channels=config.in_channels,
            out_channels=config.out_channels,
            hparams=dict(config.kwargs),
        )
        self.arch = config.arch
        self.runner = runner

    def forward(self, lr: Tensor, scale: int) -> Tensor:
        """Run the session on `lr` (moved to the CPU as float32); the result comes back on `lr`'s device."""
        self.check_input(lr, scale)
        x = lr.detach().to("cpu", torch.float32).numpy()
        return torch.from_numpy(self.runner.predict(x)).to(lr.device)


class OnnxRunner:
    """A network exported by `export_onnx`, run by ONNX Runtime.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    threads : int, optional
        ONNX Runtime's intra-op threads (default: its own choice, the physical cores).
    providers : sequence of str, optional
        Execution providers (default ``["CPUExecutionProvider"]``).

    Attributes
    ----------
    scale : int
        The scale baked into the graph.
    config : ModelConfig
        The exported model's configuration, with ``scales = (scale,)``.
    tiling : Tiling
        The windows `enhance` uses (from the export).

    Raises
    ------
    ImportError
        If ``onnxruntime`` is not installed.
    ValueError
        If the file is not an ONNX graph written by `export_onnx` (no scansr metadata).
    """

    def __init__(
        self, path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None
    ):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(
                f"running ONNX models needs 'onnxruntime' (pip install onnxruntime): {exc}"
            ) from None
        from scansr.enhance import Tiling

        self.path = Path(path)
        options = ort.SessionOptions()
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            raise ValueError(
                f"{self.path}: not a loadable ONNX model ({' '.join(str(exc).split())})"
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.scale = int(meta[_META_PREFIX + "scale"])
            config = ModelConfig.from_json(json.loads(meta[_META_PREFIX + "config"]))
            self.tiling: Tiling = Tiling(
                int(meta[_META_PREFIX + "tile"]),
                int(meta[_META_PREFIX + "overlap"]),
                int(meta[_META_PREFIX + "align"]),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"{self.path}: no scansr metadata ({exc}); export the model with scansr export --onnx"
            ) from None
        self.config = ModelConfig.from_json({**config.to_json(), "scales": [self.scale]})
        self._input = self.session.get_inputs()[0].name

    def predict(self, lr: np.ndarray) -> np.ndarray:
        """Run the network on normalised input ``(N, C, h, w)``; return ``(N, C_out, h·s, w·s)`` float32.

        Raises
        ------
        ValueError
            If `lr` is not 4-D with the model's input channels.
        """
        x = np.ascontiguousarray(lr, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"lr must have shape (N, {self.config.in_channels}, h, w), got {x.shape}")
        return self.session.run(None, {self._input: x})[0]

    def loaded_model(self) -> LoadedModel:
        """Return the session dressed as a `LoadedModel` (a network without parameters), for `scansr.enhance`."""
        return LoadedModel(_OnnxNet(self).eval(), self.config)

    def enhance(self, scan: Scan, **options: Any) -> EnhanceResult:
        """`scansr.enhance.enhance` at the exported scale, with ONNX Runtime doing the network's work.

        Parameters
        ----------
        scan : Scan
            The measured scan.
        **options
            Keyword options of `scansr.enhance.enhance` (not ``scale``, ``model``, ``device``); ``tile`` and
            ``overlap`` default to the exported tiling.

        Returns
        -------
        EnhanceResult

        Raises
        ------
        ValueError
            As `scansr.enhance.enhance`; also for ``scale``, ``model`` or ``device`` in `options`.
        """
        from scansr.enhance import enhance

        fixed = sorted({"scale", "model", "device"} & set(options))
        if fixed:
            raise ValueError(f"{fixed} are fixed by the exported model; pass the other enhance options only")
        options.setdefault("tile", self.tiling.tile)
        options.setdefault("overlap", self.tiling.overlap)
        return enhance(scan, scale=self.scale, model=self.loaded_model(), **options)

    def __repr__(self) -> str:
        return f"OnnxRunner({str(self.path)!r}, arch={self.config.arch!r}, scale={self.scale})"
