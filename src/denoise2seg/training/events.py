"""Progress events yielded by :func:`denoise2seg.training.run_training`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TrainingEvent:
    """One thing that happened during training.

    ``kind`` is ``"step"`` (after an optimiser step), ``"epoch"`` (after validation),
    ``"preview"`` (``preview`` holds the current prediction for the preview image),
    ``"checkpoint"`` (``path`` was written) or ``"done"``.
    ``step`` counts optimiser steps from 1; ``total_steps`` is the planned number. In a
    workflow of several trainings (:func:`~denoise2seg.training.phases.run_phases`) both
    count over the whole run and ``phase`` names the training the event belongs to
    (empty for a single training).
    """

    kind: str
    step: int
    total_steps: int
    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None
    learning_rate: float | None = None
    preview: np.ndarray | None = None
    path: Path | None = None
    is_best: bool = False
    phase: str = ""
