"""The trained N2V model: load from a folder and denoise images of any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.normalization import PercentileNormalizer
from ..io.model_folder import ModelFolderError, load_into, read_model_config, save_model_folder
from ..nets import UNet, UNetSpec
from ..prediction import predict_tiled
from ..training import choose_device
from ..validation import check_image
from .config import N2VConfig


class N2VModel:
    """A Noise2Void network with its normalisation.

    ``predict`` takes an image in the units of the training data: a single 2D (or 3D)
    sample, or a stack of them (one more leading axis), and returns the denoised image
    in the same units, shape and float32.
    """

    def __init__(self, net: UNet, config: N2VConfig, normalizer: PercentileNormalizer) -> None:
        self.net = net
        self.config = config
        self.normalizer = normalizer

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "N2VModel":
        """Load a model folder written by :func:`denoise2seg.n2v.train_n2v`."""
        record = read_model_config(folder, kind="n2v")
        try:
            net = UNet(UNetSpec.from_dict(record["network"]))
            config = N2VConfig.from_dict(record["config"])
            normalizer = PercentileNormalizer.from_dict(record["normalization"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
        load_into(net, folder, which)
        net.to(choose_device(device)).eval()
        return cls(net, config, normalizer)

    def model_record(self) -> dict:
        """The JSON description written as ``config.json`` of the model folder."""
        return {
            "kind": "n2v",
            "network": self.net.spec.to_dict(),
            "config": self.config.to_dict(),
            "normalization": self.normalizer.to_dict(),
        }

    def save(self, folder: str | Path) -> Path:
        """Write the model folder (config and weights) that :meth:`load` reads back."""
        return save_model_folder(folder, self.model_record(), self.net.state_dict())

    def predict(self, image: np.ndarray, tile_shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Denoise ``image`` (``ndim`` or ``ndim + 1`` axes), optionally by tiles of ``tile_shape``."""
        ndim = self.config.ndim
        image = check_image(image, ndim=(ndim, ndim + 1))
        if image.ndim == ndim + 1:
            return np.stack([self.predict(frame, tile_shape) for frame in image])
        was_training = self.net.training
        self.net.eval()
        try:
            normalized = self.normalizer.normalize(image)[None]
            denoised = predict_tiled(
                self.net,
                normalized,
                divisor=self.net.spec.divisor,
                halo=self.net.spec.receptive_radius,
                tile_shape=tile_shape,
                device=self.device,
            )[0]
        finally:
            self.net.train(was_training)
        return self.normalizer.denormalize(denoised)
