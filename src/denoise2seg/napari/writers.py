"""napari writers (npe2 single-layer signature) for label masks and images as TIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ..io.pixel_size import PixelSize
from ..io.tiff import write_labels_tiff as write_labels_file


def _tiff_path(path: str) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(path.suffix + ".tif") if path.suffix else path.with_suffix(".tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _pixel_size(meta: dict) -> PixelSize | None:
    """The layer's pixel size from its ``scale`` (and a ``unit`` in its metadata), for the file's resolution tags."""
    scale = meta.get("scale")
    unit = str((meta.get("metadata") or {}).get("unit", ""))
    return PixelSize.from_scale(scale, unit) if scale is not None else None


def write_labels_tiff(path: str, data: np.ndarray, meta: dict) -> list[str]:
    """Write a Labels layer as a TIFF label image (uint16 when the labels fit, else int32), marked as labels; return the path.

    The layer's scale is stored as the file's pixel size.
    """
    labels = np.asarray(data)
    if labels.size and (labels.min() < 0):
        raise ValueError(f"label images hold non-negative ids; {meta.get('name', 'the layer')} has negative values")
    out = _tiff_path(path)
    write_labels_file(out, labels, pixel_size=_pixel_size(meta))
    return [str(out)]


def write_image_tiff(path: str, data: np.ndarray, meta: dict) -> list[str]:
    """Write an Image layer as TIFF in its own dtype (float32 for float data), with its scale as pixel size; return the path."""
    image = np.asarray(data)
    if np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    out = _tiff_path(path)
    pixel_size = _pixel_size(meta)
    arguments, described = pixel_size.imwrite_arguments() if pixel_size is not None else ({}, {})
    tifffile.imwrite(out, image, **arguments, metadata=described or None)
    return [str(out)]
