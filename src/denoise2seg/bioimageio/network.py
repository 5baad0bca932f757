"""The network of a denoise2seg model as its bioimage.io package runs it: one module, built from JSON-able settings.

bioimage.io's PyTorch state-dict weights name an importable callable and the keyword
arguments that build the network; :class:`PackagedNetwork` is that callable. It takes the
``record`` of the model folder (kind, network, config; and for the sequential schemes the
network of the N2V model that denoises the input) and maps the normalised input to what
the package declares as output:

- N2V: the denoised image, still normalised (the package's postprocessing maps it back
  to input units);
- 3-class U-Net: the probabilities of background, foreground and border (softmax), the
  input of :func:`denoise2seg.segmentation.three_class.instances_from_probabilities`;
- StarDist: the object probability (sigmoid) and the ray distances in pixels, the input
  of stardist's non-maximum suppression.

For the sequential schemes the N2V network runs first, on the input normalised as the N2V
model normalises it; its normalised output is what the segmenter was trained on.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nets import UNet, UNetSpec
from ..segmentation.config import SegmentationConfig
from ..segmentation.networks import build_network


class PackagedNetwork(nn.Module):
    """A denoise2seg model's network(s) with their output activations; ``record`` as :func:`package_record` writes it."""

    def __init__(self, record: dict) -> None:
        super().__init__()
        self.kind = record["kind"]
        self.denoiser: UNet | None = None
        if self.kind == "n2v":
            self.net = UNet(UNetSpec.from_dict(record["network"]))
            self.method = "n2v"
        else:
            config = SegmentationConfig.from_dict(record["config"])
            self.net = build_network(config)
            self.method = config.method
            if record.get("denoiser") is not None:
                self.denoiser = UNet(UNetSpec.from_dict(record["denoiser"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.denoiser is not None:
            x = self.denoiser(x)
        output = self.net(x)
        if self.method == "unet":
            return torch.softmax(output[:, :3], dim=1)
        if self.method == "stardist":
            return torch.cat([torch.sigmoid(output[:, :1]), output[:, 1:]], dim=1)
        return output


def package_record(model_record: dict, denoiser_network: dict | None = None) -> dict:
    """The keyword argument ``record`` of :class:`PackagedNetwork` for a model folder's record (and its N2V network)."""
    record = {key: model_record[key] for key in ("kind", "network", "config")}
    record["denoiser"] = denoiser_network
    return record
