"""The axes of the TIFF files a command reads: given with ``--axes``, stored in the file, or guessed, and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.axes import as_frames, channel_count, check_axes, check_frames_axes, guess_axes, parse_axes_list
from ..io.tiff import stored_axes


def file_axes(paths: Sequence[Path], images: Sequence[np.ndarray], given: str | None, *, spatial_ndim: int) -> list[str]:
    """The checked axes of each file: ``given`` (one for all or one per file, comma-separated), else stored, else guessed.

    Axes the file declares (an ImageJ hyperstack's, an OME-TIFF's, this package's outputs';
    :func:`denoise2seg.io.tiff.stored_axes`) are used when they fit its image, otherwise
    they are guessed (:func:`denoise2seg.data.axes.guess_axes`); either is printed with the
    file's shape, so the user sees how the file is read. A file whose shape does not fit
    its axes raises ``ValueError`` naming the file, its shape and the axes.
    """
    axes = parse_axes_list(given, len(paths)) if given is not None else [None] * len(paths)
    checked = []
    for path, image, chosen in zip(paths, images, axes):
        if spatial_ndim == 3 and np.ndim(image) < 3:
            raise ValueError(
                f"{path} is a 2D image (shape {np.shape(image)}), but a 3D model takes volumes (Z, Y, X); "
                "for 2D images train and use a 2D model (without --ndim 3)"
            )
        if chosen is None:
            stored = stored_axes(path) if Path(path).is_file() else None
            if stored is not None and len(stored) == np.ndim(image):
                chosen = stored
                print(f"{path}: shape {image.shape}, axes {chosen} (stored in the file; give --axes to choose others)")
            else:
                try:
                    chosen = guess_axes(image.shape, spatial_ndim=spatial_ndim)
                except ValueError as err:
                    raise ValueError(f"{path}: {err}") from err
                print(f"{path}: shape {image.shape}, axes {chosen} (guessed; give --axes to choose others)")
        checked.append(check_axes(chosen, image.shape, name=str(path), spatial_ndim=spatial_ndim))
    return checked


def segmentation_frames(
    paths: Sequence[Path],
    images: Sequence[np.ndarray],
    given: str | None,
    *,
    spatial_ndim: int = 2,
    channels: int | None = None,
    single_channel: str = "this model takes single-channel images",
) -> tuple[list[np.ndarray], int]:
    """Each file as one frame or a stack of frames for the segmenters, and their channel count.

    Frames are 2D images (``YX``, stacks ``TYX``), or volumes (``ZYX``, stacks ``TZYX``)
    for a 3D model, channels first when the axes hold ``C`` (``CYX``, RGB ``YXC``...).
    The axes come from :func:`file_axes`. ``channels`` is the count the caller needs
    (a model's; ``None``: any, the same for every file): with 1, axes with channels are
    refused saying ``single_channel`` (a 2-channel ``(2, Y, X)`` file is not two frames
    unless the user says ``--axes TYX``); another count is refused naming both.
    """
    frames, counts = [], []
    for path, image, axes in zip(paths, images, file_axes(paths, images, given, spatial_ndim=spatial_ndim)):
        choose = "give --axes TYX" if spatial_ndim == 2 else "give --axes TZYX"
        check_frames_axes(
            axes, image.shape, name=str(path), choose=choose, spatial_ndim=spatial_ndim, channels=channels != 1,
            single_channel=single_channel,
        )
        count = channel_count(image.shape, axes)
        wanted = channels if channels is not None else (counts[0] if counts else count)
        if count != wanted:
            raise ValueError(
                f"{path} with axes {axes} has {count} channel{'s' if count != 1 else ''}, but "
                + (f"the model takes {wanted}" if channels is not None else f"{paths[0]} has {wanted}; give images of one channel count")
            )
        counts.append(count)
        frames.append(as_frames(image, axes, spatial_ndim=spatial_ndim))
    return frames, counts[0] if counts else 1
