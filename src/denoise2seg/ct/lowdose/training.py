"""Training of the base denoiser f_theta (N2C, N2N, N2V) and of the per-subject noise models.

Both are patch regressions on normalised slices plugged into the project's training loop
(:func:`denoise2seg.training.run_training`): an input channel and a target channel are
cut at the same random position (a source patch large enough for the zoom), augmented
together (:func:`~.augment.random_rescale_flip`) and split again. Noise2Void instead
masks the low-dose patch and takes N2V's masked squared error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ...data.patches import PatchSampler
from ...data.splits import grid_patches
from ...n2v.masking import blind_spot_mask, masked_mse
from ...nets import UNet
from ...nets.redcnn import REDCNN
from ...training import TrainingEvent, TrainingTask, choose_device, run_training
from .augment import random_rescale_flip, source_patch_size
from .config import DenoiserConfig, NoiseModelConfig, PatchTrainingConfig
from .models import DENOISER_KIND, NOISE_MODEL_KIND, apply_slices
from .subjects import LowDoseSubject
from .units import HU_OFFSET, HU_RANGE, hu_to_unit, noise_unit_to_hu, unit_to_hu


def split_rows(images: list[np.ndarray], patch_size: int, source_size: int, fraction: float, seed: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Hold out the last rows of each ``(C, H, W)`` image as validation patches.

    A strip of ``max(fraction * H, patch_size)`` rows is held out when at least
    ``source_size`` rows remain for training; it is cut into ``patch_size`` patches.
    When no image is tall enough, a fixed random set of training patches validates.
    Returns the training images and ``(M, C, patch_size, patch_size)`` validation patches.
    """
    train, val = [], []
    shape = (patch_size, patch_size)
    for image in images:
        rows = image.shape[-2]
        strip = max(int(np.ceil(fraction * rows)), patch_size)
        if rows - strip >= source_size:
            train.append(image[..., : rows - strip, :])
            val.extend(grid_patches(image[..., rows - strip :, :], shape))
        else:
            train.append(image)
    if not val:
        candidates = [p for image in train for p in grid_patches(image, shape)]
        count = max(1, int(round(fraction * len(candidates))))
        val = [candidates[i] for i in np.random.default_rng(seed).choice(len(candidates), count, replace=False)]
    return train, np.stack(val)


