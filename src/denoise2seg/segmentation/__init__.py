"""VoidSeg segmentation (Prakash et al. 2020): 3-class U-Net or StarDist, alone or after/from Noise2Void.

Schemes: ``baseline`` (trained on noisy images), ``sequential`` (a frozen N2V model
denoises the input), ``finetune`` (the U-Net starts from the N2V weights) and
``finetune-sequential`` (both). StarDist supports ``baseline`` and ``sequential``.
"""

from .config import METHODS, SCHEMES, SegmentationConfig
from .model import SegmentationModel
from .train import train_segmentation

__all__ = ["METHODS", "SCHEMES", "SegmentationConfig", "SegmentationModel", "train_segmentation"]
