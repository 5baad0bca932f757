"""Noise2Void quality: PSNR/SSIM against the clean DSB2018 image before and after denoising.

For each noise level (VoidSeg's sigma 10/20/40 on the 0-255 scale) N2V is trained on the
noisy 512x512 sample and denoises it; scores use scikit-image with data_range 255.
Defaults are the CPU-sized settings of ``denoise2seg demo``; raise them (and pass
``--device cuda``) to approach the paper's schedule. Prints a markdown table (and
writes it to ``--out``).

    python benchmarks/n2v_quality.py --device cpu
    python benchmarks/n2v_quality.py --device cpu --sigmas 40 --seeds 0 1 2   # run-to-run spread of the demo
    python benchmarks/n2v_quality.py --device cuda --n-filters 32 --batch-size 128 --epochs 200 --steps 400 --lr 4e-4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from provenance import provenance_line

from denoise2seg.cli.demo import DATA_RANGE, DEMO_DEFAULTS, denoise_sample
from denoise2seg.cli.n2v import add_training_options, config_from_args
from denoise2seg.data.samples import NOISE_LEVELS
from denoise2seg.n2v.evaluate import denoising_scores
from denoise2seg.training import choose_device


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigmas", type=float, nargs="+", default=list(NOISE_LEVELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="train once per seed (default: --seed)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    add_training_options(parser, DEMO_DEFAULTS)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    seeds = args.seeds or [config.seed]
    rows = [
        "| sigma | seed | PSNR noisy (dB) | PSNR N2V (dB) | SSIM noisy | SSIM N2V | train + denoise (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for sigma in args.sigmas:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as model_dir:
                start = time.perf_counter()
                noisy, clean, denoised = denoise_sample(sigma, replace(config, seed=seed), Path(model_dir), args.device)
                seconds = time.perf_counter() - start
            before = denoising_scores(clean, noisy, DATA_RANGE)
            after = denoising_scores(clean, denoised, DATA_RANGE)
            rows.append(
                f"| {sigma:g} | {seed} | {before['psnr']:.2f} | {after['psnr']:.2f} | {before['ssim']:.3f} | "
                f"{after['ssim']:.3f} | {seconds:.0f} |"
            )
    settings = (
        f"U-Net depth {config.depth}, {config.n_filters} filters; batch {config.batch_size} of "
        f"{config.patch_size}x{config.patch_size}; {config.epochs} epochs x {config.steps_per_epoch} steps; "
        f"lr {config.learning_rate:g} ({config.lr_schedule}); {config.normalization} normalisation; "
        f"weight average {'decay ' + format(config.ema_decay, 'g') if config.ema_decay else 'off'}; "
        f"{'N2V2; ' if config.n2v2 else ''}device {args.device} ({config.schedule().precision_on(choose_device(args.device))})"
    )
    table = "\n".join(rows) + f"\n\nSettings: {settings}.\n\n{provenance_line()}"
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
