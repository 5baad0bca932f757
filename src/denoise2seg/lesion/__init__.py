"""LADP: label-aware denoising pretraining for lesion segmentation (Ninalga 2023).

``roi`` and ``noise`` hold the maths (CarveMix region of interest, label-aware noise) as
pure functions; ``tasks`` plugs pretraining and finetuning into the project's training
loop; ``train`` runs them for one model or an ensemble; ``model`` predicts with flip
test-time augmentation and majority voting; ``data`` builds the synthetic-lesion MRI
cases and reads users' NIfTI volumes.
"""

from .config import FinetuneConfig, PretrainConfig
from .noise import add_label_aware_noise, label_aware_noise
from .roi import roi_mask, sample_lambda, sample_roi, signed_distance

__all__ = [
    "FinetuneConfig",
    "PretrainConfig",
    "add_label_aware_noise",
    "label_aware_noise",
    "roi_mask",
    "sample_lambda",
    "sample_roi",
    "signed_distance",
]
