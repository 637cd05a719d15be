"""scansr.export: ONNX Runtime gives PyTorch's output (within 1e-5 on normalised scans) at several input sizes.

The reference is the PyTorch network itself (`model(lr, scale)` under inference mode); the input is a real scan
(z-scored, as the networks see it) cut to sizes that are not the one traced at export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scansr import io
from scansr.enhance import default_tiling, enhance
from scansr.models import ModelConfig, build_model, load_model, save_model
from scansr.scan import OutputExistsError
from tests.conftest import TEST_DATA

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from scansr.export import OnnxRunner, export_onnx

PFM = TEST_DATA / "pycroscopy" / "SingFreqPFM_0003.gwy"  # 128²
STANDARD = {
    "kind": "zscore",
    "fit_on": "lr",
    "clip": [2.5, 97.5],
    "level_plane": True,
    "align_rows": "median",
}
TOLERANCE = 1e-5  # max abs difference on normalised values (issue 8)

NETS = {
    # VDSR: bicubic upsampling inside (ONNX Resize, cubic); NinaSR-B0 and EDSR-baseline: pixel shuffle at the end;
    # the U-Net pads to its pooling grid with sizes computed from the input.
    "vdsr": ({"depth": 5, "n_feats": 16}, (2, 4)),
    "ninasr-b0": ({}, (2, 4)),
    "edsr-baseline": ({"n_resblocks": 2, "n_feats": 16}, (2, 4)),
    "unet": ({"base_channels": 4, "depth": 2}, (2,)),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def saved(arch: str, folder: Path) -> Path:
    kwargs, scales = NETS[arch]
    model = build_model(arch, scales=scales, generator=torch.Generator().manual_seed(3), **kwargs)
    config = ModelConfig.for_model(model, normalisation=STANDARD, training={"channels": "default"})
    return save_model(model, folder, config=config)


def normalised_scan() -> np.ndarray:
    z = io.read(PFM).channels[0].data
    return ((z - z.mean()) / z.std()).astype(np.float32)


@pytest.mark.parametrize("arch", list(NETS))
def test_onnx_runtime_equals_pytorch_at_two_sizes(arch: str, tmp_path: Path) -> None:
    folder = saved(arch, tmp_path / "model")
    scale = max(NETS[arch][1])
    path = export_onnx(folder, tmp_path / "net.onnx", scale=scale)
    runner = OnnxRunner(path, threads=1)
    net = load_model(folder).model.eval()
    z = normalised_scan()
    for h, w in ((24, 20), (45, 61)):
        lr = np.stack([z[None, :h, :w], z[None, -h:, -w:]])  # a batch of two
        with torch.inference_mode():
            ref = net(torch.from_numpy(lr), scale).numpy()
        out = runner.predict(lr)
        assert out.shape == (2, 1, h * scale, w * scale)
        assert np.abs(out - ref).max() <= TOLERANCE, arch


def test_the_metadata_carries_the_configuration_and_the_tiling(tmp_path: Path) -> None:
    folder = saved("vdsr", tmp_path / "model")
    runner = OnnxRunner(export_onnx(folder, tmp_path / "net.onnx", scale=2))
    loaded = load_model(folder)
    assert runner.scale == 2
    assert runner.config.arch == "vdsr"
    assert runner.config.scales == (2,)
    assert dict(runner.config.kwargs) == dict(loaded.config.kwargs)
    assert dict(runner.config.normalisation) == STANDARD
    assert runner.tiling == default_tiling(loaded, 2)


def test_enhance_through_onnx_runtime_equals_enhance(tmp_path: Path) -> None:
    folder = saved("vdsr", tmp_path / "model")
    runner = OnnxRunner(export_onnx(folder, tmp_path / "net.onnx", scale=4), threads=1)
    scan = io.read(PFM)
    ref = enhance(scan, scale=4, model=folder, uncertainty=False).scan.channels[0].data
    # a tile smaller than the scan: several windows, each a separate ONNX Runtime call
    out = runner.enhance(scan, uncertainty=False, tile=48).scan.channels[0].data
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOLERANCE * float(np.ptp(ref)))
    with pytest.raises(ValueError, match="fixed by the exported model"):
        runner.enhance(scan, scale=2)


def test_a_static_export_fixes_the_input_size(tmp_path: Path) -> None:
    import onnxruntime

    folder = saved("ninasr-b0", tmp_path / "model")
    path = export_onnx(folder, tmp_path / "net.onnx", scale=2, dynamic=False, input_size=(32, 40))
    runner = OnnxRunner(path)
    assert runner.session.get_inputs()[0].shape == [1, 1, 32, 40]
    z = normalised_scan()[None, None, :32, :40]
    with torch.inference_mode():
        ref = load_model(folder).model.eval()(torch.from_numpy(z), 2).numpy()
    assert np.abs(runner.predict(z) - ref).max() <= TOLERANCE
    with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument):
        runner.predict(normalised_scan()[None, None, :33, :40])


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    folder = saved("vdsr", tmp_path / "model")
    with pytest.raises(ValueError, match=r"scale must be one of \(2, 4\)"):
        export_onnx(folder, tmp_path / "a.onnx", scale=3)
    with pytest.raises(ValueError, match="exporter must be one of"):
        export_onnx(folder, tmp_path / "a.onnx", scale=2, exporter="tensorrt")
    (tmp_path / "b.onnx").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        export_onnx(folder, tmp_path / "b.onnx", scale=2)
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxRunner(tmp_path / "b.onnx")


def test_the_export_command(tmp_path: Path, capsys) -> None:
    from scansr.cli import main

    folder = saved("vdsr", tmp_path / "model")
    out = tmp_path / "vdsr-x4.onnx"
    assert main(["export", "--onnx", str(folder), str(out), "--scale", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert OnnxRunner(out).scale == 4
    assert main(["export", "--onnx", str(folder), str(out), "--scale", "4"]) == 2  # exists: refused
    assert "exists already" in capsys.readouterr().err


def test_the_dynamo_exporter(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    folder = saved("vdsr", tmp_path / "model")
    runner = OnnxRunner(export_onnx(folder, tmp_path / "net.onnx", scale=2, exporter="dynamo"))
    z = normalised_scan()[None, None, :30, :22]
    with torch.inference_mode():
        ref = load_model(folder).model.eval()(torch.from_numpy(z), 2).numpy()
    assert np.abs(runner.predict(z) - ref).max() <= TOLERANCE
