"""OME-Zarr (and plain zarr) images in, OME-Zarr images and label images out, through the ome-zarr and zarr libraries.

Reading gives a lazy dask array of one resolution level (level 0, full resolution, by
default) with its axes and pixel size. Writing creates the OME-Zarr metadata and an empty
level-0 array that blockwise prediction then fills chunk by chunk
(:mod:`denoise2seg.blockwise.store`); labels go into the ``labels/<name>`` group of the
output, as the OME-Zarr specification places label images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


@dataclass(frozen=True)
class ZarrImage:
    """One resolution level of a zarr image: ``data`` (lazy), its ``axes`` (``"TCZYX"``...), ``scale`` per axis and ``levels``."""

    data: object
    axes: str
    scale: tuple[float, ...] | None
    levels: int


def is_zarr(path: str | Path) -> bool:
    """Whether ``path`` names a zarr store (a ``.zarr`` folder or one holding zarr metadata)."""
    path = Path(path)
    return path.suffix.lower() == ".zarr" or (path.is_dir() and any((path / name).exists() for name in ZARR_MARKERS))


def read_zarr_image(path: str | Path, level: int = 0) -> ZarrImage:
    """Level ``level`` of the OME-Zarr image at ``path`` (or the plain zarr array there, one level, axes guessed later).

    Raises ``ValueError`` naming the path for a store that is neither, or a level it does not have.
    """
    import dask.array as da
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    location = parse_url(str(path))
    nodes = [node for node in Reader(location)() if any(isinstance(spec, Multiscales) for spec in node.specs)] if location else []
    if nodes:
        node = nodes[0]
        if not 0 <= level < len(node.data):
            raise ValueError(f"{path} has resolution levels 0-{len(node.data) - 1}; --level {level} is not one of them")
        axes = "".join(axis["name"] if isinstance(axis, str) else axis["name"] for axis in node.metadata["axes"]).upper()
        scale = None
        for transform in node.metadata.get("coordinateTransformations", [[]])[level]:
            if transform.get("type") == "scale":
                scale = tuple(float(v) for v in transform["scale"])
        return ZarrImage(node.data[level], axes, scale, len(node.data))
    try:
        array = zarr.open_array(str(path), mode="r")
    except Exception as err:  # zarr raises several kinds for a folder that is not an array
        raise ValueError(f"{path} is neither an OME-Zarr image nor a zarr array ({type(err).__name__}: {err})") from err
    return ZarrImage(da.from_zarr(array), "", None, 1)


def _ome_axes(axes: str) -> list[dict]:
    kinds = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
    return [{"name": letter.lower(), "type": kinds[letter]} for letter in axes]


def create_image(path: str | Path, shape, dtype, chunks, axes: str, scale: tuple[float, ...] | None) -> str:
    """Create an OME-Zarr image at ``path`` with one empty level of ``shape``/``chunks``; the path of that level's array."""
    import dask.array as da
    import zarr
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(path), mode="w")
    placeholder = da.zeros(shape, chunks=chunks, dtype=dtype)
    scales = {letter.lower(): float(value) for letter, value in zip(axes, scale)} if scale else None
    write_image(placeholder, group, axes=_ome_axes(axes), scale_factors=[], scale=scales, storage_options={"chunks": chunks}, compute=False)
    return str(Path(path) / "s0")


def create_labels(path: str | Path, name: str, shape, chunks, axes: str, scale: tuple[float, ...] | None) -> str:
    """Create an OME-Zarr store at ``path`` whose ``labels/<name>`` is an empty int64 label image; the path of its array."""
    import dask.array as da
    import zarr
    from ome_zarr.writer import write_labels

    group = zarr.open_group(str(path), mode="w")
    placeholder = da.zeros(shape, chunks=chunks, dtype="int64")
    scales = {letter.lower(): float(value) for letter, value in zip(axes, scale)} if scale else None
    write_labels(
        placeholder, group, name=name, axes=_ome_axes(axes), scale_factors=[], scaler=None, scale=scales,
        storage_options={"chunks": chunks}, compute=False,
    )
    return str(Path(path) / "labels" / name / "s0")
