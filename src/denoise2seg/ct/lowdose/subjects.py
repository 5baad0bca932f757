"""Real CT anatomy for simulated low-/normal-dose pairs, grouped into subjects.

The only CT scans that ship with the installed packages are three single slices in
pydicom's test files (read from the package folder, never downloaded):

* ``head_a``: ``J2K_pixelrep_mismatch.dcm``, an axial head slice, 512x512, 0.431 mm;
* ``head_b``: ``693_J2KI.dcm``, an axial head slice of another scan, 512x512, 0.479 mm
  (stored with lossy JPEG 2000, so fine texture is smoothed; the simulated normal dose
  of it is still the reference its low dose is compared with);
* ``neck``: ``CT_small.dcm``, an axial neck slice, 128x128, 0.661 mm.

A *subject* here is one of these scans under its own random rigid-plus-elastic
deformation and scaling (a different head shape and size), and a subject's slices are
further small elastic variations of it, standing in for the neighbouring slices of a
slab. This is a stand-in for real patients: distinct subjects differ in geometry and
size (so in attenuation, so in noise), and subjects made from ``head_b`` share no
anatomy with those made from ``head_a`` or ``neck``. Users with real paired scans pass
their own arrays instead (:func:`subject_from_arrays`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.transform import rescale

from ...extras import import_ct
from .simulation import HU_AIR, DoseSimulation, simulate_pair

#: Bundled scans: name -> (pydicom test file, description).
BUNDLED_SCANS = {
    "head_a": ("J2K_pixelrep_mismatch.dcm", "axial head slice (pydicom test file J2K_pixelrep_mismatch.dcm)"),
    "head_b": ("693_J2KI.dcm", "axial head slice of another scan (pydicom test file 693_J2KI.dcm, lossy JPEG 2000)"),
    "neck": ("CT_small.dcm", "axial neck slice (pydicom test file CT_small.dcm)"),
}


@dataclass
class CTSlice:
    """One real CT slice: ``hu`` (2D float32, HU) with square pixels of ``pixel_size_mm``."""

    name: str
    hu: np.ndarray
    pixel_size_mm: float
    description: str = ""


@dataclass
class LowDoseSubject:
    """Paired slices of one subject, all ``(n_slices, H, W)`` float32 HU.

    ``low_dose_repeat`` is a second, independent low-dose realisation of the same
    slices (Noise2Noise pairs); it is ``None`` for real data that has none.
    """

    name: str
    low_dose: np.ndarray
    normal_dose: np.ndarray
    low_dose_repeat: np.ndarray | None = None
    pixel_size_mm: float = 1.0
    description: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n_slices(self) -> int:
        return int(self.low_dose.shape[0])


def read_bundled_scan(name: str) -> CTSlice:
    """Read one of :data:`BUNDLED_SCANS` from pydicom's installed test files, in HU."""
    if name not in BUNDLED_SCANS:
        raise ValueError(f"unknown bundled scan {name!r}; choose one of {sorted(BUNDLED_SCANS)}")
    pydicom = import_ct("pydicom", "Reading the bundled CT scans")
    get_testdata_file = import_ct("pydicom.data", "Reading the bundled CT scans").get_testdata_file

    filename, description = BUNDLED_SCANS[name]
    path = get_testdata_file(filename, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom's test file {filename} is not installed; reinstall pydicom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(path)
        raw = dataset.pixel_array.astype(np.float32)
    hu = raw * float(dataset.get("RescaleSlope", 1.0)) + float(dataset.get("RescaleIntercept", 0.0))
    spacing = float(dataset.PixelSpacing[0])
    return CTSlice(name, np.maximum(hu, HU_AIR).astype(np.float32), spacing, description)


def resample_to_size(scan: CTSlice, size: int) -> CTSlice:
    """Rescale a square slice to ``size`` x ``size`` pixels (anti-aliased), adjusting the pixel size."""
    factor = size / scan.hu.shape[0]
    if factor == 1:
        return scan
    hu = rescale(scan.hu, factor, order=1, anti_aliasing=factor < 1, preserve_range=True).astype(np.float32)
    return CTSlice(scan.name, hu, scan.pixel_size_mm / factor, scan.description)


def deform(hu: np.ndarray, rng: np.random.Generator, *, rotation_deg: float, scale: float, elastic_px: float, smoothness_px: float) -> np.ndarray:
    """Rotate and scale ``hu`` about its centre and add a smooth random displacement field.

    The displacement is white noise smoothed with a Gaussian of ``smoothness_px`` and
    scaled to an RMS of ``elastic_px`` pixels. Outside the image is air.
    """
    shape = np.asarray(hu.shape, dtype=np.float64)
    centre = (shape - 1) / 2
    angle = np.deg2rad(rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in hu.shape], indexing="ij")).reshape(2, -1) - centre[:, None]
    coords = rotation @ grid + centre[:, None]
    if elastic_px > 0:
        field_ = np.stack([ndimage.gaussian_filter(rng.standard_normal(hu.shape), smoothness_px) for _ in range(2)])
        field_ *= elastic_px / max(float(np.sqrt((field_**2).mean())), 1e-12)
        coords = coords + field_.reshape(2, -1)
    warped = ndimage.map_coordinates(hu, coords, order=1, mode="constant", cval=HU_AIR)
    return warped.reshape(hu.shape).astype(np.float32)


