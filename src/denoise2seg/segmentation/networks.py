"""The segmentation networks: the 4-output U-Net (finetunable from N2V) and StarDist's U-Net."""

from __future__ import annotations

import torch
from torch import nn

from ..nets import UNet, UNetSpec
from .config import DENOISING_CHANNEL, SegmentationConfig


class StarDistNet(nn.Module):
    """StarDist's network: a U-Net body, a 3x3 (3x3x3) layer of ``features`` maps, then two 1x1 heads.

    Output ``(N, 1 + n_rays, *spatial)``: channel 0 is the object-probability logit,
    channels 1.. the ray distances in pixels (linear), as in stardist's ``StarDist2D``
    and ``StarDist3D`` with ``grid=(1, 1)`` / ``(1, 1, 1)``.
    """

    def __init__(self, spec: UNetSpec, n_rays: int) -> None:
        super().__init__()
        conv = nn.Conv3d if spec.ndim == 3 else nn.Conv2d
        self.unet = UNet(spec)
        self.unet.head = conv(self.unet.body_channels, spec.out_channels, 3, padding=1)
        self.prob_head = conv(spec.out_channels, 1, 1)
        self.dist_head = conv(spec.out_channels, n_rays, 1)
        self.spec = self.unet.spec
        self.n_rays = n_rays

    @property
    def receptive_radius(self) -> int:
        return self.spec.receptive_radius + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.unet(x))
        return torch.cat([self.prob_head(features), self.dist_head(features)], dim=1)


def receptive_radius(net: nn.Module) -> int:
    """Tile halo (pixels) for :func:`denoise2seg.prediction.predict_tiled`."""
    return net.receptive_radius if isinstance(net, StarDistNet) else net.spec.receptive_radius


def build_network(config: SegmentationConfig) -> nn.Module:
    """A freshly initialised network for ``config.method``."""
    if config.method == "stardist":
        return StarDistNet(config.unet_spec(), config.n_rays)
    return UNet(config.unet_spec())


def init_from_n2v(net: UNet, n2v_net: UNet) -> None:
    """Copy an N2V U-Net into the 4-output segmentation U-Net (VoidSeg Fig. 1c/d).

    The whole body (encoder, bottleneck, decoder, batch-norm statistics) is copied; in
    the head, the denoising channel takes the N2V head's weights and the three class
    channels keep their fresh initialisation.
    """
    mine, theirs = net.spec, n2v_net.spec
    if theirs.blur_pool != mine.blur_pool or theirs.top_skip != mine.top_skip:
        raise ValueError(
            "the N2V model is an N2V2 network (blur-pool downsampling, no top skip connection), which the "
            "segmentation U-Net does not build: finetune from an N2V model trained without --n2v2, or use "
            "the sequential scheme, which only denoises with it"
        )
    if theirs.in_channels != 1 or mine.in_channels != 1:
        raise ValueError(
            f"finetuning starts from a single-channel N2V network, and the N2V model has {theirs.in_channels} channel(s), "
            f"the images {mine.in_channels}: use the sequential scheme, which denoises all channels with the N2V model "
            "and segments from them"
        )
    same = ("ndim", "depth", "n_filters", "kernel_size", "batch_norm")
    if any(getattr(mine, k) != getattr(theirs, k) for k in same) or theirs.in_channels != 1 or theirs.out_channels != 1:
        raise ValueError(
            "finetuning needs the segmentation U-Net to have the N2V network's architecture: the N2V model has "
            f"depth {theirs.depth}, n_filters {theirs.n_filters}, kernel {theirs.kernel_size}, batch norm "
            f"{theirs.batch_norm}, {theirs.in_channels} channel(s); give the segmentation the same depth and filters "
            f"(--depth {theirs.depth} --n-filters {theirs.n_filters} on the command line, the U-Net fields in napari, "
            "depth and n_filters of SegmentationConfig in Python)"
        )
    body = {k: v for k, v in n2v_net.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = net.load_state_dict(body, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(f"N2V weights do not fit the segmentation U-Net (missing {missing}, unexpected {unexpected})")
    with torch.no_grad():
        net.head.weight[DENOISING_CHANNEL].copy_(n2v_net.head.weight[0])
        net.head.bias[DENOISING_CHANNEL].copy_(n2v_net.head.bias[0])
