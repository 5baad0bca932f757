"""CT volumes in and out: NIfTI and DICOM readers (Hounsfield units, voxel spacing), label writers.

Every reader returns a :class:`CTVolume` whose array is ``(Z, Y, X)`` float32 in
Hounsfield units and whose ``spacing`` is ``(z, y, x)`` in millimetres, the axis order
napari uses for a layer's ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..extras import import_ct


@dataclass
class CTVolume:
    """A CT volume in Hounsfield units.

    Attributes
    ----------
    hu : float32 array ``(Z, Y, X)``
        CT numbers in HU (rescale slope/intercept applied).
    spacing : tuple of 3 floats
        Voxel size ``(z, y, x)`` in mm.
    affine : float array ``(4, 4)`` or None
        NIfTI-style affine mapping voxel indices ``(x, y, z)`` to world mm, kept so that a
        label volume can be written back in the scanner's frame.
    metadata : dict
        Source file(s), modality, series description and the like (JSON-able values).
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hu = np.asarray(self.hu, dtype=np.float32)
        if self.hu.ndim == 2:
            self.hu = self.hu[None]
        if self.hu.ndim != 3:
            raise ValueError(f"a CT volume must be 2D or 3D (Z, Y, X), got shape {self.hu.shape}")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing must be three positive numbers (z, y, x) in mm, got {self.spacing}")
        self.spacing = spacing

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)


