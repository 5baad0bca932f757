"""Pseudo-CT: self-supervised low-dose CT denoising with an ensemble of noise models.

Won et al. 2021. Low-/normal-dose pairs are simulated physically from real CT slices
(:mod:`.simulation`, :mod:`.subjects`); a RED-CNN denoiser (N2C, N2N or N2V) and one
U-Net noise model per training subject are trained (:mod:`.training`); a test scan is
denoised by updating the denoiser on pseudo pairs (:mod:`.adaptation`, Algorithm 1).
:func:`train_pseudo_ct` runs the whole training as one workflow into a
:class:`PseudoCTFolder`.
"""

from .adaptation import PseudoCTAdaptation
from .config import AdaptationConfig, DenoiserConfig, NoiseModelConfig
from .evaluation import psnr_ssim
from .folder import PseudoCTFolder
from .models import LowDoseDenoiser, NoiseModel, load_noise_models
from .simulation import DoseSimulation, simulate_pair, simulate_scan
from .subjects import LowDoseSubject, load_subject, save_subject, simulated_subjects, subject_from_arrays
from .training import train_denoiser, train_noise_model
from .workflow import train_pseudo_ct

__all__ = [
    "AdaptationConfig",
    "DenoiserConfig",
    "DoseSimulation",
    "LowDoseDenoiser",
    "LowDoseSubject",
    "NoiseModel",
    "NoiseModelConfig",
    "PseudoCTAdaptation",
    "PseudoCTFolder",
    "load_noise_models",
    "load_subject",
    "psnr_ssim",
    "save_subject",
    "simulate_pair",
    "simulate_scan",
    "simulated_subjects",
    "subject_from_arrays",
    "train_denoiser",
    "train_noise_model",
    "train_pseudo_ct",
]
