r"""Noise2Void time to quality: PSNR/SSIM of the whole DSB sample after 25, 50, 100, 200 ... steps.

Trains N2V on the noisy DSB2018 sample (sigma 40 by default) and, at each checkpoint,
denoises the whole image with the network of that step (the training loop's preview)
and scores it against the clean image (scikit-image, data_range 255). Several seeds;
the table gives the median over seeds and the wall time of training to that step
(previews excluded). ``--n2v2`` trains N2V2 and ``--lr-schedule`` sets the learning-rate
schedule; both need code that has them. Writes a Markdown table to ``--out``.

    OMP_NUM_THREADS=2 python benchmarks/n2v_time_to_quality.py --normalization zscore percentile \
        --seeds 0 1 2 --out results/n2v_time_to_quality.md

An older version of the code runs the same script from a checkout of it
(``git worktree add ../old COMMIT``, then ``PYTHONPATH=../old/src python benchmarks/...``);
the table names the commit of the code that ran.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import time
from pathlib import Path

import torch

import denoise2seg
from denoise2seg.cli.demo import DATA_RANGE
from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.n2v.evaluate import denoising_scores


def run(noisy, clean, config: N2VConfig, checkpoints: list[int]) -> dict[int, tuple[float, float, float]]:
    """``{step: (psnr, ssim, training seconds)}`` of one training run."""
    scores = {}
    training_seconds, started = 0.0, time.perf_counter()
    every = checkpoints[0] if all(c % checkpoints[0] == 0 for c in checkpoints) else 1
    for event in train_n2v(noisy, config, device="cpu", preview_image=noisy, preview_every=every):
        if event.kind == "preview":
            training_seconds += time.perf_counter() - started
            if event.step in checkpoints:
                quality = denoising_scores(clean, event.preview, DATA_RANGE)
                scores[event.step] = (quality["psnr"], quality["ssim"], training_seconds)
            started = time.perf_counter()
    return scores


def variant_options(n2v2: bool, lr_schedule: str | None, parameters) -> dict:
    """N2VConfig keywords for ``--n2v2`` / ``--lr-schedule``; a clear error when the code that runs lacks them.

    ``parameters`` are those of the imported ``N2VConfig`` (it may come from an older checkout).
    """
    options: dict = {}
    if n2v2:
        if "n2v2" not in parameters:
            raise SystemExit("--n2v2: this version of denoise2seg has no N2VConfig.n2v2; run without --n2v2")
        options["n2v2"] = True
    if lr_schedule is not None:
        if "lr_schedule" not in parameters:
            raise SystemExit("--lr-schedule: this version of denoise2seg has no N2VConfig.lr_schedule; run without it")
        options["lr_schedule"] = lr_schedule
    return options


def lr_schedule_name(lr_schedule: str | None, parameters) -> str:
    """The schedule that runs: the one asked for, else the imported N2VConfig's default (``plateau`` before it had one)."""
    if lr_schedule is not None:
        return lr_schedule
    return parameters["lr_schedule"].default if "lr_schedule" in parameters else "plateau"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=float, default=40)
    parser.add_argument("--normalization", nargs="+", default=["zscore"], help="N2V normalisations to compare")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-filters", type=int, default=32)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--masked-fraction", type=float, default=N2VConfig.masked_fraction, help="share of blind-spot pixels")
    parser.add_argument("--radius", type=int, default=N2VConfig.neighborhood_radius, help="blind-spot neighbourhood radius")
    parser.add_argument("--n2v2", action="store_true", help="train N2V2 (needs code that has N2VConfig.n2v2)")
    parser.add_argument(
        "--lr-schedule", default=None, choices=("plateau", "cosine", "constant"),
        help="learning-rate schedule (needs code that has N2VConfig.lr_schedule; default: that code's default)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label", default="", help="a name for this code version in the table")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    noisy, clean, _ = noisy_nuclei_2d(args.sigma)
    steps = max(args.checkpoints)
    parameters = inspect.signature(N2VConfig).parameters
    has_choice = "normalization" in parameters
    variant = variant_options(args.n2v2, args.lr_schedule, parameters)
    # The commit of the denoise2seg code that runs (it may come from another checkout on PYTHONPATH).
    package = Path(denoise2seg.__file__).parent
    commit = subprocess.run(["git", "-C", str(package), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = ["| code | normalisation | step | PSNR (dB) | SSIM | training (s) | seeds |", "|---|---|---|---|---|---|---|"]
    for normalization in args.normalization:
        options = {**variant, **({"normalization": normalization} if has_choice else {})}
        per_seed = []
        for seed in args.seeds:
            config = N2VConfig(
                batch_size=args.batch_size, epochs=1, steps_per_epoch=steps, learning_rate=args.lr,
                depth=args.depth, n_filters=args.n_filters, seed=seed, masked_fraction=args.masked_fraction,
                neighborhood_radius=args.radius, **options,
            )
            per_seed.append(run(noisy, clean, config, args.checkpoints))
            print(f"{normalization} seed {seed}: " + ", ".join(f"{s}: {v[0]:.2f} dB" for s, v in sorted(per_seed[-1].items())), flush=True)
        for step in args.checkpoints:
            psnr, ssim, seconds = (statistics.median(r[step][i] for r in per_seed) for i in range(3))
            name = normalization if has_choice else "percentile (fixed)"
            rows.append(f"| {args.label or commit} | {name} | {step} | {psnr:.2f} | {ssim:.3f} | {seconds:.0f} | {len(per_seed)} |")
    noisy_scores = denoising_scores(clean, noisy, DATA_RANGE)
    settings = (
        f"DSB sample sigma {args.sigma:g} (noisy input: {noisy_scores['psnr']:.2f} dB, SSIM {noisy_scores['ssim']:.3f}); "
        f"U-Net depth {args.depth}, {args.n_filters} filters; batch {args.batch_size} of 64x64; Adam lr {args.lr:g}; "
        f"blind spots {100 * args.masked_fraction:g} % of the pixels, neighbourhood radius {args.radius}; "
        f"{'N2V2' if args.n2v2 else 'N2V'}; lr schedule {lr_schedule_name(args.lr_schedule, parameters)}; "
        f"{args.threads} threads; medians over seeds {args.seeds}; commit {commit}"
    )
    table = "\n".join(rows) + f"\n\n{settings}.\n"
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
