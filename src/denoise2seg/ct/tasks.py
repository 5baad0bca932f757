"""Training tasks of CT denoise-pretraining: the pretext (denoise / reconstruct) and Dice finetuning.

Both plug into :func:`denoise2seg.training.run_training`; slices live on the training
device as ``(N, 1, S, S)`` tensors in window units [0, 1].
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..nets.backbones import Backbone
from ..training import TrainingTask
from .config import CTPretrainConfig
from ..training.losses import soft_dice_loss
from .pretext import add_gaussian_noise, cut_random_hole


def _generator(device: torch.device, seed: int) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


class PretextTask(TrainingTask):
    """Restore clean slices from corrupted ones with ``loss(output, clean)``.

    ``config.pretext`` ``"denoise"`` adds Gaussian noise, ``"reconstruct"`` blanks a random
    square; the network output is the restored slice (Gao et al. 2021, Eq. 1).
    """

    def __init__(
        self,
        net: Backbone,
        config: CTPretrainConfig,
        train_slices: torch.Tensor,
        val_slices: torch.Tensor,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        seed: int,
    ) -> None:
        if config.pretext not in ("denoise", "reconstruct"):
            raise ValueError(f"a pretext task needs pretext 'denoise' or 'reconstruct', got {config.pretext!r}")
        self.model = net
        self.config = config
        self.train_slices = train_slices
        self.loss = loss
        self.generator = _generator(train_slices.device, seed)
        # One fixed corruption of the validation slices keeps successive epochs comparable.
        self.val_clean = val_slices
        self.val_corrupted = self.corrupt(val_slices, _generator(val_slices.device, seed + 1))

    def corrupt(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.config.pretext == "denoise":
            return add_gaussian_noise(clean, self.config.noise_mean, self.config.noise_std, generator)
        return cut_random_hole(clean, self.config.hole_size, generator)[0]

    def training_loss(self) -> torch.Tensor:
        index = torch.randint(0, len(self.train_slices), (self.config.batch_size,), device=self.train_slices.device, generator=self.generator)
        clean = self.train_slices[index]
        return self.loss(self.model(self.corrupt(clean, self.generator)), clean)

    def validation_loss(self) -> float:
        total, count = 0.0, 0
        for start in range(0, len(self.val_clean), self.config.batch_size):
            chunk = slice(start, start + self.config.batch_size)
            n = len(self.val_clean[chunk])
            total += float(self.loss(self.model(self.val_corrupted[chunk]), self.val_clean[chunk])) * n
            count += n
        return total / max(count, 1)

    def model_record(self) -> dict:
        return {"kind": "ct_pretext", "network": self.model.spec.to_dict(), "config": self.config.to_dict()}


class SegmentationTask(TrainingTask):
    """Dice-loss training of the lesion logit on labelled slices (Gao et al. 2021, Eq. 3)."""

    def __init__(
        self,
        net: Backbone,
        config: CTPretrainConfig,
        train_slices: torch.Tensor,
        train_masks: torch.Tensor,
        val_slices: torch.Tensor,
        val_masks: torch.Tensor,
        seed: int,
        preview: Callable[[Backbone], np.ndarray] | None = None,
        pretrained_from: str | None = None,
    ) -> None:
        self.model = net
        self.config = config
        self.train_slices, self.train_masks = train_slices, train_masks
        self.val_slices, self.val_masks = val_slices, val_masks
        self.generator = _generator(train_slices.device, seed)
        self.preview_source = preview
        self.pretrained_from = pretrained_from

    def training_loss(self) -> torch.Tensor:
        index = torch.randint(0, len(self.train_slices), (self.config.batch_size,), device=self.train_slices.device, generator=self.generator)
        return soft_dice_loss(self.model(self.train_slices[index]), self.train_masks[index])

    def validation_loss(self) -> float:
        # One Dice over all validation slices, as the training loss sums over its batch.
        intersection, total = 0.0, 0.0
        for start in range(0, len(self.val_slices), self.config.batch_size):
            chunk = slice(start, start + self.config.batch_size)
            probability = torch.sigmoid(self.model(self.val_slices[chunk]).float())
            target = self.val_masks[chunk]
            intersection += float((probability * target).sum())
            total += float(probability.sum() + target.sum())
        return 1.0 - (2 * intersection + 1.0) / (total + 1.0)

    def preview(self) -> np.ndarray | None:
        return None if self.preview_source is None else self.preview_source(self.model)

    def model_record(self) -> dict:
        return {
            "kind": "ct_lesion_segmentation",
            "network": self.model.spec.to_dict(),
            "config": self.config.to_dict(),
            "pretrained_from": self.pretrained_from,
        }
