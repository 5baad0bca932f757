"""Pretext losses of CT denoise-pretraining (Gao et al. 2021): perceptual + total variation.

Images are windowed CT slices in [0, 1], shaped ``(N, 1, H, W)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .vgg import IMAGENET_MEAN, IMAGENET_STD


class PerceptualLoss(nn.Module):
    """Mean absolute difference of VGG feature maps, ``1/(w h d) ||VGG(I) - VGG(X)||_1`` (Eq. 2).

    The single CT channel is repeated to the three input channels of VGG (the paper's
    "pad the 3 input channels by the original single channel") and normalised with the
    ImageNet mean and standard deviation the VGG weights were trained with. ``features``
    is frozen; gradients flow to the network output only.
    """

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.features((image.float().expand(-1, 3, -1, -1) - self.mean) / self.std)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_features = self._embed(target)
        return (self._embed(output) - target_features).abs().mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Squared total variation per pixel (Eq. 2), averaged over the batch.

    ``1/(w h) sum_ij (I[i, j-1] - I[i, j])^2 + (I[i+1, j] - I[i, j])^2`` for each image
    (and channel) of ``image`` ``(N, C, H, W)``; sums run over the differences that exist.
    """
    image = image.float()
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).pow(2).sum(dim=(-2, -1))
    vertical = (image[..., 1:, :] - image[..., :-1, :]).pow(2).sum(dim=(-2, -1))
    return ((horizontal + vertical) / (image.shape[-1] * image.shape[-2])).mean()

