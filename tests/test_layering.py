"""Everything outside the torch rooms (models, train, enhance, ...) must import and work without torch.

The module list is computed from the package, so a new module is checked automatically; a new torch room must be
named in `TORCH_ROOMS`.

STYLE.md suggests ``sys.modules["torch"] = None``, but SciPy (1.17 here) cannot be imported that way: its
array-API helpers look up ``sys.modules["torch"].Tensor`` whenever the key exists, so ``import scipy.stats``
fails with ``AttributeError: 'NoneType' object has no attribute 'Tensor'``. The subprocess therefore blocks
torch with a meta-path finder: every ``import torch`` raises ImportError and ``sys.modules`` never holds it.
"""

from __future__ import annotations

import subprocess
import sys

# Rooms that may import torch (see STYLE.md); every other module of scansr must not.
TORCH_ROOMS = ("scansr.models", "scansr.train", "scansr.enhance", "scansr.export", "scansr.multimodal")


def _numpy_layer() -> tuple[str, ...]:
    import pkgutil

    import scansr

    names = [m.name for m in pkgutil.walk_packages(scansr.__path__, "scansr.")]
    return tuple(n for n in names if not any(n == r or n.startswith(r + ".") for r in TORCH_ROOMS))


NUMPY_LAYER = _numpy_layer()

SCRIPT = """
import importlib
import importlib.abc
import sys


class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in the numpy layer: import {{name}}")
        return None


sys.meta_path.insert(0, BlockTorch())
modules = {modules!r}
for name in modules:
    importlib.import_module(name)
import numpy as np
if "scansr.metrics" in modules:
    from scansr.metrics import psnr
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.1), data_range=1.0) > 19.9
if "scansr.interpolate" in modules:
    from scansr.interpolate import upscale
    assert upscale(np.ones((4, 4)), 2).shape == (8, 8)
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, loaded
print("ok")
"""


def test_numpy_layer_imports_without_torch() -> None:
    present = list(NUMPY_LAYER)
    assert {"scansr.io", "scansr.metrics", "scansr.interpolate", "scansr.cli"} <= set(present)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(modules=tuple(present))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{present}: {result.stderr[-2000:]}"
    assert result.stdout.strip() == "ok"


def test_the_blocker_really_blocks_torch() -> None:
    # Guard against a test that passes because the blocker does nothing.
    script = SCRIPT.split("modules = ")[0] + "import torch\n"
    result = subprocess.run(
        [sys.executable, "-c", script.format()], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "torch is blocked" in result.stderr
