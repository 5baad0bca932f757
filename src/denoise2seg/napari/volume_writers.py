"""napari writer: a label layer as a NIfTI volume with the layer's voxel size."""

from __future__ import annotations

import numpy as np

from ..ct.volumes import write_labels_nifti as _write_labels_nifti


def write_labels_nifti(path: str, data, attributes: dict) -> list[str]:
    """npe2 single-layer writer: labels ``(Z, Y, X)`` (or one slice) to ``.nii`` / ``.nii.gz``.

    The spacing is the layer's ``scale``; an ``affine`` in the layer's metadata (set by
    the volume reader on the image, copied by the CT widget to its label layers) puts the
    labels back in the scanner frame.
    """
    labels = np.asarray(data)
    scale = tuple(attributes.get("scale") or (1.0,) * labels.ndim)
    spacing = (1.0,) * (3 - len(scale)) + tuple(float(s) for s in scale[-3:])
    affine = (attributes.get("metadata") or {}).get("affine")
    return [str(_write_labels_nifti(path, labels, spacing, np.asarray(affine) if affine is not None else None))]
