"""Synthetic-lesion MRI: real anatomy (the MNI152 2009a template nilearn ships) with MS-like lesions.

Each case deforms the template mildly, changes its intensities (bias field, contrast) and
paints hyperintense white-matter lesions of a chosen total size into it. Two channels,
as in the paper's input: channel 0 is the template's T1 (lesions mildly hypointense);
channel 1 is a FLAIR-like contrast *synthesised* from the template's grey/white-matter
probability maps (CSF dark, grey brighter than white matter, lesions bright). It is not
a real FLAIR acquisition. Everything is at the template's 2 mm resolution, axes
``(Z, Y, X)``, skull-stripped.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from ..extras import import_ct
from .cases import LesionCase

SPACING_MM = (2.0, 2.0, 2.0)
# Lesion load targets (fraction of brain volume) cycled over cases, so that every size bin
# of the paper (< 1 %, 1-5 %, > 5 %) has cases.
DEFAULT_LOADS = (0.004, 0.008, 0.02, 0.035, 0.07)
# Crop of the 99 x 117 axial plane to 96 x 112, a multiple of 16, so U-Nets up to depth 4
# need no padding; the cropped rows and columns hold no brain.
_CROP = (slice(None), slice(2, 114), slice(1, 97))


@lru_cache(maxsize=1)
def _template() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T1, brain mask, WM and GM probability of MNI152 2009a at 2 mm, ``(Z, Y, X)`` float32."""
    datasets = import_ct("nilearn.datasets", "Making the synthetic MRI lesion sample (from the MNI152 template)")
    load_mni152_brain_mask, load_mni152_gm_template = datasets.load_mni152_brain_mask, datasets.load_mni152_gm_template
    load_mni152_template, load_mni152_wm_template = datasets.load_mni152_template, datasets.load_mni152_wm_template

    def zyx(image) -> np.ndarray:
        # nibabel's (X, Y, Z) to napari's (Z, Y, X); flip Y so that anterior is up.
        return np.ascontiguousarray(np.asarray(image.get_fdata(), dtype=np.float32).transpose(2, 1, 0)[:, ::-1])[_CROP]

    t1 = zyx(load_mni152_template(resolution=2))
    brain = zyx(load_mni152_brain_mask(resolution=2))
    wm = zyx(load_mni152_wm_template(resolution=2))
    gm = zyx(load_mni152_gm_template(resolution=2))
    return t1, brain, wm, gm


def _deform(volumes: list[np.ndarray], rng: np.random.Generator, amplitude: float, smoothness: float) -> list[np.ndarray]:
    """Warp volumes with one smooth random displacement field (``amplitude`` voxels RMS-ish)."""
    shape = volumes[0].shape
    displacement = []
    for _ in range(3):
        field = gaussian_filter(rng.standard_normal(shape).astype(np.float32), smoothness)
        field *= amplitude / (field.std() + 1e-8)
        displacement.append(field)
    grid = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")
    coords = [g + d for g, d in zip(grid, displacement)]
    return [map_coordinates(v, coords, order=1, mode="nearest").astype(np.float32) for v in volumes]


def _lesion_blob(shape: tuple[int, ...], center: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """An irregular ellipsoid around ``center`` (voxels), elongated along a random axis."""
    lo = np.maximum(np.floor(center - 2 * radius).astype(int), 0)
    hi = np.minimum(np.ceil(center + 2 * radius).astype(int) + 1, shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), -1) - center
    axes = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    scales = radius * rng.uniform(0.6, 1.4, 3)
    r = np.sqrt((((grid @ axes) / scales) ** 2).sum(-1))
    rough = gaussian_filter(rng.standard_normal(r.shape), 1.0) * 0.6
    blob = np.zeros(shape, dtype=bool)
    blob[box] = r + rough < 1.0
    return blob


def _lesions(brain: np.ndarray, wm: np.ndarray, load: float, rng: np.random.Generator) -> np.ndarray:
    """Union of white-matter blobs until the lesion volume reaches ``load`` of the brain."""
    target = load * brain.sum()
    allowed = (wm > 0.3) & brain
    centers = np.argwhere(wm > 0.7)
    lesion = np.zeros(brain.shape, dtype=bool)
    # Small loads are many small lesions; large loads add confluent big ones.
    max_radius = 2.0 + 30.0 * load
    while lesion.sum() < target:
        center = centers[rng.integers(len(centers))].astype(np.float32)
        radius = rng.uniform(1.2, max_radius)
        lesion |= _lesion_blob(brain.shape, center, radius, rng) & allowed
    return lesion


def synthetic_lesion_case(seed: int = 0, load: float | None = None, noise: float = 0.06, name: str | None = None) -> LesionCase:
    """One synthetic-lesion MRI case.

    Parameters
    ----------
    seed : int
        Seeds the deformation, intensity changes, lesions and noise.
    load : float, optional
        Target lesion volume as a fraction of brain volume (default: ``DEFAULT_LOADS``
        cycled by ``seed``); the result is slightly above it.
    noise : float
        Standard deviation of the Gaussian noise added to both channels (intensities
        are about 0-1).

    Returns
    -------
    LesionCase with a ``(2, 95, 112, 96)`` image (T1, FLAIR-like), 2 mm voxels.
    """
    rng = np.random.default_rng(seed)
    if load is None:
        load = DEFAULT_LOADS[seed % len(DEFAULT_LOADS)]
    t1, brain, wm, gm = _template()
    t1, brain, wm, gm = _deform([t1, brain, wm, gm], rng, amplitude=1.5, smoothness=8.0)
    brain = brain > 0.5
    lesion = _lesions(brain, wm, load, rng)
    # Partial volume at the lesion border.
    lesion_weight = np.clip(gaussian_filter(lesion.astype(np.float32), 0.6) + 0.5 * lesion, 0, 1)
    csf = np.clip(1.0 - wm - gm, 0, 1)
    flair = 0.55 * wm + 0.75 * gm + 0.1 * csf
    contrast = rng.uniform(0.8, 1.2)
    flair = flair * (1 - lesion_weight) + lesion_weight * contrast * 1.05
    t1 = t1 * (1 - 0.25 * contrast * lesion_weight)
    bias = np.exp(gaussian_filter(rng.standard_normal(brain.shape), 20.0) * 8.0).astype(np.float32)
    image = np.stack([t1 * bias * rng.uniform(0.9, 1.1), flair * bias * rng.uniform(0.9, 1.1)])
    image = image + rng.normal(0.0, noise, image.shape).astype(np.float32)
    image = np.where(brain, image, 0.0).astype(np.float32)
    return LesionCase(image, lesion, brain, SPACING_MM, name or f"synthetic-lesion-{seed:03d}")


def synthetic_lesion_cases(n_cases: int, first_seed: int = 0, noise: float = 0.06) -> list[LesionCase]:
    """``n_cases`` synthetic-lesion cases with seeds ``first_seed, first_seed + 1, ...``."""
    return [synthetic_lesion_case(seed, noise=noise) for seed in range(first_seed, first_seed + n_cases)]