def simulate_subject(
    scan: CTSlice,
    name: str,
    *,
    n_slices: int = 4,
    dose: DoseSimulation | None = None,
    seed: int = 0,
    repeats: int = 2,
) -> LowDoseSubject:
    """Make one subject from a real slice: a random deformation, then ``n_slices`` variations, then the dose simulation.

    The subject's geometry: rotation within +-15 degrees, scale 0.85-1.1 (head size),
    elastic displacement of 3 px RMS smoothed over 20 px. Each slice adds a further
    1 px RMS elastic variation. Every slice is simulated at low dose ``repeats`` times
    (independent noise) and once at normal dose.
    """
    dose = dose or DoseSimulation()
    rng = np.random.default_rng(seed)
    base = deform(scan.hu, rng, rotation_deg=rng.uniform(-15, 15), scale=rng.uniform(0.85, 1.1), elastic_px=3.0, smoothness_px=20.0)
    low, repeat, normal = [], [], []
    for _ in range(n_slices):
        anatomy = deform(base, rng, rotation_deg=0.0, scale=1.0, elastic_px=1.0, smoothness_px=20.0)
        low_dose, normal_dose = simulate_pair(anatomy, scan.pixel_size_mm, dose, rng=rng, repeats=repeats)
        low.append(low_dose[0])
        if repeats > 1:
            repeat.append(low_dose[1])
        normal.append(normal_dose)
    return LowDoseSubject(
        name=name,
        low_dose=np.stack(low),
        normal_dose=np.stack(normal),
        low_dose_repeat=np.stack(repeat) if repeat else None,
        pixel_size_mm=scan.pixel_size_mm,
        description=f"{scan.description}, deformed (seed {seed}), {n_slices} slices",
        info={"scan": scan.name, "seed": seed, "dose": dose.to_dict()},
    )


def simulated_subjects(
    scans: list[str],
    *,
    size: int | None = 256,
    n_slices: int = 4,
    dose: DoseSimulation | None = None,
    seed: int = 0,
) -> list[LowDoseSubject]:
    """One simulated subject per entry of ``scans`` (names of :data:`BUNDLED_SCANS`, repeats allowed).

    Scans larger than ``size`` pixels are downsampled to it (``None`` keeps the native
    size); smaller ones keep their size. Subject ``i`` is named ``"<scan>-<i>"`` and uses
    seed ``seed + i``.
    """
    subjects = []
    for i, scan_name in enumerate(scans):
        scan = read_bundled_scan(scan_name)
        if size is not None and scan.hu.shape[0] > size:
            scan = resample_to_size(scan, size)
        subjects.append(simulate_subject(scan, f"{scan_name}-{i}", n_slices=n_slices, dose=dose, seed=seed + i))
    return subjects


