"""``denoise2seg pseudo-ct simulate|train|adapt``: Pseudo-CT low-dose CT denoising.

``simulate`` writes low-/normal-dose subject folders made from the bundled real CT
slices; ``train`` trains the RED-CNN denoiser and one noise model per subject folder;
``adapt`` denoises a low-dose scan by Algorithm 1 and writes the result as TIFF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import tifffile

from ..ct.lowdose import (
    AdaptationConfig,
    DenoiserConfig,
    DoseSimulation,
    NoiseModelConfig,
    PseudoCTFolder,
    load_subject,
    psnr_ssim,
    save_subject,
    simulated_subjects,
    train_pseudo_ct,
)
from ..ct.lowdose.config import NOISE_SOURCES, SCHEMES
from ..ct.lowdose.subjects import BUNDLED_SCANS, read_scan
from ..io.model_folder import saved_model_time
from ..io.outputs import check_output_files, check_output_folder
from .progress import TrainingInterrupted, consume_with_progress, train_into

def register(subparsers) -> None:
    group = subparsers.add_parser("pseudo-ct", help="self-supervised low-dose CT denoising (Pseudo-CT)")
    commands = group.add_subparsers(dest="command", required=True)

    dose = DoseSimulation()
    simulate = commands.add_parser("simulate", help="simulate low-/normal-dose subjects from the bundled real CT slices")
    simulate.add_argument("out", type=Path, help="folder to write one sub-folder per subject into")
    simulate.add_argument("--scans", nargs="+", default=["head_a", "neck", "head_a", "head_b"], choices=sorted(BUNDLED_SCANS), help="one subject per entry (default %(default)s)")
    simulate.add_argument("--slices", type=int, default=4, help="slices per subject (default %(default)s)")
    simulate.add_argument("--size", type=int, default=256, help="downsample larger scans to this many pixels (default %(default)s)")
    simulate.add_argument("--low-dose-photons", type=float, default=dose.low_dose_photons, help="incident photons per ray at low dose (default %(default)g)")
    simulate.add_argument("--normal-dose-photons", type=float, default=dose.normal_dose_photons, help="... at normal dose (default %(default)g)")
    simulate.add_argument("--views", type=int, default=dose.n_views, help="projection angles over 180 degrees (default %(default)s)")
    simulate.add_argument("--electronic-noise", type=float, default=dose.electronic_noise_sd, help="electronic noise sd in photons (default %(default)s)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty, replacing subjects of the same name")
    simulate.set_defaults(func=_simulate)

    denoiser = DenoiserConfig()
    train = commands.add_parser("train", help="train the base denoiser and one noise model per subject folder")
    train.add_argument("subjects", nargs="+", type=Path, help="subject folders holding low_dose and normal_dose scans (HU)")
    train.add_argument("--out", type=Path, required=True, help="model folder to write (denoiser/, noise_models/<subject>/)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing model folder at --out")
    train.add_argument("--scheme", choices=SCHEMES, default=denoiser.scheme, help="how the denoiser learns (default %(default)s)")
    train.add_argument("--epochs", type=int, default=denoiser.epochs, help="epochs of each network (default %(default)s)")
    train.add_argument("--steps", type=int, default=denoiser.steps_per_epoch, help="steps per epoch (default %(default)s)")
    train.add_argument("--batch-size", type=int, default=denoiser.batch_size)
    train.add_argument("--patch-size", type=int, default=denoiser.patch_size)
    train.add_argument("--filters", type=int, default=denoiser.n_filters, help="RED-CNN filters (default %(default)s)")
    train.add_argument("--unet-filters", type=int, default=NoiseModelConfig().n_filters, help="noise-model U-Net filters (default %(default)s)")
    train.add_argument("--lr", type=float, default=denoiser.learning_rate, help="learning rate (default %(default)s)")
    train.add_argument("--single-noise-model", action="store_true", help="also train one noise model on all subjects (for model+hist)")
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, default=None)
    train.set_defaults(func=_train)

    adaptation = AdaptationConfig()
    adapt = commands.add_parser("adapt", help="denoise a low-dose scan by self-supervised adaptation (Algorithm 1)")
    adapt.add_argument("scan", type=Path, help="low-dose scan in HU: TIFF, NIfTI, DICOM file or DICOM series folder")
    adapt.add_argument("--models", type=Path, required=True, help="model folder written by 'pseudo-ct train'")
    adapt.add_argument("--out", type=Path, required=True, help="denoised scan to write (TIFF, HU)")
    adapt.add_argument("--noise", choices=NOISE_SOURCES, default=adaptation.noise, help="pseudo-noise (default %(default)s)")
    adapt.add_argument("--steps", type=int, default=adaptation.steps, help="update steps (default %(default)s)")
    adapt.add_argument("--update-period", type=int, default=adaptation.update_period, help="C: copy theta every C steps; 0 never (default %(default)s)")
    adapt.add_argument("--batch-size", type=int, default=adaptation.batch_size)
    adapt.add_argument("--patch-size", type=int, default=adaptation.patch_size)
    adapt.add_argument("--lr", type=float, default=adaptation.learning_rate)
    adapt.add_argument("--reference", type=Path, default=None, help="normal-dose scan: print PSNR/SSIM before and after")
    adapt.add_argument("--save-model", type=Path, default=None, help="also write the adapted denoiser to this folder")
    adapt.add_argument("--overwrite", action="store_true", help="replace an existing --out file or --save-model folder")
    adapt.add_argument("--device", default="auto")
    adapt.add_argument("--seed", type=int, default=None)
    adapt.set_defaults(func=_adapt)


def _simulate(args: argparse.Namespace) -> int:
    check_output_folder(args.out, overwrite=args.overwrite)
    dose = DoseSimulation(args.low_dose_photons, args.normal_dose_photons, args.views, args.electronic_noise)
    for subject in simulated_subjects(args.scans, size=args.size, n_slices=args.slices, dose=dose, seed=args.seed):
        folder = save_subject(subject, args.out / subject.name)
        print(f"{folder}: {subject.description}")
    return 0


def _train(args: argparse.Namespace) -> int:
    check_output_folder(args.out, overwrite=args.overwrite, inputs=args.subjects)
    saved_before = saved_model_time(args.out)
    subjects = [load_subject(folder) for folder in args.subjects]
    common = dict(epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch_size, patch_size=args.patch_size, learning_rate=args.lr, seed=args.seed)
    config = DenoiserConfig(scheme=args.scheme, n_filters=args.filters, **common)
    noise_config = NoiseModelConfig(n_filters=args.unet_filters, **common)
    events = train_pseudo_ct(subjects, config, noise_config, out_dir=args.out, device=args.device, single_noise_model=args.single_noise_model)
    return train_into(events, args.out, "Pseudo-CT training", saved_before)


def _adapt(args: argparse.Namespace) -> int:
    inputs = [args.scan, args.models, *([args.reference] if args.reference else [])]
    check_output_files([args.out], overwrite=args.overwrite, inputs=inputs)
    if args.save_model is not None:
        check_output_folder(args.save_model, overwrite=args.overwrite, inputs=inputs)
    low_dose, _ = read_scan(args.scan)
    folder = PseudoCTFolder(args.models)
    config = AdaptationConfig(
        noise=args.noise,
        update_period=args.update_period or None,
        steps=args.steps,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        learning_rate=args.lr,
        seed=args.seed,
    )
    adaptation = folder.adaptation(low_dose, config, args.device)
    try:
        consume_with_progress(adaptation.run(), "adaptation")
    except TrainingInterrupted as stop:
        steps = stop.last.step if stop.last is not None else 0
        print(f"adaptation stopped after {steps} of {config.steps} steps; nothing was written", file=sys.stderr)
        return 130
    denoised = adaptation.denoised()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(args.out, denoised.astype(np.float32))
    print(f"denoised scan written to {args.out}")
    if args.save_model is not None:
        adaptation.adapted_denoiser().save(args.save_model)
        print(f"adapted denoiser written to {args.save_model}")
    if args.reference is not None:
        reference, _ = read_scan(args.reference)
        if reference.shape != low_dose.shape:
            raise ValueError(f"reference {reference.shape} and scan {low_dose.shape} must have one shape")
        for label, image in (("low dose", low_dose), ("base denoiser", folder.load_denoiser(args.device).predict(low_dose)), ("adapted", denoised)):
            psnr, ssim = psnr_ssim(image, reference)
            print(f"{label:14s} PSNR {psnr:.2f} dB  SSIM {ssim:.4f}  (data range 4096 HU)")
    return 0
