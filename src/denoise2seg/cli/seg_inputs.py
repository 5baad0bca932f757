"""The TIFF images and instance masks the segmentation commands read, checked the same way by each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.tiff import read_tiffs
from ..validation import check_images, check_label_mask, check_training_images
from .file_axes import segmentation_frames


def check_pairs(images: list[Path], labels: list[Path]) -> None:
    """``ValueError`` unless there is one label mask per image."""
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} label masks; give one mask per image")


def read_frames(
    paths: list[Path],
    axes: str | None,
    *,
    for_training: bool = False,
    ndim: int = 2,
    channels: int | None = 1,
    single_channel: str = "this model takes single-channel images",
) -> tuple[list[np.ndarray], int]:
    """The images at ``paths`` as frames or stacks of frames, and their channel count (``axes`` as ``--axes``).

    Frames are 2D images, or volumes for ``ndim`` 3, channels first when the files have
    channels; ``channels`` and ``single_channel`` as in
    :func:`~.file_axes.segmentation_frames`. ``for_training`` also refuses constant
    images and the like (:func:`~denoise2seg.validation.check_training_images`).
    """
    frames, count = segmentation_frames(
        paths, read_tiffs(paths), axes, spatial_ndim=ndim, channels=channels, single_channel=single_channel
    )
    check = check_training_images if for_training else check_images
    frame_ndim = ndim + (count > 1)
    return check(frames, ndim=(frame_ndim, frame_ndim + 1), names=[str(p) for p in paths]), count


def read_masks(paths: list[Path]) -> list[np.ndarray]:
    """The instance masks at ``paths``, each checked to hold whole-number ids."""
    return [check_label_mask(mask, name=str(path)) for path, mask in zip(paths, read_tiffs(paths))]
