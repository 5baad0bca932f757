"""MRI sample data for napari: a synthetic-lesion brain case built on the MNI152 template."""

from __future__ import annotations

from ..lesion.synthetic import synthetic_lesion_case
from .ct_samples import require_ct_extra


def mri_synthetic_lesion():
    """A synthetic-lesion MRI case: T1 and a FLAIR-like channel with MS-like white-matter lesions.

    The anatomy is the MNI152 2009a template that nilearn ships (2 mm voxels), mildly
    deformed; the FLAIR-like channel is synthesised from the template's tissue maps (not
    a real FLAIR). The labels are the exact lesion masks; a brain mask comes too.
    """
    require_ct_extra("synthetic-lesion MRI")
    case = synthetic_lesion_case(seed=2)
    common = {"colormap": "gray", "scale": case.spacing}
    return [
        (case.image[0], {"name": "T1 (synthetic-lesion)", **common}, "image"),
        (case.image[1], {"name": "FLAIR-like (synthetic-lesion)", **common}, "image"),
        (case.labels.astype("uint8"), {"name": "lesions (synthetic-lesion)", "scale": case.spacing}, "labels"),
        (case.brain.astype("uint8"), {"name": "brain mask", "scale": case.spacing, "visible": False}, "labels"),
    ]
