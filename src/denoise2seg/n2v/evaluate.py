"""Denoising quality against a clean reference: PSNR and SSIM (scikit-image)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def denoising_scores(clean: np.ndarray, image: np.ndarray, data_range: float = 255.0) -> dict[str, float]:
    """PSNR (dB) and SSIM of ``image`` against ``clean``, both on the same intensity scale.

    ``data_range`` is the range of the clean image's units (255 for the 8-bit DSB
    sample, as in VoidSeg's noise levels); it is passed to scikit-image explicitly so
    that scores do not depend on the dtype or on the values of a noisy image.
    """
    clean = np.asarray(clean, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    return {
        "psnr": float(peak_signal_noise_ratio(clean, image, data_range=data_range)),
        "ssim": float(structural_similarity(clean, image, data_range=data_range)),
    }
