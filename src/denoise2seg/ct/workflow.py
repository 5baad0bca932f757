"""The whole CT workflow in one generator: pretext (unless "none"), then Dice finetuning."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..training import TrainingEvent
from .config import CTPretrainConfig
from .train import finetune_ct, pretrain_ct

PRETEXT_FOLDER = "pretext"
SEGMENTATION_FOLDER = "segmentation"


def train_ct_workflow(
    unlabelled,
    volumes,
    labels,
    config: CTPretrainConfig,
    out_dir: str | Path,
    *,
    annotated_slices: Sequence[Sequence[int] | None] | None = None,
    device: str | torch.device | None = "auto",
    preview_volume=None,
    preview_every: int = 0,
) -> Iterator[tuple[str, TrainingEvent]]:
    """Yield ``("pretext", event)`` then ``("finetune", event)`` pairs.

    The pretext runs on ``unlabelled`` plus the labelled ``volumes`` (all images serve
    the self-supervised task, Gao et al. 2021, Eq. 1) into ``out_dir/pretext``; the
    finetuned segmenter is written to ``out_dir/segmentation``. With ``config.pretext``
    ``"none"`` only the supervised phase runs.
    """
    out_dir = Path(out_dir)
    pretrained = None
    if config.pretext != "none":
        unlabelled = list(unlabelled) if isinstance(unlabelled, (list, tuple)) else [unlabelled]
        labelled = list(volumes) if isinstance(volumes, (list, tuple)) else [volumes]
        pretrained = out_dir / PRETEXT_FOLDER
        for event in pretrain_ct(unlabelled + labelled, config, out_dir=pretrained, device=device):
            yield "pretext", event
    events = finetune_ct(
        volumes,
        labels,
        config,
        annotated_slices=annotated_slices,
        pretrained=pretrained,
        out_dir=out_dir / SEGMENTATION_FOLDER,
        device=device,
        preview_volume=preview_volume,
        preview_every=preview_every,
    )
    for event in events:
        yield "finetune", event
