"""Tiled inference: run a network on an image of any size with bounded memory.

The LR image is cut into windows of ``tile × tile`` pixels that overlap their neighbours; each window's output
is kept only in its central part (its *core*), at least `overlap` LR pixels away from the window's edge unless
that edge is the image's. Where `overlap` covers the network's receptive field (in LR pixels), the result
equals whole-image inference up to floating-point rounding; beyond it, the seams differ only by the network's
sensitivity to distant pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["predict_tiled", "tile_windows"]


def tile_windows(size: int, *, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int, int, int]]:
    """Windows along one axis: ``(core_start, core_stop, window_start, window_stop)`` in LR pixels.

    Cores partition ``[0, size)`` in steps of ``tile − 2·overlap − (align − 1)``; each window starts at a
    multiple of `align`, is `tile` long (shorter when `size` is; up to ``align − 1`` longer at the end of the
    axis), and contains its core and at least `overlap` pixels on each side of it that lie inside the image.

    Raises
    ------
    ValueError
        If the core would be empty, or `size`, `tile`, `align` < 1, or `overlap` < 0.
    """
    if size < 1 or tile < 1 or overlap < 0 or align < 1:
        raise ValueError(
            f"size, tile and align must be >= 1 and overlap >= 0, got {size}, {tile}, {align}, {overlap}"
        )
    if size <= tile:
        return [(0, size, 0, size)]
    core = tile - 2 * overlap - (align - 1)
    if core < 1:
        raise ValueError(
            f"tile ({tile}) must exceed twice the overlap ({overlap}) plus align - 1 ({align - 1})"
        )
    out = []
    for start in range(0, size, core):
        stop = min(start + core, size)
        w0 = max(0, min(start - overlap, size - tile))
        w0 -= w0 % align
        out.append((start, stop, w0, min(size, max(w0 + tile, stop + overlap))))
    return out


def predict_tiled(
    model: torch.nn.Module, lr: Tensor, scale: int, *, tile: int = 128, overlap: int = 16, align: int = 1
) -> Tensor:
    """``model(lr, scale)`` computed window by window, under ``torch.inference_mode``.

    Parameters
    ----------
    model : scansr.models.SRModel
        Called as ``model(window, scale)``; put it in eval mode first.
    lr : Tensor
        ``(N, C, h, w)`` on the model's device.
    scale : int
        Scale factor.
    tile : int
        Window side in LR pixels (memory grows with ``(tile·scale)²``).
    overlap : int
        LR pixels of context kept on each side of a window's core (make it at least the receptive field of the
        network in LR pixels for results identical to whole-image inference).
    align : int
        Windows start at multiples of `align` LR pixels. A network that pools (the U-Net of depth ``d`` pools
        ``2**d`` HR pixels) gives tile-independent results only if every window starts on its pooling grid:
        ``align = 2**d // gcd(2**d, scale)``.

    Returns
    -------
    Tensor
        ``(N, out_channels, h·scale, w·scale)``.

    Raises
    ------
    ValueError
        If `lr` is not 4-D, or `tile` does not exceed ``2·overlap``.
    """
    if not isinstance(lr, Tensor) or lr.ndim != 4:
        raise ValueError(f"lr must be a tensor (N, C, h, w), got {getattr(lr, 'shape', type(lr).__name__)}")
    h, w = lr.shape[-2:]
    rows = tile_windows(h, tile=tile, overlap=overlap, align=align)
    cols = tile_windows(w, tile=tile, overlap=overlap, align=align)
    s = int(scale)
    with torch.inference_mode():
        if len(rows) == 1 and len(cols) == 1:
            return model(lr, s)
        parts = []
        for y0, y1, ya, yb in rows:
            row = []
            for x0, x1, xa, xb in cols:
                piece = model(lr[..., ya:yb, xa:xb], s)
                row.append(piece[..., (y0 - ya) * s : (y1 - ya) * s, (x0 - xa) * s : (x1 - xa) * s])
            parts.append(torch.cat(row, dim=-1))
        return torch.cat(parts, dim=-2)
