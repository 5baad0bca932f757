"""Noise2Void training entry point: validate input, build the task, run the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..data.normalization import fit_normalizer
from ..data.splits import split_validation
from ..nets import UNet
from ..training import TrainingEvent, choose_device, run_training
from ..validation import check_training_images
from .config import N2VConfig
from .task import N2VPreview, N2VTask


def as_samples(images: list[np.ndarray], ndim: int) -> list[np.ndarray]:
    """Split stacks into single samples: an array with ``ndim + 1`` axes is a stack."""
    samples = []
    for image in images:
        samples.extend(list(image) if image.ndim == ndim + 1 else [image])
    return samples


def train_n2v(
    images,
    config: N2VConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_image: np.ndarray | None = None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Train Noise2Void on ``images`` and yield training events.

    Parameters
    ----------
    images : array or list of arrays
        Noisy images (all of them: labelled or not), each 2D/3D (``config.ndim`` axes)
        or a stack of such (one more leading axis); sizes may differ.
    config : N2VConfig
        Settings (paper defaults when omitted).
    out_dir : path, optional
        Model folder to write (best and last weights, config, normalisation).
    device : str
        ``"auto"`` (CUDA, MPS, CPU), ``"cuda"``, ``"mps"`` or ``"cpu"``.
    preview_image : array, optional
        Image denoised for ``"preview"`` events (every ``preview_every`` steps, or at
        the end of each epoch).

    The input is checked before anything trains: wrong dimensions, NaN/inf, a constant
    (all-zero, say) image, an empty list or images smaller than a patch raise ``ValueError``.
    """
    config = config or N2VConfig()
    checked = check_training_images(images, ndim=(config.ndim, config.ndim + 1), min_shape=config.patch_shape)
    samples = as_samples(checked, config.ndim)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    normalizer = fit_normalizer(samples, config.normalization, config.percentile_low, config.percentile_high)
    normalized = [normalizer.normalize(s)[None] for s in samples]
    train_images, val_patches = split_validation(
        normalized,
        config.patch_shape,
        config.validation_fraction,
        config.seed,
        multiple=2**config.depth,
        min_rows=2 * config.neighborhood_radius + 1,
    )
    torch_device = choose_device(device)
    net = UNet(config.unet_spec()).to(torch_device)
    preview = None
    if preview_image is not None:
        preview = N2VPreview(np.asarray(preview_image, dtype=np.float32), config, normalizer)
    task = N2VTask(net, config, normalizer, train_images, val_patches, preview)
    yield from run_training(task, config.schedule(), out_dir=out_dir, preview_every=preview_every)
