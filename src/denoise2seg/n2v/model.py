"""The trained N2V model: load from a folder and denoise images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..data.normalization import Normalizer, normalizer_from_dict
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

    def __init__(self, net: UNet, config: N2VConfig, normalizer: Normalizer) -> None:
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
            normalizer = normalizer_from_dict(record["normalization"])
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

    def predict(self, image: np.ndarray, tile_shape: tuple[int, ...] | Literal["auto"] | None = "auto") -> np.ndarray:
        """Denoise ``image`` (``ndim`` or ``ndim + 1`` axes) by tiles of ``tile_shape`` pixels.

        ``"auto"`` tiles by :func:`denoise2seg.prediction.default_tile_shape`, ``None``
        predicts each frame whole. Tiles are normalised and mapped back to input units one
        at a time and written into the float32 result, so memory is the input and the
        result plus one tile, whatever the image size.
        """
        ndim = self.config.ndim
        image = check_image(image, ndim=(ndim, ndim + 1))
        denoised = np.empty(image.shape, dtype=np.float32)
        frames, outputs = (image, denoised) if image.ndim == ndim + 1 else (image[None], denoised[None])
        was_training = self.net.training
        self.net.eval()
        try:
            for frame, output in zip(frames, outputs):
                predict_tiled(
                    self.net,
                    frame[None],
                    divisor=self.net.spec.divisor,
                    halo=self.net.spec.receptive_radius,
                    tile_shape=tile_shape,
                    device=self.device,
                    transform_input=self.normalizer.normalize,
                    transform_output=self.normalizer.denormalize,
                    out=output[None],
                )
        finally:
            self.net.train(was_training)
        return denoised
