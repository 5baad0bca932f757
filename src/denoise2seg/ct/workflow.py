"""CT denoise-pretraining as one workflow: the pretext, then Dice finetuning from it (Gao et al. 2021, Algorithm 1).

One event generator for the napari widget, the ``denoise2seg ct train`` command and the
tests. Its model folder holds ``pretext/`` (the pretext model) and ``segmentation/``
(the finetuned lesion segmenter, loadable with :class:`~denoise2seg.ct.CTLesionModel`).
Stopping during the pretext keeps the pretext trained so far and does not finetune;
stopping during finetuning keeps the finished pretext and the segmenter so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..training import Phase, TrainingEvent, run_phases
from .config import CTPretrainConfig
from .data import annotated_index, as_hu_array, n_validation_slices
from .train import finetune_ct, pretrain_ct

PRETEXT_FOLDER = "pretext"
SEGMENTATION_FOLDER = "segmentation"
PRETEXT_PHASE = "pretext"
FINETUNE_PHASE = "Dice finetuning"


def _training_slices(n_slices: int, config: CTPretrainConfig) -> int:
    return n_slices - n_validation_slices(n_slices, config.validation_fraction)


def train_ct(
    unlabelled: Sequence,
    volumes: Sequence,
    labels: Sequence,
    config: CTPretrainConfig | None = None,
    *,
    out_dir: str | Path,
    annotated_slices: Sequence[Sequence[int] | None] | None = None,
    device: str | torch.device | None = "auto",
    preview_volume=None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Pretext on all volumes (unlabelled and labelled, Eq. 1), then Dice finetuning on the labelled slices.

    Parameters
    ----------
    unlabelled : list of arrays or CTVolume
        Unlabelled HU volumes ``(Z, Y, X)`` for the pretext only.
    volumes, labels : lists of arrays
        Labelled HU volumes and their lesion labels (any value > 0 is lesion).
    config : CTPretrainConfig
        Settings (paper defaults when omitted); ``pretext="none"`` skips the pretext.
    out_dir : path
        Workflow folder, holding ``pretext/`` and ``segmentation/``.
    annotated_slices, preview_volume, preview_every
        As for :func:`~denoise2seg.ct.finetune_ct`.

    Yields training events whose ``phase`` is ``"pretext"`` or ``"Dice finetuning"`` and
    whose steps count over both phases.
    """
    config = config or CTPretrainConfig()
    out_dir = Path(out_dir)
    # Checked and converted once; both phases and the step counts use these arrays.
    unlabelled = [as_hu_array(v, name=f"unlabelled volume {i}") for i, v in enumerate(unlabelled)]
    volumes = [as_hu_array(v, name=f"volume {i}") for i, v in enumerate(volumes)]
    if annotated_slices is None:
        annotated_slices = [None] * len(volumes)
    phases = []
    pretrained = None
    if config.pretext != "none":
        pretext_volumes = unlabelled + volumes
        n_slices = sum(len(v) for v in pretext_volumes)
        pretrained = out_dir / PRETEXT_FOLDER
        steps = config.pretext_schedule(_training_slices(n_slices, config)).total_steps
        phases.append(Phase(PRETEXT_PHASE, steps, lambda: pretrain_ct(pretext_volumes, config, out_dir=pretrained, device=device)))
    n_annotated = sum(
        len(annotated_index(keep, len(v), name=f"volume {i}")) for i, (v, keep) in enumerate(zip(volumes, annotated_slices))
    )
    steps = config.finetune_schedule(_training_slices(n_annotated, config)).total_steps
    phases.append(
        Phase(
            FINETUNE_PHASE,
            steps,
            lambda: finetune_ct(
                volumes,
                labels,
                config,
                annotated_slices=annotated_slices,
                pretrained=pretrained,
                out_dir=out_dir / SEGMENTATION_FOLDER,
                device=device,
                preview_volume=preview_volume,
                preview_every=preview_every,
            ),
        )
    )
    return run_phases(phases)
