"""The TIFF images and instance masks the segmentation commands read, checked the same way by each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.tiff import read_tiffs
from ..validation import check_images, check_label_mask, check_training_images
from .file_axes import single_channel_frames


def check_pairs(images: list[Path], labels: list[Path]) -> None:
    """``ValueError`` unless there is one label mask per image."""
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} label masks; give one mask per image")


def read_frames(paths: list[Path], axes: str | None, *, for_training: bool = False, ndim: int = 2) -> list[np.ndarray]:
    """The images at ``paths`` as frames or stacks of frames (2D images, or volumes for ``ndim`` 3; ``axes`` as ``--axes``).

    Channels are refused. ``for_training`` also refuses constant images and the like
    (:func:`~denoise2seg.validation.check_training_images`).
    """
    frames = single_channel_frames(paths, read_tiffs(paths), axes, spatial_ndim=ndim)
    check = check_training_images if for_training else check_images
    return check(frames, ndim=(ndim, ndim + 1), names=[str(p) for p in paths])


def read_masks(paths: list[Path]) -> list[np.ndarray]:
    """The instance masks at ``paths``, each checked to hold whole-number ids."""
    return [check_label_mask(mask, name=str(path)) for path, mask in zip(paths, read_tiffs(paths))]
