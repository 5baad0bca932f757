"""Flips (LADP's only training augmentation and its test-time augmentation) and ensemble voting."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

# The four combinations of the paper's training flips, as axes of (N, C, H, W) tensors.
FLIP_AXES: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


def random_flips(*batches: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Flip each sample horizontally and/or vertically at random (p = 1/2 each).

    All tensors are ``(N, ..., H, W)`` and get the same flips per sample.
    """
    n = batches[0].shape[0]
    draws = torch.rand(2, n, device=batches[0].device, generator=generator) < 0.5
    out = []
    for batch in batches:
        view = (n,) + (1,) * (batch.ndim - 1)
        batch = torch.where(draws[0].view(view), batch.flip(-1), batch)
        batch = torch.where(draws[1].view(view), batch.flip(-2), batch)
        out.append(batch)
    return tuple(out)


def flip_tta(predict: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Average ``predict`` over the four flips of ``images`` (``(N, C, H, W)``), each flipped back.

    LADP Sec. II-D: outputs of the flip transforms seen in training are averaged.
    """
    total = None
    for axes in FLIP_AXES:
        flipped = images.flip(axes) if axes else images
        output = predict(flipped)
        output = output.flip(axes) if axes else output
        total = output if total is None else total + output
    return total / len(FLIP_AXES)


def majority_vote(masks) -> np.ndarray:
    """Voxel-wise majority vote over an ensemble's binary masks.

    ``masks`` is a sequence (or stacked array) of K same-shaped masks. A voxel is
    foreground when more than half of them say so; with an even K a tie (K/2 votes) is
    background. Returns a bool array of one mask's shape.
    """
    stack = np.asarray(masks) > 0
    if stack.ndim < 1 or stack.shape[0] == 0:
        raise ValueError("majority_vote needs at least one mask")
    return stack.sum(0) * 2 > stack.shape[0]
