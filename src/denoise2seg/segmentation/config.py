"""Configuration of VoidSeg segmentation training (3-class U-Net or StarDist), with the papers' defaults."""

from __future__ import annotations

import math
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
# Defaults that differ between 2D (VoidSeg) and 3D (stardist's 3D example: patches of
# 48 x 96 x 96, batch 2, 96 rays; smaller patches here, for CPUs and small stacks).
DEFAULTS_BY_NDIM = {
    2: {"patch_size": 128, "patch_depth": None, "batch_size": 128, "n_rays": 32},
    3: {"patch_size": 64, "patch_depth": 16, "batch_size": 4, "n_rays": 96},
}


def anisotropy_of(spacing: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    """The ``(Z, Y, X)`` voxel anisotropy of a voxel ``spacing`` (any unit): each size over the smallest; ``None`` when isotropic or unknown."""
    if spacing is None:
        return None
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"a voxel spacing is three positive sizes (Z, Y, X), got {spacing}")
    if max(spacing) == min(spacing):
        return None
    return tuple(s / min(spacing) for s in spacing)


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

    ``ndim``: 2 segments 2D images (a stack is a set of 2D frames), 3 segments volumes
    ``(Z, Y, X)`` with a 3D U-Net or StarDist 3D (stardist's golden-spiral rays,
    ``star_dist3D``, 3D NMS and ``polyhedron_to_label``). ``patch_size`` (Y, X),
    ``patch_depth`` (Z, 3D only), ``batch_size`` and ``n_rays`` left ``None`` take the
    defaults of :data:`DEFAULTS_BY_NDIM` (VoidSeg's in 2D). ``anisotropy`` is the voxel
    size ``(Z, Y, X)`` relative to the finest axis (``(2, 1, 1)`` for Z steps twice the
    pixel size; ``None`` isotropic): StarDist 3D stretches its rays by it.

    ``channels``: channels of the images (1: grey; 2 or more: a frame is ``(C, *spatial)``,
    a stack ``(T, C, *spatial)``, channels are the network's input channels, normalised
    each on its own; RGB is 3); label masks have the spatial shape only.

    ``annotation_margin`` (pixels) grows the bounding box of the labelled objects of a
    frame (a volume in 3D, in every axis) into the region whose pixels count in the loss
    (see docs/segmentation.md).
    ``validation_fraction`` of the annotated frames is held out to choose the
    post-processing thresholds when at least ``min_frames_for_split`` frames are
    annotated; with fewer, thresholds are chosen on the training frames themselves.
    """

    method: str = "unet"
    scheme: str = "baseline"
    ndim: int = 2
    channels: int = 1
    patch_size: int | None = None
    patch_depth: int | None = None
    batch_size: int | None = None
    epochs: int = 200
    steps_per_epoch: int = 400
    learning_rate: float = 4e-4
    depth: int = 2
    n_filters: int = 32
    n_rays: int | None = None
    anisotropy: tuple[float, float, float] | None = None
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
        if self.ndim not in DEFAULTS_BY_NDIM:
            raise ValueError(f"ndim must be 2 (images) or 3 (volumes), got {self.ndim}")
        for name, default in DEFAULTS_BY_NDIM[self.ndim].items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if self.ndim == 2 and self.patch_depth is not None:
            raise ValueError(f"patch_depth is the Z size of 3D patches; a 2D model has none (got {self.patch_depth})")
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
        for name, size in (("patch_size", self.patch_size), ("patch_depth", self.patch_depth)):
            if size is not None and size % 2**self.depth:
                raise ValueError(f"{name} {size} must be divisible by 2**depth = {2**self.depth}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.ndim == 2 and (self.n_rays < 4 or self.n_rays % 4):
            raise ValueError(f"n_rays must be a positive multiple of 4 (rays must map onto rays under rotations), got {self.n_rays}")
        if self.ndim == 3 and self.n_rays < 6:
            raise ValueError(f"StarDist 3D needs at least 6 rays, got {self.n_rays}")
        if self.anisotropy is not None:
            if self.ndim != 3 or len(self.anisotropy) != 3 or not all(math.isfinite(a) and a > 0 for a in self.anisotropy):
                raise ValueError(
                    f"anisotropy is the (Z, Y, X) voxel size of a 3D model, three positive numbers; got {self.anisotropy} "
                    f"for a {self.ndim}D model"
                )
            self.anisotropy = tuple(float(a) for a in self.anisotropy)
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
    def frame_ndim(self) -> int:
        """Axes of one frame of input: the spatial axes, and a leading channel axis when ``channels`` > 1."""
        return self.ndim + (self.channels > 1)

    @property
    def patch_shape(self) -> tuple[int, ...]:
        """Training patch shape: ``(Y, X)``, or ``(Z, Y, X)`` in 3D."""
        if self.ndim == 3:
            return (self.patch_depth, self.patch_size, self.patch_size)
        return (self.patch_size, self.patch_size)

    def unet_spec(self) -> UNetSpec:
        """The U-Net: 4 outputs for the 3-class method, ``stardist_features`` for StarDist's body."""
        out = UNET_OUTPUTS if self.method == "unet" else self.stardist_features
        return UNetSpec(ndim=self.ndim, in_channels=self.channels, out_channels=out, depth=self.depth, n_filters=self.n_filters)

    def schedule(self) -> Schedule:
        return Schedule(
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            learning_rate=self.learning_rate,
            lr_schedule="plateau",
            mixed_precision=self.mixed_precision,
        )
