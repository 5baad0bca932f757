"""Losses shared by several methods: the soft Dice of CT finetuning (Gao et al. 2021) and LADP."""

from __future__ import annotations

import torch


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - (2 sum(Y P) + eps) / (sum(Y) + sum(P) + eps)`` with ``P = sigmoid(logits)``, ``Y`` the 0/1 target.

    Sums run over the whole batch, so a batch of lesion-free slices (frequent in CT and
    brain MRI) still gives a well-defined loss that pushes predictions towards zero;
    ``eps`` smooths it.
    """
    probability = torch.sigmoid(logits.float())
    target = target.float()
    intersection = (probability * target).sum()
    return 1 - (2 * intersection + eps) / (probability.sum() + target.sum() + eps)
