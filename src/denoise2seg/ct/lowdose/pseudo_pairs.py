"""Pseudo-noise for Pseudo-CT pairs X~ = Y~ + noise, as pure torch functions.

The paper's ensemble (Eq. 3) and the baselines it compares with (Table 1): Gaussian
noise, noise drawn from the histogram of the training pairs' difference LDCT - NDCT,
and a single noise model mixed with that histogram. All maps are in normalised units (HU + 1024) / 4096.
"""

from __future__ import annotations

import numpy as np
import torch

from .units import hu_to_unit


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


def difference_histogram(pairs, max_values: int = 1_000_000, seed: int = 0) -> np.ndarray:
    """Values of ``LDCT - NDCT`` over training pairs ``[(low_dose, normal_dose), ...]`` (HU arrays), in normalised units.

    The paper's Hist baseline samples this histogram of the training pairs' difference
    (not the test scan's ``X - f_theta(X)``). At most ``max_values`` values are kept, a
    random subset (``seed``), which samples the histogram as well as all of them.
    """
    values = np.concatenate([(hu_to_unit(np.asarray(low)) - hu_to_unit(np.asarray(normal))).ravel() for low, normal in pairs])
    if values.size > max_values:
        values = values[np.random.default_rng(seed).choice(values.size, max_values, replace=False)]
    return values.astype(np.float32)


def histogram_noise(difference_values: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Independent draws from the histogram of a difference map.

    ``difference_values`` holds the values of a difference map (:func:`difference_histogram`);
    drawing random entries is sampling its empirical histogram exactly (no binning).
    """
    index = torch.randint(0, difference_values.numel(), shape, device=difference_values.device, generator=generator)
    return difference_values.reshape(-1)[index]
