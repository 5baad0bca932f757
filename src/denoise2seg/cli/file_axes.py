"""The axes of the TIFF files a command reads: given with ``--axes``, stored in the file, or guessed, and shown."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.axes import check_axes, guess_axes, parse_axes_list
from ..data.axes import segmentation_frames as frames_of_axes
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
    The axes come from :func:`file_axes`; ``channels`` and ``single_channel`` as in
    :func:`denoise2seg.data.axes.segmentation_frames` (a 2-channel ``(2, Y, X)`` file is
    not two frames unless the user says ``--axes TYX``).
    """
    axes = file_axes(paths, images, given, spatial_ndim=spatial_ndim)
    return frames_of_axes(
        images, axes, [str(p) for p in paths], spatial_ndim=spatial_ndim, channels=channels,
        single_channel=single_channel, choose="give --axes TYX" if spatial_ndim == 2 else "give --axes TZYX",
    )
