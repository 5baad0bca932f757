"""Synthetic fluorescent nuclei with exact instance masks (BBBC004-like), and 128x128 patch data sets.

BBBC004 (Ruusuvuori et al. 2008) renders nuclei as blobs of varied size, shape and
brightness with internal texture, some touching; it serves VoidSeg as a data set with
perfect ground truth. This generator follows the same recipe: each nucleus is an ellipse
whose radius is modulated by a few low-frequency harmonics of the polar angle
(irregular outlines), filled with a brightness drawn per object and a smooth multiplicative
texture; nuclei may touch (a new one may claim a few pixels next to existing ones) but
never overlap, so the mask is exact. The clean image is blurred by a small Gaussian
point-spread function on a dim background; the noisy image adds Gaussian noise of
standard deviation ``noise_sigma`` in the 0-255 range, as for the DSB sample.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

BACKGROUND_LEVEL = 10.0


def _nucleus_mask(rng: np.random.Generator, radius: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Irregular ellipse centred at 0 on the grid ``(yy, xx)``."""
    elongation = rng.uniform(1.0, 1.6)
    angle = rng.uniform(0, np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * xx + sin * yy) / elongation
    v = -sin * xx + cos * yy
    r = np.hypot(u, v) * np.sqrt(elongation)
    phi = np.arctan2(v, u)
    wobble = sum(rng.normal(0, 0.08 / k) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in range(2, 5))
    return r <= radius * (1.0 + wobble)


def _texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Smooth multiplicative texture around 1 (chromatin-like mottling)."""
    field = ndi.gaussian_filter(rng.normal(0, 1, shape), sigma=2.0)
    field /= field.std() + 1e-8
    return 1.0 + 0.15 * field


def synthetic_nuclei(
    shape: tuple[int, int] = (256, 256),
    n_objects: int = 30,
    noise_sigma: float = 40.0,
    seed: int | None = 0,
    radius_range: tuple[float, float] = (6.0, 14.0),
    brightness_range: tuple[float, float] = (70.0, 220.0),
    touching_fraction: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``(noisy, clean, labels)`` nuclei images.

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X) in pixels.
    n_objects : int
        Number of nuclei attempted; fewer are placed when the image fills up.
    noise_sigma : float
        Standard deviation of the additive Gaussian noise (0-255 intensity range).
    seed : int
        Random seed; equal seeds give identical images.
    radius_range : (float, float)
        Range of the nuclei's mean radii in pixels.
    brightness_range : (float, float)
        Range of mean nucleus intensity above the background (10).
    touching_fraction : float
        Fraction of nuclei placed right next to an existing one, so that they touch.

    Returns
    -------
    noisy, clean : float32 ``shape``
    labels : int32 ``shape``, 0 background, 1..N nuclei (each one connected region).
    """
    if n_objects < 0 or noise_sigma < 0:
        raise ValueError(f"n_objects and noise_sigma must be >= 0, got {n_objects} and {noise_sigma}")
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=np.int32)
    signal = np.zeros(shape, dtype=np.float64)
    texture = _texture(rng, shape)
    placed = 0
    for _ in range(20 * n_objects):
        if placed == n_objects:
            break
        radius = rng.uniform(*radius_range)
        if placed and rng.random() < touching_fraction:
            # Next to an existing nucleus: a centre about one radius beyond its edge.
            ys, xs = np.nonzero(labels == rng.integers(1, placed + 1))
            k = rng.integers(ys.size)
            direction = rng.uniform(0, 2 * np.pi)
            centre = np.array([ys[k], xs[k]]) + (radius * 0.9) * np.array([np.sin(direction), np.cos(direction)])
        else:
            centre = rng.uniform([0, 0], shape)
        half = int(np.ceil(radius * 2))
        y0, x0 = int(round(centre[0])) - half, int(round(centre[1])) - half
        window = (slice(max(y0, 0), min(y0 + 2 * half + 1, shape[0])), slice(max(x0, 0), min(x0 + 2 * half + 1, shape[1])))
        yy, xx = np.mgrid[window[0], window[1]]
        mask = _nucleus_mask(rng, radius, yy - centre[0], xx - centre[1])
        if mask.sum() < 0.5 * np.pi * radius**2:
            continue
        taken = labels[window] > 0
        free = mask & ~taken
        # Touching is fine, overlapping is not: reject if another nucleus already covers much of it
        # or if the free part falls apart.
        if free.sum() < 0.85 * mask.sum() or ndi.label(free)[1] != 1:
            continue
        placed += 1
        labels[window][free] = placed
        brightness = rng.uniform(*brightness_range)
        signal[window][free] = brightness
    clean = BACKGROUND_LEVEL + ndi.gaussian_filter(signal * texture, sigma=1.0)
    noisy = clean + rng.normal(0.0, noise_sigma, shape) if noise_sigma > 0 else clean.copy()
    return noisy.astype(np.float32), clean.astype(np.float32), labels


def grid_patches_2d(image: np.ndarray, patch: int = 128) -> list[np.ndarray]:
    """Non-overlapping ``patch x patch`` tiles of a 2D array, row by row."""
    rows, cols = image.shape[0] // patch, image.shape[1] // patch
    return [image[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] for r in range(rows) for c in range(cols)]


def nuclei_patch_dataset(
    source: str = "synthetic",
    noise_sigma: float = 40.0,
    n_images: int = 16,
    patch: int = 128,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A data set of ``patch x patch`` tiles: ``(noisy, clean, labels)``, each ``(N, patch, patch)``.

    ``source="synthetic"`` renders ``n_images`` 256x256 images (seeds ``seed, seed+1,
    ...``, about 30 nuclei each) and cuts each into four tiles. ``source="dsb"`` cuts the
    512x512 DSB2018 sample of the stardist package into 16 tiles, with noise of
    ``noise_sigma`` (seeded by ``seed``); ``n_images`` is then ignored. Tile labels are
    relabelled 1..n per tile.
    """
    from skimage.segmentation import relabel_sequential

    if source == "synthetic":
        triples = [synthetic_nuclei((256, 256), 30, noise_sigma, seed + i) for i in range(n_images)]
    elif source == "dsb":
        from .samples import noisy_nuclei_2d

        triples = [noisy_nuclei_2d(noise_sigma, seed=seed)]
    else:
        raise ValueError(f"source must be 'synthetic' or 'dsb', got {source!r}")
    noisy, clean, labels = [], [], []
    for image_noisy, image_clean, image_labels in triples:
        noisy.extend(grid_patches_2d(image_noisy, patch))
        clean.extend(grid_patches_2d(image_clean, patch))
        labels.extend(relabel_sequential(tile)[0].astype(np.int32) for tile in grid_patches_2d(image_labels, patch))
    return np.stack(noisy).astype(np.float32), np.stack(clean).astype(np.float32), np.stack(labels)
