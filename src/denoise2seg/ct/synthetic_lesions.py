"""Synthetic-lesion CT cases: real CT anatomy, deformed into several cases, with inserted lesions and exact masks.

No public COVID-19 lesion masks can be shipped with the package, so the CT workflow is
demonstrated and benchmarked on *synthetic-lesion* data: a real axial CT slice that a
Python package ships is deformed (random affine + smooth elastic field, varying slowly
along z) into small multi-slice volumes ("cases"), and lesions are inserted into the
lung (or, in a scan without lung, the body):

- *ground-glass-like*: a hazy rise of the lung towards -650..-350 HU with fine texture,
  vessels kept (the density only ever goes up);
- *consolidation-like*: a dense region towards -150..+40 HU.

Each lesion is a 3D ellipsoid with an irregular, soft edge (a logistic profile of its
radius perturbed by smooth noise), of varied size, edge width and contrast. Its mask is
exactly where its opacity exceeds one half, so the labels are known by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .volumes import CTVolume

LESION_KINDS = ("ground_glass", "consolidation")


@dataclass(frozen=True)
class LesionSettings:
    """Ranges lesions are drawn from (sizes relative to the slice side, HU targets).

    The HU ranges follow the usual CT appearance of COVID-19 pneumonia: ground-glass
    opacity between aerated lung (about -850 HU) and soft tissue, consolidation near
    soft tissue (Ye et al. 2020, ref. [7] of Gao et al. 2021).
    """

    n_lesions: tuple[int, int] = (1, 3)
    radius: tuple[float, float] = (0.05, 0.14)
    z_radius: tuple[float, float] = (1.0, 3.0)
    edge: tuple[float, float] = (0.05, 0.2)
    irregularity: float = 0.25
    ground_glass_hu: tuple[float, float] = (-650.0, -350.0)
    consolidation_hu: tuple[float, float] = (-150.0, 40.0)
    texture_hu: float = 40.0
    consolidation_fraction: float = 0.4


REGIONS = ("lung", "body")


def lesion_region(hu: np.ndarray, where: str = "lung", min_pixels: int = 30) -> np.ndarray:
    """Where lesions may go in a ``(Y, X)`` or ``(Z, Y, X)`` HU array: ``"lung"`` or ``"body"``.

    Lung is aerated tissue, smoothed HU between -950 and -400 (outside air, near -1000
    HU, is excluded), opened and stripped of pieces under ``min_pixels`` per slice; a
    slice without lung falls back to the body. Body is smoothed HU above -300 with its
    holes filled (the region for a scan without lung, a head scan say).
    """
    if where not in REGIONS:
        raise ValueError(f"lesion region must be one of {REGIONS}, got {where!r}")
    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim == 3:
        return np.stack([lesion_region(s, where, min_pixels) for s in hu])
    smooth = ndimage.gaussian_filter(hu, 1.5)
    body = ndimage.binary_fill_holes(ndimage.binary_opening(smooth > -300, iterations=2))
    if where == "body":
        return body
    lung = ndimage.binary_opening((smooth > -950) & (smooth < -400), iterations=2)
    labels, n = ndimage.label(lung)
    if n:
        sizes = ndimage.sum(lung, labels, index=np.arange(1, n + 1))
        lung = np.isin(labels, 1 + np.flatnonzero(sizes >= min_pixels))
    return lung if lung.sum() >= min_pixels else body


def _smooth_field(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field of unit maximum magnitude."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / max(float(np.abs(field).max()), 1e-8)


def deformed_slices(base: np.ndarray, n_slices: int, rng: np.random.Generator, elastic_px: float | None = None) -> np.ndarray:
    """``n_slices`` deformed copies ``(Z, Y, X)`` of one ``(Y, X)`` HU slice, one case's anatomy.

    A case-wide random affine (rotation up to 10 degrees, scale 0.9-1.1, shift up to 5%)
    plus an elastic field that turns slowly along z (two smooth fields mixed by the cosine
    and sine of a per-slice angle), so neighbouring slices look alike and the case looks
    like a short stack of a body rather than copies of one slice.
    """
    height, width = base.shape
    elastic_px = elastic_px if elastic_px is not None else 0.03 * min(height, width)
    sigma = 0.12 * min(height, width)
    angle = np.deg2rad(rng.uniform(-10, 10))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-0.05, 0.05, 2) * (height, width)
    fields = [[_smooth_field((height, width), sigma, rng) * elastic_px for _ in range(2)] for _ in range(2)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    cos, sin = np.cos(angle), np.sin(angle)
    src_y = cy + ((yy - cy) * cos - (xx - cx) * sin) / scale + shift[0]
    src_x = cx + ((yy - cy) * sin + (xx - cx) * cos) / scale + shift[1]
    phase = rng.uniform(0, 2 * np.pi)
    out = np.empty((n_slices, height, width), dtype=np.float32)
    for k in range(n_slices):
        phi = phase + 0.6 * k
        dy = np.cos(phi) * fields[0][0] + np.sin(phi) * fields[0][1]
        dx = np.cos(phi) * fields[1][0] + np.sin(phi) * fields[1][1]
        out[k] = ndimage.map_coordinates(base, [src_y + dy, src_x + dx], order=1, mode="nearest")
    return out


def insert_lesions(
    hu: np.ndarray, rng: np.random.Generator, settings: LesionSettings = LesionSettings(), region: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Insert lesions into a ``(Z, Y, X)`` HU volume.

    Returns the new volume (float32), the exact lesion mask (uint8, 1 = lesion) and the
    kind of each lesion inserted. Lesion centres are drawn inside ``region`` (default
    :func:`lesion_region`) and each lesion's opacity is multiplied by a softened region
    mask, so lesions stay in the lung.
    """
    hu = np.asarray(hu, dtype=np.float32)
    depth, height, width = hu.shape
    region = lesion_region(hu) if region is None else np.asarray(region, bool)
    candidates = np.argwhere(region)
    if len(candidates) == 0:
        raise ValueError("the volume has no lung or body region to put lesions in")
    # Softened inside the region and zero outside it: lesion edges fade at the pleura, never cross it.
    soft_region = np.clip(ndimage.gaussian_filter(region.astype(np.float32), (0, 1.0, 1.0)) * 1.5, 0, 1) * region
    zz, yy, xx = np.mgrid[0:depth, 0:height, 0:width].astype(np.float32)
    out = hu.copy()
    mask = np.zeros(hu.shape, dtype=bool)
    kinds = []
    side = min(height, width)
    for _ in range(int(rng.integers(settings.n_lesions[0], settings.n_lesions[1] + 1))):
        z0, y0, x0 = candidates[rng.integers(len(candidates))]
        ry, rx = rng.uniform(*settings.radius, 2) * side
        rz = rng.uniform(*settings.z_radius)
        radius = np.sqrt(((zz - z0) / rz) ** 2 + ((yy - y0) / ry) ** 2 + ((xx - x0) / rx) ** 2)
        radius = radius * (1 + settings.irregularity * _smooth_field(hu.shape, (1.0, 0.25 * ry, 0.25 * rx), rng))
        edge = rng.uniform(*settings.edge)
        opacity = soft_region / (1 + np.exp(np.clip((radius - 1) / edge, -50, 50)))
        kind = "consolidation" if rng.random() < settings.consolidation_fraction else "ground_glass"
        low, high = settings.consolidation_hu if kind == "consolidation" else settings.ground_glass_hu
        texture = settings.texture_hu * _smooth_field(hu.shape, (0.5, 1.0, 1.0), rng)
        target = rng.uniform(low, high) + texture
        # Density only rises: vessels inside a ground-glass patch stay visible, as in real GGO.
        out = out + opacity * np.maximum(target - out, 0)
        mask |= opacity > 0.5
        kinds.append(kind)
    return out.astype(np.float32), mask.astype(np.uint8), kinds


