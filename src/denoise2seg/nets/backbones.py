"""2D segmentation backbones behind one interface: our U-Net, U-Net++ and PSPNet.

Gao et al. (2021, Table II) pretrain and finetune three encoder-decoder networks the
same way. A :class:`Backbone` exposes ``features(x)`` (the body: encoder and decoder),
``head`` (the last layer) and ``replace_head(n)``, so the pretext output (one denoised
channel) and the segmentation output (one lesion logit) are made from the same body.

U-Net++ (Zhou et al. 2019) and PSPNet (Zhao et al. 2017) come from
segmentation-models-pytorch with ``encoder_weights=None``: the whole network starts from
random weights, as the self-supervised comparison requires, and nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..extras import MissingExtraError, import_ct
from .unet import UNet, UNetSpec

BACKBONES = ("unet", "unetplusplus", "pspnet")

# (depth, n_filters) when not given: U-Net as Ronneberger et al. 2015 (4 poolings, 64
# features); U-Net++ and PSPNet as segmentation-models-pytorch's defaults (encoder depth 5
# with decoder channels 256..16; encoder depth 3 with 512 pyramid-pooling channels).
_DEFAULTS = {"unet": (4, 64), "unetplusplus": (5, 16), "pspnet": (3, 512)}


@dataclass(frozen=True)
class BackboneSpec:
    """Which network and how big.

    ``name``: ``"unet"``, ``"unetplusplus"`` or ``"pspnet"``. ``depth``: poolings of the
    U-Net, or ``encoder_depth`` of the library models. ``n_filters``: the U-Net's first-level
    features; the U-Net++ decoder's finest level (the coarser ones double per level);
    PSPNet's pyramid-pooling output channels. ``None`` takes the defaults in ``_DEFAULTS``.
    ``encoder``: the segmentation-models-pytorch encoder of U-Net++/PSPNet.
    """

    name: str = "unet"
    in_channels: int = 1
    out_channels: int = 1
    depth: int | None = None
    n_filters: int | None = None
    encoder: str = "resnet34"

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ValueError(f"unknown backbone {self.name!r}; choose one of {', '.join(BACKBONES)}")
        depth, n_filters = _DEFAULTS[self.name]
        object.__setattr__(self, "depth", int(self.depth if self.depth is not None else depth))
        object.__setattr__(self, "n_filters", int(self.n_filters if self.n_filters is not None else n_filters))
        if self.depth < 1 or self.n_filters < 1:
            raise ValueError(f"depth and n_filters must be >= 1, got {self.depth} and {self.n_filters}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "BackboneSpec":
        return cls(**values)


class Backbone(nn.Module):
    """A body plus a replaceable head; input ``(N, C, H, W)`` with H, W divisible by ``divisor``.

    ``forward(x) = head(features(x))``: ``(N, out_channels, H, W)``, linear (no activation).
    """

    spec: BackboneSpec
    head: nn.Module

    @property
    def divisor(self) -> int:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def replace_head(self, out_channels: int) -> None:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class UNetBackbone(Backbone):
    """:class:`denoise2seg.nets.UNet` (2D, batch norm) behind the :class:`Backbone` interface."""

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = UNet(UNetSpec(ndim=2, in_channels=spec.in_channels, out_channels=spec.out_channels, depth=spec.depth, n_filters=spec.n_filters))

    @property
    def head(self) -> nn.Module:  # type: ignore[override]
        return self.net.head

    @property
    def divisor(self) -> int:
        return self.net.spec.divisor

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)

    def replace_head(self, out_channels: int) -> None:
        self.net.replace_head(out_channels)
        self.spec = BackboneSpec(**{**self.spec.to_dict(), "out_channels": out_channels})


def _import_smp():
    try:
        smp = import_ct("segmentation_models_pytorch", "Building the U-Net++ and PSPNet backbones")
    except MissingExtraError:
        raise
    except Exception as err:  # a torchvision built for another torch raises RuntimeError, not ImportError
        raise RuntimeError(
            "U-Net++ and PSPNet come from segmentation-models-pytorch, which could not be imported "
            f"({type(err).__name__}: {err}). This usually means torchvision does not match the installed "
            "torch; install a matching pair (pip install 'torch==X' 'torchvision==Y' from the same release) "
            "or use the 'unet' backbone"
        ) from err
    return smp


class SMPBackbone(Backbone):
    """A segmentation-models-pytorch U-Net++ or PSPNet behind the :class:`Backbone` interface.

    The body is the library's encoder and decoder; the head is its ``SegmentationHead``
    (convolution, and for PSPNet the bilinear upsampling back to the input size).
    """

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        smp = _import_smp()
        self.spec = spec
        common = dict(encoder_name=spec.encoder, encoder_weights=None, encoder_depth=spec.depth, in_channels=spec.in_channels, classes=spec.out_channels)
        if spec.name == "unetplusplus":
            decoder_channels = tuple(spec.n_filters * 2**level for level in reversed(range(spec.depth)))
            model = smp.UnetPlusPlus(decoder_channels=decoder_channels, **common)
        else:
            model = smp.PSPNet(psp_out_channels=spec.n_filters, **common)
        self.encoder = model.encoder
        self.decoder = model.decoder
        head = model.segmentation_head
        self._head_in = head[0].in_channels
        self._head_kernel = head[0].kernel_size[0]
        self._head_upsampling = int(getattr(head[1], "scale_factor", 1) or 1)
        self.head = head

    @property
    def divisor(self) -> int:
        return int(self.encoder.output_stride)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if any(s % self.divisor for s in x.shape[2:]):
            raise ValueError(f"spatial shape {tuple(x.shape[2:])} must be divisible by {self.divisor} for {self.spec.name}")
        return self.decoder(self.encoder(x))

    def replace_head(self, out_channels: int) -> None:
        from segmentation_models_pytorch.base import SegmentationHead

        device = next(self.parameters()).device
        self.head = SegmentationHead(self._head_in, out_channels, kernel_size=self._head_kernel, upsampling=self._head_upsampling).to(device)
        self.spec = BackboneSpec(**{**self.spec.to_dict(), "out_channels": out_channels})


def build_backbone(spec: BackboneSpec | None = None, **overrides) -> Backbone:
    """Make the network described by ``spec`` (fields may be overridden by keyword)."""
    spec = spec or BackboneSpec()
    if overrides:
        spec = BackboneSpec(**{**spec.to_dict(), **overrides})
    return UNetBackbone(spec) if spec.name == "unet" else SMPBackbone(spec)
