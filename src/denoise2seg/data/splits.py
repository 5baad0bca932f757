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


def split_validation(
    images: list[np.ndarray],
    patch_shape: tuple[int, ...],
    fraction: float,
    seed: int | None = 0,
    *,
    multiple: int = 1,
    min_rows: int = 1,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Hold out at most ``fraction`` of the pixels of ``(C, *spatial)`` images for validation.

    - Several images, and ``floor(fraction * n)`` >= 1 of them: those whole images
      (chosen with ``seed``) are held out and cut into ``patch_shape`` validation patches.
    - Otherwise (a single image, or too few to spare one): the last rows (axis -2) of
      every image, ``floor(fraction * rows)`` rounded down to a ``multiple`` of rows (the
      network's size divisor), at least ``min_rows``, for the smallest image; training
      keeps at least one patch height. Validation patches are then ``rows x patch`` wide.
    - When neither is possible (images too small), a fixed random selection of the
      training images' grid patches validates: they overlap training data, which for
      self-supervised denoising only makes the validation loss less strict.

    Returns the training images and a ``(M, C, *shape)`` array of validation patches.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n_held = int(np.floor(fraction * len(images)))
    fits = [i for i, image in enumerate(images) if all(s >= p for s, p in zip(image.shape[1:], patch_shape))]
    if len(images) >= 2 and n_held >= 1 and len(fits) > n_held:
        held = set(np.random.default_rng(seed).choice(fits, n_held, replace=False).tolist())
        val = [p for i in sorted(held) for p in grid_patches(images[i], patch_shape)]
        return [image for i, image in enumerate(images) if i not in held], np.stack(val)
    patch_y = patch_shape[-2]
    smallest = min(image.shape[-2] for image in images)
    rows = int(np.floor(fraction * smallest / multiple)) * multiple
    if rows >= min_rows and smallest - rows >= patch_y:
        strip_shape = (*patch_shape[:-2], rows, patch_shape[-1])
        train = [image[..., : image.shape[-2] - rows, :] for image in images]
        val = [p for image in images for p in grid_patches(image[..., image.shape[-2] - rows :, :], strip_shape)]
        if val:
            return train, np.stack(val)
    candidates = [p for image in images for p in grid_patches(image, patch_shape)]
    rng = np.random.default_rng(seed)
    count = max(1, int(round(fraction * len(candidates))))
    return list(images), np.stack([candidates[i] for i in rng.choice(len(candidates), count, replace=False)])
