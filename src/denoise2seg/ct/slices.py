"""Slice-wise 2D geometry of CT volumes: centre crop + resize to a square, and back.

Gao et al. (2021, Sec. III-A) train on axial slices centre-cropped and resized to
256x256. :func:`to_network_slices` does that for a whole ``(Z, Y, X)`` volume and
:func:`to_volume_slices` maps network-sized slices (images or probabilities) back onto
the volume's grid, so a prediction lands on the voxels it was made for.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def centre_crop_box(shape: tuple[int, int]) -> tuple[slice, slice]:
    """The largest centred square ``(rows, cols)`` inside a ``(Y, X)`` slice."""
    height, width = int(shape[0]), int(shape[1])
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return slice(top, top + side), slice(left, left + side)


def _resize(stack: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resize a ``(Z, H, W)`` stack to ``(Z, *size)``; antialiased when shrinking with bilinear."""
    tensor = torch.as_tensor(np.ascontiguousarray(stack, dtype=np.float32))[:, None]
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor[:, 0].numpy().copy()
    if mode == "nearest":
        out = F.interpolate(tensor, size=size, mode="nearest-exact")
    else:
        shrinking = size[0] < tensor.shape[-2] or size[1] < tensor.shape[-1]
        out = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return out[:, 0].numpy()


def to_network_slices(volume: np.ndarray, size: int = 256, *, mode: str = "bilinear") -> np.ndarray:
    """Centre-crop each slice of ``volume`` ``(Z, Y, X)`` to a square and resize it to ``size x size``.

    ``mode`` is ``"bilinear"`` for images and ``"nearest"`` for label masks. Returns a
    float32 ``(Z, size, size)`` array.
    """
    volume = np.asarray(volume)
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3:
        raise ValueError(f"expected a (Z, Y, X) volume, got shape {volume.shape}")
    rows, cols = centre_crop_box(volume.shape[1:])
    return _resize(volume[:, rows, cols], (size, size), mode)


def to_volume_slices(slices: np.ndarray, volume_shape: tuple[int, int, int], *, mode: str = "bilinear", fill: float = 0.0) -> np.ndarray:
    """Inverse of :func:`to_network_slices`: resize ``(Z, S, S)`` slices to the crop and pad to ``volume_shape``.

    Voxels outside the centre crop (never seen by the network) get ``fill``. For label
    predictions pass probabilities with ``mode="bilinear"`` and threshold afterwards,
    which keeps boundaries smooth when the crop is larger than the network size.
    """
    slices = np.asarray(slices, dtype=np.float32)
    if slices.ndim != 3 or len(volume_shape) != 3 or slices.shape[0] != volume_shape[0]:
        raise ValueError(f"slices {slices.shape} do not match a volume of shape {tuple(volume_shape)}")
    rows, cols = centre_crop_box(volume_shape[1:])
    out = np.full(volume_shape, fill, dtype=np.float32)
    out[:, rows, cols] = _resize(slices, (rows.stop - rows.start, cols.stop - cols.start), mode)
    return out
