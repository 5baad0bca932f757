"""RED-CNN, the residual encoder-decoder CNN for low-dose CT (Chen et al. 2017, IEEE TMI 36(12)).

Five 5x5 convolutions without padding shrink the image by 4 pixels each, five 5x5
transposed convolutions grow it back; shortcuts add the input of conv 1, the output of
conv 2 and the output of conv 4 to the outputs of deconv 5, 4 and 1 (the paper's
Fig. 1). Every layer but the shortcut sums is followed by a ReLU, including the output,
so the network maps non-negative (normalised attenuation) images to non-negative images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class REDCNNSpec:
    """Architecture of a :class:`REDCNN`.

    Defaults are Chen et al. 2017: 96 filters of 5x5 in every layer, one input/output
    channel.
    """

    n_filters: int = 96
    kernel_size: int = 5
    channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "REDCNNSpec":
        return cls(**values)

    @property
    def receptive_radius(self) -> int:
        """Pixels an output pixel sees on each side: ten layers of ``kernel_size // 2``."""
        return 10 * (self.kernel_size // 2)


class REDCNN(nn.Module):
    """RED-CNN: input ``(N, channels, H, W)``, output of the same shape.

    Any ``H, W >= 5 * (kernel_size - 1) + 1`` (21 for 5x5) works: the valid convolutions and the
    transposed convolutions undo each other's size change exactly.
    """

    def __init__(self, spec: REDCNNSpec | None = None, **overrides) -> None:
        super().__init__()
        spec = spec or REDCNNSpec()
        if overrides:
            spec = REDCNNSpec(**{**spec.to_dict(), **overrides})
        if spec.kernel_size % 2 == 0 or spec.kernel_size < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {spec.kernel_size}")
        self.spec = spec
        f, k = spec.n_filters, spec.kernel_size
        self.convs = nn.ModuleList([nn.Conv2d(spec.channels if i == 0 else f, f, k) for i in range(5)])
        self.deconvs = nn.ModuleList([nn.ConvTranspose2d(f, spec.channels if i == 4 else f, k) for i in range(5)])
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        minimum = 5 * (self.spec.kernel_size - 1) + 1
        if min(x.shape[-2:]) < minimum:
            raise ValueError(f"RED-CNN needs images of at least {minimum}x{minimum} pixels, got {tuple(x.shape[-2:])}")
        shortcut_input = x
        out = self.relu(self.convs[0](x))
        out = self.relu(self.convs[1](out))
        shortcut_2 = out
        out = self.relu(self.convs[2](out))
        out = self.relu(self.convs[3](out))
        shortcut_4 = out
        out = self.relu(self.convs[4](out))
        out = self.deconvs[0](out) + shortcut_4
        out = self.deconvs[1](self.relu(out))
        out = self.deconvs[2](self.relu(out)) + shortcut_2
        out = self.deconvs[3](self.relu(out))
        out = self.deconvs[4](self.relu(out)) + shortcut_input
        return self.relu(out)
