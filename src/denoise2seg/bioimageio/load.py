"""Load bioimage.io model packages: ours back into their models, other PyTorch denoisers through bioimageio.core.

A package written by :func:`~.export.export_bioimageio` carries the model folder's record
in its ``config``; it becomes the same :class:`~denoise2seg.n2v.N2VModel` or
:class:`~denoise2seg.segmentation.SegmentationModel` again, with its tiled prediction. Any
other bioimage.io model with PyTorch state-dict weights that maps an image to an image of
the same channels (a denoiser: N2V, N2V2, CARE exported by CAREamics, say) becomes a
:class:`PackagedDenoiser`, which predicts through bioimageio.core's own pipeline (the
package's pre- and postprocessing, blocks with the package's halo). A package that cannot
be used raises :class:`~.errors.BioimageioError` naming what it lacks.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..data.axes import from_samples, to_samples
from ..data.normalization import normalizer_from_dict
from ..io.model_folder import read_model_config
from ..n2v import N2VConfig, N2VModel
from ..n2v.model import image_with_axes
from ..nets import UNet, UNetSpec
from ..segmentation import SegmentationConfig, SegmentationModel
from ..segmentation.model import KIND as SEGMENTATION_KIND
from ..segmentation.networks import build_network
from ..training import choose_device
from ..training.fast_paths import use_channels_last
from .errors import BioimageioError

PACKAGE_YAML_NAMES = ("rdf.yaml", "bioimageio.yaml")
# Block edge (pixels) of a foreign package's prediction when a tile shape is asked for but not given.
DEFAULT_BLOCK = 512


def is_bioimageio_source(path: str | Path) -> bool:
    """Whether ``path`` names a bioimage.io package: a ``.zip``, a ``*.yaml`` description, or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).is_file() for name in PACKAGE_YAML_NAMES)
    return path.suffix.lower() in (".zip", ".yaml", ".yml")


def _description(source: str | Path):
    """The package's model description (format 0.5), or :class:`BioimageioError` saying why it is none."""
    from bioimageio.spec import InvalidDescr, load_description
    from bioimageio.spec.model.v0_5 import ModelDescr

    if not Path(source).exists():
        raise BioimageioError(f"{source} does not exist; give a bioimage.io package (.zip, its rdf.yaml, or its folder)")
    if not is_bioimageio_source(source):
        raise BioimageioError(f"{source} is not a bioimage.io package: a .zip, an rdf.yaml, or a folder holding one")
    try:
        descr = load_description(source, format_version="latest")
    except Exception as err:  # bioimageio.spec raises many kinds of errors for a file that is not a package
        raise BioimageioError(f"{source} is not a readable bioimage.io package ({type(err).__name__}: {err})") from err
    if isinstance(descr, InvalidDescr):
        raise BioimageioError(f"{source} is not a valid bioimage.io description:\n{descr.validation_summary.format()}")
    if not isinstance(descr, ModelDescr):
        raise BioimageioError(f"{source} describes a {getattr(descr, 'type', 'resource')}, not a model")
    return descr


def _own_record(descr) -> dict | None:
    """The denoise2seg record a package of ours carries in its config (``None`` for another tool's package)."""
    extra = descr.config.model_dump() if hasattr(descr.config, "model_dump") else dict(descr.config)
    own = extra.get("denoise2seg")
    return own if isinstance(own, dict) and "model" in own else None


def _state_dict(descr) -> dict[str, torch.Tensor]:
    reader = descr.weights.pytorch_state_dict.get_reader()
    return torch.load(io.BytesIO(reader.read()), map_location="cpu", weights_only=True)


def _part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def _n2v_model(record: dict, weights: dict[str, torch.Tensor], device: torch.device) -> N2VModel:
    """The N2V model of ``record`` with ``weights``, on ``device`` in the layout :meth:`N2VModel.load` gives it."""
    net = UNet(UNetSpec.from_dict(record["network"]))
    net.load_state_dict(weights)
    use_channels_last(net.to(device)).eval()
    return N2VModel(net, N2VConfig.from_dict(record["config"]), normalizer_from_dict(record["normalization"]))


def _own_model(own: dict, descr, device: torch.device) -> N2VModel | SegmentationModel:
    """The model a package of ours was exported from, on ``device``."""
    state = _state_dict(descr)
    record = own["model"]
    if record["kind"] == "n2v":
        return _n2v_model(record, _part(state, "net."), device)
    config = SegmentationConfig.from_dict(record["config"])
    net = build_network(config)
    net.load_state_dict(_part(state, "net."))
    net.to(device).eval()
    n2v = None
    if config.denoises_input:
        n2v = _n2v_model(own["n2v"], _part(state, "denoiser."), device)
    return SegmentationModel(net, config, normalizer_from_dict(record["normalization"]), record["thresholds"], n2v)


