"""LADP: label-aware denoising pretraining for lesion segmentation (Ninalga 2023).

``roi`` and ``noise`` hold the maths (CarveMix region of interest, label-aware noise) as
pure functions; ``tasks`` plugs pretraining and finetuning into the project's training
loop; ``train`` runs them for one model or an ensemble; ``model`` predicts with flip
test-time augmentation and majority voting; ``data`` builds the synthetic-lesion MRI
cases and reads users' NIfTI volumes.
"""

from .cases import LesionCase, read_nifti_case
from .config import FinetuneConfig, PretrainConfig
from .model import LesionEnsemble, LesionSegmenter
from .noise import add_label_aware_noise, label_aware_noise
from .roi import roi_mask, sample_lambda, sample_roi, signed_distance
from .synthetic import synthetic_lesion_case, synthetic_lesion_cases
from .train import pretrain, train_ensemble

__all__ = [
    "FinetuneConfig",
    "LesionCase",
    "LesionEnsemble",
    "LesionSegmenter",
    "PretrainConfig",
    "pretrain",
    "read_nifti_case",
    "synthetic_lesion_case",
    "synthetic_lesion_cases",
    "train_ensemble",
    "add_label_aware_noise",
    "label_aware_noise",
    "roi_mask",
    "sample_lambda",
    "sample_roi",
    "signed_distance",
]
