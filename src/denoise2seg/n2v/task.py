"""The Noise2Void training task: random patches, augmentation, blind-spot loss."""

from __future__ import annotations

import numpy as np
import torch

from ..data.augment import random_dihedral
from ..data.normalization import Normalizer
from ..data.patches import PatchSampler
from ..nets import UNet
from ..training import TrainingTask
from .config import N2VConfig
from .masking import blind_spot_mask, masked_mse
from .model import N2VModel


class N2VTask(TrainingTask):
    """Trains ``net`` with the N2V loss on patches of normalised ``(C, *spatial)`` images; blind spots hit all channels of a pixel."""

    def __init__(
        self,
        net: UNet,
        config: N2VConfig,
        normalizer: Normalizer,
        train_images: list[np.ndarray],
        val_patches: np.ndarray,
        preview: N2VPreview | None = None,
    ) -> None:
        self.model = net
        self.config = config
        self.normalizer = normalizer
        device = next(net.parameters()).device
        seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.sampler = PatchSampler(train_images, config.patch_shape, device, seed=seed + 1)
        val = torch.as_tensor(val_patches, dtype=torch.float32, device=device)
        # Fixed validation masks, so the validation loss of successive epochs is comparable.
        fixed = torch.Generator(device=device)
        fixed.manual_seed(seed + 2)
        self.val_masked, self.val_mask = blind_spot_mask(
            val, config.masked_fraction, config.neighborhood_radius, fixed, config.replacement
        )
        self.val_target = val
        self.preview_source = preview

    def training_loss(self) -> torch.Tensor:
        batch = self.sampler.sample(self.config.batch_size)
        if self.config.augment:
            (batch,) = random_dihedral(batch, generator=self.generator)
        masked, mask = blind_spot_mask(
            batch, self.config.masked_fraction, self.config.neighborhood_radius, self.generator, self.config.replacement
        )
        return masked_mse(self.model(masked), batch, mask)

    def validation_loss(self) -> float:
        total, count = 0.0, 0
        for start in range(0, len(self.val_target), self.config.batch_size):
            chunk = slice(start, start + self.config.batch_size)
            mask = self.val_mask[chunk].expand_as(self.val_target[chunk])
            error = (self.model(self.val_masked[chunk]).float() - self.val_target[chunk])[mask]
            total += float((error**2).sum())
            count += error.numel()
        return total / max(count, 1)

    def generators(self) -> list[torch.Generator]:
        return [self.generator, self.sampler.generator]

    def preview(self) -> np.ndarray | None:
        if self.preview_source is None:
            return None
        return self.preview_source(self.model)

    def model_record(self) -> dict:
        return N2VModel(self.model, self.config, self.normalizer).model_record()


class N2VPreview:
    """Predicts one preview image with ``axes`` (the model's default when ``None``) with the current network (for live display)."""

    def __init__(self, image: np.ndarray, config: N2VConfig, normalizer: Normalizer, axes: str | None = None) -> None:
        self.image = image
        self.config = config
        self.normalizer = normalizer
        self.axes = axes

    def __call__(self, net: UNet) -> np.ndarray:
        return N2VModel(net, self.config, self.normalizer).predict(self.image, axes=self.axes, name="preview image")
