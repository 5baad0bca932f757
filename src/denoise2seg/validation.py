"""Checks at the boundary: images and label masks as they enter from users, files or layers."""

from __future__ import annotations

import numpy as np


def check_image(image, *, ndim: int | tuple[int, ...], name: str = "image") -> np.ndarray:
    """Return ``image`` as a float32 array after checking dimensions and values.

    Raises ``ValueError`` with a message a user can act on when the array has the wrong
    number of dimensions, is empty, or holds NaN/inf.
    """
    array = np.asarray(image)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        wanted = " or ".join(f"{d}D" for d in allowed)
        raise ValueError(f"{name} must be {wanted}, got an array of shape {array.shape} ({array.ndim}D)")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        n_bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; fill or remove them before training")
    return array


def check_images(images, *, ndim: int | tuple[int, ...], min_shape: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Check a non-empty list of images (see :func:`check_image`), each at least ``min_shape``."""
    if isinstance(images, np.ndarray):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("no images given: pass at least one image")
    checked = []
    for i, image in enumerate(images):
        array = check_image(image, ndim=ndim, name=f"image {i}")
        if min_shape is not None and any(s < m for s, m in zip(array.shape[-len(min_shape):], min_shape)):
            raise ValueError(
                f"image {i} of shape {array.shape} is smaller than the patch shape {tuple(min_shape)}; "
                "choose a smaller patch size"
            )
        checked.append(array)
    return checked
