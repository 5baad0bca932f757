"""Noise2Void (Krull et al. 2019): blind-spot masking, training and the N2V model facade."""

from .config import N2VConfig
from .masking import blind_spot_mask, masked_mse
from .model import N2VModel
from .train import train_n2v

__all__ = ["N2VConfig", "N2VModel", "blind_spot_mask", "masked_mse", "train_n2v"]
