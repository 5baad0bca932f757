"""From HU volumes to network slices: window, centre crop + resize, validation split."""

from __future__ import annotations

import numpy as np

from ..validation import check_image
from .config import CTPretrainConfig
from .slices import to_network_slices
from .volumes import CTVolume
from .windowing import apply_window


def as_hu_array(volume, name: str = "volume") -> np.ndarray:
    """A :class:`CTVolume` or an array ``(Z, Y, X)`` / ``(Y, X)`` in HU as a checked float32 ``(Z, Y, X)`` array."""
    array = volume.hu if isinstance(volume, CTVolume) else volume
    array = check_image(array, ndim=(2, 3), name=name)
    return array[None] if array.ndim == 2 else array


def network_slices(volume, config: CTPretrainConfig) -> np.ndarray:
    """Windowed ``[0, 1]`` slices ``(Z, S, S)`` of a HU volume, ``S = config.image_size``."""
    return to_network_slices(apply_window(as_hu_array(volume), config.window), config.image_size)


def label_slices(labels, shape: tuple[int, ...], config: CTPretrainConfig, name: str = "labels") -> np.ndarray:
    """Binary lesion masks ``(Z, S, S)`` (any label > 0 is lesion) on the network grid."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} of shape {labels.shape} do not match their volume of shape {tuple(shape)}")
    return (to_network_slices((labels > 0).astype(np.float32), config.image_size, mode="nearest") > 0.5).astype(np.float32)


def annotated_index(annotated, n_slices: int, name: str = "volume") -> np.ndarray:
    """Sorted, distinct z indices of the annotated slices of a volume of ``n_slices`` (``None``: all of them)."""
    if annotated is None:
        return np.arange(n_slices)
    index = np.asarray(sorted({int(k) for k in annotated}), dtype=int)
    if len(index) and (index.min() < 0 or index.max() >= n_slices):
        raise ValueError(f"annotated slice indices of {name} must lie in 0..{n_slices - 1}")
    return index


def n_validation_slices(n_slices: int, fraction: float) -> int:
    """How many of ``n_slices`` :func:`split_slices` holds out (0: every slice both trains and validates)."""
    n_val = int(round(fraction * n_slices))
    return 0 if n_slices < 2 else n_val


def split_slices(n_slices: int, fraction: float, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Random training/validation indices; with fewer than 2 slices or ``fraction`` 0 both are all slices."""
    indices = np.arange(n_slices)
    n_val = n_validation_slices(n_slices, fraction)
    if n_val == 0:
        return indices, indices
    shuffled = np.random.default_rng(seed).permutation(n_slices)
    return np.sort(shuffled[n_val:]), np.sort(shuffled[:n_val])
