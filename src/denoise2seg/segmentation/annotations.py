"""Few-label annotations: which frames are annotated and which pixels of them count in the loss.

Convention (docs/segmentation.md): a 2D frame whose instance mask holds no object is
unannotated (N2V may use it, the segmenter does not). In an annotated frame the
annotated region is the bounding box of its labelled objects grown by ``margin`` pixels
and clipped to the frame; pixels outside it are ignored by the losses, so a user can
paint a few nuclei in one corner of a large image. For 3D models the frames are volumes
``(Z, Y, X)`` and the same rule holds in all three axes: the box of the labelled voxels
grown by ``margin`` in Z, Y and X, so a user paints a few whole nuclei (every slice of
each) in a sub-volume and the voxels around them count as background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from stardist import fill_label_holes

from ..validation import check_image


@dataclass
class AnnotatedFrame:
    """One annotated frame (a 2D image, or a volume for 3D models), cropped around its annotated region.

    ``image`` (float32, channels first when there are several) and ``labels`` (int32
    instances, 0 = background) are the crop;
    ``valid`` (bool) is True inside the annotated region; ``frame`` is the whole 2D
    frame and ``crop`` the window of it that ``image`` holds (so that a denoiser can see
    the whole frame before cropping); ``source`` is ``(image index, frame index or
    None)`` in the caller's input.
    """

    image: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    frame: np.ndarray
    crop: tuple[slice, ...]
    source: tuple[int, int | None]


def frames_of(images, ndim: int = 2, name: str = "image") -> list[tuple[np.ndarray, tuple[int, int | None]]]:
    """Split images (``ndim``-D, or stacks of them) into ``(frame, (image index, frame index))`` pairs."""
    if isinstance(images, np.ndarray):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError(f"no {name}s given: pass at least one {name}")
    frames = []
    for i, image in enumerate(images):
        array = check_image(image, ndim=(ndim, ndim + 1), name=f"{name} {i}")
        if array.ndim == ndim:
            frames.append((array, (i, None)))
        else:
            frames.extend((frame, (i, t)) for t, frame in enumerate(array))
    return frames


def labels_shape(image_shape: tuple[int, ...], *, ndim: int, channels: int) -> tuple[int, ...]:
    """The shape of the labels of an image of ``image_shape``: the image's, less the channel axis before its ``ndim`` spatial axes when ``channels`` > 1."""
    image_shape = tuple(image_shape)
    if channels == 1:
        return image_shape
    return image_shape[: len(image_shape) - ndim - 1] + image_shape[len(image_shape) - ndim :]


