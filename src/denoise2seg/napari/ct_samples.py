"""CT sample data for napari: simulated low-dose / normal-dose pairs from real CT slices."""

from __future__ import annotations

from ..ct.lowdose.subjects import read_bundled_scan, resample_to_size, simulate_subject
from ..ct.windowing import MEDIASTINUM
from ..extras import MissingExtraError, ct_extra_message


def require_ct_extra(sample: str) -> None:
    """:class:`MissingExtraError` saying what to install for ``sample`` when the ct extra is missing (napari shows its message)."""
    message = ct_extra_message(f"The {sample} sample", in_napari=True)
    if message is not None:
        raise MissingExtraError(message)


def lowdose_ct_pair():
    """A head scan simulated at low and normal dose (2 slices, 256x256, HU).

    The anatomy is the real axial head slice of pydicom's test file
    ``J2K_pixelrep_mismatch.dcm`` (deformed per slice); the doses are the defaults of
    :class:`~denoise2seg.ct.lowdose.DoseSimulation`. Shown in a soft-tissue window.
    """
    require_ct_extra("low-dose CT")
    scan = resample_to_size(read_bundled_scan("head_a"), 256)
    subject = simulate_subject(scan, "head", n_slices=2, seed=0, repeats=1)
    pixel = subject.pixel_size_mm
    common = {"colormap": "gray", "contrast_limits": (MEDIASTINUM.low, MEDIASTINUM.high), "scale": (1.0, pixel, pixel)}
    return [
        (subject.low_dose, {"name": "low dose (simulated)", **common}, "image"),
        (subject.normal_dose, {"name": "normal dose (simulated)", **common}, "image"),
    ]


def ct_synthetic_lesion():
    """A synthetic-lesion chest CT case: 8 deformed slices of pydicom's real chest CT slice with inserted lesions.

    Ground-glass-like and consolidation-like lesions lie in the lung; the labels are their
    exact masks. Shown in the lung window, scaled by the voxel size.
    """
    require_ct_extra("synthetic-lesion CT")
    from ..ct.samples import chest_ct_slice
    from ..ct.synthetic_lesions import synthetic_lesion_cases
    from ..ct.windowing import LUNG

    volume, mask = synthetic_lesion_cases(chest_ct_slice(), n_cases=1, n_slices=8, seed=0)[0]
    return [
        (
            volume.hu,
            {"name": "CT (synthetic-lesion)", "colormap": "gray", "contrast_limits": (LUNG.low, LUNG.high), "scale": volume.spacing},
            "image",
        ),
        (mask, {"name": "lesions (synthetic-lesion)", "scale": volume.spacing}, "labels"),
    ]
