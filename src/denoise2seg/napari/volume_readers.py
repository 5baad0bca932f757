"""napari reader for CT/MRI volumes: NIfTI files, DICOM files and folders holding one DICOM series.

Layers keep the voxel spacing as ``scale`` (z, y, x mm), the values in Hounsfield units,
a lung window as the initial contrast, and the source metadata (with the affine, so a
label layer drawn on it can be written back in the scanner frame).
"""

from __future__ import annotations

from pathlib import Path

from ..ct.volumes import CTVolume, read_volume
from ..ct.windowing import contrast_limits


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _readable(path: Path) -> bool:
    name = path.name.lower()
    if path.is_dir():
        return any(_is_dicom_file(p) for p in sorted(path.iterdir())[:20] if p.is_file())
    return name.endswith((".nii", ".nii.gz", ".dcm"))


def volume_layer(volume: CTVolume, name: str) -> tuple:
    """A napari image layer tuple of ``volume`` in HU, scaled by its spacing."""
    metadata = {**volume.metadata, "spacing": volume.spacing}
    if volume.affine is not None:
        metadata["affine"] = volume.affine.tolist()
    low, high = contrast_limits("lung")
    return (
        volume.hu,
        {"name": name, "scale": volume.spacing, "colormap": "gray", "contrast_limits": (low, high), "metadata": metadata},
        "image",
    )


def _layer_name(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_volumes(path: str | list[str]) -> list[tuple]:
    """Read one or several volume paths into image layer tuples (errors name the file)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    return [volume_layer(read_volume(p), _layer_name(Path(p))) for p in paths]


def get_volume_reader(path: str | list[str]):
    """npe2 reader hook: :func:`read_volumes` for NIfTI/DICOM paths and DICOM folders, else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(_readable(Path(p)) for p in paths):
        return None
    return read_volumes
