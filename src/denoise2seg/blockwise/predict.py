"""Blockwise prediction as a dask graph: N2V denoising and instance labels of images of any size and storage.

The input is any array-like with the model's frame layout (a numpy array, a dask array, a
zarr array or an OME-Zarr level): ``(Y, X)`` or ``(Z, Y, X)``, with the channels first for
a multi-channel model. It is cut into cores of ``chunks`` pixels; each block reads its core
with a context of the network's receptive radius (rounded up to the size divisor, so the
pooling grid is the whole image's) and, for labels, ``margin`` more pixels, predicts that
window with the model's own tiled prediction, and keeps its core. Denoising therefore
equals whole-image prediction within float tolerance; labels agree across blocks through
:mod:`.labels`. The result is a lazy dask array: it runs on the active dask scheduler (the
threads of this process by default, or a ``dask.distributed`` cluster, see
:mod:`.cluster`), block by block, with memory bounded by the blocks in flight.

Workers load the model from ``model_source`` (a model folder or bioimage.io package they
can read) once each and keep it for the blocks they run.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np

from ..segmentation import SegmentationModel
from ..segmentation.networks import receptive_radius
from .grid import block_grid, core_edges, grid_shape, round_up
from .labels import core_labels

# Core edge (pixels per spatial axis) of a block unless ``chunks`` is given.
DEFAULT_CHUNKS = {2: 1024, 3: 128}
# Context (pixels) around a block's core for instance labels: objects up to this size that
# cross a core border are found whole by both blocks.
DEFAULT_MARGIN = 64


@functools.lru_cache(maxsize=4)
def cached_model(source: str, device: str):
    """The model of ``source`` on ``device``, loaded once per process (each dask worker keeps its own)."""
    from ..bioimageio import load_model

    return load_model(source, device=_worker_device(device))


def _worker_device(device: str) -> str:
    """``device``, except that ``"auto"`` on a machine with several GPUs gives each dask worker its own (by worker name)."""
    import torch

    if device != "auto" or torch.cuda.device_count() < 2:
        return device
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return device
    index = name if isinstance(name, int) else sum(map(ord, str(name)))
    return f"cuda:{index % torch.cuda.device_count()}"


def model_context(model) -> int:
    """Pixels of context a block needs so that its core is predicted as in the whole image (divisor multiple)."""
    if isinstance(model, SegmentationModel):
        radius = receptive_radius(model.net)
        if model.config.denoises_input:
            radius += model.n2v.net.spec.receptive_radius
        divisor = max(model.net.spec.divisor, model.n2v.net.spec.divisor if model.config.denoises_input else 1)
    else:
        radius = model.net.spec.receptive_radius
        divisor = model.net.spec.divisor
    return round_up(radius, divisor)


def frame_axes(model) -> str:
    """The axes of one frame of the model: spatial ones, channels first for a multi-channel model."""
    return ("C" if model.channels > 1 else "") + "ZYX"[-model.ndim:]


def _predict_block(window: np.ndarray, source: str, device: str, output: str, core: tuple[slice, ...], origin, full_shape) -> np.ndarray:
    """The core of one block: its window predicted by the model (loaded once per worker)."""
    model = cached_model(source, device)
    if output == "denoised":
        predicted = model.predict(window, tile_shape="auto", axes=frame_axes(model))
        return predicted[(slice(None), *core)] if model.channels > 1 else predicted[core]
    labels = model.predict(window, tile_shape="auto")
    return core_labels(labels, core, origin, full_shape)


def blockwise_predict(
    model_source: str | Path,
    image,
    *,
    output: Literal["denoised", "labels"],
    chunks: int | tuple[int, ...] | None = None,
    margin: int = DEFAULT_MARGIN,
    device: str = "auto",
):
    """The lazy dask array of ``output`` for the frame ``image`` (see the module docstring), with cores of ``chunks`` pixels.

    ``output`` ``"denoised"`` needs an N2V model or another denoiser and gives float32 in
    the image's shape; ``"labels"`` needs a segmentation model and gives int64 instance
    labels of the spatial shape. Raises ``ValueError`` for an image that is not one frame
    of the model.
    """
    import dask
    import dask.array as da

    source = str(model_source)
    model = cached_model(source, "cpu")
    if output == "labels" and not isinstance(model, SegmentationModel):
        raise ValueError(f"{source} is a denoiser; instance labels need a segmentation model")
    if output == "denoised" and isinstance(model, SegmentationModel):
        raise ValueError(f"{source} is a segmentation model; denoising needs an N2V model")
    layout = frame_axes(model)
    if len(np.shape(image)) != len(layout) or (model.channels > 1 and np.shape(image)[0] != model.channels):
        raise ValueError(
            f"the image of shape {tuple(np.shape(image))} is not one frame {layout} of the model "
            f"({model.channels} channel{'s' * (model.channels != 1)}); predict the frames of a stack one by one"
        )
    array = image if isinstance(image, da.Array) else da.from_array(image, chunks=-1 if np.size(image) < 2**22 else "auto")
    spatial = tuple(array.shape[-model.ndim:])
    divisor = model.net.spec.divisor
    edges = core_edges(spatial, chunks or DEFAULT_CHUNKS[model.ndim], divisor)
    context = model_context(model) + (round_up(margin, divisor) if output == "labels" else 0)
    lead = (slice(None),) if model.channels > 1 else ()
    predict = dask.delayed(_predict_block, pure=True)
    pieces = np.empty(grid_shape(spatial, edges), dtype=object)
    for block in block_grid(spatial, edges, context):
        window = array[(*lead, *block.window)]
        origin = tuple(w.start for w in block.window)
        result = predict(window, source, device, output, block.core_in_window, origin, spatial)
        shape = block.core_shape if output == "labels" else (*array.shape[: len(lead)], *block.core_shape)
        dtype = np.int64 if output == "labels" else np.float32
        pieces[block.index] = da.from_delayed(result, shape=shape, dtype=dtype)
    return da.block(pieces.tolist())
