"""2D training slices of lesion cases (the paper trains on 2D slices of its volumes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases import BACKGROUND_VALUE, LesionCase, normalize_case
from .roi import signed_distance


def pad_to_multiple(array: np.ndarray, divisor: int, value: float) -> np.ndarray:
    """Pad the last two axes at their end to multiples of ``divisor`` with ``value``."""
    pad = [(0, 0)] * (array.ndim - 2) + [(0, (-s) % divisor) for s in array.shape[-2:]]
    return np.pad(array, pad, constant_values=value)


@dataclass
class SliceSet:
    """Axial slices of several cases, normalised and padded.

    Attributes
    ----------
    images : float32 ``(N, C, H, W)``
        Z-scored slices, background -6.
    labels : float32 ``(N, H, W)``
        Lesion masks (0/1).
    distance : float32 ``(N, H, W)``
        Signed distance to each slice's lesion contour (``+inf`` without lesion).
    d_min : float32 ``(N,)``
        Minimum of ``distance`` per slice (``Dmin`` of LADP Eq. 3).
    """

    images: np.ndarray
    labels: np.ndarray
    distance: np.ndarray
    d_min: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def from_cases(cls, cases: list[LesionCase], divisor: int) -> "SliceSet":
        """Every axial slice that holds brain, from cases that all have lesion masks."""
        images, labels = [], []
        for case in cases:
            if case.labels is None:
                raise ValueError(f"case {case.name!r} has no lesion mask: training needs one for every case")
            normalized = normalize_case(case.image, case.brain)
            keep = case.brain.any(axis=(1, 2))
            images.append(pad_to_multiple(normalized.transpose(1, 0, 2, 3)[keep], divisor, BACKGROUND_VALUE))
            labels.append(pad_to_multiple(case.labels[keep].astype(np.float32), divisor, 0.0))
        if not images:
            raise ValueError("no cases given")
        channels = {im.shape[1] for im in images}
        sizes = {im.shape[2:] for im in images}
        if len(channels) > 1 or len(sizes) > 1:
            raise ValueError(f"all cases must have the same channels and slice size, got channels {channels}, sizes {sizes}")
        image_stack = np.concatenate(images)
        label_stack = np.concatenate(labels)
        distance = np.stack([signed_distance(mask > 0) for mask in label_stack])
        return cls(image_stack, label_stack, distance, distance.min(axis=(1, 2)))


def split_slices(slices: SliceSet, fraction: float, seed: int | None = None) -> tuple[SliceSet, SliceSet]:
    """Hold out a random ``fraction`` of the slices for validation (when no validation cases are given).

    Slices with lesion are split separately from lesion-free ones so that both parts
    hold lesions whenever there are at least two lesion slices.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    has_lesion = slices.labels.reshape(len(slices), -1).any(1)
    val_index = []
    for group in (np.flatnonzero(has_lesion), np.flatnonzero(~has_lesion)):
        n_val = int(round(fraction * len(group)))
        if len(group) >= 2:
            n_val = min(max(n_val, 1), len(group) - 1)
        val_index.extend(rng.permutation(group)[:n_val].tolist())
    val_mask = np.zeros(len(slices), dtype=bool)
    val_mask[val_index] = True
    if val_mask.all() or not val_mask.any():
        raise ValueError(f"{len(slices)} slices are too few to hold out a validation part; give validation cases")

    def take(mask: np.ndarray) -> SliceSet:
        return SliceSet(slices.images[mask], slices.labels[mask], slices.distance[mask], slices.d_min[mask])

    return take(~val_mask), take(val_mask)
