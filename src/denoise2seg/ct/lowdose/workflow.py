"""Pseudo-CT training as one workflow: the base denoiser, then one noise model per subject (Won et al. 2021).

One event generator for the napari widget, ``denoise2seg pseudo-ct train`` and the tests,
writing a :class:`~.folder.PseudoCTFolder`. Stopping keeps every finished network and the
running one as trained so far; the networks not started yet are not written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ...training import Phase, TrainingEvent, run_phases
from .config import DenoiserConfig, NoiseModelConfig
from .folder import PseudoCTFolder
from .pseudo_pairs import difference_histogram
from .subjects import LowDoseSubject
from .training import train_denoiser, train_noise_model


def train_pseudo_ct(
    subjects: list[LowDoseSubject],
    denoiser_config: DenoiserConfig | None = None,
    noise_config: NoiseModelConfig | None = None,
    *,
    out_dir: str | Path,
    device: str | torch.device | None = "auto",
    single_noise_model: bool = False,
    preview_slice: np.ndarray | None = None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Train the denoiser on all ``subjects``, then one noise model per subject, into ``out_dir``.

    The training pairs' LDCT - NDCT histogram (for the "hist" pseudo-noises) is written
    into the folder at once, when this function is called.

    ``single_noise_model`` adds a noise model trained on all subjects (the "model+hist"
    pseudo-noise). ``preview_slice`` (HU, 2D) is denoised for the denoiser's ``"preview"``
    events. Events carry the phase (``"denoiser (n2c)"``, ``"noise model <subject>"``) and
    steps counted over all networks.
    """
    if not subjects:
        raise ValueError("no training subjects given: pass at least one pair of low-dose and normal-dose scans")
    denoiser_config = denoiser_config or DenoiserConfig()
    noise_config = noise_config or NoiseModelConfig()
    folder = PseudoCTFolder(out_dir)
    names = [subject.name for subject in subjects]
    if len({folder.noise_model(name) for name in names}) != len(names):
        raise ValueError(f"the subjects need distinct names (one noise-model folder each), got {names}")
    # The histogram baselines sample the training pairs' LDCT - NDCT (a small file, written first).
    folder.save_noise_histogram(difference_histogram([(s.low_dose, s.normal_dose) for s in subjects]))
    noise_steps = noise_config.schedule().total_steps
    phases = [
        Phase(
            f"denoiser ({denoiser_config.scheme})",
            denoiser_config.schedule().total_steps,
            lambda: train_denoiser(
                subjects, denoiser_config, out_dir=folder.denoiser, device=device, preview_slice=preview_slice, preview_every=preview_every
            ),
        )
    ]
    for subject in subjects:
        phases.append(
            Phase(
                f"noise model {subject.name}",
                noise_steps,
                lambda s=subject: train_noise_model([s], noise_config, out_dir=folder.noise_model(s.name), device=device),
            )
        )
    if single_noise_model:
        phases.append(
            Phase(
                "noise model (all subjects)",
                noise_steps,
                lambda: train_noise_model(subjects, noise_config, out_dir=folder.single_noise_model, device=device),
            )
        )
    return run_phases(phases)
