"""Label-aware noise and the noising transform of LADP (Eqs. 4-5).

``W ~ N(0, sigma_a^2)`` on the ROI and ``N(0, sigma_b^2)`` elsewhere, the same ROI for
every channel; ``x' = sqrt(gamma) x + sqrt(1 - gamma) W``. With ``sigma_a = sigma_b = 1``
this is plain Decoder Denoising Pretraining (DDP, Brempong et al. 2022).
"""

from __future__ import annotations

import math

import torch


def label_aware_noise(
    roi: torch.Tensor,
    channels: int,
    sigma_a: float,
    sigma_b: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw the noise ``W`` of LADP Eq. 4.

    Parameters
    ----------
    roi : bool tensor ``(N, *spatial)``
        Region of interest per sample (see :func:`denoise2seg.lesion.roi.sample_roi`).
    channels : int
        Image channels ``C``; each gets independent noise with the same ROI.
    sigma_a, sigma_b : float
        Standard deviations inside and outside the ROI.

    Returns
    -------
    float32 tensor ``(N, C, *spatial)`` on ``roi``'s device.
    """
    shape = (roi.shape[0], channels, *roi.shape[1:])
    eps = torch.randn(shape, generator=generator, device=roi.device, dtype=torch.float32)
    std = torch.where(roi[:, None], torch.tensor(float(sigma_a), device=roi.device), torch.tensor(float(sigma_b), device=roi.device))
    return eps * std


def add_label_aware_noise(image: torch.Tensor, noise: torch.Tensor, gamma: float) -> torch.Tensor:
    """Noised input ``x' = sqrt(gamma) x + sqrt(1 - gamma) W`` (LADP Eq. 5), any shape."""
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    return math.sqrt(gamma) * image + math.sqrt(1.0 - gamma) * noise
