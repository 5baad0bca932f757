"""A 2D/3D U-Net (CSBDeep / Noise2Void style) with a swappable 1x1 output head.

The body (encoder, bottleneck, decoder) is shared by N2V, the 3-class segmenter and the
finetune schemes; only the head changes between tasks, so weights learnt on one task
can initialise another (VoidSeg, Prakash et al. 2020, Fig. 1c/d).

Two options give N2V2's architecture (Hoeck et al. 2022, "N2V2 - Fixing Noise2Void
checkerboard artifacts with modified sampling strategies and a tweaked network
architecture"): max-blur-pool downsampling and no skip connection at full resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNetSpec:
    """Architecture of a :class:`UNet`.

    Defaults follow VoidSeg / N2V: 32 initial feature maps, 3x3 kernels, batch norm,
    depth 2 (N2V's default; the paper tunes depth per data set).

    ``blur_pool`` downsamples by :class:`MaxBlurPool` (N2V2) instead of 2x max pooling.
    ``top_skip`` keeps the skip connection of the full-resolution level; N2V2 drops it,
    so the last decoder block sees only upsampled features. Both default to the N2V
    network, and a spec saved without them loads as that network.
    """

    ndim: int = 2
    in_channels: int = 1
    out_channels: int = 1
    depth: int = 2
    n_filters: int = 32
    kernel_size: int = 3
    batch_norm: bool = True
    blur_pool: bool = False
    top_skip: bool = True

    def __post_init__(self) -> None:
        if self.ndim not in (2, 3):
            raise ValueError(f"UNet supports ndim 2 or 3, got {self.ndim}")
        if self.depth < 1:
            raise ValueError(f"U-Net depth must be >= 1, got {self.depth}")
        if self.n_filters < 1 or self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(
                f"n_filters, in_channels and out_channels must be >= 1, got "
                f"{self.n_filters}, {self.in_channels}, {self.out_channels}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-size convolutions), got {self.kernel_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "UNetSpec":
        return cls(**values)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be divisible by this (one factor 2 per pooling)."""
        return 2**self.depth

    @property
    def receptive_radius(self) -> int:
        """Upper bound (pixels) on how far an output pixel sees into its input.

        Two convolutions per level on each side of the U, the bottleneck, and the pooling
        offsets; used as the tile halo so that tiled prediction equals whole-image
        prediction. A max-blur pool reaches one pixel of its level further on each side
        than a 2x max pool, which doubles the pooling offsets.
        """
        half = self.kernel_size // 2
        convs = sum(4 * half * 2**level for level in range(self.depth))
        bottleneck = 2 * half * 2**self.depth
        pooling = (2 if self.blur_pool else 1) * (2**self.depth - 1)
        return convs + bottleneck + pooling


def _conv_block(spec: UNetSpec, c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    """Two ``kernel_size`` convolutions ``c_in -> c_mid -> c_out``, each with batch norm and ReLU."""
    conv = nn.Conv2d if spec.ndim == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if spec.ndim == 2 else nn.BatchNorm3d
    layers: list[nn.Module] = []
    for c_from, c_to in ((c_in, c_mid), (c_mid, c_out)):
        layers.append(conv(c_from, c_to, spec.kernel_size, padding=spec.kernel_size // 2, bias=not spec.batch_norm))
        if spec.batch_norm:
            layers.append(norm(c_to))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def binomial_kernel(ndim: int) -> torch.Tensor:
    """The 3-tap binomial blur ``[1, 2, 1] / 4`` along each of ``ndim`` axes, ``(1, 1, 3, ...)``, summing to 1."""
    taps = torch.tensor([1.0, 2.0, 1.0]) / 4
    kernel = taps
    for _ in range(ndim - 1):
        kernel = kernel[..., None] * taps
    return kernel[None, None]


class MaxBlurPool(nn.Module):
    """Downsampling by 2 of N2V2 (after Zhang 2019, "Making convolutional networks shift-invariant again").

    A 2-wide max pool with stride 1, then the binomial blur of :func:`binomial_kernel`
    taken at every second pixel, each channel on its own. Output pixel ``j`` of an axis
    sees input pixels ``2j - 1 .. 2j + 2``, centred on the box ``2j, 2j + 1`` of a 2x max
    pool. The input is padded by repeating its border pixels, so a constant image stays
    constant. Input ``(N, C, *spatial)`` with even sizes, output ``(N, C, *spatial / 2)``.
    """

    def __init__(self, ndim: int) -> None:
        super().__init__()
        self.ndim = ndim
        self.register_buffer("kernel", binomial_kernel(ndim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        max_pool = nn.functional.max_pool2d if self.ndim == 2 else nn.functional.max_pool3d
        conv = nn.functional.conv2d if self.ndim == 2 else nn.functional.conv3d
        n, c = x.shape[:2]
        padded = nn.functional.pad(x, (1, 1) * self.ndim, mode="replicate")
        maxima = max_pool(padded, kernel_size=2, stride=1)
        # Channels as batch entries, so one single-channel kernel blurs each on its own.
        blurred = conv(maxima.reshape(n * c, 1, *maxima.shape[2:]), self.kernel.to(x.dtype), stride=2)
        return blurred.reshape(n, c, *blurred.shape[2:])


class UNet(nn.Module):
    """U-Net with ``depth`` poolings, ``n_filters * 2**level`` features per level.

    Feature widths follow CSBDeep's ``unet_block`` (the network of N2V and VoidSeg): the
    bottleneck widens to ``n_filters * 2**depth`` and narrows back to the level above, and
    each decoder level ``l`` convolves to ``n_filters * 2**l`` then ``n_filters * 2**(l-1)``.
    Each decoder level concatenates the encoder features of its level, except level 0
    when ``spec.top_skip`` is False.

    Input ``(N, in_channels, *spatial)`` with each spatial size divisible by
    ``spec.divisor``; output ``(N, out_channels, *spatial)``, linear (no activation).
    ``encoder``, ``bottleneck`` and ``decoder`` form the body; ``head`` is a 1x1 conv.
    """

    def __init__(self, spec: UNetSpec | None = None, **overrides) -> None:
        super().__init__()
        spec = spec or UNetSpec()
        if overrides:
            spec = UNetSpec(**{**spec.to_dict(), **overrides})
        self.spec = spec
        widths = [spec.n_filters * 2**level for level in range(spec.depth + 1)]
        self.encoder = nn.ModuleList()
        c_in = spec.in_channels
        for level in range(spec.depth):
            self.encoder.append(_conv_block(spec, c_in, widths[level], widths[level]))
            c_in = widths[level]
        self.bottleneck = _conv_block(spec, widths[spec.depth - 1], widths[spec.depth], widths[spec.depth - 1])
        self.decoder = nn.ModuleList()
        c_below = widths[spec.depth - 1]
        for level in reversed(range(spec.depth)):
            c_out = widths[max(level - 1, 0)]
            c_skip = widths[level] if self._has_skip(level) else 0
            self.decoder.append(_conv_block(spec, c_below + c_skip, widths[level], c_out))
            c_below = c_out
        if spec.blur_pool:
            self.pool: nn.Module = MaxBlurPool(spec.ndim)
        else:
            self.pool = nn.MaxPool2d(2) if spec.ndim == 2 else nn.MaxPool3d(2)
        self.body_channels = c_below
        self.head = self._make_head(spec.out_channels)

    def _has_skip(self, level: int) -> bool:
        """True when decoder ``level`` (0: full resolution) concatenates the encoder features of its level."""
        return level > 0 or self.spec.top_skip

    def _make_head(self, out_channels: int) -> nn.Module:
        conv = nn.Conv2d if self.spec.ndim == 2 else nn.Conv3d
        return conv(self.body_channels, out_channels, 1)

    def replace_head(self, out_channels: int) -> None:
        """Put a freshly initialised head with ``out_channels`` outputs on the same body."""
        device = next(self.parameters()).device
        self.head = self._make_head(out_channels).to(device)
        self.spec = UNetSpec(**{**self.spec.to_dict(), "out_channels": out_channels})

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the contracting path and bottleneck (frozen by decoder-only pretraining)."""
        return [p for m in (self.encoder, self.bottleneck) for p in m.parameters()]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Body output: decoder features at full resolution, ``(N, body_channels, *spatial)``."""
        if any(s % self.spec.divisor for s in x.shape[2:]):
            raise ValueError(
                f"spatial shape {tuple(x.shape[2:])} must be divisible by {self.spec.divisor} "
                f"(2**depth); pad the input or use denoise2seg.prediction.predict_tiled"
            )
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for level, block, skip in zip(reversed(range(self.spec.depth)), self.decoder, reversed(skips)):
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skip], dim=1) if self._has_skip(level) else x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
