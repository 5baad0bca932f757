"""napari reader for TIFF files: images become Image layers, label masks become Labels layers."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import tifffile

# Names that mark a file as a mask, as written by this plugin and by most annotation tools.
LABEL_NAME_HINTS = ("label", "mask")
# An integer image with at most this many distinct values is taken for a label mask, not an image.
MAX_LABEL_VALUES = 1024


def looks_like_labels(path: Path, data: np.ndarray) -> bool:
    """True when the file name says "label"/"mask", or the data is integer with few distinct values.

    The value count is checked on a sample of at most ~1 million pixels so that large
    stacks are not scanned in full.
    """
    if any(hint in path.name.lower() for hint in LABEL_NAME_HINTS):
        return np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.bool_)
    if not np.issubdtype(data.dtype, np.integer):
        return False
    flat = data.reshape(-1)
    sample = flat[:: max(1, flat.size // 1_000_000)]
    # Raw 8/16-bit microscopy has hundreds of grey values and no exact-zero background
    # majority; masks are mostly 0 with few values.
    return len(np.unique(sample)) <= min(MAX_LABEL_VALUES, max(2, sample.size // 16)) and np.mean(sample == 0) > 0.2


def read_tiff(path: str | list[str]) -> list[tuple]:
    """Read one or several TIFF files into napari layer data tuples ``(data, kwargs, layer_type)``."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in map(Path, paths):
        data = tifffile.imread(p)
        if looks_like_labels(p, data):
            layers.append((data.astype(np.int32, copy=False), {"name": p.stem}, "labels"))
        else:
            layers.append((data, {"name": p.stem}, "image"))
    return layers


def get_tiff_reader(path: str | list[str]) -> Callable | None:
    """Return :func:`read_tiff` when every path is a ``.tif``/``.tiff`` file, else ``None`` (not ours)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(str(p).lower().endswith((".tif", ".tiff")) for p in paths):
        return None
    return read_tiff
