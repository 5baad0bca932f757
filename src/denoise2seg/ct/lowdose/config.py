"""Typed settings of Pseudo-CT training and adaptation, with the papers' defaults.

Sources: Won et al. 2021, "Self-Supervised Learning based CT Denoising using Pseudo-CT
Image Pairs" (Sec. 3, Implementation Details): 64x64 patches, random rescale [0.5, 2]
and horizontal/vertical flips in every training and update step, L1 loss for the
denoiser and the noise models, Adam with learning rate 1e-4, ReduceLROnPlateau halving
the learning rate, RED-CNN denoiser and U-Net noise models, squared error (Eq. 4) for
the update on pseudo pairs, Gaussian pseudo-noise of standard deviation 0.02.
RED-CNN (Chen et al. 2017): 96 filters of 5x5. What the paper leaves open is marked
"our choice" below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...io.config_record import ConfigRecord
from ...nets import UNetSpec
from ...nets.redcnn import REDCNNSpec
from ...training import Schedule

SCHEMES = ("n2c", "n2n", "n2v")
NOISE_SOURCES = ("ensemble", "gaussian", "hist", "model+hist")


@dataclass
class PatchTrainingConfig(ConfigRecord):
    """Patch training shared by the denoiser and the noise models.

    64x64 patches, rescale [0.5, 2] + flips, Adam 1e-4, plateau x0.5: the paper.
    Batch 16, 100 epochs of 100 steps, plateau patience 5 epochs, 10% validation strip,
    seed: our choices (the paper gives none).
    """

    patch_size: int = 64
    batch_size: int = 16
    epochs: int = 100
    steps_per_epoch: int = 100
    learning_rate: float = 1e-4
    plateau_patience: int = 5
    scale_range: tuple[float, float] = (0.5, 2.0)
    validation_fraction: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        self.scale_range = tuple(float(s) for s in self.scale_range)
        if self.patch_size < 21:
            raise ValueError(f"patch_size must be at least 21 (RED-CNN's valid convolutions), got {self.patch_size}")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {self.scale_range}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def schedule(self) -> Schedule:
        return Schedule(
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            learning_rate=self.learning_rate,
            lr_schedule="plateau",
            plateau_factor=0.5,
            plateau_patience=self.plateau_patience,
            mixed_precision=False,
        )


@dataclass
class DenoiserConfig(PatchTrainingConfig):
    """The base denoiser f_theta: RED-CNN trained by ``scheme``.

    ``"n2c"``: supervised on low-/normal-dose pairs (L1); ``"n2n"``: on two independent
    low-dose realisations (L1); ``"n2v"``: Noise2Void blind-spot masking of the low-dose
    image with N2V's own masked squared error and its defaults (0.198% of pixels, 5x5
    neighbourhood). RED-CNN width 96, kernel 5 (Chen et al. 2017).
    """

    scheme: Literal["n2c", "n2n", "n2v"] = "n2c"
    n_filters: int = 96
    kernel_size: int = 5
    masked_fraction: float = 0.00198
    neighborhood_radius: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")

    def network_spec(self) -> REDCNNSpec:
        return REDCNNSpec(n_filters=self.n_filters, kernel_size=self.kernel_size)


@dataclass
class NoiseModelConfig(PatchTrainingConfig):
    """A noise model N_m: U-Net from low dose X to the noise map Z = X - Y (L1).

    U-Net depth 2, 32 filters, batch norm (the project's U-Net defaults; the paper only
    says U-Net).
    """

    depth: int = 2
    n_filters: int = 32

    def network_spec(self) -> UNetSpec:
        return UNetSpec(ndim=2, in_channels=1, out_channels=1, depth=self.depth, n_filters=self.n_filters)


@dataclass
class AdaptationConfig(ConfigRecord):
    """Algorithm 1 of the paper: self-supervised update of f_theta on pseudo pairs of one LDCT scan.

    ``noise``: ``"ensemble"`` (the paper's method: each pixel from one of the m noise
    maps, redrawn every step), ``"gaussian"`` (sd ``gaussian_sd`` = 0.02 in
    (HU + 1024) / 4096 units, about 82 HU), ``"hist"`` (values drawn from the
    histogram of the training pairs' difference LDCT - NDCT, as in the paper) or
    ``"model+hist"`` (each pixel from the single all-subject noise model's map or from
    that histogram).
    ``update_period`` is C: theta <- theta* every C steps; ``None`` never updates theta
    (the "w/o theta update" ablation, which returns f_theta*(X)).
    Squared-error loss (Eq. 4), Adam 1e-4, 64x64 patches, rescale + flips: the paper.
    C = 100, 1000 steps of batch 16, constant learning rate: our choices (the paper
    states none).
    """

    noise: Literal["ensemble", "gaussian", "hist", "model+hist"] = "ensemble"
    update_period: int | None = 100
    steps: int = 1000
    batch_size: int = 16
    patch_size: int = 64
    learning_rate: float = 1e-4
    gaussian_sd: float = 0.02
    scale_range: tuple[float, float] = (0.5, 2.0)
    seed: int | None = None

    def __post_init__(self) -> None:
        self.scale_range = tuple(float(s) for s in self.scale_range)
        if self.noise not in NOISE_SOURCES:
            raise ValueError(f"noise must be one of {NOISE_SOURCES}, got {self.noise!r}")
        if self.update_period is not None and self.update_period < 1:
            raise ValueError(f"update_period must be >= 1 or None, got {self.update_period}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")

    def schedule(self) -> Schedule:
        return Schedule(epochs=1, steps_per_epoch=self.steps, learning_rate=self.learning_rate, lr_schedule="constant", mixed_precision=False)