def load_bioimageio(
    source: str | Path,
    *,
    device: str | torch.device | None = "auto",
    kinds: tuple[str, ...] = ("n2v", SEGMENTATION_KIND),
) -> N2VModel | SegmentationModel | "PackagedDenoiser":
    """Load the bioimage.io package ``source`` as a model of one of ``kinds`` (``"n2v"``: any denoiser).

    Raises :class:`BioimageioError` for a file that is not a model package, one of
    another kind, and another tool's package that is not a PyTorch image-to-image model.
    """
    descr = _description(source)
    torch_device = choose_device(device)
    own = _own_record(descr)
    if own is not None:
        kind = own["model"]["kind"]
        if kind not in kinds:
            wanted = " or ".join("an N2V model" if k == "n2v" else "a segmentation model" for k in kinds)
            held = "an N2V model" if kind == "n2v" else "a segmentation model"
            raise BioimageioError(f"{source} holds {held}; give {wanted}")
        return _own_model(own, descr, torch_device)
    if "n2v" not in kinds:
        raise BioimageioError(
            f"{source} was not exported by denoise2seg, so it cannot be used as a segmentation model here "
            "(other tools' packages load as denoisers only)"
        )
    return PackagedDenoiser(descr, torch_device, name=str(source))


def load_model(
    source: str | Path,
    *,
    device: str | torch.device | None = "auto",
    kinds: tuple[str, ...] = ("n2v", SEGMENTATION_KIND),
) -> N2VModel | SegmentationModel | "PackagedDenoiser":
    """A model folder or a bioimage.io package (see :func:`is_bioimageio_source`) as a model of one of ``kinds``."""
    if is_bioimageio_source(source):
        return load_bioimageio(source, device=device, kinds=kinds)
    kind = read_model_config(source, kind=kinds)["kind"]
    loader = N2VModel.load if kind == "n2v" else SegmentationModel.load
    return loader(source, device=device)


def source_kind(source: str | Path, kinds: tuple[str, ...] = ("n2v", SEGMENTATION_KIND)) -> str:
    """The kind of model (one of ``kinds``; another tool's denoiser is ``"n2v"``) in a model folder or bioimage.io package.

    Raises :class:`~denoise2seg.io.model_folder.ModelFolderError` or
    :class:`BioimageioError` saying why ``source`` holds no usable model.
    """
    if not is_bioimageio_source(source):
        return read_model_config(source, kind=kinds)["kind"]
    descr = _description(source)
    own = _own_record(descr)
    if own is not None:
        return own["model"]["kind"]
    PackagedDenoiser(descr, torch.device("cpu"), name=str(source))
    return "n2v"


