"""Tiled inference equals whole-image inference on untrained networks (the enhance issue relies on it)."""

from __future__ import annotations

import pytest
import torch

from scansr.models import build_model
from scansr.train import predict_tiled
from scansr.train.tiled import tile_windows


@pytest.mark.parametrize(
    ("size", "tile", "overlap", "align"),
    [(37, 16, 4, 1), (53, 20, 6, 1), (100, 32, 8, 1), (10, 16, 4, 1), (61, 24, 4, 4), (100, 33, 5, 3)],
)
def test_windows_partition_the_axis_with_context(size: int, tile: int, overlap: int, align: int) -> None:
    windows = tile_windows(size, tile=tile, overlap=overlap, align=align)
    covered = [i for c0, c1, _, _ in windows for i in range(c0, c1)]
    assert covered == list(range(size))  # cores partition the axis, in order
    for c0, c1, w0, w1 in windows:
        assert 0 <= w0 <= c0 < c1 <= w1 <= size
        assert w0 % align == 0
        assert min(tile, size) <= w1 - w0 <= tile + align - 1
        assert c0 - w0 >= min(overlap, c0)
        assert w1 - c1 >= min(overlap, size - c1)


def test_windows_reject_overlap_too_large() -> None:
    with pytest.raises(ValueError, match="twice the overlap"):
        tile_windows(100, tile=16, overlap=8)


# Receptive-field radius in LR pixels: VDSR depth 5 sees 5 HR pixels (≤ 3 LR at ×2) plus 2 LR pixels of the
# bicubic kernel; EDSR-baseline with one residual block: head + 2 + body + first tail conv = 5 LR pixels; the
# U-Net of depth 2 at ×2: about 2 + 2·2 + 4·2 + 2·2 + 2 + 2 ≈ 22 HR = 11 LR pixels, and its windows must start
# on its 4-pixel HR pooling grid (align 2 at ×2). The overlap covers each, so tiles must agree with the whole
# image to float32 rounding.
@pytest.mark.parametrize(
    ("arch", "kwargs", "scale", "tile", "overlap", "align"),
    [
        ("vdsr", {"depth": 5, "n_feats": 8}, 2, 24, 8, 1),
        ("vdsr", {"depth": 5, "n_feats": 8}, 3, 24, 8, 1),
        ("edsr-baseline", {"n_resblocks": 1, "n_feats": 8}, 2, 24, 8, 1),
        ("unet", {"base_channels": 4, "depth": 2}, 2, 40, 12, 2),
    ],
)
def test_tiled_equals_whole_image_on_an_untrained_net(
    arch: str, kwargs: dict, scale: int, tile: int, overlap: int, align: int
) -> None:
    g = torch.Generator().manual_seed(0)
    model = build_model(arch, scales=(scale,), generator=g, **kwargs).eval()
    lr = torch.randn(2, 1, 45, 61, generator=g)
    with torch.no_grad():
        whole = model(lr, scale)
    tiled = predict_tiled(model, lr, scale, tile=tile, overlap=overlap, align=align)
    assert tiled.shape == whole.shape == (2, 1, 45 * scale, 61 * scale)
    data_range = float(whole.max() - whole.min())
    # Sensitivity (checked when writing the test): overlap 0 or 2 gives seams of 3-27 % of the range, a U-Net
    # window off its pooling grid 0.5 %.
    assert float((tiled - whole).abs().max()) <= 1e-4 * data_range


def test_small_images_go_through_in_one_piece() -> None:
    model = build_model("vdsr", scales=(2,), depth=3, n_feats=4, generator=torch.Generator().manual_seed(0))
    lr = torch.randn(1, 1, 9, 11)
    with torch.no_grad():
        assert torch.equal(predict_tiled(model, lr, 2, tile=16, overlap=4), model(lr, 2))


def test_rejects_a_3d_input() -> None:
    model = build_model("vdsr", scales=(2,), depth=3, n_feats=4)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        predict_tiled(model, torch.zeros(1, 9, 9), 2)
