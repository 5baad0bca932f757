"""Checks at the boundary: images and label masks as they enter from users, files or layers."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def check_image(image, *, ndim: int | tuple[int, ...], name: str = "image") -> np.ndarray:
    """Return ``image`` as a float32 array after checking dimensions and values.

    Raises ``ValueError`` with a message a user can act on when the array has the wrong
    number of dimensions, is empty, or holds NaN/inf (their count and the index of the
    first).
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
    finite = np.isfinite(array)
    if not finite.all():
        bad = ~finite
        n_bad = int(bad.sum())
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape))
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value{'' if n_bad == 1 else 's'} (the first at index {first}); "
            "replace them with finite values first"
        )
    return array


def image_names(names: Sequence[str] | None, count: int) -> list[str]:
    """``names`` as a list of ``count`` names, or ``"image 0"``, ``"image 1"``, ... when not given."""
    if names is None:
        return [f"image {i}" for i in range(count)]
    if len(names) != count:
        raise ValueError(f"got {count} images but {len(names)} names for them")
    return list(names)


def named_images(images, names: Sequence[str] | None) -> tuple[list, list[str]]:
    """``images`` (one array or several) as a non-empty list, with one name each (see :func:`image_names`)."""
    if isinstance(images, np.ndarray):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("no images given: pass at least one image")
    return images, image_names(names, len(images))


def check_images(
    images,
    *,
    ndim: int | tuple[int, ...],
    min_shape: tuple[int, ...] | None = None,
    names: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Check a non-empty list of images (see :func:`check_image`), each at least ``min_shape``.

    ``names`` (one per image, a file name say) are used in messages; ``"image <i>"`` by default.
    """
    images, names = named_images(images, names)
    checked = []
    for image, name in zip(images, names):
        array = check_image(image, ndim=ndim, name=name)
        if min_shape is not None and any(s < m for s, m in zip(array.shape[-len(min_shape):], min_shape)):
            raise ValueError(
                f"{name} of shape {array.shape} is smaller than the patch shape {tuple(min_shape)}; "
                "choose a smaller patch size"
            )
        checked.append(array)
    return checked


def check_varies(array: np.ndarray, *, name: str = "image") -> None:
    """Refuse an image whose pixels all hold one value (all zero, say): there is nothing to learn from it.

    Raises ``ValueError`` naming the value, the likely cause and what to do.
    """
    array = np.asarray(array)
    first = array.flat[0]
    if (array == first).all():
        raise ValueError(
            f"{name} is constant (every pixel is {float(first):g}), so there is nothing to learn from it; check that it "
            "holds the image you meant (not an empty channel or a blank export), or leave it out"
        )


def check_training_images(
    images,
    *,
    ndim: int | tuple[int, ...],
    min_shape: tuple[int, ...] | None = None,
    names: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Check images given for training: those of :func:`check_images`, and none of them constant.

    Returns the images as float32 arrays; raises ``ValueError`` naming the image (by
    ``names`` when given) that fails a check. Shapes are checked for all images before
    values, so a too-small image is reported as such even when it is also blank.
    """
    checked = check_images(images, ndim=ndim, min_shape=min_shape, names=names)
    for array, name in zip(checked, image_names(names, len(checked))):
        check_varies(array, name=name)
    return checked


def check_label_mask(mask, *, name: str = "label mask") -> np.ndarray:
    """Return an instance mask as int32 after checking that it holds object ids.

    Ids are whole numbers, 0 for background and 1, 2, ... for objects. Raises
    ``ValueError`` when the mask is empty, not numeric, or holds fractions, negative
    values, NaN or infinity.
    """
    array = np.asarray(mask)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values; a label mask holds whole-number object ids")
        if not np.array_equal(array, np.round(array)):
            example = float(array[array != np.round(array)].flat[0])
            raise ValueError(
                f"{name} holds fractional values (e.g. {example:g}); a label mask holds whole-number object ids "
                "(0 background, 1, 2, ... objects), not probabilities or an interpolated image"
            )
    elif not (array.dtype == bool or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must hold whole-number object ids, got dtype {array.dtype}")
    if (array < 0).any():
        raise ValueError(f"{name} holds negative ids; use 0 for background and 1, 2, ... for objects")
    return array.astype(np.int32)