def synthetic_lesion_cases(
    base: CTVolume,
    n_cases: int,
    n_slices: int = 8,
    seed: int = 0,
    settings: LesionSettings = LesionSettings(),
    noise_hu: float = 10.0,
    where: str = "lung",
) -> list[tuple[CTVolume, np.ndarray]]:
    """``n_cases`` synthetic-lesion cases ``(CTVolume, mask)`` from the first slice of ``base``.

    Each case is ``n_slices`` deformed copies of the slice (:func:`deformed_slices`) with
    fresh Gaussian noise of ``noise_hu`` (so slices differ in noise as real slices do) and
    1-3 lesions (:func:`insert_lesions`) in the ``where`` region (:func:`lesion_region`:
    ``"lung"`` for a chest slice, ``"body"`` for a head slice); every case has at least one lesion voxel. The
    spacing is the base's, with its z spacing for the stacked slices.
    """
    if n_cases < 1 or n_slices < 1:
        raise ValueError(f"n_cases and n_slices must be >= 1, got {n_cases} and {n_slices}")
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_cases:
        anatomy = deformed_slices(base.hu[0], n_slices, rng)
        anatomy = anatomy + rng.normal(0, noise_hu, anatomy.shape).astype(np.float32)
        hu, mask, kinds = insert_lesions(anatomy, rng, settings, region=lesion_region(anatomy, where))
        if not mask.any():
            continue
        metadata = {**base.metadata, "synthetic_lesion": True, "lesion_kinds": kinds, "case": len(cases), "seed": seed}
        cases.append((CTVolume(hu, base.spacing, metadata=metadata), mask))
    return cases
