"""PSNR and SSIM against the normal-dose image, in the paper's normalised units (data range 1)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .units import hu_to_unit

#: Data range of PSNR/SSIM: 1 in units of (HU + 1024) / 4096, i.e. 4096 HU.
DATA_RANGE = 1.0


def psnr_ssim(denoised_hu: np.ndarray, normal_dose_hu: np.ndarray) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM over slices of ``(H, W)`` or ``(N, H, W)`` HU images.

    Both images are converted to ``(HU + 1024) / 4096`` and compared with
    ``skimage.metrics`` at ``data_range=1`` (4096 HU), the scale on which the Pseudo-CT
    paper reports 46.2 dB for its low-dose input.
    """
    denoised = hu_to_unit(denoised_hu)
    reference = hu_to_unit(normal_dose_hu)
    if denoised.shape != reference.shape:
        raise ValueError(f"denoised {denoised.shape} and normal-dose {reference.shape} images must have one shape")
    if denoised.ndim == 2:
        denoised, reference = denoised[None], reference[None]
    psnr = [peak_signal_noise_ratio(r, d, data_range=DATA_RANGE) for r, d in zip(reference, denoised)]
    ssim = [structural_similarity(r, d, data_range=DATA_RANGE) for r, d in zip(reference, denoised)]
    return float(np.mean(psnr)), float(np.mean(ssim))
