"""Settings of LADP pretraining and finetuning, with the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..io.config_record import ConfigRecord
from ..nets import UNetSpec

PretrainingMode = Literal["ladp", "ddp", "none"]
PRETRAINING_MODES = ("ladp", "ddp", "none")


def _check_common(config) -> None:
    if config.epochs < 1 or config.batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {config.epochs} and {config.batch_size}")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1 or None (one pass over the slices), got {config.steps_per_epoch}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate}")
    UNetSpec(ndim=2, in_channels=1, depth=config.depth, n_filters=config.n_filters)


@dataclass
class PretrainConfig(ConfigRecord):
    """LADP / DDP self-pretraining.

    Defaults from Ninalga 2023 (LADP), Sec. II-C/D: ``gamma = 0.95`` (as DDP),
    ``sigma_a = 1.5`` inside the ROI and ``sigma_b = 0.8`` outside; Adam, lr 1e-4,
    30 epochs, batch 16, random horizontal/vertical flips only. ``decoder_only`` (encoder
    frozen) is the paper's best variant (Table 1). ``mode = "ddp"`` is plain Decoder
    Denoising Pretraining (Brempong et al. 2022): standard normal noise everywhere
    (``ddp_sigma = 1``). ``steps_per_epoch = None`` makes an epoch one pass over the
    training slices. The network (``depth``, ``n_filters``) is our choice: the paper names
    "TeraNet", a U-Net, citing TernausNet (Iglovikov and Shvets 2018), and gives no size;
    it works on 256 x 256 slices. We use the project's U-Net on slices at their own size.
    """

    mode: Literal["ladp", "ddp"] = "ladp"
    decoder_only: bool = True
    sigma_a: float = 1.5
    sigma_b: float = 0.8
    ddp_sigma: float = 1.0
    gamma: float = 0.95
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-4
    steps_per_epoch: int | None = None
    flips: bool = True
    depth: int = 3
    n_filters: int = 32
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("ladp", "ddp"):
            raise ValueError(f"pretraining mode must be 'ladp' or 'ddp', got {self.mode!r}")
        if not (self.sigma_a > 0 and self.sigma_b > 0 and self.ddp_sigma > 0):
            raise ValueError("sigma_a, sigma_b and ddp_sigma must be > 0")
        if not 0 < self.gamma < 1:
            raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
        _check_common(self)

    @property
    def noise_sigmas(self) -> tuple[float, float]:
        """``(inside ROI, outside ROI)`` noise standard deviations of this mode."""
        if self.mode == "ddp":
            return self.ddp_sigma, self.ddp_sigma
        return self.sigma_a, self.sigma_b


@dataclass
class FinetuneConfig(ConfigRecord):
    """Supervised finetuning of the lesion segmenter.

    Defaults from Ninalga 2023, Sec. II-D: loss ``BCE + Dice + 3 x Focal`` (Eq. 7);
    Adam, lr 1e-4, 30 epochs, batch 16; random horizontal/vertical flips as the only
    augmentation; best epoch chosen by validation Dice; prediction averages the outputs
    over the training flips (test-time augmentation) and thresholds at 0.5. The focal
    loss is Lin et al.'s with ``focal_gamma = 2`` and no class weighting (the paper does
    not give its parameters). ``depth`` / ``n_filters`` are used when no pretrained
    network is given (then the pretrained network's architecture is kept).
    """

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-4
    steps_per_epoch: int | None = None
    flips: bool = True
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    focal_weight: float = 3.0
    focal_gamma: float = 2.0
    threshold: float = 0.5
    tta: bool = True
    depth: int = 3
    n_filters: int = 32
    seed: int | None = None

    def __post_init__(self) -> None:
        if min(self.bce_weight, self.dice_weight, self.focal_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        _check_common(self)
