"""CT workflows: volumes (read, window, slice), synthetic-lesion samples, denoise-pretraining
for lesion segmentation (Gao et al. 2021) and, in ``ct.lowdose``, low-dose CT denoising."""

from .config import CTPretrainConfig
from .model import CTLesionModel
from .slices import to_network_slices, to_volume_slices
from .train import finetune_ct, pretrain_ct
from .vgg import VGGWeightsUnavailable, load_vgg19_features
from .volumes import CTVolume, read_dicom_series, read_nifti, read_volume, write_labels_nifti, write_labels_tiff, write_volume_nifti
from .windowing import LUNG, Window, apply_window, get_window
from .workflow import train_ct

__all__ = [
    "CTLesionModel",
    "CTPretrainConfig",
    "CTVolume",
    "LUNG",
    "VGGWeightsUnavailable",
    "Window",
    "apply_window",
    "finetune_ct",
    "get_window",
    "load_vgg19_features",
    "pretrain_ct",
    "read_dicom_series",
    "read_nifti",
    "read_volume",
    "to_network_slices",
    "to_volume_slices",
    "train_ct",
    "write_labels_nifti",
    "write_labels_tiff",
    "write_volume_nifti",
]
