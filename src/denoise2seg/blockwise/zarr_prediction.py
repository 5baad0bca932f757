"""Predict a zarr / OME-Zarr image into an OME-Zarr output, block by block, resumable: the workflow of the command line."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Literal

import numpy as np

from ..io.ome_zarr import ZarrImage, create_image, create_labels, read_zarr_image
from .predict import DEFAULT_MARGIN, blockwise_predict, cached_model, frame_axes
from .store import progress_folder, record_settings, start_or_resume, store_blocks

LABELS_NAME = "labels"


def model_digest(source: str | Path) -> str:
    """SHA-256 of the model's files (a folder's config and best weights, or a package file), so a retrained model differs."""
    source = Path(source)
    files = [source] if source.is_file() else [source / "config.json", source / "weights.safetensors"]
    if source.is_dir() and not files[1].is_file():
        files = sorted(p for p in source.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_frame(image: ZarrImage, model, name: str) -> tuple[object, str, tuple[float, ...] | None]:
    """The image as one frame of the model (axes of size 1 it does not take dropped), its axes and their pixel sizes.

    Raises ``ValueError`` naming ``name`` when what is left is not the model's frame (a
    time series, say, or another number of channels).
    """
    wanted = frame_axes(model)
    data, axes, scale = image.data, image.axes, image.scale
    if not axes:
        if len(data.shape) != len(wanted):
            raise ValueError(f"{name} is a zarr array of shape {data.shape} without axes; the model takes one frame {wanted}")
        axes = wanted
    keep = [i for i, (letter, size) in enumerate(zip(axes, data.shape)) if letter in wanted or size != 1]
    kept_axes = "".join(axes[i] for i in keep)
    if kept_axes != wanted or (model.channels > 1 and data.shape[axes.index("C")] != model.channels):
        raise ValueError(
            f"{name} has axes {axes} and shape {tuple(data.shape)}; the model takes one frame {wanted}"
            + (f" with {model.channels} channels" if model.channels > 1 else "")
            + " (axes of size 1 besides those are dropped)"
        )
    squeezed = data[tuple(slice(None) if i in keep else 0 for i in range(len(axes)))]
    return squeezed, kept_axes, tuple(scale[i] for i in keep) if scale else None


def predict_zarr(
    model_source: str | Path,
    source: str | Path,
    output_path: str | Path,
    *,
    output: Literal["denoised", "labels"],
    level: int = 0,
    chunks: int | tuple[int, ...] | None = None,
    margin: int = DEFAULT_MARGIN,
    device: str = "auto",
    client=None,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = False,
) -> tuple[int, int]:
    """Denoise (``output="denoised"``) or segment the zarr image ``source`` into the OME-Zarr ``output_path``.

    ``level`` is the resolution level read (0: full resolution). The output has the input's
    pixel size; labels are the ``labels/labels`` label image of it. ``resume`` continues a
    stopped run of the same settings (model files included) and skips its finished blocks;
    an existing output is replaced only with ``overwrite``. A complete output keeps no
    progress marks. Returns ``(blocks written, blocks skipped)``.
    """
    output_path = Path(output_path)
    image = read_zarr_image(source, level)
    model = cached_model(str(model_source), "cpu")
    frame, axes, scale = model_frame(image, model, str(source))
    result = blockwise_predict(model_source, frame, output=output, chunks=chunks, margin=margin, device=device)
    settings = {
        "model": str(Path(model_source).resolve()),
        "model_digest": model_digest(model_source),
        "input": str(Path(source).resolve()),
        "level": level,
        "output": output,
        "chunks": [list(c[:1]) for c in result.chunks],
        "margin": margin if output == "labels" else None,
    }
    if output_path.exists() and not resume:
        if not overwrite:
            raise ValueError(f"{output_path} already exists; pass --overwrite to replace it, or --resume to continue it")
        shutil.rmtree(output_path)
    resumed = start_or_resume(output_path, settings, resume=resume)
    spatial_axes = axes[-model.ndim:]
    if output == "labels":
        array_path = str(output_path / "labels" / LABELS_NAME / "s0")
        if not resumed:
            edges = tuple(c[0] for c in result.chunks)
            create_labels(output_path, LABELS_NAME, result.shape, edges, spatial_axes, scale[-model.ndim:] if scale else None)
    else:
        array_path = str(output_path / "s0")
        if not resumed:
            create_image(output_path, result.shape, np.float32, tuple(c[0] for c in result.chunks), axes, scale)
    if not resumed:
        record_settings(output_path, settings)
    written, skipped = store_blocks(result, array_path, output_path, client=client, show_progress=show_progress)
    # Complete: the marks of the finished blocks are no longer needed (and zarr readers would list them).
    shutil.rmtree(progress_folder(output_path))
    return written, skipped
