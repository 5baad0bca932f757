"""The layout of a Pseudo-CT model folder: the base denoiser and one noise model per training subject.

::

    denoiser/                  RED-CNN f_theta (LowDoseDenoiser)
    noise_models/<subject>/    one U-Net noise model per training subject (the ensemble)
    noise_model_all/           optional: one noise model on all subjects (for "model+hist")
    noise_histogram.npy        LDCT - NDCT values of the training pairs (for "hist", "model+hist")

Every reader and writer of such a folder (the training workflow, adaptation, the
napari widget and the command line) goes through :class:`PseudoCTFolder`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...io.model_folder import ModelFolderError
from .adaptation import PseudoCTAdaptation
from .config import AdaptationConfig
from .models import LowDoseDenoiser, NoiseModel, load_noise_models


def subject_folder_name(subject_name: str) -> str:
    """A folder name for a subject: characters other than letters, digits, ``.``, ``-`` and ``_`` become ``_``."""
    return re.sub(r"[^\w.-]+", "_", subject_name).strip("._") or "subject"


@dataclass(frozen=True)
class PseudoCTFolder:
    """A Pseudo-CT model folder at ``root``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def denoiser(self) -> Path:
        return self.root / "denoiser"

    @property
    def noise_models(self) -> Path:
        return self.root / "noise_models"

    @property
    def single_noise_model(self) -> Path:
        return self.root / "noise_model_all"

    @property
    def noise_histogram(self) -> Path:
        return self.root / "noise_histogram.npy"

    def save_noise_histogram(self, values: np.ndarray) -> Path:
        """Write the training pairs' difference values (float32), creating the folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        np.save(self.noise_histogram, np.asarray(values, dtype=np.float32))
        return self.noise_histogram

    def load_noise_histogram(self) -> np.ndarray:
        if not self.noise_histogram.is_file():
            raise ModelFolderError(
                f"{self.noise_histogram} does not exist: train the models again with this version for the histogram noises"
            )
        return np.load(self.noise_histogram)

    def noise_model(self, subject_name: str) -> Path:
        """The folder of the noise model trained on the subject called ``subject_name``."""
        return self.noise_models / subject_folder_name(subject_name)

    def load_denoiser(self, device: str | torch.device | None = "auto") -> LowDoseDenoiser:
        return LowDoseDenoiser.load(self.denoiser, device)

    def load_noise_models(self, noise: str, device: str | torch.device | None = "auto") -> list[NoiseModel]:
        """The noise models a pseudo-noise source needs: the ensemble, the all-subject model, or none."""
        if noise == "ensemble":
            return load_noise_models(self.noise_models, device)
        if noise == "model+hist":
            if not (self.single_noise_model / "config.json").is_file():
                raise ModelFolderError(
                    f"{self.single_noise_model} holds no noise model: train with the all-subject noise model for 'model+hist'"
                )
            return [NoiseModel.load(self.single_noise_model, device)]
        return []

    def adaptation(
        self, low_dose_hu, config: AdaptationConfig, device: str | torch.device | None = "auto", preview_index: int | None = None
    ) -> PseudoCTAdaptation:
        """Algorithm 1 for the scan ``low_dose_hu`` with this folder's denoiser and what ``config.noise`` needs."""
        histogram = self.load_noise_histogram() if config.noise in ("hist", "model+hist") else None
        return PseudoCTAdaptation(
            self.load_denoiser(device),
            low_dose_hu,
            self.load_noise_models(config.noise, device),
            config,
            device=device,
            preview_index=preview_index,
            histogram=histogram,
        )