def read_volume(path: str | Path) -> CTVolume:
    """Read a NIfTI file (``.nii``, ``.nii.gz``), a DICOM file, or a folder holding one DICOM series."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        return read_dicom_series(path)
    name = path.name.lower()
    if name.endswith(".nii") or name.endswith(".nii.gz"):
        return read_nifti(path)
    pydicom = import_ct("pydicom", "Reading DICOM")
    InvalidDicomError = import_ct("pydicom.errors", "Reading DICOM").InvalidDicomError

    try:
        pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError) as err:
        raise ValueError(
            f"{path} is neither NIfTI (.nii, .nii.gz) nor DICOM; give a NIfTI file, a DICOM file "
            "or a folder holding one DICOM series"
        ) from err
    return read_dicom_series([path])


def read_nifti(path: str | Path) -> CTVolume:
    """Read a 3D NIfTI image as HU ``(Z, Y, X)`` with spacing from the header's zooms.

    nibabel stores voxels as ``(X, Y, Z)``; the array is transposed to ``(Z, Y, X)``.
    ``scl_slope``/``scl_inter`` are applied by nibabel, so a CT stored with a rescale
    comes back in HU. A 4D image with one volume is accepted.
    """
    nib = import_ct("nibabel", "Reading and writing NIfTI files")

    path = Path(path)
    try:
        image = nib.load(str(path))
    except Exception as err:  # nibabel raises several unrelated types for bad files
        raise ValueError(f"{path} is not a readable NIfTI file ({err})") from err
    data = np.asarray(image.get_fdata(dtype=np.float32))
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3):
        raise ValueError(f"{path} holds a {data.ndim}D image of shape {data.shape}; expected a 3D volume")
    if data.ndim == 2:
        data = data[..., None]
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    zooms = zooms + (1.0,) * (3 - len(zooms))
    return CTVolume(
        hu=np.ascontiguousarray(data.transpose(2, 1, 0)),
        spacing=(zooms[2], zooms[1], zooms[0]),
        affine=np.asarray(image.affine, dtype=np.float64),
        metadata={"source": str(path), "format": "nifti"},
    )


def _dicom_files(source: str | Path | list) -> list[Path]:
    if isinstance(source, (list, tuple)):
        return [Path(p) for p in source]
    folder = Path(source)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{folder} holds no files; expected the DICOM files of one CT series")
    return files


def _hu(dataset) -> np.ndarray:
    """Pixel data of one DICOM dataset in HU: ``stored * RescaleSlope + RescaleIntercept``."""
    pixels = dataset.pixel_array.astype(np.float32)
    slope = float(getattr(dataset, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(dataset, "RescaleIntercept", 0.0) or 0.0)
    return pixels * slope + intercept


def _slice_position(dataset) -> float | None:
    """Position of a slice along the slice normal (mm), from orientation and position tags."""
    position = getattr(dataset, "ImagePositionPatient", None)
    orientation = getattr(dataset, "ImageOrientationPatient", None)
    if position is None or orientation is None:
        return None
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    return float(np.dot(np.cross(row, col), np.asarray(position, float)))


def read_dicom_series(source: str | Path | list) -> CTVolume:
    """Read a DICOM series (a folder, or a list of files) or one (multi-frame) file as HU ``(Z, Y, X)``.

    Slices are sorted by their position along the slice normal (``ImagePositionPatient``
    projected on the normal of ``ImageOrientationPatient``), else by ``InstanceNumber``.
    In-plane spacing is ``PixelSpacing`` (row, column); the z spacing is the median
    distance between slice positions, else ``SpacingBetweenSlices``, else
    ``SliceThickness``, else 1 mm. Files that are not DICOM are skipped; a folder with
    several series is refused with the list of series so the user can pick one.
    """
    pydicom = import_ct("pydicom", "Reading DICOM")
    InvalidDicomError = import_ct("pydicom.errors", "Reading DICOM").InvalidDicomError

    files = _dicom_files(source)
    datasets = []
    for path in files:
        try:
            datasets.append((path, pydicom.dcmread(str(path))))
        except (InvalidDicomError, OSError):
            continue
    datasets = [(p, d) for p, d in datasets if "PixelData" in d]
    if not datasets:
        raise ValueError(f"no DICOM image files found in {source}")
    series: dict[str, list] = {}
    for path, dataset in datasets:
        series.setdefault(str(getattr(dataset, "SeriesInstanceUID", "")), []).append((path, dataset))
    if len(series) > 1:
        listing = ", ".join(f"{uid or '(no UID)'} ({len(items)} files)" for uid, items in series.items())
        raise ValueError(f"{source} holds {len(series)} DICOM series: {listing}; put one series per folder")
    items = next(iter(series.values()))
    first = items[0][1]
    if len(items) == 1:
        hu = _hu(first)
        positions: list[float] = []
    else:
        positions_or_none = [_slice_position(d) for _, d in items]
        if all(p is not None for p in positions_or_none):
            order = np.argsort(positions_or_none, kind="stable")
        else:
            order = np.argsort([int(getattr(d, "InstanceNumber", i)) for i, (_, d) in enumerate(items)], kind="stable")
        items = [items[i] for i in order]
        positions = [positions_or_none[i] for i in order] if all(p is not None for p in positions_or_none) else []
        shapes = {d.pixel_array.shape for _, d in items}
        if len(shapes) > 1:
            raise ValueError(f"the slices of {source} have different sizes {sorted(shapes)}; they are not one volume")
        hu = np.stack([_hu(d) for _, d in items])
    row_col = getattr(first, "PixelSpacing", None) or [1.0, 1.0]
    if len(positions) > 1 and np.median(np.abs(np.diff(positions))) > 0:
        z_spacing = float(np.median(np.abs(np.diff(positions))))
    else:
        z_spacing = float(getattr(first, "SpacingBetweenSlices", None) or getattr(first, "SliceThickness", None) or 1.0)
    metadata = {
        "source": str(source if not isinstance(source, (list, tuple)) else [str(p) for p in source]),
        "format": "dicom",
        "modality": str(getattr(first, "Modality", "")),
        "series_description": str(getattr(first, "SeriesDescription", "")),
        "n_files": len(items),
    }
    return CTVolume(hu=hu, spacing=(z_spacing, float(row_col[0]), float(row_col[1])), metadata=metadata)


def _label_dtype(labels: np.ndarray) -> np.dtype:
    if labels.min() < 0:
        raise ValueError("label volumes must be non-negative integers")
    return np.dtype(np.uint8) if labels.max() < 256 else np.dtype(np.uint16) if labels.max() < 65536 else np.dtype(np.int32)


def _as_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3:
        raise ValueError(f"a label volume must be (Z, Y, X), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        if not np.array_equal(labels, np.round(labels)):
            raise ValueError(f"label volumes hold integers, got non-integer values of dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    return labels.astype(_label_dtype(labels))


def write_labels_nifti(path: str | Path, labels, spacing=(1.0, 1.0, 1.0), affine: np.ndarray | None = None) -> Path:
    """Write an integer label volume ``(Z, Y, X)`` as NIfTI.

    ``affine`` (from the image's :class:`CTVolume`) puts the labels in the scanner frame
    of the image they belong to; without it a diagonal affine of ``spacing`` (z, y, x mm)
    is used. The file name should end in ``.nii`` or ``.nii.gz``.
    """
    nib = import_ct("nibabel", "Reading and writing NIfTI files")

    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"a NIfTI file name ends in .nii or .nii.gz, got {path.name}")
    labels = _as_labels(labels)
    if affine is None:
        affine = np.diag([float(spacing[2]), float(spacing[1]), float(spacing[0]), 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), np.asarray(affine, dtype=np.float64))
    image.header.set_zooms((float(spacing[2]), float(spacing[1]), float(spacing[0])))
    image.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path


def write_labels_tiff(path: str | Path, labels, spacing=(1.0, 1.0, 1.0)) -> Path:
    """Write an integer label volume ``(Z, Y, X)`` as an ImageJ TIFF with the voxel size in mm."""
    import tifffile

    path = Path(path)
    labels = _as_labels(labels)
    if labels.dtype == np.int32:
        raise ValueError("ImageJ TIFF holds at most 65535 labels; write NIfTI instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        str(path),
        labels,
        imagej=True,
        resolution=(1.0 / float(spacing[2]), 1.0 / float(spacing[1])),
        metadata={"axes": "ZYX", "spacing": float(spacing[0]), "unit": "mm"},
    )
    return path


def write_volume_nifti(path: str | Path, volume: CTVolume) -> Path:
    """Write a :class:`CTVolume` as a float32 NIfTI image in HU (its affine, else a diagonal one of its spacing)."""
    nib = import_ct("nibabel", "Reading and writing NIfTI files")

    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"a NIfTI file name ends in .nii or .nii.gz, got {path.name}")
    z, y, x = volume.spacing
    affine = volume.affine if volume.affine is not None else np.diag([x, y, z, 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(volume.hu.transpose(2, 1, 0)), np.asarray(affine, dtype=np.float64))
    image.header.set_zooms((x, y, z))
    image.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path
