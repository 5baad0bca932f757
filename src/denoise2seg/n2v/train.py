"""Noise2Void training entry point: validate input, build the task, run the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..data.axes import channel_count, check_axes, spatial_letters, to_samples
from ..data.normalization import fit_normalizer
from ..data.splits import split_validation
from ..nets import UNet
from ..training import TrainingEvent, choose_device, run_training
from ..training.state import continue_into, continued_config, load_training_state
from ..validation import check_image, check_training_images, check_varies, named_images
from .config import N2VConfig
from .model import N2VModel
from .task import N2VPreview, N2VTask


def as_samples(images: list[np.ndarray], ndim: int) -> list[np.ndarray]:
    """Split stacks into single samples: an array with ``ndim + 1`` axes is a stack."""
    samples = []
    for image in images:
        samples.extend(list(image) if image.ndim == ndim + 1 else [image])
    return samples


def _axes_per_image(axes: str | Sequence[str], count: int) -> list[str]:
    """``axes`` for each of ``count`` images: one string for all, or one per image."""
    if isinstance(axes, str):
        return [axes] * count
    axes = list(axes)
    if len(axes) != count:
        raise ValueError(f"got {len(axes)} axes for {count} images; give one axes string for all of them or one per image")
    return axes


def _samples_with_axes(image, axes: str, name: str, config: N2VConfig) -> np.ndarray:
    """The ``(N, C, *spatial)`` float32 samples of one image with ``axes``, after checking axes, values and size."""
    axes = check_axes(axes, np.shape(image), name=name, spatial_ndim=config.ndim)
    array = check_image(image, ndim=len(axes), name=name)
    samples = to_samples(array, axes, spatial_ndim=config.ndim)
    spatial = samples.shape[2:]
    if any(s < p for s, p in zip(spatial, config.patch_shape)):
        raise ValueError(
            f"{name} of shape {array.shape} (axes {axes!r}) is {' x '.join(map(str, spatial))} pixels in "
            f"{', '.join(spatial_letters(config.ndim))}, smaller than the patch shape {config.patch_shape}; "
            "choose a smaller patch size or check the axes"
        )
    return samples


def training_samples(
    images, config: N2VConfig, *, axes: str | Sequence[str] | None = None, names: Sequence[str] | None = None
) -> list[np.ndarray]:
    """Check ``images`` and return all their samples as ``(C, *spatial)`` float32 arrays (stacks split, channels first).

    Without ``axes`` every image has ``config.ndim`` axes or is a stack of such (one more
    leading axis), with one channel. With ``axes`` (one string for all images or one per
    image, see :mod:`denoise2seg.data.axes`) the images are rearranged by them and must
    all have the same number of channels. ``names`` (one per image) are used in errors.
    Raises ``ValueError`` for wrong axes or dimensions, NaN/inf, a constant image, an
    empty list or an image smaller than a patch.
    """
    if axes is None:
        checked = check_training_images(images, ndim=(config.ndim, config.ndim + 1), min_shape=config.patch_shape, names=names)
        return [sample[None] for sample in as_samples(checked, config.ndim)]
    images, names = named_images(images, names)
    per_image = [
        _samples_with_axes(image, image_axes, name, config)
        for image, image_axes, name in zip(images, _axes_per_image(axes, len(images)), names)
    ]
    counts = [samples.shape[1] for samples in per_image]
    for name, count in zip(names, counts):
        if count != counts[0]:
            raise ValueError(
                f"{name} has {count} channel{'s' * (count != 1)} but {names[0]} has {counts[0]}; train on images "
                "with the same channels"
            )
    for samples, name in zip(per_image, names):
        check_varies(samples, name=name)
    return [sample for samples in per_image for sample in samples]


def train_n2v(
    images,
    config: N2VConfig | None = None,
    *,
    axes: str | Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_image: np.ndarray | None = None,
    preview_axes: str | None = None,
    preview_every: int = 0,
    resume: str | Path | None = None,
    more_epochs: int | None = None,
) -> Iterator[TrainingEvent]:
    """Train Noise2Void on ``images`` and yield training events.

    Parameters
    ----------
    images : array or list of arrays
        Noisy images (all of them: labelled or not); sizes may differ.
    config : N2VConfig
        Settings (paper defaults when omitted).
    axes : str or list of str, optional
        Axes of the images (``"CYX"``, ``"TYX"``, ``"YXC"``...; one for all or one per
        image; see :mod:`denoise2seg.data.axes`). Channels become the network's input and
        output channels, normalised each on its own; the other non-spatial axes are
        samples. By default each image has ``config.ndim`` axes or is a stack of such
        (one more leading axis), one channel.
    names : list of str, optional
        Names of the images (files, layers) for error messages.
    out_dir : path, optional
        Model folder to write (best and last weights, config, normalisation).
    device : str
        ``"auto"`` (CUDA, MPS, CPU), ``"cuda"``, ``"mps"`` or ``"cpu"``.
    preview_image : array, optional
        Image denoised for ``"preview"`` events (every ``preview_every`` steps, or at
        the end of each epoch), with ``preview_axes`` (by default those of the first
        image when ``axes`` are given, else the default of :meth:`N2VModel.predict`).
    resume : path, optional
        Model folder of an earlier run (stopped or finished) to continue: its settings,
        normalisation and last weights are used, and its step count, optimiser state,
        learning rate and random streams go on (see :mod:`denoise2seg.training.state`).
        ``config`` may then only change ``epochs``, the total counted from the first
        run's start (``None`` continues to the planned end), or ``more_epochs`` adds
        that many epochs to those the run has begun. ``out_dir`` defaults to
        ``resume`` (continued in place); another folder gets a copy of its best model
        first and ``resume`` stays unchanged. The images may differ (more of them, say).

    The input is checked before anything trains: wrong axes or dimensions, NaN/inf, a
    constant (all-zero, say) image, an empty list or images smaller than a patch raise
    ``ValueError``.
    """
    previous = state = None
    if resume is not None:
        previous = N2VModel.load(resume, device=device, which="last")
        state = load_training_state(resume)
        config = continued_config(previous.config, state, config, more_epochs=more_epochs, folder=resume)
    config = (config or N2VConfig()).with_seed()
    samples = training_samples(images, config, axes=axes, names=names)
    channels = samples[0].shape[0]
    if previous is not None and previous.channels != channels:
        raise ValueError(
            f"{resume} was trained on {previous.channels}-channel images, these have {channels}; continue it with "
            f"images of {previous.channels} channel{'s' * (previous.channels != 1)}, or start a new training"
        )
    if preview_image is not None and preview_axes is None and axes is not None:
        preview_axes = axes if isinstance(axes, str) else list(axes)[0]
    if preview_image is not None and preview_axes is not None:
        preview_axes = check_axes(preview_axes, np.shape(preview_image), name="preview image", spatial_ndim=config.ndim)
        if channel_count(np.shape(preview_image), preview_axes) != channels:
            raise ValueError(
                f"the preview image of shape {np.shape(preview_image)} (axes {preview_axes!r}) has "
                f"{channel_count(np.shape(preview_image), preview_axes)} channels, the training images {channels}"
            )
    if config.seed is not None:
        torch.manual_seed(config.seed)
    if previous is not None:
        normalizer = previous.normalizer
    else:
        normalizer = fit_normalizer(samples, config.normalization, config.percentile_low, config.percentile_high, per_channel=True)
    normalized = [normalizer.normalize(s) for s in samples]
    train_images, val_patches = split_validation(
        normalized,
        config.patch_shape,
        config.validation_fraction,
        config.seed,
        multiple=2**config.depth,
        min_rows=2 * config.neighborhood_radius + 1,
    )
    torch_device = choose_device(device)
    net = previous.net.train() if previous is not None else UNet(config.unet_spec(channels)).to(torch_device)
    if resume is not None:
        out_dir = continue_into(resume, out_dir)
    preview = None
    if preview_image is not None:
        preview = N2VPreview(np.asarray(preview_image, dtype=np.float32), config, normalizer, preview_axes)
    task = N2VTask(net, config, normalizer, train_images, val_patches, preview)
    yield from run_training(task, config.schedule(), out_dir=out_dir, preview_every=preview_every, resume=state)
