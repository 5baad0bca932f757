"""The normalised intensity units of the low-dose CT networks: ``(HU + 1024) / 4096``.

RED-CNN implementations for the AAPM 2016 data map [-1024, 3072] HU to [0, 1]; the
Pseudo-CT paper's PSNR values (LDCT input 46.2 dB) and its Gaussian pseudo-noise of
standard deviation 0.02 only make sense in such units (0.02 is about 82 HU). Networks,
noise maps, the Gaussian baseline and PSNR/SSIM (data range 1) all use them.
"""

from __future__ import annotations

import numpy as np

HU_OFFSET = 1024.0
HU_RANGE = 4096.0


def hu_to_unit(hu: np.ndarray) -> np.ndarray:
    """HU -> normalised units (float32), without clipping."""
    return ((np.asarray(hu, dtype=np.float32) + HU_OFFSET) / HU_RANGE).astype(np.float32)


def unit_to_hu(unit: np.ndarray) -> np.ndarray:
    """Normalised units -> HU (float32)."""
    return (np.asarray(unit, dtype=np.float32) * HU_RANGE - HU_OFFSET).astype(np.float32)


def noise_unit_to_hu(noise: np.ndarray) -> np.ndarray:
    """A difference (noise) map in normalised units -> HU (no offset)."""
    return (np.asarray(noise, dtype=np.float32) * HU_RANGE).astype(np.float32)
