"""Training/validation split of a list of images for patch-based training."""

from __future__ import annotations

import numpy as np


def grid_patches(image: np.ndarray, patch_shape: tuple[int, ...]) -> list[np.ndarray]:
    """Non-overlapping patches of ``patch_shape`` from a ``(C, *spatial)`` image."""
    counts = [s // p for s, p in zip(image.shape[1:], patch_shape)]
    patches = []
    for index in np.ndindex(*counts):
        window = tuple(slice(i * p, (i + 1) * p) for i, p in zip(index, patch_shape))
        patches.append(image[(slice(None), *window)])
    return patches


def split_validation_strip(
    images: list[np.ndarray], patch_shape: tuple[int, ...], fraction: float, seed: int | None = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Hold out the last rows (axis -2) of each image for validation.

    Each ``(C, *spatial)`` image loses a strip of ``max(fraction * Y, patch Y)`` rows when
    at least one patch height remains for training; the strips are cut into
    non-overlapping validation patches. Images too small to split stay whole in the
    training set. When no image can be split, validation patches are a fixed random
    selection of grid patches of the training images (they then overlap training data,
    which for self-supervised denoising only makes the validation loss less strict).

    Returns the training images and a ``(M, C, *patch_shape)`` array of validation patches.
    """
    train, val = [], []
    patch_y = patch_shape[-2]
    for image in images:
        rows = image.shape[-2]
        strip = max(int(np.ceil(fraction * rows)), patch_y)
        if rows - strip >= patch_y:
            train.append(image[..., : rows - strip, :])
            val.extend(grid_patches(image[..., rows - strip :, :], patch_shape))
        else:
            train.append(image)
    if not val:
        candidates = [p for image in train for p in grid_patches(image, patch_shape)]
        rng = np.random.default_rng(seed)
        count = max(1, int(round(fraction * len(candidates))))
        val = [candidates[i] for i in rng.choice(len(candidates), count, replace=False)]
    return train, np.stack(val)
