"""Configuration of VoidSeg segmentation training (3-class U-Net or StarDist), with the papers' defaults."""

from __future__ import annotations

from dataclasses import dataclass

from ..io.config_record import ConfigRecord
from ..nets import UNetSpec
from ..training import Schedule

METHODS = ("unet", "stardist")
SCHEMES = ("baseline", "sequential", "finetune", "finetune-sequential")
# Schemes whose network input is the N2V-denoised image / whose weights start from N2V.
DENOISED_INPUT_SCHEMES = ("sequential", "finetune-sequential")
FINETUNE_SCHEMES = ("finetune", "finetune-sequential")
# 3 pixel classes (background, foreground, border) + 1 denoising channel (VoidSeg Sec. 2).
UNET_OUTPUTS = 4
DENOISING_CHANNEL = 3


@dataclass
class SegmentationConfig(ConfigRecord):
    """Settings of one segmentation training run.

    Defaults follow VoidSeg (Prakash et al. 2020, Sec. 2): U-Net with 32 initial
    feature maps, 3x3 kernels and batch norm (depth 2, N2V's default, so that an N2V
    model trained with defaults can be finetuned); batch 128, initial learning rate 4e-4
    with N2V's reduce-on-plateau schedule, 200 epochs of 400 steps, 8-fold flip/rot90
    augmentation; 128x128 patches (the paper's patch size); border class weighted 5x in
    the cross-entropy (after StarDist, Schmidt et al. 2018). StarDist: 32 rays, loss
    weights 1 (probability) and 0.2 (distances), background regularisation 1e-4 and a
    128-feature 3x3 layer after the U-Net (StarDist's ``train_loss_weights``,
    ``train_background_reg``, ``net_conv_after_unet``).

    ``border``: the 3-class border class lies ``"inner"`` (object pixels on the boundary,
    instances regrown over it by watershed; our choice) or ``"outer"`` (the pixels around
    each object, instances as connected components: VoidSeg's reference code).

    ``annotation_margin`` (pixels) grows the bounding box of the labelled objects of a
    frame into the region whose pixels count in the loss (see docs/segmentation.md).
    ``validation_fraction`` of the annotated frames is held out to choose the
    post-processing thresholds when at least ``min_frames_for_split`` frames are
    annotated; with fewer, thresholds are chosen on the training frames themselves.
    """

    method: str = "unet"
    scheme: str = "baseline"
    patch_size: int = 128
    batch_size: int = 128
    epochs: int = 200
    steps_per_epoch: int = 400
    learning_rate: float = 4e-4
    depth: int = 2
    n_filters: int = 32
    n_rays: int = 32
    border_weight: float = 5.0
    border: str = "inner"
    annotation_margin: int = 16
    validation_fraction: float = 0.15
    min_frames_for_split: int = 4
    augment: bool = True
    stardist_prob_weight: float = 1.0
    stardist_dist_weight: float = 0.2
    stardist_background_reg: float = 1e-4
    stardist_features: int = 128
    percentile_low: float = 1.0
    percentile_high: float = 99.8
    mixed_precision: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if self.border not in ("inner", "outer"):
            raise ValueError(f"border must be 'inner' or 'outer', got {self.border!r}")
        if self.method == "stardist" and self.scheme in FINETUNE_SCHEMES:
            raise ValueError(
                f"scheme {self.scheme!r} is not available for StarDist: its network differs from the N2V U-Net, "
                "so it cannot start from N2V weights (VoidSeg Sec. 2); use 'baseline' or 'sequential'"
            )
        if self.patch_size % 2**self.depth:
            raise ValueError(f"patch_size {self.patch_size} must be divisible by 2**depth = {2**self.depth}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.n_rays < 4 or self.n_rays % 4:
            raise ValueError(f"n_rays must be a positive multiple of 4 (rays must map onto rays under rotations), got {self.n_rays}")
        if self.border_weight <= 0:
            raise ValueError(f"border_weight must be > 0, got {self.border_weight}")
        if self.annotation_margin < 0:
            raise ValueError(f"annotation_margin must be >= 0, got {self.annotation_margin}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if not 0 <= self.percentile_low < self.percentile_high <= 100:
            raise ValueError(
                f"need 0 <= percentile_low < percentile_high <= 100, got {self.percentile_low} and {self.percentile_high}"
            )
        # Build both once so that their own checks fail here, when the config is made.
        self.unet_spec()
        self.schedule()

    @property
    def uses_n2v(self) -> bool:
        """True when the scheme needs a trained N2V model."""
        return self.scheme != "baseline"

    @property
    def denoises_input(self) -> bool:
        return self.scheme in DENOISED_INPUT_SCHEMES

    @property
    def finetunes(self) -> bool:
        return self.scheme in FINETUNE_SCHEMES

    @property
    def patch_shape(self) -> tuple[int, int]:
        return (self.patch_size, self.patch_size)

    def unet_spec(self) -> UNetSpec:
        """The U-Net: 4 outputs for the 3-class method, ``stardist_features`` for StarDist's body."""
        out = UNET_OUTPUTS if self.method == "unet" else self.stardist_features
        return UNetSpec(ndim=2, in_channels=1, out_channels=out, depth=self.depth, n_filters=self.n_filters)

    def schedule(self) -> Schedule:
        return Schedule(
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            learning_rate=self.learning_rate,
            lr_schedule="plateau",
            mixed_precision=self.mixed_precision,
        )