def subject_from_arrays(
    name: str,
    low_dose: np.ndarray,
    normal_dose: np.ndarray,
    low_dose_repeat: np.ndarray | None = None,
    pixel_size_mm: float = 1.0,
) -> LowDoseSubject:
    """A subject from real paired scans (HU), 2D slices or ``(n_slices, H, W)`` volumes.

    Raises ``ValueError`` when the shapes differ or values are not finite.
    """
    from ...validation import check_image

    arrays = [check_image(a, ndim=(2, 3), name=label) for a, label in ((low_dose, "low-dose image"), (normal_dose, "normal-dose image"))]
    if low_dose_repeat is not None:
        arrays.append(check_image(low_dose_repeat, ndim=(2, 3), name="second low-dose image"))
    arrays = [a[None] if a.ndim == 2 else a for a in arrays]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"paired images of subject {name!r} must have one shape, got {[a.shape for a in arrays]}")
    return LowDoseSubject(
        name=name,
        low_dose=arrays[0],
        normal_dose=arrays[1],
        low_dose_repeat=arrays[2] if len(arrays) > 2 else None,
        pixel_size_mm=float(pixel_size_mm),
        description="paired scans",
    )


def save_subject(subject: LowDoseSubject, folder: str | Path) -> Path:
    """Write a subject as TIFF stacks ``low_dose.tif``, ``normal_dose.tif`` (and ``low_dose_repeat.tif``) in ``folder``."""
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / "low_dose.tif", subject.low_dose.astype(np.float32))
    tifffile.imwrite(folder / "normal_dose.tif", subject.normal_dose.astype(np.float32))
    if subject.low_dose_repeat is not None:
        tifffile.imwrite(folder / "low_dose_repeat.tif", subject.low_dose_repeat.astype(np.float32))
    return folder


#: File names tried, in order, for each image of a subject folder.
SUBJECT_SUFFIXES = (".tif", ".tiff", ".nii.gz", ".nii", "")


def read_scan(path: str | Path) -> tuple[np.ndarray, float]:
    """Read a scan in HU: a TIFF (values taken as HU), a NIfTI file, a DICOM file or a DICOM series folder.

    Returns ``(hu, pixel_size_mm)`` with ``hu`` ``(N, H, W)`` float32; TIFFs carry no
    spacing and get 1 mm.
    """
    from ...io.tiff import read_tiff
    from ..volumes import read_volume

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix.lower() in (".tif", ".tiff"):
        hu = np.asarray(read_tiff(path), dtype=np.float32)
        return (hu[None] if hu.ndim == 2 else hu), 1.0
    volume = read_volume(path)
    return volume.hu, float(volume.spacing[1])


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in SUBJECT_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_subject(folder: str | Path) -> LowDoseSubject:
    """Read a subject folder: ``low_dose`` and ``normal_dose`` (and optionally ``low_dose_repeat``) scans.

    Each is a ``.tif``/``.tiff`` stack in HU (as :func:`save_subject` writes), a NIfTI
    file (``.nii``/``.nii.gz``) or a folder holding a DICOM series, all of one shape.
    """
    folder = Path(folder)
    low_path, normal_path = _find(folder, "low_dose"), _find(folder, "normal_dose")
    if low_path is None or normal_path is None:
        raise FileNotFoundError(
            f"{folder} must hold a low_dose and a normal_dose scan (.tif, .nii.gz, .nii or a DICOM folder) of one shape, in HU"
        )
    low, pixel_size = read_scan(low_path)
    normal, _ = read_scan(normal_path)
    repeat_path = _find(folder, "low_dose_repeat")
    repeat = read_scan(repeat_path)[0] if repeat_path is not None else None
    return subject_from_arrays(folder.name, low, normal, repeat, pixel_size)