def annotated_region(labels: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    """Bounding box of the objects in a 2D or 3D ``labels`` grown by ``margin`` in every axis, clipped; None without objects."""
    coordinates = np.nonzero(labels)
    if coordinates[0].size == 0:
        return None
    return tuple(
        slice(max(int(c.min()) - margin, 0), min(int(c.max()) + 1 + margin, size))
        for c, size in zip(coordinates, labels.shape)
    )


def grow_window(window: slice, size: int, length: int) -> slice:
    """Enlarge ``window`` symmetrically to at least ``size`` pixels inside ``[0, length)``."""
    missing = size - (window.stop - window.start)
    if missing <= 0:
        return window
    start = max(window.start - missing // 2, 0)
    stop = min(start + max(size, window.stop - window.start), length)
    start = max(stop - size, 0)
    return slice(start, stop)


def collect_annotated_frames(
    images, labels, *, margin: int, patch_shape: tuple[int, ...], channels: int = 1
) -> list[AnnotatedFrame]:
    """Pair images with instance masks and return the annotated frames, cropped.

    Parameters
    ----------
    images : array or list of arrays
        2D images or stacks of 2D frames ``(T, Y, X)``; for a 3D ``patch_shape``, volumes
        ``(Z, Y, X)`` or stacks of them ``(T, Z, Y, X)``.
    labels : array or list of arrays
        Instance masks of the same shapes (integers, 0 = background); an entry may be
        ``None`` for an image with no annotation at all.
    margin : int
        Pixels added around the labelled objects' bounding box (see module docstring).
    patch_shape : (int, int) or (int, int, int)
        Training patch size, which also says whether frames are 2D or 3D; each crop is
        at least this large where the frame allows, so that patches can be drawn from it.
    channels : int
        With more than 1, each frame of ``images`` has a leading channel axis ``(C,
        *spatial)`` (stacks ``(T, C, *spatial)``) and the masks have the spatial shape.

    Raises ``ValueError`` when the numbers or shapes of images and masks disagree, a
    mask is not integer, no frame holds an object, or an annotated frame is smaller
    than a patch.
    """
    image_list = [images] if isinstance(images, np.ndarray) else list(images)
    label_list = [labels] if isinstance(labels, np.ndarray) else list(labels)
    if len(image_list) != len(label_list):
        raise ValueError(f"got {len(image_list)} images but {len(label_list)} label masks; give one mask (or None) per image")
    ndim = len(patch_shape)
    frame_ndim = ndim + (channels > 1)
    frames = []
    for i, (image, mask) in enumerate(zip(image_list, label_list)):
        if mask is None:
            continue
        image = check_image(image, ndim=(frame_ndim, frame_ndim + 1), name=f"image {i}")
        mask = np.asarray(mask)
        spatial = labels_shape(image.shape, ndim=ndim, channels=channels)
        if mask.shape != spatial:
            if channels == 1:
                raise ValueError(f"label mask {i} has shape {mask.shape} but image {i} has shape {image.shape}; they must match")
            raise ValueError(
                f"label mask {i} has shape {mask.shape}, but image {i} of shape {image.shape} ({channels} channels) needs "
                f"a mask of {spatial}, its shape without the channel axis"
            )
        if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
            if not np.array_equal(mask, np.round(mask)):
                raise ValueError(f"label mask {i} must hold integer instance ids, got dtype {mask.dtype} with fractions")
        mask = mask.astype(np.int32)
        if (mask < 0).any():
            raise ValueError(f"label mask {i} holds negative ids; use 0 for background and 1, 2, ... for objects")
        pairs = [(image, mask, None)] if image.ndim == frame_ndim else [(image[t], mask[t], t) for t in range(image.shape[0])]
        for frame, frame_mask, t in pairs:
            region = annotated_region(frame_mask, margin)
            if region is None:
                continue
            if any(s < p for s, p in zip(frame_mask.shape, patch_shape)):
                raise ValueError(
                    f"annotated frame {(i, t) if t is not None else i} of shape {frame_mask.shape} is smaller than the "
                    f"patch shape {patch_shape}; choose a smaller patch size"
                )
            valid = np.zeros(frame_mask.shape, dtype=bool)
            valid[region] = True
            crop = tuple(grow_window(w, p, s) for w, p, s in zip(region, patch_shape, frame_mask.shape))
            frames.append(
                AnnotatedFrame(
                    frame[(Ellipsis, *crop)], fill_label_holes(frame_mask[crop]).astype(np.int32), valid[crop], frame, crop, (i, t)
                )
            )
    if not frames:
        raise ValueError(
            "no annotated frame: every label mask is empty. Paint at least a few objects "
            "(a frame whose mask has no object counts as unannotated)"
        )
    return frames


def split_frames(
    frames: list[AnnotatedFrame], fraction: float, min_frames: int, seed: int | None
) -> tuple[list[AnnotatedFrame], list[AnnotatedFrame]]:
    """Hold out ``fraction`` of the frames (at least one) for validation.

    With fewer than ``min_frames`` frames nothing is held out: the training frames also
    serve as validation frames, because a model trained on one or two labelled images
    cannot spare one.
    """
    if len(frames) < min_frames:
        return frames, frames
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames))
    n_val = max(1, int(round(fraction * len(frames))))
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [frames[i] for i in train], [frames[i] for i in val]
