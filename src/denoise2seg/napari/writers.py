"""napari writers (npe2 single-layer signature) for label masks and images as TIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

# Stored in the TIFF's shaped (JSON) description of every label mask this plugin writes,
# so that the reader opens the file as Labels whatever it is called.
LABELS_METADATA = {"denoise2seg": "labels"}


def _tiff_path(path: str) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(path.suffix + ".tif") if path.suffix else path.with_suffix(".tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_labels_tiff(path: str, data: np.ndarray, meta: dict) -> list[str]:
    """Write a Labels layer as a TIFF label image (uint16 when the labels fit, else int32), marked as labels; return the path."""
    labels = np.asarray(data)
    if labels.size and (labels.min() < 0):
        raise ValueError(f"label images hold non-negative ids; {meta.get('name', 'the layer')} has negative values")
    dtype = np.uint16 if labels.size == 0 or labels.max() <= np.iinfo(np.uint16).max else np.int32
    out = _tiff_path(path)
    tifffile.imwrite(out, labels.astype(dtype), compression="zlib", metadata=LABELS_METADATA)
    return [str(out)]


def write_image_tiff(path: str, data: np.ndarray, meta: dict) -> list[str]:
    """Write an Image layer as TIFF in its own dtype (float32 for float data); return the path."""
    image = np.asarray(data)
    if np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    out = _tiff_path(path)
    tifffile.imwrite(out, image)
    return [str(out)]
