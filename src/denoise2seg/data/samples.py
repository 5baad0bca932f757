"""Real sample data: the DSB2018 nuclei image and mask shipped by the stardist package.

Noisy versions follow VoidSeg (Prakash et al. 2020, Sec. 4): additive Gaussian noise of
standard deviation 10, 20 or 40 in the 0-255 intensity range of the image, with fixed
seeds so that every run sees the same noisy image.
"""

from __future__ import annotations

import numpy as np

NOISE_LEVELS = (10, 20, 40)


def nuclei_2d() -> tuple[np.ndarray, np.ndarray]:
    """The clean DSB2018 nuclei image (float32, 512x512, values 0-255) and its instance mask (int32)."""
    from stardist.data import test_image_nuclei_2d

    image, mask = test_image_nuclei_2d(return_mask=True)
    return image.astype(np.float32), mask.astype(np.int32)


def add_gaussian_noise(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``image`` plus zero-mean Gaussian noise of standard deviation ``sigma`` (image units), float32."""
    rng = np.random.default_rng(seed)
    return (np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, np.shape(image))).astype(np.float32)


def noisy_nuclei_2d(sigma: float = 40, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(noisy, clean, mask)`` for the DSB sample at noise level ``sigma``.

    The default seed is ``sigma`` itself, so each of the paper's noise levels has one
    fixed noisy image.
    """
    clean, mask = nuclei_2d()
    noisy = add_gaussian_noise(clean, sigma, seed=int(sigma) if seed is None else seed)
    return noisy, clean, mask
