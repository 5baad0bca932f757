"""The segmentation training task: labelled patches, augmentation, 3-class or StarDist loss."""

from __future__ import annotations

import numpy as np
import torch

from ..data.augment import random_dihedral
from ..data.patches import PatchSampler
from ..training import TrainingTask
from .config import SegmentationConfig
from .model import SegmentationModel
from .star_convex import PREVIEW_CANDIDATES_3D, random_dihedral_rays, stardist_loss
from .three_class import weighted_cross_entropy


class SegmentationTask(TrainingTask):
    """Trains ``model.net`` on network inputs and their targets.

    ``train_inputs``/``val_inputs`` are ``(C, *spatial)`` network inputs (normalised,
    and denoised for the sequential schemes; spatial ``Y, X`` or ``Z, Y, X``); targets
    are ``(1, *spatial)`` int64 class maps (U-Net, -1 = ignored) or ``(2 + n_rays,
    *spatial)`` float32 StarDist targets. ``preview_input`` (a network input of one
    frame) is segmented for preview events.

    Augmentation: flips and Y/X rotations (:func:`~denoise2seg.data.augment.random_dihedral`,
    Z flipped too in 3D), with the 2D StarDist rays permuted to match. 3D StarDist
    patches are not flipped or rotated: stardist's golden-spiral rays do not map onto
    each other under those, so the distance targets would have to be recomputed for
    every patch.
    """

    def __init__(
        self,
        model: SegmentationModel,
        train_inputs: list[np.ndarray],
        train_targets: list[np.ndarray],
        val_inputs: list[np.ndarray],
        val_targets: list[np.ndarray],
        preview_input: np.ndarray | None = None,
    ) -> None:
        self.segmentation = model
        self.model = model.net
        self.config: SegmentationConfig = model.config
        device = next(self.model.parameters()).device
        seed = self.config.seed if self.config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.sampler = PatchSampler(train_inputs, self.config.patch_shape, device, targets=train_targets, seed=seed + 1)
        self.val = [
            (torch.as_tensor(x[None], device=device), torch.as_tensor(t[None], device=device)) for x, t in zip(val_inputs, val_targets)
        ]
        self.preview_input = preview_input

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.config.method == "unet":
            # The denoising channel (index 3) carries the N2V head for finetuning and gets no loss here.
            return weighted_cross_entropy(output[:, :3], targets[:, 0], self.config.border_weight)
        return stardist_loss(
            output,
            targets,
            self.config.stardist_prob_weight,
            self.config.stardist_dist_weight,
            self.config.stardist_background_reg,
        )

    def training_loss(self) -> torch.Tensor:
        batch, targets = self.sampler.sample(self.config.batch_size)
        if self.config.augment:
            if self.config.method == "unet":
                batch, targets = random_dihedral(batch, targets, generator=self.generator)
            elif self.config.ndim == 2:
                batch, targets = random_dihedral_rays(batch, targets, self.config.n_rays, generator=self.generator)
        return self.loss(self.model(batch), targets)

    def validation_loss(self) -> float:
        divisor = self.model.spec.divisor
        total = 0.0
        for image, targets in self.val:
            spatial = image.shape[2:]
            pad = [amount for size in reversed(spatial) for amount in (0, -size % divisor)]
            padded = torch.nn.functional.pad(image, pad, mode="reflect")
            output = self.model(padded)[(..., *(slice(0, size) for size in spatial))]
            total += float(self.loss(output, targets))
        return total / len(self.val)

    def generators(self) -> list[torch.Generator]:
        return [self.generator, self.sampler.generator]

    def preview(self) -> np.ndarray | None:
        if self.preview_input is None:
            return None
        # A 3D StarDist preview bounds its NMS candidates, so that it takes seconds, not minutes.
        limit = PREVIEW_CANDIDATES_3D if self.config.ndim == 3 else None
        return self.segmentation.instances(self.segmentation.raw_output(self.preview_input), max_candidates=limit)

    def model_record(self) -> dict:
        return self.segmentation.record()
