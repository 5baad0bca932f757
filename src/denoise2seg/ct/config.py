"""Settings of CT denoise-pretraining and lesion finetuning, with the paper's defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..io.config_record import ConfigRecord
from ..nets.backbones import BACKBONES, BackboneSpec
from ..training import Schedule
from .windowing import Window

PRETEXTS = ("denoise", "reconstruct", "none")
PRETEXT_LOSSES = ("perceptual", "mse")


@dataclass
class CTPretrainConfig(ConfigRecord):
    """CT lesion segmentation with a self-supervised pretext (Gao et al. 2021).

    Defaults from the paper (Sec. II and III-A) unless marked otherwise:

    - slices centre-cropped and resized to ``image_size`` 256;
    - ``pretext`` ``"denoise"`` (Gaussian noise ``N(noise_mean, noise_std^2)``, the paper's
      method), ``"reconstruct"`` (inpaint a random ``hole_size`` 64 square, its comparison
      "self-reconstruction") or ``"none"`` (fully supervised);
    - ``pretext_loss`` ``"perceptual"``: L1 of VGG-19 features at ``vgg_layer`` 16 plus
      ``tv_weight`` times total variation (Eq. 2); ``"mse"`` is the blurry alternative the
      paper rejects, offered for machines without the VGG weights;
    - Adam, batch 16, weight decay 1e-5, cosine annealing; learning rate 1e-3 for 20
      pretext epochs and 5e-3 for 150 downstream epochs; Dice loss downstream;
    - ``backbone`` U-Net (Table I), U-Net++ or PSPNet (Table II).

    Not given in the paper, chosen here: the lung window (level -600, width 1500 HU)
    that maps HU to the [0, 1] network input; ``noise_mean`` 0 and ``noise_std`` 0.1 of
    the window (150 HU, strong enough to hide ground-glass texture); ``tv_weight`` 0.1
    (a light smoothing term next to a perceptual loss of order 0.1-1). An epoch is one
    pass over the training slices (``steps_per_epoch`` None) unless set.
    ``vgg_weights``: a local VGG-19 state dict file; None uses torchvision's ImageNet file
    from the torch hub cache, downloaded once when ``vgg_download`` is true.
    """

    backbone: str = "unet"
    depth: int | None = None
    n_filters: int | None = None
    encoder: str = "resnet34"
    image_size: int = 256
    window_level: float = -600.0
    window_width: float = 1500.0
    pretext: str = "denoise"
    pretext_loss: str = "perceptual"
    noise_mean: float = 0.0
    noise_std: float = 0.1
    hole_size: int = 64
    tv_weight: float = 0.1
    vgg_layer: int = 16
    vgg_weights: str | None = None
    vgg_download: bool = True
    batch_size: int = 16
    weight_decay: float = 1e-5
    pretext_epochs: int = 20
    pretext_learning_rate: float = 1e-3
    finetune_epochs: int = 150
    finetune_learning_rate: float = 5e-3
    steps_per_epoch: int | None = None
    validation_fraction: float = 0.1
    threshold: float = 0.5
    mixed_precision: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if self.pretext not in PRETEXTS:
            raise ValueError(f"pretext must be one of {', '.join(PRETEXTS)}, got {self.pretext!r}")
        if self.pretext_loss not in PRETEXT_LOSSES:
            raise ValueError(f"pretext_loss must be 'perceptual' or 'mse', got {self.pretext_loss!r}")
        spec = self.backbone_spec()
        # Every backbone halves the resolution depth times (the library encoders as the U-Net).
        if self.image_size % 2**spec.depth:
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**depth = {2**spec.depth} for {self.backbone}")
        if self.pretext == "reconstruct" and not 0 < self.hole_size <= self.image_size:
            raise ValueError(f"hole_size must be in 1..image_size ({self.image_size}), got {self.hole_size}")
        if self.noise_std < 0 or self.tv_weight < 0:
            raise ValueError("noise_std and tv_weight must be >= 0")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        Window(self.window_level, self.window_width)
        self.pretext_schedule(1)
        self.finetune_schedule(1)

    @property
    def window(self) -> Window:
        return Window(self.window_level, self.window_width)

    def backbone_spec(self) -> BackboneSpec:
        return BackboneSpec(name=self.backbone, depth=self.depth, n_filters=self.n_filters, encoder=self.encoder)

    def _steps(self, n_slices: int) -> int:
        return self.steps_per_epoch or max(1, math.ceil(n_slices / self.batch_size))

    def pretext_schedule(self, n_slices: int) -> Schedule:
        return Schedule(
            epochs=self.pretext_epochs,
            steps_per_epoch=self._steps(n_slices),
            learning_rate=self.pretext_learning_rate,
            weight_decay=self.weight_decay,
            lr_schedule="cosine",
            mixed_precision=self.mixed_precision,
        )

    def finetune_schedule(self, n_slices: int) -> Schedule:
        return Schedule(
            epochs=self.finetune_epochs,
            steps_per_epoch=self._steps(n_slices),
            learning_rate=self.finetune_learning_rate,
            weight_decay=self.weight_decay,
            lr_schedule="cosine",
            mixed_precision=self.mixed_precision,
        )
