"""Prediction of images of any size by overlapping tiles, equal to whole-image prediction."""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch


def _tile_starts(size: int, tile: int) -> list[int]:
    return list(range(0, max(size - tile, 0) + 1, tile)) + ([size - tile] if size > tile and (size - tile) % tile else [])


def predict_tiled(
    net: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    *,
    divisor: int,
    halo: int,
    tile_shape: tuple[int, ...] | None = None,
    device: torch.device | str = "cpu",
    out_channels: int | None = None,
) -> np.ndarray:
    """Apply a fully convolutional ``net`` to ``image`` tile by tile.

    Parameters
    ----------
    net : callable
        Maps ``(1, C, *spatial)`` float tensors to ``(1, C_out, *spatial)``; spatial sizes
        handed to it are multiples of ``divisor``.
    image : array ``(C, *spatial)``
        Normalised input.
    divisor : int
        ``2**depth`` of the U-Net.
    halo : int
        Context (pixels) added on each side of a tile; at least the network's receptive
        radius for the result to equal whole-image prediction.
    tile_shape : tuple, optional
        Size of the kept core of each tile; ``None`` predicts the whole image at once.

    Returns
    -------
    array ``(C_out, *spatial)`` float32.

    The image is first padded (reflect) to a multiple of ``divisor``, exactly as for
    whole-image prediction; tiles and halos are aligned to ``divisor`` so every tile sees
    the same pooling grid as the whole image, and halos are clipped at the padded image
    border, where the whole-image prediction sees the same zero padding.
    """
    spatial = image.shape[1:]
    if tile_shape is not None and (len(tile_shape) != len(spatial) or min(tile_shape) < 1):
        raise ValueError(f"tile_shape must give {len(spatial)} sizes >= 1 (one per spatial axis), got {tuple(tile_shape)}")
    padded_shape = [int(np.ceil(s / divisor) * divisor) for s in spatial]
    pad = [(0, 0)] + [(0, p - s) for s, p in zip(spatial, padded_shape)]
    padded = np.pad(image, pad, mode="reflect" if all(s > 1 for s in spatial) else "edge")
    halo = int(np.ceil(halo / divisor) * divisor)
    if tile_shape is None:
        tile_shape = tuple(padded_shape)
    tile_shape = tuple(int(np.ceil(min(t, p) / divisor) * divisor) for t, p in zip(tile_shape, padded_shape))
    result: np.ndarray | None = None
    starts = [_tile_starts(p, t) for p, t in zip(padded_shape, tile_shape)]
    with torch.no_grad():
        for corner in itertools.product(*starts):
            core = [slice(c, min(c + t, p)) for c, t, p in zip(corner, tile_shape, padded_shape)]
            outer = [slice(max(s.start - halo, 0), min(s.stop + halo, p)) for s, p in zip(core, padded_shape)]
            tile = torch.as_tensor(np.ascontiguousarray(padded[(slice(None), *outer)]), dtype=torch.float32, device=device)
            out = net(tile[None])[0].float().cpu().numpy()
            if result is None:
                result = np.zeros((out_channels or out.shape[0], *padded_shape), dtype=np.float32)
            inner = tuple(slice(s.start - o.start, s.stop - o.start) for s, o in zip(core, outer))
            result[(slice(None), *core)] = out[(slice(None), *inner)]
    return result[(slice(None), *[slice(0, s) for s in spatial])]
