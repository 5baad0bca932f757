"""The binary Dice overlap of two masks, the metric of CT denoise-pretraining (Gao et al. 2021) and LADP."""

from __future__ import annotations

import numpy as np


def dice_score(mask_true: np.ndarray, mask_test: np.ndarray) -> float:
    """Dice ``2 |T & P| / (|T| + |P|)`` of two binary masks of one shape (any value > 0 is foreground).

    Both empty counts as perfect agreement (1.0).
    """
    mask_true, mask_test = np.asarray(mask_true) > 0, np.asarray(mask_test) > 0
    if mask_true.shape != mask_test.shape:
        raise ValueError(f"ground truth {mask_true.shape} and prediction {mask_test.shape} must have the same shape")
    total = int(mask_true.sum()) + int(mask_test.sum())
    return 1.0 if total == 0 else 2.0 * int((mask_true & mask_test).sum()) / total


def dice_summary(masks_true: list[np.ndarray], masks_test: list[np.ndarray]) -> tuple[float, float, list[float]]:
    """Mean and standard deviation (population, in [0, 1]) of per-volume Dice, and the per-volume values."""
    if len(masks_true) != len(masks_test) or not masks_true:
        raise ValueError(f"need equally many truths and predictions (>0), got {len(masks_true)} and {len(masks_test)}")
    scores = [dice_score(t, p) for t, p in zip(masks_true, masks_test)]
    return float(np.mean(scores)), float(np.std(scores)), scores
