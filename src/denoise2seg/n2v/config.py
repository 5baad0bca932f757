"""Configuration of Noise2Void training, with the papers' defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args, get_type_hints

from ..data.normalization import NORMALIZATIONS
from ..io.config_record import ConfigRecord
from ..nets import UNetSpec
from ..training import Schedule

# The learning-rate schedules the training loop runs, for the CLI's choices.
LR_SCHEDULES: tuple[str, ...] = get_args(get_type_hints(Schedule)["lr_schedule"])


@dataclass
class N2VConfig(ConfigRecord):
    """Noise2Void settings.

    Defaults: U-Net with 32 initial feature maps, 3x3 kernels, batch norm, depth 2;
    batch 128, lr 4e-4 with reduce-on-plateau, 200 epochs x 400 steps, 8-fold flips/rot90
    augmentation (VoidSeg, Prakash et al. 2020, Sec. 3); 0.198% of pixels masked per
    patch from a 5x5 neighbourhood (N2V, Krull et al. 2019, ``n2v_perc_pix``). VoidSeg's
    reference code uses 0.784% from 11x11 (radius 5): faster in the first 100 steps on the
    DSB sample, 1.2 dB worse after the demo's 600 (docs/n2v.md), so N2V's stay; 64x64
    patches in 2D, 32^3 in 3D (N2V examples). ``normalization`` ``"zscore"`` (mean / std of
    all training images: N2V's, CAREamics' and VoidSeg's reference code's, and it trains
    several times faster than percentiles, see docs/n2v.md) or ``"percentile"`` (1 / 99.8
    mapped to 0 / 1, csbdeep's; ``percentile_low`` / ``percentile_high``).
    ``ndim`` is the number of spatial axes of one sample (2 or 3); without axes a 3D array
    given for a 2D model is a stack of 2D frames (time or z). The number of channels is
    not a setting: it is that of the training images (``train_n2v(..., axes=...)``),
    passed to :meth:`unet_spec` and recorded in the network of the model folder.

    ``n2v2`` trains N2V2 instead (Hoeck et al. 2022, "N2V2 - Fixing Noise2Void
    checkerboard artifacts with modified sampling strategies and a tweaked network
    architecture"): max-blur-pool downsampling in the U-Net, no skip connection at full
    resolution, and blind spots replaced by the median of their neighbourhood without
    the centre instead of a random neighbour. ``lr_schedule`` is how the learning rate
    changes during training: ``"plateau"`` (halved when the validation loss stalls,
    N2V's), ``"cosine"`` (annealed to 0 over all steps) or ``"constant"``.
    ``ema_decay`` (``None``: off, as in N2V) averages the weights over training
    (:class:`~denoise2seg.training.Schedule`): with 0.198 % blind spots a batch of 32
    scores only about 260 pixels, so at a high learning rate the output's brightness
    drifts by a few grey levels from step to step; the average removes that drift
    (0.99 takes the demo's three seeds from a 1.24 dB spread to 0.08 dB, docs/n2v.md).
    ``mixed_precision`` trains under bf16 autocast on CUDA and on a CPU with bf16 matrix
    units (AMX; the step 2.3x faster there, the demo within 0.1 dB, docs/performance.md);
    a CPU without them trains in float32. On a CPU the network always trains in the
    channels-last layout (1.2x faster, the same arithmetic).
    """

    ndim: int = 2
    patch_size: int | None = None
    batch_size: int = 128
    epochs: int = 200
    steps_per_epoch: int = 400
    learning_rate: float = 4e-4
    depth: int = 2
    n_filters: int = 32
    masked_fraction: float = 0.00198
    neighborhood_radius: int = 2
    validation_fraction: float = 0.1
    augment: bool = True
    normalization: str = "zscore"
    percentile_low: float = 1.0
    percentile_high: float = 99.8
    mixed_precision: bool = True
    seed: int | None = None
    n2v2: bool = False
    lr_schedule: str = "plateau"
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3, got {self.ndim}")
        if self.patch_size is None:
            self.patch_size = 64 if self.ndim == 2 else 32
        divisor = 2**self.depth
        if self.patch_size % divisor:
            raise ValueError(f"patch_size {self.patch_size} must be divisible by 2**depth = {divisor}")
        if self.neighborhood_radius < 1:
            raise ValueError(f"neighborhood_radius must be >= 1, got {self.neighborhood_radius}")
        if self.patch_size <= 2 * self.neighborhood_radius:
            raise ValueError(
                f"patch_size {self.patch_size} must be at least the masking window, "
                f"2 * neighborhood_radius + 1 = {2 * self.neighborhood_radius + 1} pixels wide"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not 0 <= self.percentile_low < self.percentile_high <= 100:
            raise ValueError(
                f"need 0 <= percentile_low < percentile_high <= 100, got {self.percentile_low} and {self.percentile_high}"
            )
        # Build both once so that their own checks fail here, when the config is made.
        self.unet_spec()
        self.schedule()
        if not 0 < self.masked_fraction < 1:
            raise ValueError(f"masked_fraction must be in (0, 1), got {self.masked_fraction}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")

    @property
    def patch_shape(self) -> tuple[int, ...]:
        return (self.patch_size,) * self.ndim

    @property
    def replacement(self) -> str:
        """How blind spots are filled (:func:`denoise2seg.n2v.masking.blind_spot_mask`): ``"median"`` for N2V2, else ``"random"``."""
        return "median" if self.n2v2 else "random"

    def unet_spec(self, channels: int = 1) -> UNetSpec:
        return UNetSpec(
            ndim=self.ndim,
            in_channels=channels,
            out_channels=channels,
            depth=self.depth,
            n_filters=self.n_filters,
            blur_pool=self.n2v2,
            top_skip=not self.n2v2,
        )

    def schedule(self) -> Schedule:
        return Schedule(
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            mixed_precision=self.mixed_precision,
            cpu_mixed_precision=self.mixed_precision,
            channels_last=True,
            ema_decay=self.ema_decay,
        )
