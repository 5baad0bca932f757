"""Instance labels that agree across blocks: each object gets the id of its first pixel in the whole image.

A block segments its window (its core with a margin of context) on its own. Every object
that reaches into the core is written there with the id ``1 + `` the raster index, in the
whole image, of the object's first pixel. An object that crosses a core border lies whole
in the windows of both blocks (when the margin is wider than the object), both find the
same pixels, so both give it the same id: it stays one object, and ids are unique over the
image without any exchange between blocks. Ids are int64 and not consecutive.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def global_ids(labels: np.ndarray, origin: tuple[int, ...], full_shape: tuple[int, ...]) -> np.ndarray:
    """Map each object of ``labels`` (a window at ``origin`` of an image of ``full_shape``) to ``1 +`` its first pixel's raster index.

    Returns an int64 array ``lookup`` with ``lookup[label]`` the global id (0 for background).
    """
    count = int(labels.max()) if labels.size else 0
    lookup = np.zeros(count + 1, dtype=np.int64)
    if count == 0:
        return lookup
    grids = np.meshgrid(*(np.arange(o, o + n) for o, n in zip(origin, labels.shape)), indexing="ij", sparse=True)
    raster = np.ravel_multi_index(tuple(np.broadcast_arrays(*grids)), full_shape).astype(np.int64)
    present = np.unique(labels[labels > 0])
    firsts = ndimage.minimum(raster, labels=labels, index=present)
    lookup[present] = np.asarray(firsts, dtype=np.int64) + 1
    return lookup


def core_labels(labels: np.ndarray, core_in_window: tuple[slice, ...], origin: tuple[int, ...], full_shape: tuple[int, ...]) -> np.ndarray:
    """The core of the window ``labels`` with global ids (see :func:`global_ids`), int64."""
    lookup = global_ids(labels, origin, full_shape)
    return lookup[labels[core_in_window]]
