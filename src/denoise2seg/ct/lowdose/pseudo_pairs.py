"""Pseudo-noise for Pseudo-CT pairs X~ = Y~ + noise, as pure torch functions.

The paper's ensemble (Eq. 3) and the baselines it compares with (Table 1): Gaussian
noise, noise drawn from the histogram of a difference map, and a single noise model
mixed with the histogram. All maps are in normalised units (HU + 1024) / 4096.
"""

from __future__ import annotations

import torch


def ensemble_noise(noise_maps: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick each pixel at random from one of the ``m`` maps ``(m, *shape)``; returns ``(*shape)``.

    The choice is uniform and independent per pixel, and redrawn at every call, so
    repeated calls give different noise images that are all made of predicted noise.
    """
    m = noise_maps.shape[0]
    choice = torch.randint(0, m, noise_maps.shape[1:], device=noise_maps.device, generator=generator)
    return noise_maps.gather(0, choice.unsqueeze(0)).squeeze(0)


def gaussian_noise(shape: tuple[int, ...], sd: float, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-mean Gaussian noise of standard deviation ``sd`` (normalised units)."""
    return sd * torch.randn(shape, device=device, generator=generator)


def histogram_noise(difference_values: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Independent draws from the histogram of a difference map.

    ``difference_values`` holds all values of the map X - f_theta(X); drawing random
    entries is sampling its empirical histogram exactly (no binning).
    """
    index = torch.randint(0, difference_values.numel(), shape, device=difference_values.device, generator=generator)
    return difference_values.reshape(-1)[index]
