"""Lesion cases (multi-channel volume, lesion mask, brain mask), their normalisation and NIfTI input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# LADP Sec. II-B: z-score normalisation inside the brain, background set to this constant.
BACKGROUND_VALUE = -6.0


@dataclass
class LesionCase:
    """One subject.

    Attributes
    ----------
    image : float32 array ``(C, Z, Y, X)``
        Co-registered channels (e.g. T1 and FLAIR), skull-stripped, in scanner units.
    labels : bool array ``(Z, Y, X)`` or None
        Lesion annotation (None for a case to predict).
    brain : bool array ``(Z, Y, X)``
        Brain mask: the volume that lesion-size fractions refer to and where the
        normalisation statistics come from.
    spacing : tuple of 3 floats
        Voxel size ``(z, y, x)`` in mm.
    name : str
        Case identifier used in tables.
    """

    image: np.ndarray
    labels: np.ndarray | None
    brain: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    name: str = "case"

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image, dtype=np.float32)
        if self.image.ndim == 3:
            self.image = self.image[None]
        if self.image.ndim != 4:
            raise ValueError(f"a lesion case image must be (C, Z, Y, X) or (Z, Y, X), got shape {self.image.shape}")
        spatial = self.image.shape[1:]
        if not np.isfinite(self.image).all():
            raise ValueError(f"case {self.name!r}: the image holds NaN or infinite values; fill them first")
        self.brain = np.asarray(self.brain, dtype=bool)
        if self.brain.shape != spatial:
            raise ValueError(f"case {self.name!r}: brain mask shape {self.brain.shape} differs from the image's {spatial}")
        if not self.brain.any():
            raise ValueError(f"case {self.name!r}: the brain mask is empty")
        if self.labels is not None:
            self.labels = np.asarray(self.labels) > 0
            if self.labels.shape != spatial:
                raise ValueError(f"case {self.name!r}: lesion mask shape {self.labels.shape} differs from the image's {spatial}")

    @property
    def channels(self) -> int:
        return self.image.shape[0]

    @property
    def lesion_fraction(self) -> float:
        """Lesion volume as a fraction of the brain volume (the paper's size bins)."""
        if self.labels is None:
            raise ValueError(f"case {self.name!r} has no lesion mask")
        return float((self.labels & self.brain).sum() / self.brain.sum())


def brain_from_image(image: np.ndarray) -> np.ndarray:
    """Brain mask of a skull-stripped ``(C, Z, Y, X)`` image: voxels non-zero in any channel.

    Used when a user gives no brain mask; a volume without zero background is all brain.
    """
    return np.any(np.asarray(image) != 0, axis=0)


def normalize_case(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Z-score every channel over the brain and set the background to -6 (LADP Sec. II-B).

    Parameters
    ----------
    image : float array ``(C, *spatial)``
    brain : bool array ``(*spatial)``

    Returns
    -------
    float32 array ``(C, *spatial)``.
    """
    image = np.asarray(image, dtype=np.float32)
    normalized = np.full(image.shape, BACKGROUND_VALUE, dtype=np.float32)
    for c, channel in enumerate(image):
        values = channel[brain]
        std = float(values.std())
        normalized[c][brain] = (values - float(values.mean())) / (std if std > 0 else 1.0)
    return normalized


def read_nifti_case(
    image_paths: list[str | Path],
    labels_path: str | Path | None = None,
    brain_path: str | Path | None = None,
    name: str | None = None,
) -> LesionCase:
    """Read co-registered NIfTI channels (and optional lesion and brain masks) as a :class:`LesionCase`.

    Every file must have the same voxel grid. Without ``brain_path`` the brain is taken
    as the voxels non-zero in any channel (skull-stripped input, as in the paper).
    """
    from ..ct.volumes import read_nifti

    if not image_paths:
        raise ValueError("give at least one NIfTI image (one per channel)")
    volumes = [read_nifti(p) for p in image_paths]
    shape = volumes[0].shape
    for path, volume in zip(image_paths, volumes):
        if volume.shape != shape:
            raise ValueError(f"{path} has shape {volume.shape}, the first channel {shape}: channels must share one voxel grid")
    image = np.stack([v.hu for v in volumes])

    def read_mask(path) -> np.ndarray:
        mask = read_nifti(path).hu
        if mask.shape != shape:
            raise ValueError(f"{path} has shape {mask.shape}, the image {shape}: the mask must share its voxel grid")
        return mask > 0

    labels = read_mask(labels_path) if labels_path is not None else None
    brain = read_mask(brain_path) if brain_path is not None else brain_from_image(image)
    return LesionCase(image, labels, brain, volumes[0].spacing, name or Path(image_paths[0]).name.split(".")[0])
