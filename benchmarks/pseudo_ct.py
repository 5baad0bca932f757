"""Pseudo-CT benchmark: the paper's Table 1 on low-dose pairs simulated from real CT slices.

Trains the RED-CNN base denoiser with N2C, N2N and N2V and one noise model per training
subject (plus one on all of them for Model+Hist) on simulated training subjects, then
adapts to each test subject (different anatomy) and reports PSNR/SSIM against the
normal dose in (HU + 1024) / 4096 units (data range 1), mean +- std over test slices.

CPU-sized defaults (a few minutes of one core each phase); re-run bigger on a GPU with
e.g. ``--device cuda --filters 96 --unet-filters 32 --base-steps 20000 --noise-steps
10000 --adapt-steps 2000 --batch-size 16 --size 512``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from provenance import provenance_line

from denoise2seg.ct.lowdose.pseudo_pairs import difference_histogram
from denoise2seg.ct.lowdose import (
    AdaptationConfig,
    DenoiserConfig,
    DoseSimulation,
    LowDoseDenoiser,
    NoiseModel,
    NoiseModelConfig,
    PseudoCTAdaptation,
    psnr_ssim,
    simulated_subjects,
    train_denoiser,
    train_noise_model,
)

TRAIN_SCANS = ["head_a", "neck", "head_a"]
TEST_SCANS = ["head_b", "head_b"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps")
    parser.add_argument("--size", type=int, default=256, help="slice size of the head scans (px)")
    parser.add_argument("--slices", type=int, default=4, help="slices per subject")
    parser.add_argument("--filters", type=int, default=16, help="RED-CNN filters (paper: 96)")
    parser.add_argument("--unet-filters", type=int, default=16, help="noise-model U-Net filters")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--base-steps", type=int, default=600, help="training steps of each base denoiser")
    parser.add_argument("--noise-steps", type=int, default=400, help="training steps of each noise model")
    parser.add_argument("--adapt-steps", type=int, default=300, help="adaptation steps per test subject")
    parser.add_argument("--update-period", type=int, default=50, help="C of Algorithm 1")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate of the denoisers and noise models (paper: 1e-4)")
    parser.add_argument("--adapt-lr", type=float, default=1e-4, help="learning rate of the adaptation (paper: 1e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=Path("benchmarks/results/pseudo_ct_models"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pseudo_ct.md"))
    return parser.parse_args(argv)


def run(events) -> None:
    for _ in events:
        pass


def epochs_of(steps: int) -> tuple[int, int]:
    """Split ``steps`` into epochs of at most 100 steps (validation and plateau once per epoch)."""
    epochs = max(1, steps // 100)
    return epochs, max(1, steps // epochs)


def score(denoised: list[np.ndarray], subjects) -> tuple[list[float], list[float]]:
    psnr, ssim = [], []
    for volume, subject in zip(denoised, subjects):
        for d, r in zip(volume, subject.normal_dose):
            p, s = psnr_ssim(d, r)
            psnr.append(p)
            ssim.append(s)
    return psnr, ssim


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    dose = DoseSimulation()
    subjects = simulated_subjects(TRAIN_SCANS + TEST_SCANS, size=args.size, n_slices=args.slices, dose=dose, seed=args.seed)
    train, test = subjects[: len(TRAIN_SCANS)], subjects[len(TRAIN_SCANS) :]
    print(f"simulated {len(subjects)} subjects in {time.time() - start:.0f} s", flush=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)

    epochs, per_epoch = epochs_of(args.base_steps)
    denoisers = {}
    for scheme in ("n2c", "n2n", "n2v"):
        folder = args.work_dir / f"denoiser_{scheme}"
        config = DenoiserConfig(
            scheme=scheme,
            n_filters=args.filters,
            batch_size=args.batch_size,
            epochs=epochs,
            steps_per_epoch=per_epoch,
            learning_rate=args.lr,
            seed=args.seed,
        )
        run(train_denoiser(train, config, out_dir=folder, device=args.device))
        denoisers[scheme] = LowDoseDenoiser.load(folder, args.device)
        print(f"trained {scheme} ({time.time() - start:.0f} s)", flush=True)

    epochs, per_epoch = epochs_of(args.noise_steps)
    noise_config = NoiseModelConfig(
        n_filters=args.unet_filters, batch_size=args.batch_size, epochs=epochs, steps_per_epoch=per_epoch, learning_rate=args.lr, seed=args.seed
    )
    noise_models = []
    for subject in train:
        folder = args.work_dir / "noise_models" / subject.name
        run(train_noise_model([subject], noise_config, out_dir=folder, device=args.device))
        noise_models.append(NoiseModel.load(folder, args.device))
    single_folder = args.work_dir / "noise_model_all"
    run(train_noise_model(train, noise_config, out_dir=single_folder, device=args.device))
    single_model = NoiseModel.load(single_folder, args.device)
    print(f"trained {len(noise_models)} + 1 noise models ({time.time() - start:.0f} s)", flush=True)

    rows: list[tuple[str, list[float], list[float]]] = []
    input_psnr, input_ssim = score([s.low_dose for s in test], test)
    rows.append(("LDCT (input)", input_psnr, input_ssim))

    # The Hist baselines sample the training pairs' LDCT - NDCT, as in the paper.
    histogram = difference_histogram([(s.low_dose, s.normal_dose) for s in train])

    def adapt(scheme: str, noise: str, update_period: int | None, models: list[NoiseModel]) -> list[np.ndarray]:
        out = []
        for i, subject in enumerate(test):
            config = AdaptationConfig(
                noise=noise,
                update_period=update_period,
                steps=args.adapt_steps,
                batch_size=args.batch_size,
                learning_rate=args.adapt_lr,
                seed=args.seed + i,
            )
            adaptation = PseudoCTAdaptation(denoisers[scheme], subject.low_dose, models, config, device=args.device, histogram=histogram)
            run(adaptation.run())
            out.append(adaptation.denoised())
        return out

    for scheme, label in (("n2v", "N2V"), ("n2n", "N2N"), ("n2c", "N2C")):
        rows.append((label, *score([denoisers[scheme].predict(s.low_dose) for s in test], test)))
        rows.append((f"{label}+Ours w/o theta update", *score(adapt(scheme, "ensemble", None, noise_models), test)))
        rows.append((f"**{label}+Ours**", *score(adapt(scheme, "ensemble", args.update_period, noise_models), test)))
        print(f"adapted {scheme} ({time.time() - start:.0f} s)", flush=True)
    rows.append(("N2C+Hist", *score(adapt("n2c", "hist", args.update_period, []), test)))
    rows.append(("N2C+Gaussian", *score(adapt("n2c", "gaussian", args.update_period, []), test)))
    rows.append(("N2C+Model+Hist", *score(adapt("n2c", "model+hist", args.update_period, [single_model]), test)))

    lines = [
        "| Method | PSNR (dB, std) | SSIM (std) |",
        "| --- | --- | --- |",
    ]
    for label, psnr, ssim in rows:
        lines.append(f"| {label} | {np.mean(psnr):.2f} ± {np.std(psnr):.2f} | {np.mean(ssim):.4f} ± {np.std(ssim):.4f} |")
    settings = {k: v for k, v in vars(args).items() if k not in ("work_dir", "out")}
    footer = (
        f"\nTrain subjects: {', '.join(s.name for s in train)}; test subjects: {', '.join(s.name for s in test)} "
        f"({args.slices} slices each, {sum(s.n_slices for s in test)} test slices). Settings: {json.dumps(settings)}. "
        f"Dose: {json.dumps(dose.to_dict())}. Wall time {time.time() - start:.0f} s.\n\n{provenance_line()}"
    )
    table = "\n".join(lines) + "\n" + footer + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
