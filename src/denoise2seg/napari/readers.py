"""napari reader for TIFF label masks; every other TIFF is left to napari's own reader (an Image layer).

The manifest offers this reader to napari only for files named as masks (the words below),
so opening any other TIFF does not make napari ask which reader to use.

A TIFF is a label mask when this plugin's writer marked it so (see
:data:`denoise2seg.io.tiff.LABELS_METADATA`), or when its name says so and it holds
integers. The names: a file stem containing one of the words in ``LABEL_NAME_WORDS``,
standing alone or between non-letters (``cells_labels.tif``, ``nuclei-mask.tif``,
``stardist.tif``, ``scan_lesions.tif``, ``image_labels-2.tif``, not ``masked.tif`` or
``unlabelled.tif``). The pixel values are never used to guess: 8-bit images with a dark
background look like masks by their values alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import tifffile

from ..io.pixel_size import read_pixel_size
from ..io.tiff import LABELS_METADATA

LABEL_NAME_WORDS = ("label", "labels", "mask", "masks", "lesion", "lesions", "segmentation", "stardist")
_LABEL_NAME = re.compile(rf"(?:^|[^a-z])(?:{'|'.join(LABEL_NAME_WORDS)})(?:[^a-z]|$)")


def named_as_labels(path: str | Path) -> bool:
    """True when the file stem holds one of ``LABEL_NAME_WORDS`` as a word of its own."""
    return _LABEL_NAME.search(Path(path).stem.lower()) is not None


def _marked_as_labels(tiff: tifffile.TiffFile) -> bool:
    return any(all(meta.get(key) == value for key, value in LABELS_METADATA.items()) for meta in tiff.shaped_metadata or ())


def _holds_integers(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)


def _open(path: Path) -> tifffile.TiffFile:
    try:
        tiff = tifffile.TiffFile(path)
    except OSError:
        raise
    # A damaged file surfaces as whatever tifffile trips over (TiffFileError, ValueError, struct.error, ...).
    except Exception as err:
        raise ValueError(f"{path.name}: not a readable TIFF file, it may be truncated or corrupt ({type(err).__name__}: {err})") from err
    if not tiff.series:
        tiff.close()
        raise ValueError(f"{path.name}: not a readable TIFF file, it holds no image (it may be truncated)")
    return tiff


def _refusal(path: Path, tiff: tifffile.TiffFile) -> str | None:
    dtype = tiff.series[0].dtype
    if _marked_as_labels(tiff):
        return None if _holds_integers(dtype) else f"it is marked as a label mask but holds {dtype} values"
    if not named_as_labels(path):
        return f"it has no label-mask marker and its name has none of the words {', '.join(LABEL_NAME_WORDS)}"
    return None if _holds_integers(dtype) else f"its name says label mask, but it holds {dtype} values, not integer ids"


def refusal(path: str | Path) -> str | None:
    """Why ``path`` is not read as a label mask, or ``None`` when it is one.

    Reads the TIFF header and metadata only, not the pixels; ``ValueError`` naming the
    file when it is not a readable TIFF.
    """
    path = Path(path)
    with _open(path) as tiff:
        return _refusal(path, tiff)


def read_tiff(path: str | list[str]) -> list[tuple]:
    """Read one or several TIFF label masks into napari Labels layer tuples ``(data, kwargs, "labels")``, int32.

    Raises ``ValueError`` naming the file and the reason when a file is not a label mask
    or cannot be read.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for p in map(Path, paths):
        with _open(p) as tiff:
            reason = _refusal(p, tiff)
            if reason is not None:
                raise ValueError(f"{p.name} is not read as a label mask: {reason}; open it as an image with napari's reader")
            labels = tiff.asarray()
        kwargs = {"name": p.stem}
        pixel_size = read_pixel_size(p)
        if pixel_size is not None:
            kwargs["scale"] = pixel_size.scale(labels.ndim)
            if pixel_size.unit:
                kwargs["metadata"] = {"unit": pixel_size.unit}
        layers.append((labels.astype(np.int32, copy=False), kwargs, "labels"))
    return layers


def get_tiff_reader(path: str | list[str]) -> Callable | None:
    """npe2 reader hook: :func:`read_tiff` when every path is a TIFF label mask, else ``None`` (napari's reader takes it).

    A damaged TIFF whose name says label mask is taken, so that :func:`read_tiff` reports
    what is wrong with it.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(str(p).lower().endswith((".tif", ".tiff")) for p in paths):
        return None
    for p in paths:
        try:
            if refusal(p) is not None:
                return None
        except ValueError:
            if not named_as_labels(p):
                return None
        except OSError:
            return None
    return read_tiff