class PatchRegressionTask(TrainingTask):
    """Random augmented patches of ``(2, H, W)`` images: channel 0 input, channel 1 target.

    ``loss`` is ``"l1"`` (N2C, N2N, noise models) or ``"n2v"`` (channel 1 ignored: the
    input is blind-spot masked and the masked squared error to the input is taken).
    """

    def __init__(
        self,
        net: nn.Module,
        config: PatchTrainingConfig,
        images: list[np.ndarray],
        record: dict,
        *,
        loss: str = "l1",
        preview: Callable[[nn.Module], np.ndarray] | None = None,
    ) -> None:
        self.model = net
        self.config = config
        self.loss = loss
        self.record = record
        device = next(net.parameters()).device
        seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self.source_size = source_patch_size(config.patch_size, config.scale_range)
        train, val = split_rows(images, config.patch_size, self.source_size, config.validation_fraction, seed)
        self.sampler = PatchSampler(train, (self.source_size,) * 2, device, seed=seed)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed + 1)
        self.val = torch.as_tensor(val, dtype=torch.float32, device=device)
        if loss == "n2v":
            fixed = torch.Generator(device=device)
            fixed.manual_seed(seed + 2)
            self.val_masked, self.val_mask = blind_spot_mask(self.val[:, :1], config.masked_fraction, config.neighborhood_radius, fixed)
        self.preview_source = preview

    def _loss(self, batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        inputs, targets = batch[:, :1], batch[:, 1:]
        if self.loss == "n2v":
            if generator is None:
                masked, mask = self.val_masked, self.val_mask
            else:
                masked, mask = blind_spot_mask(inputs, self.config.masked_fraction, self.config.neighborhood_radius, generator)
            return masked_mse(self.model(masked), inputs, mask)
        return (self.model(inputs) - targets).abs().mean()

    def training_loss(self) -> torch.Tensor:
        batch = random_rescale_flip(self.sampler.sample(self.config.batch_size), self.config.patch_size, self.config.scale_range, self.generator)
        return self._loss(batch, self.generator)

    def validation_loss(self) -> float:
        if self.loss == "n2v":
            return float(self._loss(self.val, None))
        total = 0.0
        for start in range(0, len(self.val), self.config.batch_size):
            chunk = self.val[start : start + self.config.batch_size]
            total += float(self._loss(chunk, None)) * len(chunk)
        return total / len(self.val)

    def preview(self) -> np.ndarray | None:
        if self.preview_source is None:
            return None
        return self.preview_source(self.model)

    def model_record(self) -> dict:
        return self.record


def _check_subjects(subjects: list[LowDoseSubject], source_size: int, need_repeat: bool) -> None:
    if not subjects:
        raise ValueError("no training subjects given: pass at least one pair of low-dose and normal-dose scans")
    for subject in subjects:
        if min(subject.low_dose.shape[-2:]) < source_size:
            raise ValueError(
                f"subject {subject.name!r} has slices of {subject.low_dose.shape[-2:]} px, smaller than the "
                f"{source_size} px needed for zoomed patches; lower patch_size or the smallest scale"
            )
        if need_repeat and subject.low_dose_repeat is None:
            raise ValueError(
                f"Noise2Noise needs two independent low-dose scans per subject; {subject.name!r} has only one"
            )


def denoiser_images(subjects: list[LowDoseSubject], scheme: str) -> list[np.ndarray]:
    """Input/target images ``(2, H, W)`` in normalised units for a training scheme.

    N2C: (low dose, normal dose). N2N: (first, second) and (second, first) low-dose
    realisations. N2V: (low dose, low dose); the target channel is not used.
    """
    images = []
    for subject in subjects:
        low = hu_to_unit(subject.low_dose)
        if scheme == "n2c":
            pairs = [(low, hu_to_unit(subject.normal_dose))]
        elif scheme == "n2n":
            repeat = hu_to_unit(subject.low_dose_repeat)
            pairs = [(low, repeat), (repeat, low)]
        else:
            pairs = [(low, low)]
        for inputs, targets in pairs:
            images.extend(np.stack([x, y]) for x, y in zip(inputs, targets))
    return images


def train_denoiser(
    subjects: list[LowDoseSubject],
    config: DenoiserConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_slice: np.ndarray | None = None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Train the base RED-CNN denoiser f_theta on ``subjects``; yields training events.

    ``preview_slice`` (HU, 2D) is denoised for ``"preview"`` events (HU). The model
    folder ``out_dir`` loads with :meth:`~.models.LowDoseDenoiser.load`.
    """
    config = config or DenoiserConfig()
    _check_subjects(subjects, source_patch_size(config.patch_size, config.scale_range), config.scheme == "n2n")
    if config.seed is not None:
        torch.manual_seed(config.seed)
    net = REDCNN(config.network_spec()).to(choose_device(device))
    record = {
        "kind": DENOISER_KIND,
        "network": net.spec.to_dict(),
        "config": config.to_dict(),
        "units": {"hu_offset": HU_OFFSET, "hu_range": HU_RANGE},
        "subjects": [s.name for s in subjects],
    }
    task = PatchRegressionTask(
        net,
        config,
        denoiser_images(subjects, config.scheme),
        record,
        loss="n2v" if config.scheme == "n2v" else "l1",
        preview=None if preview_slice is None else _DenoisedPreview(preview_slice),
    )
    yield from run_training(task, config.schedule(), out_dir=out_dir, preview_every=preview_every)


def train_noise_model(
    subjects: list[LowDoseSubject],
    config: NoiseModelConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_slice: np.ndarray | None = None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Train one U-Net noise model on ``subjects`` (the paper: one subject per model).

    Learns Z = X - Y from X with an L1 loss, in normalised units; previews show the
    predicted noise map in HU.
    """
    config = config or NoiseModelConfig()
    source_size = source_patch_size(config.patch_size, config.scale_range)
    _check_subjects(subjects, source_size, False)
    divisor = 2**config.depth
    if config.patch_size % divisor:
        raise ValueError(f"patch_size {config.patch_size} must be divisible by 2**depth = {divisor} for the U-Net")
    if config.seed is not None:
        torch.manual_seed(config.seed)
    net = UNet(config.network_spec()).to(choose_device(device))
    images = []
    for subject in subjects:
        low = hu_to_unit(subject.low_dose)
        noise = low - hu_to_unit(subject.normal_dose)
        images.extend(np.stack([x, z]) for x, z in zip(low, noise))
    record = {
        "kind": NOISE_MODEL_KIND,
        "network": net.spec.to_dict(),
        "config": config.to_dict(),
        "units": {"hu_offset": HU_OFFSET, "hu_range": HU_RANGE},
        "subject": "+".join(s.name for s in subjects),
    }
    preview = None if preview_slice is None else _NoisePreview(preview_slice)
    task = PatchRegressionTask(net, config, images, record, preview=preview)
    yield from run_training(task, config.schedule(), out_dir=out_dir, preview_every=preview_every)


class _DenoisedPreview:
    """The current denoiser's output (HU) for one low-dose slice (HU)."""

    def __init__(self, slice_hu: np.ndarray) -> None:
        self.unit = hu_to_unit(slice_hu)[None]

    def __call__(self, net: nn.Module) -> np.ndarray:
        return unit_to_hu(apply_slices(net, self.unit)[0])


class _NoisePreview(_DenoisedPreview):
    """The current noise model's noise map (HU) for one low-dose slice (HU)."""

    def __call__(self, net: nn.Module) -> np.ndarray:
        spec = net.spec
        return noise_unit_to_hu(apply_slices(net, self.unit, divisor=spec.divisor, halo=spec.receptive_radius)[0])
