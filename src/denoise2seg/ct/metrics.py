"""Volume-level Dice, the metric of Gao et al. (2021, Sec. III-A)."""

from __future__ import annotations

import numpy as np


def volume_dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice ``2|P & T| / (|P| + |T|)`` of two binary volumes (any value > 0 is foreground).

    Both empty counts as perfect agreement (1.0).
    """
    prediction, truth = np.asarray(prediction) > 0, np.asarray(truth) > 0
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    total = int(prediction.sum()) + int(truth.sum())
    if total == 0:
        return 1.0
    return 2.0 * int((prediction & truth).sum()) / total


def dice_summary(predictions: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, float, list[float]]:
    """Mean and standard deviation (population, in [0, 1]) of per-volume Dice, and the per-volume values."""
    if len(predictions) != len(truths) or not predictions:
        raise ValueError(f"need equally many predictions and truths (>0), got {len(predictions)} and {len(truths)}")
    scores = [volume_dice(p, t) for p, t in zip(predictions, truths)]
    return float(np.mean(scores)), float(np.std(scores)), scores
