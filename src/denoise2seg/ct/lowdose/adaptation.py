"""Self-supervised adaptation of the denoiser to one low-dose scan (Algorithm 1 of the paper).

For a test low-dose scan X: the frozen copy f_theta makes the pseudo normal dose
Y~ = f_theta(X); pseudo-noise (the ensemble of the noise models' maps Z_m = N_m(X), or a
baseline) makes the pseudo low dose X~ = Y~ + noise; the trained copy f_theta* takes a
step on ||f_theta*(X~) - Y~||^2 (Eq. 4) on a batch of augmented patches; every C steps
theta <- theta* and Y~ is recomputed. The result is f_theta(X). Every step is a step of
the project's training loop, so the GUI and CLI see the usual events.
"""

from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch

from ...training import TrainingEvent, TrainingTask, choose_device, run_training
from ...validation import check_image
from .augment import center_crop, random_rescale_flip, source_patch_size
from .config import AdaptationConfig
from .models import LowDoseDenoiser, NoiseModel, apply_slices
from .pseudo_pairs import ensemble_noise, gaussian_noise, histogram_noise
from .units import hu_to_unit, unit_to_hu

#: Validation batches of fixed pseudo pairs (monitoring only: there is no ground truth).
VALIDATION_BATCHES = 2


class PseudoCTTask(TrainingTask):
    """The update step of Algorithm 1 as a :class:`~denoise2seg.training.TrainingTask`.

    ``self.model`` is f_theta* (trained); ``self.teacher`` is f_theta (frozen, copied
    from f_theta* every ``update_period`` optimiser steps). ``low_dose`` is
    ``(N, H, W)`` in normalised units, ``noise_maps`` ``(m, N, H, W)`` (``None`` for the
    Gaussian and histogram noise), ``histogram`` the training pairs' difference values
    (:func:`~.pseudo_pairs.difference_histogram`) for the histogram noises.
    ``copy_steps`` lists the optimiser steps after which theta was copied.
    """

    def __init__(
        self,
        denoiser: torch.nn.Module,
        low_dose: np.ndarray,
        noise_maps: np.ndarray | None,
        config: AdaptationConfig,
        preview_index: int = 0,
        histogram: np.ndarray | None = None,
    ) -> None:
        self.model = denoiser
        self.config = config
        device = next(denoiser.parameters()).device
        self.teacher = copy.deepcopy(denoiser).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.low_dose = torch.as_tensor(low_dose, dtype=torch.float32, device=device).unsqueeze(1)
        self.noise_maps = None if noise_maps is None else torch.as_tensor(np.moveaxis(noise_maps, 0, 1), dtype=torch.float32, device=device)
        self.difference_values = None if histogram is None else torch.as_tensor(histogram, dtype=torch.float32, device=device)
        self.source_size = source_patch_size(config.patch_size, config.scale_range)
        seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.preview_index = preview_index
        self.updates = 0
        self.copy_steps: list[int] = []
        self._refresh_pseudo_clean()
        fixed = torch.Generator(device=device)
        fixed.manual_seed(seed + 1)
        self.val_inputs, self.val_targets = self._pseudo_pairs(VALIDATION_BATCHES * config.batch_size, fixed, augment=False)

    def _refresh_pseudo_clean(self) -> None:
        self.pseudo_clean = self._apply(self.teacher)

    def _apply(self, net: torch.nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return torch.as_tensor(apply_slices(net, self.low_dose[:, 0].cpu().numpy()), device=self.low_dose.device).unsqueeze(1)

    def sync_teacher(self) -> None:
        """Copy theta <- theta* for every multiple of ``update_period`` reached by the optimiser steps so far."""
        period = self.config.update_period
        if period is None:
            return
        due = self.updates // period
        if due > len(self.copy_steps):
            self.teacher.load_state_dict(self.model.state_dict())
            self.copy_steps.extend(range((len(self.copy_steps) + 1) * period, due * period + 1, period))
            self._refresh_pseudo_clean()

    def _cut(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``(count, 2 + m, S, S)`` source patches of [Y~, X, Z_1..Z_m] at random slices and positions."""
        fields = [self.pseudo_clean, self.low_dose] + ([] if self.noise_maps is None else [self.noise_maps])
        stack = torch.cat(fields, dim=1)
        n, _, height, width = stack.shape
        size = self.source_size
        device = stack.device
        which = torch.randint(0, n, (count,), device=device, generator=generator).tolist()
        ys = torch.randint(0, height - size + 1, (count,), device=device, generator=generator).tolist()
        xs = torch.randint(0, width - size + 1, (count,), device=device, generator=generator).tolist()
        return torch.stack([stack[i, :, y : y + size, x : x + size] for i, y, x in zip(which, ys, xs)])

    def pseudo_noise(self, patches: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise ``(B, 1, S, S)`` for source patches laid out as in :meth:`_cut`."""
        shape = patches[:, :1].shape
        noise = self.config.noise
        if noise == "ensemble":
            return ensemble_noise(patches[:, 2:].movedim(1, 0), generator).unsqueeze(1)
        if noise == "gaussian":
            return gaussian_noise(shape, self.config.gaussian_sd, patches.device, generator)
        hist = histogram_noise(self.difference_values, shape, generator)
        if noise == "hist":
            return hist
        return ensemble_noise(torch.stack([patches[:, 2:3], hist]), generator)

    def _pseudo_pairs(self, count: int, generator: torch.Generator, augment: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        patches = self._cut(count, generator)
        pseudo_clean = patches[:, :1]
        pair = torch.cat([pseudo_clean + self.pseudo_noise(patches, generator), pseudo_clean], dim=1)
        if augment:
            pair = random_rescale_flip(pair, self.config.patch_size, self.config.scale_range, generator)
        else:
            pair = center_crop(pair, self.config.patch_size)
        return pair[:, :1], pair[:, 1:]

    def training_loss(self) -> torch.Tensor:
        self.sync_teacher()
        pseudo_low, pseudo_clean = self._pseudo_pairs(self.config.batch_size, self.generator)
        loss = ((self.model(pseudo_low) - pseudo_clean) ** 2).mean()
        # run_training takes the optimiser step right after this returns.
        self.updates += 1
        return loss

    def validation_loss(self) -> float:
        return float(((self.model(self.val_inputs) - self.val_targets) ** 2).mean())

    def output_unit(self) -> torch.Tensor:
        """The current result ``(N, 1, H, W)``: f_theta(X), or f_theta*(X) without theta update."""
        if self.config.update_period is None:
            return self._apply(self.model)
        self.sync_teacher()
        return self.pseudo_clean

    def preview(self) -> np.ndarray | None:
        if self.config.update_period is None:
            unit = apply_slices(self.model, self.low_dose[self.preview_index : self.preview_index + 1, 0].cpu().numpy())[0]
        else:
            self.sync_teacher()
            unit = self.pseudo_clean[self.preview_index, 0].cpu().numpy()
        return unit_to_hu(unit)

    def model_record(self) -> dict:
        return {"kind": "lowdose-adaptation", "config": self.config.to_dict()}


class PseudoCTAdaptation:
    """Adapt a :class:`~.models.LowDoseDenoiser` to one low-dose scan.

    Parameters
    ----------
    denoiser : LowDoseDenoiser
        The pretrained f_theta (left unchanged: adaptation works on a copy).
    low_dose_hu : array ``(H, W)`` or ``(N, H, W)``
        The test scan in HU; slices at least ``ceil(patch_size / min(scale_range))`` px.
    noise_models : list of NoiseModel
        ``"ensemble"``: one per training subject; ``"model+hist"``: exactly one, trained
        on all subjects; ignored by ``"gaussian"`` and ``"hist"``.
    config : AdaptationConfig
    histogram : array, optional
        ``"hist"`` and ``"model+hist"``: the difference values LDCT - NDCT of the training
        pairs (:func:`~.pseudo_pairs.difference_histogram`; stored in the model folder by
        training, :meth:`~.folder.PseudoCTFolder.load_noise_histogram`).
    preview_index : int
        Slice shown in ``"preview"`` events (default: the middle one).

    Use ``for event in adaptation.run(): ...`` then :meth:`denoised`.
    """

    def __init__(
        self,
        denoiser: LowDoseDenoiser,
        low_dose_hu,
        noise_models: list[NoiseModel] | None = None,
        config: AdaptationConfig | None = None,
        *,
        device: str | torch.device | None = "auto",
        preview_index: int | None = None,
        histogram: np.ndarray | None = None,
    ) -> None:
        config = config or AdaptationConfig()
        array = check_image(low_dose_hu, ndim=(2, 3), name="low-dose scan")
        self.single_slice = array.ndim == 2
        slices = array[None] if self.single_slice else array
        needed = source_patch_size(config.patch_size, config.scale_range)
        if min(slices.shape[-2:]) < needed:
            raise ValueError(f"slices of {slices.shape[-2:]} px are smaller than the {needed} px zoomed patches need; lower patch_size")
        noise_models = list(noise_models or [])
        if config.noise == "ensemble" and not noise_models:
            raise ValueError("the ensemble noise needs at least one noise model (one per training subject)")
        if config.noise == "model+hist" and len(noise_models) != 1:
            raise ValueError(f"model+hist uses exactly one noise model (trained on all subjects), got {len(noise_models)}")
        if config.noise in ("hist", "model+hist") and (histogram is None or np.asarray(histogram).size == 0):
            raise ValueError(
                f"the {config.noise} pseudo-noise samples the training pairs' LDCT - NDCT histogram; pass histogram= "
                "(noise_histogram.npy of a model folder trained with this version, or difference_histogram of the pairs)"
            )
        torch_device = choose_device(device)
        low_unit = hu_to_unit(slices)
        noise_maps = None
        if config.noise in ("ensemble", "model+hist"):
            for model in noise_models:
                model.net.to(torch_device)
            noise_maps = np.stack([model.predict_unit(low_unit) for model in noise_models])
        if config.seed is not None:
            torch.manual_seed(config.seed)
        net = copy.deepcopy(denoiser.net).to(torch_device)
        index = len(slices) // 2 if preview_index is None else int(preview_index)
        if not 0 <= index < len(slices):
            raise ValueError(f"preview_index {index} is outside the {len(slices)} slices")
        self.config = config
        self.record = denoiser.record
        self.task = PseudoCTTask(net, low_unit, noise_maps, config, index, histogram)

    def run(self, preview_every: int | None = None) -> Iterator[TrainingEvent]:
        """Run the update steps; yields step/preview/epoch/done events (previews in HU)."""
        every = max(1, self.config.steps // 20) if preview_every is None else preview_every
        yield from run_training(self.task, self.config.schedule(), preview_every=every)

    def denoised(self) -> np.ndarray:
        """The adapted result f_theta(X) in HU, shaped like the input scan."""
        out = unit_to_hu(self.task.output_unit()[:, 0].cpu().numpy())
        return out[0] if self.single_slice else out

    def adapted_denoiser(self) -> LowDoseDenoiser:
        """The network that produced :meth:`denoised`, as a denoiser that can be saved."""
        net = self.task.model if self.config.update_period is None else self.task.teacher
        record = {**self.record, "adaptation": self.config.to_dict()}
        return LowDoseDenoiser(copy.deepcopy(net).eval(), record)
