"""Prediction of images of any size by overlapping tiles, equal to whole-image prediction."""

from __future__ import annotations

import itertools
from typing import Callable, Literal

import numpy as np
import torch

# Pixels in the kept core of a default tile: 512 x 512 in 2D, 64 x 64 x 64 in 3D. A U-Net's
# feature maps of such a tile take a few hundred MB at most, whatever the image size, and
# the halo around it adds little work.
DEFAULT_TILE_PIXELS = 512**2


def default_tile_shape(ndim: int) -> tuple[int, ...]:
    """Tile core used when none is given: equal edges, about ``DEFAULT_TILE_PIXELS`` pixels in all."""
    return (round(DEFAULT_TILE_PIXELS ** (1 / ndim)),) * ndim


def _tile_starts(size: int, tile: int) -> list[int]:
    return list(range(0, max(size - tile, 0) + 1, tile)) + ([size - tile] if size > tile and (size - tile) % tile else [])


def _source_indices(start: int, stop: int, size: int) -> np.ndarray:
    """Indices into an axis of ``size`` pixels for positions ``start:stop`` of its padded extension.

    Positions past the end mirror back with period ``2 * (size - 1)``, which is numpy's
    "reflect" padding of any width; an axis of one pixel repeats it ("edge").
    """
    positions = np.arange(start, stop)
    if size == 1:
        return np.zeros_like(positions)
    period = 2 * (size - 1)
    positions %= period
    return np.where(positions >= size, period - positions, positions)


def predict_tiled(
    net: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    *,
    divisor: int,
    halo: int,
    tile_shape: tuple[int, ...] | Literal["auto"] | None = "auto",
    device: torch.device | str = "cpu",
    transform_input: Callable[[np.ndarray], np.ndarray] | None = None,
    transform_output: Callable[[np.ndarray], np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Apply a fully convolutional ``net`` to ``image`` tile by tile.

    Parameters
    ----------
    net : callable
        Maps ``(1, C, *spatial)`` float tensors to ``(1, C_out, *spatial)``; spatial sizes
        handed to it are multiples of ``divisor``.
    image : array ``(C, *spatial)``
        Network input, any real dtype (each tile is converted to float32 on its own).
    divisor : int
        ``2**depth`` of the U-Net.
    halo : int
        Context (pixels) added on each side of a tile; at least the network's receptive
        radius for the result to equal whole-image prediction.
    tile_shape : tuple or "auto" or None
        Size (pixels per spatial axis) of the kept core of each tile; ``"auto"`` uses
        :func:`default_tile_shape`, ``None`` predicts the whole image at once.
    device : torch device
        Where ``net`` runs; tiles go there one at a time.
    transform_input : callable, optional
        Applied to each float32 input tile ``(C, *tile)`` before the network, e.g. a
        pointwise normalisation; it gets a copy and may change it in place.
    transform_output : callable, optional
        Applied to the kept part of each output tile ``(C_out, *core)``, e.g. mapping
        back to input units.
    out : float32 array ``(C_out, *spatial)``, optional
        Written in place and returned; allocated when not given.

    Returns
    -------
    array ``(C_out, *spatial)`` float32.

    The image is treated as padded (reflect) to a multiple of ``divisor``, exactly as for
    whole-image prediction; tiles and halos are aligned to ``divisor`` so every tile sees
    the same pooling grid as the whole image, and every tile's window (core plus halo)
    stays inside the padded image, whose border gets the same zero padding as in
    whole-image prediction. Only one window is copied at a time, so memory is the output
    plus one tile's worth, not a multiple of the image.
    """
    spatial = image.shape[1:]
    if isinstance(tile_shape, str):
        if tile_shape != "auto":
            raise ValueError(f'tile_shape must be a tuple of sizes, "auto" or None (whole image), got {tile_shape!r}')
        tile_shape = default_tile_shape(len(spatial))
    elif tile_shape is None:
        tile_shape = spatial
    if len(tile_shape) != len(spatial) or min(tile_shape) < 1:
        raise ValueError(f"tile_shape must give {len(spatial)} sizes >= 1 (one per spatial axis), got {tuple(tile_shape)}")
    if out is not None and (out.shape[1:] != spatial or out.dtype != np.float32):
        raise ValueError(f"out must be a float32 array of shape (C_out, *{spatial}), got {out.dtype} {out.shape}")
    padded_shape = [int(np.ceil(s / divisor) * divisor) for s in spatial]
    halo = int(np.ceil(halo / divisor) * divisor)
    tile_shape = tuple(int(np.ceil(min(t, p) / divisor) * divisor) for t, p in zip(tile_shape, padded_shape))
    window_shape = [min(t + 2 * halo, p) for t, p in zip(tile_shape, padded_shape)]
    starts = [_tile_starts(p, t) for p, t in zip(padded_shape, tile_shape)]
    with torch.no_grad():
        for corner in itertools.product(*starts):
            core = [slice(c, min(c + t, p)) for c, t, p in zip(corner, tile_shape, padded_shape)]
            # Every window has the same shape: at the image border it is shifted inwards
            # rather than cut, which only adds context beyond the halo. Equal shapes let the
            # allocator reuse the same blocks for every tile instead of fragmenting.
            first = [min(max(k.start - halo, 0), p - w) for k, p, w in zip(core, padded_shape, window_shape)]
            outer = [slice(f, f + w) for f, w in zip(first, window_shape)]
            indices = [_source_indices(o.start, o.stop, s) for o, s in zip(outer, spatial)]
            tile = image[(slice(None), *np.ix_(*indices))].astype(np.float32, copy=False)
            if transform_input is not None:
                tile = transform_input(tile)
            predicted = net(torch.as_tensor(tile, device=device)[None])[0].float().cpu().numpy()
            kept = [slice(k.start, min(k.stop, s)) for k, s in zip(core, spatial)]
            predicted = predicted[(slice(None), *(slice(k.start - o.start, k.stop - o.start) for k, o in zip(kept, outer)))]
            if transform_output is not None:
                predicted = transform_output(predicted)
            if out is None:
                out = np.empty((predicted.shape[0], *spatial), dtype=np.float32)
            elif out.shape[0] != predicted.shape[0]:
                raise ValueError(f"out has {out.shape[0]} channels but the network gives {predicted.shape[0]}")
            out[(slice(None), *kept)] = predicted
    return out
