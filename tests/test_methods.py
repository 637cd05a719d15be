"""Tests of scansr.methods: method specifications, the lazy model method, and resolving lists of methods.

The model method is checked against a fake ``scansr.enhance`` module put in ``sys.modules``: the real one
(which imports torch) arrives with the enhance issue; what matters here is the call it makes and that nothing
imports it before a model method is used.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import scansr
from scansr.interpolate import upscale_scan
from scansr.methods import (
    DEFAULT_MODEL,
    INTERPOLATIONS,
    FunctionMethod,
    InterpolationMethod,
    Method,
    ModelMethod,
    is_model_folder,
    method_from_spec,
    resolve_methods,
)
from scansr.scan import Channel, Scan


def small_scan() -> Scan:
    data = np.add.outer(np.sin(np.arange(12) / 3.0), np.cos(np.arange(10) / 2.0)) * 1e-9
    return Scan([Channel("Height", data, "m")], (2e-9, 3e-9), origin=(1e-6, 2e-6))


def model_folder(root: Path, name: str = "vdsr-afm") -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text('{"format": "scansr-model"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"\0" * 8)
    return folder


class FakeEnhance(types.ModuleType):
    """Stands in for scansr.enhance: records the call, returns an object with ``.scan`` like the real one."""

    def __init__(self) -> None:
        super().__init__("scansr.enhance")
        self.calls: list[tuple[Scan, int, object]] = []

    def enhance(
        self, scan: Scan, *, scale: int, model: object, uncertainty: bool = True
    ) -> types.SimpleNamespace:
        # a method needs only the enhanced scan: the 8-member uncertainty map would cost 8 network passes
        assert uncertainty is False
        self.calls.append((scan, scale, model))
        return types.SimpleNamespace(scan=upscale_scan(scan, scale, method="bilinear"), uncertainty=None)


@pytest.fixture
def fake_enhance(monkeypatch: pytest.MonkeyPatch) -> FakeEnhance:
    module = FakeEnhance()
    monkeypatch.setitem(sys.modules, "scansr.enhance", module)
    monkeypatch.setattr(scansr, "enhance", module, raising=False)
    return module


# ------------------------------------------------------------------------------------------- interpolation
@pytest.mark.parametrize("name", INTERPOLATIONS)
def test_interpolation_method_is_upscale_scan(name):
    scan = small_scan()
    out = InterpolationMethod(name).upscale(scan, 3)
    assert_array_equal(out["Height"].data, upscale_scan(scan, 3, method=name)["Height"].data)
    assert out.pixel_size == pytest.approx((2e-9 / 3, 1e-9))


@pytest.mark.parametrize("spec", ["bicubic", "Bicubic", " LANCZOS "])
def test_interpolation_names_are_case_insensitive(spec):
    method = method_from_spec(spec)
    assert isinstance(method, InterpolationMethod)
    assert method.name == spec.strip().lower()


def test_every_kind_is_a_method():
    assert isinstance(InterpolationMethod("bicubic"), Method)
    assert isinstance(FunctionMethod("f", lambda scan, scale: scan), Method)
    assert isinstance(ModelMethod(DEFAULT_MODEL), Method)


# ---------------------------------------------------------------------------------------------------- models
def test_default_is_a_model_method():
    method = method_from_spec("default")
    assert isinstance(method, ModelMethod)
    assert method.name == "default"
    assert method.model == "default"


def test_a_model_folder_is_a_model_method_named_after_it(tmp_path):
    folder = model_folder(tmp_path)
    assert is_model_folder(folder)
    method = method_from_spec(str(folder))
    assert isinstance(method, ModelMethod)
    assert method.name == "vdsr-afm"
    assert method.model == folder
    assert str(folder) in method.description


def test_a_folder_without_weights_is_rejected_naming_the_missing_file(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert not is_model_folder(folder)
    with pytest.raises(ValueError, match=r"model\.safetensors missing"):
        method_from_spec(folder)


def test_unknown_name_lists_the_valid_choices():
    with pytest.raises(
        ValueError, match=r"'bilinear', 'bicubic', 'lanczos'.*'default'.*model folder"
    ) as info:
        method_from_spec("nearest")
    assert "nearest" in str(info.value)


def test_model_method_calls_enhance_lazily(fake_enhance, tmp_path):
    scan = small_scan()
    folder = model_folder(tmp_path)
    for spec, model in (("default", "default"), (str(folder), folder)):
        out = method_from_spec(spec).upscale(scan, 2)
        called_scan, called_scale, called_model = fake_enhance.calls[-1]
        assert called_scan is scan
        assert called_scale == 2
        assert called_model == model
        assert_array_equal(out["Height"].data, upscale_scan(scan, 2, method="bilinear")["Height"].data)
    assert len(fake_enhance.calls) == 2


def test_model_method_without_enhance_fails_only_when_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "scansr.enhance", None)  # "import scansr.enhance" raises ImportError
    method = ModelMethod("default")  # building and listing it needs nothing
    assert method.name == "default"
    with pytest.raises(ImportError, match=r"runs a network through scansr\.enhance"):
        method.upscale(small_scan(), 2)


def test_listing_methods_imports_neither_torch_nor_enhance(tmp_path):
    folder = model_folder(tmp_path)
    script = (
        "import sys\n"
        "from scansr.methods import resolve_methods\n"
        f"methods = resolve_methods(['bicubic', 'default', {str(folder)!r}])\n"
        "assert [m.name for m in methods] == ['bicubic', 'default', 'vdsr-afm'], methods\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_model_file_names_agree_with_the_model_storage():
    # scansr.models.storage imports torch, so its constants are read from its source, not imported
    source = Path(scansr.__file__).parent / "models" / "storage.py"
    constants = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    from scansr import methods

    assert (constants["CONFIG_FILE"], constants["WEIGHTS_FILE"]) == methods._MODEL_FILES


# -------------------------------------------------------------------------------------------------- resolving
def test_resolve_methods_keeps_order_and_accepts_every_form(tmp_path):
    folder = model_folder(tmp_path)

    def flat(scan, scale):
        return upscale_scan(scan, scale, method="bilinear")

    resolved = resolve_methods({"bicubic": None, "mine": str(folder), "flat": flat, "L": "lanczos"})
    assert [m.name for m in resolved] == ["bicubic", "mine", "flat", "L"]
    assert isinstance(resolved[1], ModelMethod)
    assert resolved[1].model == folder
    assert isinstance(resolved[2], FunctionMethod)
    scan = small_scan()
    assert_array_equal(
        resolved[3].upscale(scan, 2)["Height"].data, upscale_scan(scan, 2, method="lanczos")["Height"].data
    )


def test_resolve_methods_errors():
    with pytest.raises(ValueError, match="unique"):
        resolve_methods(["bicubic", "bicubic"])
    with pytest.raises(ValueError, match="at least 2 methods"):
        resolve_methods(["bicubic"], min_count=2)
    with pytest.raises(TypeError, match="not one string"):
        resolve_methods("bicubic")
    with pytest.raises(TypeError, match="specification"):
        resolve_methods([3])
    with pytest.raises(ValueError, match="another name"):
        resolve_methods({"a": InterpolationMethod("bicubic")})


def test_survey_reexports_the_shared_methods():
    import scansr.survey as survey

    assert survey.resolve_methods is resolve_methods
    assert survey.FunctionMethod is FunctionMethod
    assert survey.InterpolationMethod is InterpolationMethod
