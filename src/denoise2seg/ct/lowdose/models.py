"""Trained low-dose CT networks: the RED-CNN denoiser and the U-Net noise models, in HU.

Both take low-dose slices in HU, ``(H, W)`` or ``(N, H, W)``, and work internally in
``(HU + 1024) / 4096`` units; a denoiser returns HU, a noise model returns its noise map
``Z = X - Y`` in normalised units (:meth:`NoiseModel.predict_unit`) or HU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...io.model_folder import ModelFolderError, load_into, read_model_config, save_model_folder
from ...nets import UNet, UNetSpec
from ...nets.redcnn import REDCNN, REDCNNSpec
from ...prediction import predict_tiled
from ...training import choose_device
from ...validation import check_image
from .units import hu_to_unit, noise_unit_to_hu, unit_to_hu

DENOISER_KIND = "lowdose-denoiser"
NOISE_MODEL_KIND = "lowdose-noise-model"


def _as_slices(image, name: str) -> tuple[np.ndarray, bool]:
    array = check_image(image, ndim=(2, 3), name=name)
    return (array[None], True) if array.ndim == 2 else (array, False)


def apply_slices(net: nn.Module, unit_slices: np.ndarray, *, divisor: int = 1, halo: int = 0, tile_shape="auto") -> np.ndarray:
    """Run ``net`` on each ``(H, W)`` slice of ``(N, H, W)`` normalised input, by tiles (``tile_shape`` as for
    :func:`~denoise2seg.prediction.predict_tiled`); float32 ``(N, H, W)``."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        out = [predict_tiled(net, s[None], divisor=divisor, halo=halo, tile_shape=tile_shape, device=device)[0] for s in unit_slices]
    finally:
        net.train(was_training)
    return np.stack(out).astype(np.float32)


class LowDoseDenoiser:
    """A RED-CNN denoiser f_theta for low-dose CT slices in HU."""

    def __init__(self, net: REDCNN, record: dict | None = None) -> None:
        self.net = net
        self.record = record or {}

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "LowDoseDenoiser":
        """Load a folder written by :func:`~denoise2seg.ct.lowdose.training.train_denoiser` or by adaptation."""
        record = read_model_config(folder, kind=DENOISER_KIND)
        net = REDCNN(REDCNNSpec.from_dict(record["network"]))
        load_into(net, folder, which)
        return cls(net.to(choose_device(device)).eval(), record)

    def save(self, folder: str | Path) -> Path:
        """Write the current weights as a model folder (both best and last)."""
        state = self.net.state_dict()
        save_model_folder(folder, self.record_for_save(), state, which="last")
        return save_model_folder(folder, self.record_for_save(), state, which="best")

    def record_for_save(self) -> dict:
        return {**self.record, "kind": DENOISER_KIND, "network": self.net.spec.to_dict()}

    def predict_unit(self, unit_slices: np.ndarray) -> np.ndarray:
        """Denoise ``(N, H, W)`` slices in normalised units."""
        return apply_slices(self.net, unit_slices)

    def predict(self, low_dose_hu, tile_shape: tuple[int, int] | str | None = "auto") -> np.ndarray:
        """Denoise a slice ``(H, W)`` or stack ``(N, H, W)`` in HU; same shape, float32 HU."""
        slices, single = _as_slices(low_dose_hu, "low-dose image")
        out = unit_to_hu(apply_slices(self.net, hu_to_unit(slices), halo=self.net.spec.receptive_radius, tile_shape=tile_shape))
        return out[0] if single else out


class NoiseModel:
    """A U-Net noise model N_m: low dose X (HU) -> noise map Z = X - Y."""

    def __init__(self, net: UNet, record: dict | None = None) -> None:
        self.net = net
        self.record = record or {}

    @property
    def name(self) -> str:
        return str(self.record.get("subject", "noise model"))

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "NoiseModel":
        """Load a folder written by :func:`~denoise2seg.ct.lowdose.training.train_noise_model`."""
        record = read_model_config(folder, kind=NOISE_MODEL_KIND)
        net = UNet(UNetSpec.from_dict(record["network"]))
        load_into(net, folder, which)
        return cls(net.to(choose_device(device)).eval(), record)

    def predict_unit(self, unit_slices: np.ndarray) -> np.ndarray:
        """Noise maps ``(N, H, W)`` of normalised low-dose slices, in normalised units."""
        spec = self.net.spec
        return apply_slices(self.net, unit_slices, divisor=spec.divisor, halo=spec.receptive_radius)

    def predict(self, low_dose_hu) -> np.ndarray:
        """Noise map in HU of a slice ``(H, W)`` or stack ``(N, H, W)`` in HU."""
        slices, single = _as_slices(low_dose_hu, "low-dose image")
        out = noise_unit_to_hu(self.predict_unit(hu_to_unit(slices)))
        return out[0] if single else out


def load_noise_models(folder: str | Path, device: str | torch.device | None = "auto") -> list[NoiseModel]:
    """Load every noise model in the sub-folders of ``folder`` (one per training subject), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"noise-model folder {folder} does not exist")
    models = [NoiseModel.load(sub, device) for sub in sorted(folder.iterdir()) if (sub / "config.json").is_file()]
    if not models:
        raise ModelFolderError(f"{folder} holds no noise model folders (sub-folders with config.json)")
    return models
