"""Random 8-fold dihedral augmentation (flips + 90 degree rotations) of patch batches on device."""

from __future__ import annotations

import torch


def random_dihedral(*batches: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Apply one random flip/rot90 per sample, the same one to every tensor given.

    Tensors are ``(N, C, *spatial)`` with the last two axes square (Y == X). Each sample
    gets an independent draw from the 8 symmetries of the square (flip Y, flip X,
    transpose Y/X); for 3D patches Z is flipped at random too. Everything stays on the
    tensors' device.
    """
    first = batches[0]
    n, ndim = first.shape[0], first.ndim - 2
    if first.shape[-1] != first.shape[-2]:
        raise ValueError(f"dihedral augmentation needs square Y/X patches, got {tuple(first.shape[-2:])}")
    device = first.device
    n_draws = 4 if ndim == 3 else 3
    draws = torch.rand(n_draws, n, device=device, generator=generator) < 0.5
    view = (n,) + (1,) * (first.ndim - 1)
    out = []
    for batch in batches:
        batch = torch.where(draws[0].view(view), batch.flip(-1), batch)
        batch = torch.where(draws[1].view(view), batch.flip(-2), batch)
        batch = torch.where(draws[2].view(view), batch.transpose(-1, -2), batch)
        if ndim == 3:
            batch = torch.where(draws[3].view(view), batch.flip(-3), batch)
        out.append(batch)
    return tuple(out)
