"""CT workflows: volumes (read, window, slice), synthetic-lesion samples, denoise-pretraining
(Gao et al. 2021) and, in ``ct.lowdose``, low-dose CT denoising."""

from .slices import to_network_slices, to_volume_slices
from .volumes import CTVolume, read_dicom_series, read_nifti, read_volume, write_labels_nifti, write_labels_tiff
from .windowing import LUNG, Window, apply_window, get_window

__all__ = [
    "CTVolume",
    "LUNG",
    "Window",
    "apply_window",
    "get_window",
    "read_dicom_series",
    "read_nifti",
    "read_volume",
    "to_network_slices",
    "to_volume_slices",
    "write_labels_nifti",
    "write_labels_tiff",
]
