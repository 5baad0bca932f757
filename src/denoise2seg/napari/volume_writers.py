"""Label layers as NIfTI volumes with the layer's voxel size: napari's writer and the widgets' export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ct.volumes import write_labels_nifti as write_nifti
from ..io.outputs import check_output_files


def write_labels_volume(path: str | Path, labels, scale, metadata: dict | None = None) -> Path:
    """Write labels ``(Z, Y, X)`` (or one slice) as ``.nii`` / ``.nii.gz`` with voxel size ``scale``.

    An ``affine`` in ``metadata`` (set by the volume reader on an image and carried to the
    result layers drawn on it) puts the labels back in the scanner frame.
    """
    labels = np.asarray(labels)
    scale = tuple(scale) if scale is not None else (1.0,) * labels.ndim
    spacing = (1.0,) * (3 - len(scale)) + tuple(float(s) for s in scale[-3:])
    affine = (metadata or {}).get("affine")
    return write_nifti(path, labels, spacing, np.asarray(affine) if affine is not None else None)


def write_labels_nifti(path: str, data, attributes: dict) -> list[str]:
    """npe2 single-layer writer: a Labels layer to ``.nii`` / ``.nii.gz`` (napari confirms overwriting)."""
    return [str(write_labels_volume(path, data, attributes.get("scale"), attributes.get("metadata")))]


def export_labels_layer(layer, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the Labels ``layer`` to ``path`` as NIfTI; an existing file is replaced only with ``overwrite``."""
    (path,) = check_output_files([path], overwrite=overwrite, overwrite_hint="confirm replacing it")
    return write_labels_volume(path, layer.data, layer.scale, layer.metadata)
