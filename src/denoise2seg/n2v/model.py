"""The trained N2V model: load from a folder and denoise images of any size."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..data.axes import channel_count, check_axes, default_axes, from_samples, to_samples
from ..data.normalization import Normalizer, normalizer_from_dict
from ..io.model_folder import ModelFolderError, load_into, read_model_config, save_model_folder
from ..nets import UNet, UNetSpec
from ..prediction import predict_tiled
from ..training import choose_device
from ..training.fast_paths import use_channels_last
from ..validation import check_image
from .config import N2VConfig


def image_with_axes(image, axes: str | None, *, spatial_ndim: int, channels: int, name: str) -> tuple[np.ndarray, str, int]:
    """``image`` as float32, its checked axes and its channel count, for a denoiser of ``channels`` channels.

    ``axes`` default to ``spatial_ndim`` spatial axes or a stack of such, with the channel
    axis first for a multi-channel denoiser. Raises ``ValueError`` naming ``name`` when the
    axes do not fit the image or its values are not finite; the caller compares the count.
    """
    if axes is None:
        ndims = (spatial_ndim, spatial_ndim + 1) if channels == 1 else (spatial_ndim, spatial_ndim + 1, spatial_ndim + 2)
        image = check_image(image, ndim=ndims, name=name)
        axes = default_axes(image.ndim, spatial_ndim=spatial_ndim, channels=channels)
    else:
        axes = check_axes(axes, np.shape(image), name=name, spatial_ndim=spatial_ndim)
        image = check_image(image, ndim=len(axes), name=name)
    return image, axes, channel_count(image.shape, axes)


class N2VModel:
    """A Noise2Void network with its normalisation.

    ``predict`` takes an image in the units of the training data, with its axes (a single
    2D or 3D sample, or a stack of them, by default), and returns the denoised image in
    the same units, axes, shape and float32. The network has :attr:`channels` input and
    output channels, one per channel of the training images.
    """

    def __init__(self, net: UNet, config: N2VConfig, normalizer: Normalizer) -> None:
        if normalizer.channels not in (1, net.spec.in_channels):
            raise ValueError(
                f"the normalisation holds {normalizer.channels} channels but the network has {net.spec.in_channels}"
            )
        self.net = net
        self.config = config
        self.normalizer = normalizer

    @property
    def channels(self) -> int:
        """Channels the network denoises together (those of the training images; 1 for a single-channel model)."""
        return self.net.spec.in_channels

    @property
    def ndim(self) -> int:
        """Spatial axes of one sample: 2 (images) or 3 (volumes)."""
        return self.config.ndim

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "N2VModel":
        """Load a model folder written by :func:`denoise2seg.n2v.train_n2v` (on a CPU in the channels-last layout, which predicts 1.8x faster)."""
        record = read_model_config(folder, kind="n2v")
        try:
            net = UNet(UNetSpec.from_dict(record["network"]))
            config = N2VConfig.from_dict(record["config"])
            normalizer = normalizer_from_dict(record["normalization"])
            model = cls(net, config, normalizer)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
        load_into(net, folder, which)
        use_channels_last(net.to(choose_device(device))).eval()
        return model

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

    def check_input(self, image, axes: str | None = None, *, name: str = "image") -> tuple[np.ndarray, str]:
        """``image`` as float32 with its checked axes, for :meth:`predict`.

        ``axes`` (see :mod:`denoise2seg.data.axes`) default to ``ndim`` spatial axes or a
        stack of such (one more leading axis), with the channel axis before the spatial
        ones for a multi-channel model (``CYX``, ``TCYX``). Raises ``ValueError`` naming
        ``name`` (a file, a layer) when the axes do not fit the image, its values are not
        finite, or it has another number of channels than the model.
        """
        image, axes, channels = image_with_axes(image, axes, spatial_ndim=self.config.ndim, channels=self.channels, name=name)
        if channels != self.channels:
            raise ValueError(
                f"{name} of shape {image.shape} with axes {axes!r} has {channels} channel{'s' * (channels != 1)} "
                f"but the model was trained on {self.channels}; give an image with {self.channels} "
                f"channel{'s' * (self.channels != 1)} (its channel axis named C in the axes), or use a model trained on "
                f"{channels}-channel images"
            )
        return image, axes

    def predict(
        self,
        image: np.ndarray,
        tile_shape: tuple[int, ...] | Literal["auto"] | None = "auto",
        *,
        axes: str | None = None,
        name: str = "image",
    ) -> np.ndarray:
        """Denoise ``image`` with ``axes`` by tiles of ``tile_shape`` pixels; float32, same axes and shape.

        ``axes`` and ``name`` are those of :meth:`check_input`. ``"auto"`` tiles by
        :func:`denoise2seg.prediction.default_tile_shape`, ``None`` predicts each sample
        whole. Tiles are normalised and mapped back to input units one at a time and
        written into the float32 result, so memory is the input and the result plus one
        tile, whatever the image size.
        """
        ndim = self.config.ndim
        image, axes = self.check_input(image, axes, name=name)
        samples = to_samples(image, axes, spatial_ndim=ndim)
        denoised = np.empty(samples.shape, dtype=np.float32)
        was_training = self.net.training
        self.net.eval()
        try:
            for sample, output in zip(samples, denoised):
                predict_tiled(
                    self.net,
                    sample,
                    divisor=self.net.spec.divisor,
                    halo=self.net.spec.receptive_radius,
                    tile_shape=tile_shape,
                    device=self.device,
                    transform_input=self.normalizer.normalize,
                    transform_output=self.normalizer.denormalize,
                    out=output,
                )
        finally:
            self.net.train(was_training)
        return np.ascontiguousarray(from_samples(denoised, axes, image.shape, spatial_ndim=ndim))
