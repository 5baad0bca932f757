"""Reading TIFF images given by a user, with errors that name the file, and writing results in their axes."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import tifffile

from .pixel_size import PixelSize

# Stored in the TIFF's shaped (JSON) description of every label mask this package writes,
# so that the napari reader opens the file as Labels whatever it is called.
LABELS_METADATA = {"denoise2seg": "labels"}


def read_tiff(path: str | Path) -> np.ndarray:
    """Read the image of one TIFF file.

    Raises ``FileNotFoundError`` when ``path`` is not a file, and ``ValueError`` naming
    the file when it is not a TIFF, or is truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    try:
        return tifffile.imread(path)
    except OSError:
        # Permission and disk errors name the file themselves and are not about the format.
        raise
    # A damaged file surfaces as whatever tifffile or a decompression codec trips over
    # (TiffFileError, ValueError on a short read, struct.error, zlib.error, ...).
    except Exception as err:
        raise ValueError(
            f"{path} is not a readable TIFF file: it may be truncated or corrupt ({type(err).__name__}: {err}); "
            "check the file or export it again"
        ) from err


def stored_axes(path: str | Path) -> str | None:
    """The axes a TIFF declares for its image (as :func:`read_tiff` returns it), or ``None`` when it declares none.

    An ImageJ hyperstack, an OME-TIFF and a file with ``axes`` in its shaped description
    (this package's outputs, tifffile's) declare them; their colour samples (``S``) are
    channels (``C``). Axes with letters outside ``T, Z, C, Y, X`` (tifffile's ``Q``,
    ``I`` for unknown or plain sequences) count as none.
    """
    with tifffile.TiffFile(path) as tif:
        described = tif.is_shaped and any("axes" in meta for meta in tif.shaped_metadata or ())
        if not (tif.is_imagej or tif.is_ome or described):
            return None
        axes = tif.series[0].axes.replace("S", "C")
    if set(axes) - set("TZCYX") or len(set(axes)) != len(axes):
        return None
    return axes


def read_tiffs(paths: Iterable[str | Path]) -> list[np.ndarray]:
    """Read several TIFF files in order (see :func:`read_tiff`)."""
    return [read_tiff(path) for path in paths]


def _pixel_size_arguments(pixel_size: PixelSize | None, metadata: dict) -> dict:
    if pixel_size is None:
        return {"metadata": metadata}
    arguments, described = pixel_size.imwrite_arguments()
    return {**arguments, "metadata": {**metadata, **described}}


def write_tiff(path: str | Path, image: np.ndarray, *, axes: str, pixel_size: PixelSize | None = None) -> None:
    """Write ``image``, whose axes are ``axes`` (``"CYX"``, ``"YXC"``...), so that :func:`read_tiff` reads the same shape back.

    Channels last with 3 or 4 values are stored as RGB(A) samples, every other layout as
    grey pages (stated, rather than left to tifffile's guess from the shape); the axes
    are recorded in the file's shape metadata, and ``pixel_size`` (that of the input,
    say) in its resolution tags.
    """
    rgb = axes.endswith("C") and image.shape[-1] in (3, 4)
    tifffile.imwrite(
        path, image, photometric="rgb" if rgb else "minisblack", **_pixel_size_arguments(pixel_size, {"axes": axes})
    )


def write_labels_tiff(path: str | Path, labels: np.ndarray, *, pixel_size: PixelSize | None = None) -> None:
    """Write instance labels as a TIFF label mask: uint16 when the ids fit, else int32, zlib-compressed, marked as labels.

    ``pixel_size`` goes into the resolution tags. Negative ids raise ``ValueError``.
    """
    labels = np.asarray(labels)
    if labels.size and labels.min() < 0:
        raise ValueError(f"label images hold non-negative ids; {Path(path).name} would get negative values")
    dtype = np.uint16 if labels.size == 0 or labels.max() <= np.iinfo(np.uint16).max else np.int32
    tifffile.imwrite(path, labels.astype(dtype), compression="zlib", **_pixel_size_arguments(pixel_size, dict(LABELS_METADATA)))
