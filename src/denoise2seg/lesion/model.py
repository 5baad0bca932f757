"""Trained lesion segmenters: one network with flip test-time augmentation, and ensembles voting voxel-wise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.model_folder import FORMAT_VERSION, ModelFolderError, load_into, read_model_config
from ..nets import UNet, UNetSpec
from ..training import choose_device
from .cases import BACKGROUND_VALUE, brain_from_image, normalize_case
from .config import FinetuneConfig
from .flips import flip_tta, majority_vote
from .slices import pad_to_multiple

ENSEMBLE_KIND = "ladp-ensemble"
SEGMENTER_KIND = "ladp-segmenter"


def predict_probability(net: UNet, normalized: np.ndarray, *, tta: bool = True, batch_size: int = 16) -> np.ndarray:
    """Lesion probability of every voxel of a normalised ``(C, Z, Y, X)`` volume, slice by slice.

    Axial slices are padded (with the background value) to multiples of the network's
    divisor; with ``tta`` the sigmoid outputs are averaged over the four flips.
    Returns float32 ``(Z, Y, X)``.
    """
    device = next(net.parameters()).device
    slices = normalized.transpose(1, 0, 2, 3)
    height, width = slices.shape[-2:]
    padded = pad_to_multiple(slices, net.spec.divisor, BACKGROUND_VALUE)

    def probability(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(batch)[:, :1].float())

    was_training = net.training
    net.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(padded), batch_size):
                batch = torch.as_tensor(np.ascontiguousarray(padded[start : start + batch_size]), device=device)
                prob = flip_tta(probability, batch) if tta else probability(batch)
                out.append(prob[:, 0, :height, :width].cpu().numpy())
    finally:
        net.train(was_training)
    return np.concatenate(out).astype(np.float32)


def _prepare(image: np.ndarray, brain: np.ndarray | None, channels: int) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and channels == 1:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != channels:
        raise ValueError(f"the model needs a ({channels}, Z, Y, X) image (one volume per channel), got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("the image holds NaN or infinite values; fill them before predicting")
    brain = brain_from_image(image) if brain is None else np.asarray(brain, dtype=bool)
    if brain.shape != image.shape[1:]:
        raise ValueError(f"brain mask shape {brain.shape} differs from the image's {image.shape[1:]}")
    if not brain.any():
        raise ValueError("the brain mask is empty (or the image is all zero)")
    return normalize_case(image, brain), brain


@dataclass
class LesionSegmenter:
    """One finetuned network with its settings."""

    net: UNet
    config: FinetuneConfig
    record: dict

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "LesionSegmenter":
        """Load a folder written by LADP finetuning (kind ``ladp-segmenter``)."""
        record = read_model_config(folder, kind=SEGMENTER_KIND)
        try:
            net = UNet(UNetSpec.from_dict(record["network"]))
            config = FinetuneConfig.from_dict(record["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
        load_into(net, folder, which)
        net.to(choose_device(device)).eval()
        return cls(net, config, record)

    @property
    def channels(self) -> int:
        return self.net.spec.in_channels

    def predict_probability(self, image: np.ndarray, brain: np.ndarray | None = None) -> np.ndarray:
        """Lesion probability ``(Z, Y, X)`` of a raw ``(C, Z, Y, X)`` image (0 outside the brain)."""
        normalized, brain = _prepare(image, brain, self.channels)
        return np.where(brain, predict_probability(self.net, normalized, tta=self.config.tta), 0.0).astype(np.float32)

    def predict(self, image: np.ndarray, brain: np.ndarray | None = None) -> np.ndarray:
        """Lesion mask (bool ``(Z, Y, X)``): TTA probability above the threshold."""
        return self.predict_probability(image, brain) > self.config.threshold


@dataclass
class LesionEnsemble:
    """K segmenters whose masks are combined by a voxel-wise majority vote (LADP Sec. II-D)."""

    members: list[LesionSegmenter]

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto") -> "LesionEnsemble":
        """Load an ensemble folder, or a single segmenter folder as an ensemble of one."""
        record = read_model_config(folder, kind=(ENSEMBLE_KIND, SEGMENTER_KIND))
        if record["kind"] == SEGMENTER_KIND:
            return cls([LesionSegmenter.load(folder, device)])
        members = record.get("members")
        if not isinstance(members, list) or not members:
            raise ModelFolderError(f"{folder} is an ensemble folder without members in its config.json")
        return cls([LesionSegmenter.load(Path(folder) / name, device) for name in members])

    def __len__(self) -> int:
        return len(self.members)

    def predict(self, image: np.ndarray, brain: np.ndarray | None = None) -> np.ndarray:
        """Majority vote of the members' masks, bool ``(Z, Y, X)``."""
        return majority_vote([member.predict(image, brain) for member in self.members])


def write_ensemble_folder(folder: str | Path, member_names: list[str], record: dict) -> Path:
    """Write the ``config.json`` of an ensemble whose members are sub-folders of ``folder``."""
    folder = Path(folder)
    missing = [name for name in member_names if not (folder / name / "config.json").is_file()]
    if missing:
        raise ModelFolderError(f"ensemble members {missing} have no model folder inside {folder}")
    from .. import __version__

    config = {
        "format_version": FORMAT_VERSION,
        "denoise2seg_version": __version__,
        **record,
        "kind": ENSEMBLE_KIND,
        "members": list(member_names),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder
