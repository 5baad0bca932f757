"""Pretext corruptions on windowed CT slices ``(N, 1, H, W)`` in [0, 1], on the training device."""

from __future__ import annotations

import torch


def add_gaussian_noise(slices: torch.Tensor, mean: float, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``slices`` plus i.i.d. noise ``N(mean, std^2)`` per pixel (window units): the denoising pretext input."""
    noise = torch.randn(slices.shape, device=slices.device, generator=generator, dtype=slices.dtype)
    return slices + mean + std * noise


def cut_random_hole(slices: torch.Tensor, size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank one random ``size x size`` square per slice (set to 0): the self-reconstruction pretext input.

    Returns the corrupted slices and a bool ``(N, 1, H, W)`` mask of the hole.
    """
    n, _, height, width = slices.shape
    if size > min(height, width):
        raise ValueError(f"hole size {size} is larger than the slices ({height}x{width})")
    top = torch.randint(0, height - size + 1, (n,), device=slices.device, generator=generator)
    left = torch.randint(0, width - size + 1, (n,), device=slices.device, generator=generator)
    rows = torch.arange(height, device=slices.device).view(1, height, 1)
    cols = torch.arange(width, device=slices.device).view(1, 1, width)
    inside = (rows >= top.view(n, 1, 1)) & (rows < top.view(n, 1, 1) + size) & (cols >= left.view(n, 1, 1)) & (cols < left.view(n, 1, 1) + size)
    hole = inside[:, None]
    return torch.where(hole, torch.zeros_like(slices), slices), hole
