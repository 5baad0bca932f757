"""Augmentation of the Pseudo-CT paper for every training and update step: random
rescaling in [0.5, 2] and random horizontal/vertical flips, on batches on device."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def source_patch_size(patch_size: int, scale_range: tuple[float, float]) -> int:
    """Side of the patch to cut so that zooming out by ``1 / min(scale)`` still fills ``patch_size``."""
    return int(math.ceil(patch_size / min(scale_range)))


def random_rescale_flip(
    batch: torch.Tensor,
    patch_size: int,
    scale_range: tuple[float, float] = (0.5, 2.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random zoom and flips of ``(N, C, S, S)`` source patches, output ``(N, C, patch_size, patch_size)``.

    Each sample gets a scale ``s`` uniform in ``scale_range``: the central
    ``patch_size / s`` pixels of its source patch are resampled (bilinear) to
    ``patch_size``, so ``s > 1`` magnifies. Then it is flipped left-right and up-down
    with probability 1/2 each. All channels of a sample get the same transform, so an
    input and its target (stacked as channels) stay aligned. ``S`` must be at least
    :func:`source_patch_size`.
    """
    n, _, size, _ = batch.shape
    needed = source_patch_size(patch_size, scale_range)
    if size < needed:
        raise ValueError(f"source patches of {size} px are too small for {patch_size} px at scale {min(scale_range)}; need {needed}")
    device = batch.device
    low, high = scale_range
    scales = low + (high - low) * torch.rand(n, device=device, generator=generator)
    half_extent = patch_size / (scales * size)
    theta = torch.zeros(n, 2, 3, device=device, dtype=batch.dtype)
    theta[:, 0, 0] = half_extent
    theta[:, 1, 1] = half_extent
    grid = F.affine_grid(theta, (n, batch.shape[1], patch_size, patch_size), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    flips = torch.rand(2, n, device=device, generator=generator) < 0.5
    view = (n, 1, 1, 1)
    out = torch.where(flips[0].view(view), out.flip(-1), out)
    return torch.where(flips[1].view(view), out.flip(-2), out)


def center_crop(batch: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The central ``patch_size`` x ``patch_size`` pixels of ``(N, C, S, S)`` patches (no augmentation)."""
    start = (batch.shape[-1] - patch_size) // 2
    return batch[..., start : start + patch_size, start : start + patch_size]
