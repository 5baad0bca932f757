"""Volume Dice of fully-supervised vs self-reconstruction vs self-denoising pretraining (Gao et al. 2021, Table I)
on synthetic-lesion CT cases, with few labelled cases.

Data: synthetic-lesion cases made from pydicom's real chest CT slice (see
``denoise2seg.ct.synthetic_lesions``): ``--unlabelled`` cases for the pretext, a pool of
labelled cases from which each repetition draws ``--label-counts`` cases, and
``--test`` held-out cases, all with ``--slices`` slices. Each repetition uses its own
seed for the pretext, the labelled draw and the finetuning. Evaluation uses the weights at
the end of the cosine schedule (the paper's validation set has no counterpart here).

Writes a Markdown table (and a JSON file with every per-volume Dice) to ``--out``.
Example (the run reported in docs/ct_denoise_pretrain.md)::

    OMP_NUM_THREADS=1 python benchmarks/ct_pretrain.py --pretext-loss mse --device cpu

Re-run bigger on a GPU with e.g. ``--device cuda --image-size 256 --depth 4 --n-filters 64
--unlabelled 200 --pretext-loss perceptual`` (needs the ImageNet VGG-19 weights, see
``denoise2seg.ct.vgg``) or ``--vgg random`` (a randomly initialised VGG-19, labelled so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from denoise2seg.ct import CTLesionModel, CTPretrainConfig, VGGWeightsUnavailable, finetune_ct, pretrain_ct
from denoise2seg.metrics import dice_summary
from denoise2seg.ct.samples import chest_ct_slice
from denoise2seg.ct.synthetic_lesions import synthetic_lesion_cases
from denoise2seg.ct.vgg import load_vgg19_features, vgg19_layers

METHODS = {"Fully-Supervised": "none", "Self-Reconstruction": "reconstruct", "Self-Denoising": "denoise"}
# Gao et al. 2021, Table I (U-Net, volume Dice %, mean +- sd over 50 test volumes).
PAPER = {
    "Fully-Supervised": {5: "56.98 ± 20.76", 10: "73.14 ± 15.34", 40: "80.52 ± 10.93"},
    "Self-Reconstruction": {5: "60.61 ± 20.13", 10: "72.68 ± 15.39", 40: "81.99 ± 10.12"},
    "Self-Denoising": {5: "64.72 ± 19.94", 10: "76.71 ± 12.95", 40: "82.23 ± 10.03"},
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ct_pretrain"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--label-counts", type=int, nargs="+", default=[2, 6], help="labelled cases per run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--unlabelled", type=int, default=24, help="unlabelled cases for the pretext")
    parser.add_argument("--test", type=int, default=10, help="held-out test cases")
    parser.add_argument("--slices", type=int, default=4, help="slices per case")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="unet")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--n-filters", type=int, default=8)
    parser.add_argument("--pretext-epochs", type=int, default=CTPretrainConfig.pretext_epochs)
    parser.add_argument("--epochs", type=int, default=CTPretrainConfig.finetune_epochs, help="finetuning epochs")
    parser.add_argument("--batch-size", type=int, default=CTPretrainConfig.batch_size)
    parser.add_argument("--pretext-loss", choices=("perceptual", "mse"), default="perceptual")
    parser.add_argument(
        "--vgg", choices=("imagenet", "random"), default="imagenet",
        help="perceptual loss features: torchvision's ImageNet VGG-19, or a seeded random VGG-19 (clearly not the paper's)",
    )
    return parser.parse_args(argv)


def pretext_description(args: argparse.Namespace) -> str:
    if args.pretext_loss == "mse":
        return "MSE between restored and clean slice (the paper's perceptual loss was not used)"
    if args.vgg == "random":
        return "perceptual loss with a randomly initialised VGG-19 (NOT ImageNet weights) + TV"
    return "perceptual loss with the ImageNet VGG-19 (torchvision IMAGENET1K_V1), layer 16, + TV (the paper's)"


def vgg_weights_file(args: argparse.Namespace, folder: Path) -> str | None:
    """The VGG file the perceptual loss uses; stops with the library's message when ImageNet weights are missing."""
    if args.pretext_loss == "mse":
        return None
    if args.vgg == "random":
        torch.manual_seed(0)
        path = folder / "vgg19-random-seed0.pth"
        torch.save({f"features.{k}": v for k, v in vgg19_layers(16).state_dict().items()}, path)
        return str(path)
    try:
        load_vgg19_features(None)
    except VGGWeightsUnavailable as err:
        sys.exit(f"{err}\nOr run this benchmark with --pretext-loss mse, or --vgg random (labelled as such).")
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chest = chest_ct_slice()
    unlabelled = [v for v, _ in synthetic_lesion_cases(chest, args.unlabelled, args.slices, seed=100)]
    pool = synthetic_lesion_cases(chest, max(args.label_counts) * 2, args.slices, seed=200)
    test = synthetic_lesion_cases(chest, args.test, args.slices, seed=300)
    work = Path(tempfile.mkdtemp(prefix="ct-pretrain-bench-"))
    vgg_weights = vgg_weights_file(args, work)
    base = dict(
        backbone=args.backbone, depth=args.depth, n_filters=args.n_filters, image_size=args.image_size,
        hole_size=max(1, args.image_size // 4),  # 64 of 256 in the paper
        pretext_loss=args.pretext_loss, vgg_weights=vgg_weights, pretext_epochs=args.pretext_epochs,
        finetune_epochs=args.epochs, batch_size=args.batch_size, validation_fraction=0.0,
    )
    scores: dict[str, dict[int, list[float]]] = {m: {n: [] for n in args.label_counts} for m in METHODS}
    run_means: dict[str, dict[int, list[float]]] = {m: {n: [] for n in args.label_counts} for m in METHODS}
    started = time.time()
    for rep in range(args.repetitions):
        pretrained = {}
        for method, pretext in METHODS.items():
            if pretext == "none":
                continue
            config = CTPretrainConfig(pretext=pretext, seed=1000 + rep, **base)
            folder = work / f"rep{rep}-{pretext}"
            for _ in pretrain_ct(unlabelled, config, out_dir=folder, device=args.device):
                pass
            pretrained[method] = folder
        for n_labelled in args.label_counts:
            chosen = np.random.default_rng(2000 + rep).choice(len(pool), n_labelled, replace=False)
            volumes = [pool[i][0] for i in chosen]
            labels = [pool[i][1] for i in chosen]
            for method in METHODS:
                config = CTPretrainConfig(seed=3000 + rep, **base)
                folder = work / f"rep{rep}-n{n_labelled}-{METHODS[method]}"
                events = finetune_ct(volumes, labels, config, pretrained=pretrained.get(method), out_dir=folder, device=args.device)
                for _ in events:
                    pass
                model = CTLesionModel.load(folder, device=args.device, which="last")
                mean, _, per_volume = dice_summary([m for _, m in test], [model.predict(v) for v, _ in test])
                scores[method][n_labelled] += per_volume
                run_means[method][n_labelled].append(mean)
                print(f"rep {rep} n={n_labelled} {method}: Dice {100 * mean:.2f} ({time.time() - started:.0f} s)", flush=True)
    write_table(args, scores, run_means, time.time() - started)
    return 0


def write_table(args, scores, run_means, seconds: float) -> None:
    lines = [
        f"Volume Dice (%) on {args.test} synthetic-lesion test cases, mean ± sd over the test volumes of "
        f"{args.repetitions} repetitions (sd of the {args.repetitions} run means in brackets).",
        "",
        f"Pretext loss: {pretext_description(args)}. Backbone {args.backbone} (depth {args.depth}, {args.n_filters} filters), "
        f"slices {args.image_size}x{args.image_size}, {args.unlabelled} unlabelled cases x {args.slices} slices, "
        f"{args.pretext_epochs} pretext / {args.epochs} finetuning epochs, batch {args.batch_size}, device {args.device}; "
        f"{seconds / 60:.1f} min.",
        "",
        "| Method | " + " | ".join(f"{n} labelled cases (ours)" for n in args.label_counts) + " | paper, 5 cases | paper, 10 cases | paper, 40 cases |",
        "|---" * (1 + len(args.label_counts) + 3) + "|",
    ]
    for method in METHODS:
        ours = [
            f"{100 * np.mean(scores[method][n]):.2f} ± {100 * np.std(scores[method][n]):.2f} ({100 * np.std(run_means[method][n]):.2f})"
            for n in args.label_counts
        ]
        paper = [PAPER[method][n] for n in (5, 10, 40)]
        lines.append(f"| {method} | " + " | ".join(ours + paper) + " |")
    table = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(table)
    (args.out / "scores.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "dice": scores}, indent=1))
    print(table)


if __name__ == "__main__":
    sys.exit(main())
