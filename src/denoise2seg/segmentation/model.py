"""A trained segmentation model: its network, input pipeline (normalise, maybe denoise) and thresholds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from ..data.normalization import Normalizer, normalizer_from_dict
from ..io.model_folder import ModelFolderError, load_into, read_model_config
from ..n2v import N2VModel
from ..prediction import predict_tiled
from ..training import choose_device
from ..validation import check_image
from .annotations import labels_shape
from .config import SegmentationConfig
from .networks import build_network, receptive_radius
from .postprocess_process import stardist_instances
from .three_class import instances_from_probabilities

KIND = "segmentation"
N2V_SUBFOLDER = "n2v"
# Used until thresholds are optimised on validation data (stardist's own defaults for StarDist).
DEFAULT_THRESHOLDS = {"unet": {"prob_thresh": 0.5}, "stardist": {"prob_thresh": 0.5, "nms_thresh": 0.4}}


def store_n2v(n2v: N2VModel, source: str | Path | None, folder: Path) -> None:
    """Put the N2V model into ``folder/n2v``: a copy of its model folder, or written from memory."""
    target = folder / N2V_SUBFOLDER
    if source is not None and Path(source).resolve() == target.resolve():
        return
    if target.exists():
        shutil.rmtree(target)
    if source is not None:
        shutil.copytree(source, target)
    else:
        n2v.save(target)


class SegmentationModel:
    """A VoidSeg segmentation model (3-class U-Net or StarDist, any scheme).

    ``predict`` takes a 2D image or a stack of 2D frames ``(T, Y, X)`` (a 3D model: a
    volume ``(Z, Y, X)`` or a stack of volumes ``(T, Z, Y, X)``) in the units of the
    training data and returns int32 instance labels of the same shape. For the
    sequential schemes the carried N2V model denoises the input first.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        config: SegmentationConfig,
        normalizer: Normalizer,
        thresholds: dict | None = None,
        n2v: N2VModel | None = None,
    ) -> None:
        if config.denoises_input and n2v is None:
            raise ValueError(f"scheme {config.scheme!r} needs the N2V model that denoises its input")
        self.net = net
        self.config = config
        self.normalizer = normalizer
        self.thresholds = dict(thresholds or DEFAULT_THRESHOLDS[config.method])
        self.n2v = n2v

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = "auto", which: str = "best") -> "SegmentationModel":
        """Load a model folder written by :func:`denoise2seg.segmentation.train_segmentation`."""
        folder = Path(folder)
        record = read_model_config(folder, kind=KIND)
        try:
            config = SegmentationConfig.from_dict(record["config"])
            normalizer = normalizer_from_dict(record["normalization"])
            thresholds = dict(record["thresholds"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
        torch_device = choose_device(device)
        net = build_network(config)
        load_into(net, folder, which)
        net.to(torch_device).eval()
        n2v = None
        if config.denoises_input:
            if not (folder / N2V_SUBFOLDER).is_dir():
                raise ModelFolderError(f"{folder} is a {config.scheme} model but lacks its N2V model in {N2V_SUBFOLDER}/")
            n2v = N2VModel.load(folder / N2V_SUBFOLDER, device=torch_device)
        return cls(net, config, normalizer, thresholds, n2v)

    def record(self) -> dict:
        """The config.json record of this model."""
        return {
            "kind": KIND,
            "method": self.config.method,
            "scheme": self.config.scheme,
            "network": self.net.spec.to_dict(),
            "config": self.config.to_dict(),
            "normalization": self.normalizer.to_dict(),
            "thresholds": self.thresholds,
            "n2v_folder": N2V_SUBFOLDER if self.config.uses_n2v else None,
        }

    @property
    def ndim(self) -> int:
        """Spatial axes of one frame: 2 (images) or 3 (volumes)."""
        return self.config.ndim

    @property
    def channels(self) -> int:
        """Channels of the input images (1: grey, frames without a channel axis)."""
        return self.config.channels

    def labels_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of :meth:`predict`'s labels for an image of ``image_shape`` (the image's, less its channel axis)."""
        return labels_shape(image_shape, ndim=self.ndim, channels=self.channels)

    def network_input(self, frame: np.ndarray, tile_shape: tuple[int, ...] | str | None = "auto") -> np.ndarray:
        """The normalised (and, for sequential schemes, N2V-denoised) frame the network sees, ``(C, *spatial)``."""
        if self.config.denoises_input:
            normalized = self.n2v.normalizer.normalize(self.n2v.predict(frame, tile_shape))
        else:
            normalized = self.normalizer.normalize(frame)
        return normalized if self.channels > 1 else normalized[None]

    def raw_output(self, network_input: np.ndarray, tile_shape: tuple[int, ...] | str | None = "auto") -> np.ndarray:
        """Class probabilities ``(3, *spatial)`` (U-Net) or probability + distances ``(1 + n_rays, *spatial)`` (StarDist).

        ``network_input`` is ``(C, *spatial)``, as from :meth:`network_input`.
        """
        was_training = self.net.training
        self.net.eval()
        try:
            output = predict_tiled(
                self.net,
                network_input,
                divisor=self.net.spec.divisor,
                halo=receptive_radius(self.net),
                tile_shape=tile_shape,
                device=self.device,
            )
        finally:
            self.net.train(was_training)
        if self.config.method == "unet":
            logits = torch.from_numpy(output[:3])
            return torch.softmax(logits, dim=0).numpy()
        output[0] = 1.0 / (1.0 + np.exp(-output[0]))
        return output

    def instances(self, output: np.ndarray, max_candidates: int | None = None, **thresholds: float) -> np.ndarray:
        """Instance labels from :meth:`raw_output`, with the model's thresholds unless overridden.

        StarDist's NMS runs in a worker process (see :mod:`.postprocess_process`), so a
        GUI thread stays responsive while another thread segments; ``max_candidates``
        bounds the pixels entering it (live previews).
        """
        chosen = {**self.thresholds, **thresholds}
        if self.config.method == "unet":
            return instances_from_probabilities(output, chosen["prob_thresh"], border=self.config.border)
        return stardist_instances(
            output[0], output[1:], chosen["prob_thresh"], chosen["nms_thresh"], self.config.anisotropy, max_candidates
        )

    def predict_probabilities(self, image: np.ndarray, tile_shape: tuple[int, ...] | str | None = "auto") -> np.ndarray:
        """Per-pixel outputs ``(C, *spatial)`` of one frame, or ``(T, C, *spatial)`` of a stack; see :meth:`raw_output`."""
        image = self._checked(image)
        if image.ndim > self.config.frame_ndim:
            return np.stack([self.predict_probabilities(frame, tile_shape) for frame in image])
        return self.raw_output(self.network_input(image, tile_shape), tile_shape)

    def _checked(self, image) -> np.ndarray:
        """``image`` as float32 after checking that it is one frame or a stack of frames of this model."""
        frame = "ZYX" if self.ndim == 3 else "YX"
        if self.channels > 1:
            frame = "C" + frame
        name = f"image for a model of frames {frame} ({self.channels} channels)" if self.channels > 1 else "image"
        if self.ndim == 3 and self.channels == 1:
            name = "image for a 3D model (a volume ZYX or a stack of volumes TZYX)"
        frame_ndim = self.config.frame_ndim
        image = check_image(image, ndim=(frame_ndim, frame_ndim + 1), name=name)
        if self.channels > 1 and image.shape[image.ndim - frame_ndim] != self.channels:
            raise ValueError(
                f"the model takes {self.channels} channels, channels before the spatial axes ({frame}, T{frame}); "
                f"the image of shape {image.shape} has {image.shape[image.ndim - frame_ndim]} there"
            )
        return image

    def predict(self, image: np.ndarray, tile_shape: tuple[int, ...] | str | None = "auto") -> np.ndarray:
        """Instance labels (int32, 0 = background) of one frame or of each frame of a stack.

        Frames are 2D images ``(Y, X)`` (a stack ``(T, Y, X)``) or, for a 3D model, volumes
        ``(Z, Y, X)`` (``(T, Z, Y, X)``), with a channel axis before the spatial ones for
        a multi-channel model (``(C, Y, X)``...); labels have the spatial shape. A constant
        frame (a blank field or slice, all zeros say) holds no objects and gets none,
        whatever the network would make of a uniform input.
        """
        image = self._checked(image)
        if image.ndim > self.config.frame_ndim:
            return np.stack([self.predict(frame, tile_shape) for frame in image])
        if image.min() == image.max():
            return np.zeros(self.labels_shape(image.shape), np.int32)
        return self.instances(self.predict_probabilities(image, tile_shape))
