"""The LADP pretraining and finetuning losses."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..extras import import_ct
from ..training.losses import soft_dice_loss
from .config import FinetuneConfig


def noise_prediction_loss(predicted: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """L2 loss between the predicted and the true noise ``W`` (LADP Eq. 6), mean over pixels."""
    return F.mse_loss(predicted.float(), noise)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, config: FinetuneConfig) -> torch.Tensor:
    """``BCE + Dice + 3 x Focal`` (LADP Eq. 7; weights from ``config``) of logits and 0/1 targets."""
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    # MONAI's sigmoid focal loss (Lin et al. 2017) wants a channel axis.
    focal_loss = import_ct("monai.losses", "LADP's focal loss").FocalLoss
    focal = focal_loss(gamma=config.focal_gamma)(logits[:, None], target[:, None])
    return config.bce_weight * bce + config.dice_weight * soft_dice_loss(logits, target) + config.focal_weight * focal
