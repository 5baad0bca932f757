"""A trained CT lesion segmenter: load it from its folder and segment whole volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io.model_folder import ModelFolderError, load_into, read_model_config
from ..nets.backbones import Backbone, BackboneSpec, build_backbone
from ..training import choose_device
from .config import CTPretrainConfig
from .data import as_hu_array, network_slices
from .slices import to_volume_slices


class CTLesionModel:
    """Backbone + settings; segments HU volumes slice by slice.

    ``predict_proba`` windows and centre-crops each axial slice to the network size, runs
    the network, and maps the lesion probabilities back onto the volume's voxels (0
    outside the centre crop, which the network never sees).
    """

    def __init__(self, net: Backbone, config: CTPretrainConfig) -> None:
        self.net = net
        self.config = config

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "CTLesionModel":
        """Load a folder written by :func:`denoise2seg.ct.finetune_ct`, or the workflow folder of :func:`~denoise2seg.ct.train_ct`
        (its ``segmentation/`` sub-folder)."""
        folder = Path(folder)
        # The workflow folder of train_ct holds the segmenter in segmentation/ (see ct.workflow).
        if not (folder / "config.json").is_file() and (folder / "segmentation" / "config.json").is_file():
            folder = folder / "segmentation"
        record = read_model_config(folder, kind="ct_lesion_segmentation")
        try:
            config = CTPretrainConfig.from_dict(record["config"])
            net = build_backbone(BackboneSpec.from_dict(record["network"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
        load_into(net, folder, which)
        net.to(choose_device(device)).eval()
        return cls(net, config)

    def predict_proba(self, volume) -> np.ndarray:
        """Lesion probability ``(Z, Y, X)`` float32 for a HU volume (array or :class:`CTVolume`)."""
        hu = as_hu_array(volume)
        slices = network_slices(hu, self.config)
        was_training = self.net.training
        self.net.eval()
        probabilities = []
        try:
            with torch.no_grad():
                for start in range(0, len(slices), self.config.batch_size):
                    batch = torch.as_tensor(slices[start : start + self.config.batch_size, None], device=self.device)
                    probabilities.append(torch.sigmoid(self.net(batch).float())[:, 0].cpu().numpy())
        finally:
            self.net.train(was_training)
        return to_volume_slices(np.concatenate(probabilities), hu.shape, fill=0.0)

    def predict(self, volume) -> np.ndarray:
        """Binary lesion mask ``(Z, Y, X)`` uint8: probability above ``config.threshold``."""
        return (self.predict_proba(volume) > self.config.threshold).astype(np.uint8)
