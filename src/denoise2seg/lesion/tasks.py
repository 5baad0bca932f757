"""LADP/DDP pretraining and segmentation finetuning as tasks of the project's training loop."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..nets import UNet
from ..training import TrainingTask
from .config import FinetuneConfig, PretrainConfig
from .flips import random_flips
from .losses import noise_prediction_loss, segmentation_loss
from .noise import add_label_aware_noise, label_aware_noise
from .roi import sample_lambda
from .slices import SliceSet

NORMALIZATION_RECORD = {"method": "zscore-in-brain", "background": -6.0}


class _SliceTask(TrainingTask):
    """Shared batch drawing: random slices, moved to the model's device, randomly flipped."""

    def __init__(self, net: UNet, config, train: SliceSet, seed: int) -> None:
        self.model = net
        self.config = config
        self.device = next(net.parameters()).device
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.train = train
        self.images = torch.as_tensor(train.images, device=self.device)
        self.labels = torch.as_tensor(train.labels, device=self.device)
        self.distance = torch.as_tensor(train.distance, device=self.device)

    def draw(self) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
        index = self.rng.integers(len(self.train), size=self.config.batch_size)
        chosen = torch.as_tensor(index, device=self.device)
        images, labels, distance = self.images[chosen], self.labels[chosen], self.distance[chosen]
        if self.config.flips:
            images, labels, distance = random_flips(images, labels, distance, generator=self.generator)
        return index, images, labels, distance


class PretrainTask(_SliceTask):
    """The U-Net predicts the label-aware noise ``W`` from ``sqrt(g) x + sqrt(1-g) W`` (LADP Eq. 6).

    With ``config.decoder_only`` the weights of the encoder and bottleneck are frozen (no
    gradient), but their batch norm normalises with the statistics of the training
    batches, as in finetuning: the decoder learns on the feature scale it will be fed
    later. (Frozen in eval mode, a randomly initialised encoder normalises with its
    initial running statistics and hands the decoder features 4-500x smaller than
    finetuning does.)
    """

    def __init__(self, net: UNet, config: PretrainConfig, train: SliceSet, val: SliceSet, seed: int) -> None:
        super().__init__(net, config, train, seed)
        if config.decoder_only:
            for p in net.encoder_parameters():
                p.requires_grad_(False)
        # One fixed noise draw for the validation slices, so epochs compare.
        val_rng = np.random.default_rng(seed + 1)
        val_generator = torch.Generator(device=self.device)
        val_generator.manual_seed(seed + 1)
        images = torch.as_tensor(val.images, device=self.device)
        distance = torch.as_tensor(val.distance, device=self.device)
        self.val_noise = self.noise_for(val.d_min, distance, images.shape[1], val_rng, val_generator)
        self.val_noisy = add_label_aware_noise(images, self.val_noise, config.gamma)

    def noise_for(self, d_min: np.ndarray, distance: torch.Tensor, channels: int, rng, generator) -> torch.Tensor:
        """Noise ``W`` for slices with signed distances ``distance`` ``(N, H, W)``."""
        sigma_a, sigma_b = self.config.noise_sigmas
        # A slice without lesion (Dmin = +inf) has an empty ROI whatever lambda is.
        lams = [sample_lambda(d, rng) if np.isfinite(d) else 0.0 for d in d_min]
        roi = distance <= torch.as_tensor(lams, dtype=distance.dtype, device=distance.device).view(-1, 1, 1)
        return label_aware_noise(roi, channels, sigma_a, sigma_b, generator)

    def trainable_parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def training_loss(self) -> torch.Tensor:
        index, images, _, distance = self.draw()
        noise = self.noise_for(self.train.d_min[index], distance, images.shape[1], self.rng, self.generator)
        return noise_prediction_loss(self.model(add_label_aware_noise(images, noise, self.config.gamma)), noise)

    def validation_loss(self) -> float:
        total = 0.0
        for start in range(0, len(self.val_noisy), self.config.batch_size):
            chunk = slice(start, start + self.config.batch_size)
            error = self.model(self.val_noisy[chunk]).float() - self.val_noise[chunk]
            total += float((error**2).sum())
        return total / max(self.val_noise.numel(), 1)

    def model_record(self) -> dict:
        return {
            "kind": "ladp-pretrain",
            "network": self.model.spec.to_dict(),
            "config": self.config.to_dict(),
            "normalization": NORMALIZATION_RECORD,
        }


class FinetuneTask(_SliceTask):
    """Lesion segmentation with ``BCE + Dice + 3 Focal`` (LADP Eq. 7); validation loss ``1 - Dice``."""

    def __init__(
        self,
        net: UNet,
        config: FinetuneConfig,
        train: SliceSet,
        val: SliceSet,
        seed: int,
        pretraining: dict,
        preview: Callable[[UNet], np.ndarray] | None = None,
    ) -> None:
        super().__init__(net, config, train, seed)
        # Finetuning trains the whole network, including an encoder frozen in pretraining.
        for p in net.parameters():
            p.requires_grad_(True)
        self.val_images = torch.as_tensor(val.images, device=self.device)
        self.val_labels = torch.as_tensor(val.labels, device=self.device) > 0.5
        self.pretraining = pretraining
        self.preview_source = preview

    def training_loss(self) -> torch.Tensor:
        _, images, labels, _ = self.draw()
        return segmentation_loss(self.model(images)[:, 0], labels, self.config)

    def validation_loss(self) -> float:
        """``1 - Dice`` of the thresholded prediction over all validation slices (the paper selects by Dice)."""
        intersection, total = 0.0, 0.0
        for start in range(0, len(self.val_images), self.config.batch_size):
            chunk = slice(start, start + self.config.batch_size)
            predicted = torch.sigmoid(self.model(self.val_images[chunk])[:, 0].float()) > self.config.threshold
            truth = self.val_labels[chunk]
            intersection += float((predicted & truth).sum())
            total += float(predicted.sum() + truth.sum())
        return 1.0 - (2.0 * intersection / total if total else 1.0)

    def preview(self) -> np.ndarray | None:
        return None if self.preview_source is None else self.preview_source(self.model)

    def model_record(self) -> dict:
        return {
            "kind": "ladp-segmenter",
            "network": self.model.spec.to_dict(),
            "config": self.config.to_dict(),
            "pretraining": self.pretraining,
            "normalization": NORMALIZATION_RECORD,
        }