class PackagedDenoiser:
    """Another tool's bioimage.io denoiser, run through bioimageio.core's prediction pipeline.

    ``predict`` has the interface of :meth:`N2VModel.predict`: an image in its own units
    with its axes in, the denoised image of the same shape (float32) out. The package must
    have PyTorch state-dict weights, one input and one output, batch, channel and space
    axes only, and an output of the input's spatial axes and channel count.
    """

    def __init__(self, descr, device: torch.device, *, name: str = "the package") -> None:
        from bioimageio.spec.model.v0_5 import BatchAxis, ChannelAxis, SpaceInputAxis

        weights = descr.weights
        if weights.pytorch_state_dict is None:
            present = [fmt for fmt in type(weights).model_fields if getattr(weights, fmt, None) is not None]
            raise BioimageioError(
                f"{name} has no PyTorch state-dict weights (it has: {', '.join(present) or 'none'}); denoise2seg runs "
                "pytorch_state_dict weights, so use the tool the package was made for"
            )
        if len(descr.inputs) != 1 or len(descr.outputs) != 1:
            raise BioimageioError(
                f"{name} has {len(descr.inputs)} inputs and {len(descr.outputs)} outputs; a denoiser has one of each"
            )
        self.input, self.output = descr.inputs[0], descr.outputs[0]
        unsupported = [str(a.id) for a in self.input.axes if not isinstance(a, (BatchAxis, ChannelAxis, SpaceInputAxis))]
        if unsupported:
            raise BioimageioError(f"{name}'s input has axes {unsupported} besides batch, channel and space; they are not supported")
        self.spatial = [str(a.id) for a in self.input.axes if isinstance(a, SpaceInputAxis)]
        output_spatial = [str(a.id) for a in self.output.axes if getattr(a, "type", None) == "space"]
        channel_axes = [a for a in self.input.axes if isinstance(a, ChannelAxis)]
        output_channels = [a for a in self.output.axes if isinstance(a, ChannelAxis)]
        self.channels = len(channel_axes[0].channel_names) if channel_axes else 1
        out_count = len(output_channels[0].channel_names) if output_channels else 1
        if output_spatial != self.spatial or out_count != self.channels:
            raise BioimageioError(
                f"{name} maps {self.channels} channel(s) over axes {self.spatial} to {out_count} channel(s) over "
                f"{output_spatial}; a denoiser gives back an image of its input's channels and axes"
            )
        if not set(self.spatial) <= {"z", "y", "x"} or len(self.spatial) not in (2, 3):
            raise BioimageioError(f"{name} has space axes {self.spatial}; 2D (y, x) or 3D (z, y, x) models are supported")
        self.descr = descr
        self.name = name
        self._device = device
        self._pipeline = None

    @property
    def ndim(self) -> int:
        """Spatial axes of one sample (2 or 3)."""
        return len(self.spatial)

    @property
    def device(self) -> torch.device:
        return self._device

    def pipeline(self):
        """bioimageio.core's prediction pipeline of the package (built on first use: it imports the architecture)."""
        if self._pipeline is None:
            from bioimageio.core import create_prediction_pipeline

            try:
                self._pipeline = create_prediction_pipeline(
                    self.descr, devices=[str(self._device)], weight_format="pytorch_state_dict"
                )
            except ImportError as err:
                architecture = self.descr.weights.pytorch_state_dict.architecture
                needs = getattr(architecture, "import_from", None) or getattr(architecture, "source", "its architecture")
                raise BioimageioError(
                    f"{self.name}'s network cannot be built here: it needs {needs} ({err}); install the package that provides it"
                ) from err
        return self._pipeline

    def check_input(self, image, axes: str | None = None, *, name: str = "image") -> tuple[np.ndarray, str]:
        """``image`` as float32 with its checked axes (as :meth:`N2VModel.check_input`)."""
        image, axes, channels = image_with_axes(image, axes, spatial_ndim=self.ndim, channels=self.channels, name=name)
        if channels != self.channels:
            raise ValueError(
                f"{name} with axes {axes!r} has {channels} channel{'s' * (channels != 1)} but {self.name} takes {self.channels}"
            )
        return image, axes

    def _valid_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The smallest spatial shape at least ``shape`` that the package's input takes (``min + n * step`` per axis)."""
        sizes = {str(a.id): a.size for a in self.input.axes if str(a.id) in self.spatial}
        valid = []
        for axis, size in zip(self.spatial, shape):
            described = sizes[axis]
            if isinstance(described, int):
                valid.append(described)
            elif getattr(described, "step", None):
                valid.append(described.min + -(-max(size - described.min, 0) // described.step) * described.step)
            else:
                valid.append(size)
        return tuple(valid)

    def _block_parameter(self, limit: tuple[int, ...], shape: tuple[int, ...]) -> int:
        """bioimageio.core's block-size parameter ``n`` (block = min + n * step) for blocks within ``limit`` and ``shape`` pixels."""
        sizes = {str(a.id): a.size for a in self.input.axes if str(a.id) in self.spatial}
        parameters = [
            (min(size, edge) - sizes[axis].min) // sizes[axis].step
            for axis, size, edge in zip(self.spatial, shape, limit)
            if getattr(sizes[axis], "step", None)
        ]
        return max(min(parameters), 0) if parameters else 0

    def predict(
        self,
        image: np.ndarray,
        tile_shape: tuple[int, ...] | Literal["auto"] | None = "auto",
        *,
        axes: str | None = None,
        name: str = "image",
    ) -> np.ndarray:
        """Denoise ``image`` with ``axes`` through the package's pipeline, in blocks of about ``tile_shape``; float32, same shape."""
        from bioimageio.core import Tensor, predict

        image, axes = self.check_input(image, axes, name=name)
        samples = to_samples(image, axes, spatial_ndim=self.ndim)
        dims = [str(a.id) if getattr(a, "type", None) != "batch" else "batch" for a in self.input.axes]
        denoised = np.empty(samples.shape, dtype=np.float32)
        spatial = samples.shape[2:]
        valid = self._valid_shape(spatial)
        if tile_shape is None:
            limit = None
        else:
            limit = (DEFAULT_BLOCK,) * self.ndim if isinstance(tile_shape, str) else tuple(int(t) for t in tile_shape)
        # Samples that fit in one tile are padded by reflection to a size the network takes and cropped
        # back; larger ones go in blocks of about the tile shape, with the package's own halo.
        whole = limit is None or all(v <= t for v, t in zip(valid, limit))
        for index, sample in enumerate(samples):
            if whole:
                padding = [(0, 0)] + [(0, v - s) for v, s in zip(valid, spatial)]
                sample = np.pad(sample, padding, mode="reflect" if all(s > 1 for s in spatial) else "edge")
            parameter = None if whole else self._block_parameter(limit, spatial)
            array = sample[None]
            named = dict(zip(["batch", "channel", *self.spatial], range(array.ndim)))
            present = [d for d in dims if d in named]
            array = np.transpose(array, [named[d] for d in present])
            if "channel" not in dims:
                array = array[:, 0] if "batch" in dims else array[0, 0]
                present = [d for d in present if d != "channel"]
            elif "batch" not in dims:
                array, present = array[0], present[1:]
            tensor = Tensor.from_numpy(np.ascontiguousarray(array, dtype=np.float32), dims=tuple(present))
            result = predict(model=self.pipeline(), inputs={self.input.id: tensor}, blocksize_parameter=parameter)
            data = result.members[self.output.id].data
            order = [d for d in ("batch", "channel", *self.spatial) if d in data.dims]
            values = data.transpose(*order).values.astype(np.float32).reshape(sample.shape)
            denoised[index] = values[(slice(None), *(slice(0, s) for s in spatial))]
        return np.ascontiguousarray(from_samples(denoised, axes, image.shape, spatial_ndim=self.ndim))
