r"""VoidSeg protocol (Prakash et al. 2020, Sec. 3): AP/SEG of every scheme x method against the number of labels.

On a data set of 128x128 patches with Gaussian noise of ``--sigma``: a fixed test set, a
fixed small validation set (threshold choice), and a training pool from which nested
label subsets P1 ⊂ P2 ⊂ ... are drawn anew for every repetition. N2V is trained once on
every non-test patch, labelled or not (it sees no labels, so it is the same for every
repetition); then every scheme x method is trained on each subset of each repetition and
scored on the test patches.

Writes ``results.csv`` (one row per run), ``results.md`` (mean ± standard error tables)
and ``ap_vs_labels.png`` into ``--out``. The defaults are the CPU-sized run of
docs/results.md::

    OMP_NUM_THREADS=1 python benchmarks/voidseg.py --data synthetic --out results/voidseg-synthetic
    OMP_NUM_THREADS=1 python benchmarks/voidseg.py --data dsb --out results/voidseg-dsb

The paper's settings on a GPU (its label subsets need a larger data set than one DSB image)::

    python benchmarks/voidseg.py --data synthetic --n-images 256 --subsets 8,16,32,64,128,512 --reps 8 \
        --device cuda --epochs 200 --steps 400 --batch-size 128 --patch-size 128 --n-filters 32 --lr 4e-4 \
        --n2v-epochs 200 --n2v-steps 400 --n2v-batch-size 128 --n2v-lr 4e-4 --out results/voidseg-synthetic-gpu
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from provenance import provenance_line

from denoise2seg.data.synthetic_nuclei import nuclei_patch_dataset
from denoise2seg.metrics import average_precision_dataset, average_precision_per_image, seg_score_dataset
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.n2v.evaluate import denoising_scores
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation

RUNS = [
    ("unet", "baseline", "U-Net"),
    ("unet", "sequential", "U-Net Sequential"),
    ("unet", "finetune", "U-Net Finetune"),
    ("unet", "finetune-sequential", "U-Net Finetune Seq."),
    ("stardist", "baseline", "StarDist"),
    ("stardist", "sequential", "StarDist Sequential"),
]
FIELDS = ["data", "sigma", "rep", "n_labelled", "method", "scheme", "ap", "ap_per_image", "seg", "prob_thresh", "nms_thresh", "val_ap", "train_s"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["synthetic", "dsb"], default="synthetic")
    parser.add_argument("--sigma", type=float, default=40.0, help="Gaussian noise std (0-255 range)")
    parser.add_argument("--subsets", default="2,4,8", help="comma-separated sizes of the nested label subsets")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (new subsets and seeds each)")
    parser.add_argument("--n-images", type=int, default=16, help="synthetic 256x256 images (4 patches each)")
    parser.add_argument("--test-patches", type=int, default=None, help="held-out test patches (default: 1/4 of all)")
    parser.add_argument("--val-patches", type=int, default=None, help="validation patches (default: 4 synthetic, 2 DSB)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--n-filters", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="segmentation learning rate")
    parser.add_argument("--n2v-epochs", type=int, default=15)
    parser.add_argument("--n2v-steps", type=int, default=40)
    parser.add_argument("--n2v-batch-size", type=int, default=32)
    parser.add_argument("--n2v-patch-size", type=int, default=64)
    parser.add_argument("--n2v-lr", type=float, default=2e-3)
    parser.add_argument("--runs", default="all", help="comma-separated method:scheme pairs, or 'all'")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0, help="base seed: noise, N2V, label subsets and segmentation runs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary-only", action="store_true", help="rebuild results.md and the plot from --out/results.csv")
    return parser.parse_args(argv)


def split(n_patches: int, data: str, test: int | None, val: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed test, validation and pool indices; test patches are the last ones (whole source images)."""
    n_test = test if test is not None else n_patches // 4
    n_val = val if val is not None else (2 if data == "dsb" else 4)
    if n_test + n_val >= n_patches:
        raise ValueError(f"{n_patches} patches cannot give {n_test} test and {n_val} validation patches and a pool")
    index = np.arange(n_patches)
    return index[: n_patches - n_test - n_val], index[n_patches - n_test - n_val : n_patches - n_test], index[n_patches - n_test :]


def run(args: argparse.Namespace) -> Path:
    args.out.mkdir(parents=True, exist_ok=True)
    noisy, clean, labels = nuclei_patch_dataset(args.data, args.sigma, n_images=args.n_images, seed=args.seed)
    pool, val, test = split(len(noisy), args.data, args.test_patches, args.val_patches)
    subsets = sorted(int(s) for s in args.subsets.split(","))
    if subsets[-1] > len(pool):
        raise ValueError(f"largest subset {subsets[-1]} exceeds the {len(pool)} training patches")
    runs = RUNS if args.runs == "all" else [r for r in RUNS if f"{r[0]}:{r[1]}" in args.runs.split(",")]
    csv_path = args.out / "results.csv"
    with csv_path.open("w", newline="") as handle:
        csv.DictWriter(handle, FIELDS).writeheader()
    print(f"{args.data}: {len(pool)} pool, {len(val)} validation, {len(test)} test patches of 128x128; sigma {args.sigma}")
    n2v_dir = args.out / "n2v"
    n2v_config = N2VConfig(
        patch_size=args.n2v_patch_size,
        batch_size=args.n2v_batch_size,
        epochs=args.n2v_epochs,
        steps_per_epoch=args.n2v_steps,
        learning_rate=args.n2v_lr,
        depth=args.depth,
        n_filters=args.n_filters,
        seed=args.seed,
    )
    # N2V sees every non-test patch, labelled or not (VoidSeg: "the full body of available image data").
    start = time.perf_counter()
    for _ in train_n2v(list(noisy[np.concatenate([pool, val])]), n2v_config, out_dir=n2v_dir, device=args.device):
        pass
    n2v = N2VModel.load(n2v_dir, device=args.device)
    n2v_seconds = time.perf_counter() - start
    n2v_scores = {
        "noisy": [denoising_scores(clean[i], noisy[i]) for i in test],
        "n2v": [denoising_scores(clean[i], n2v.predict(noisy[i])) for i in test],
    }
    n2v_summary = {
        name: {metric: float(np.mean([s[metric] for s in scores])) for metric in ("psnr", "ssim")}
        for name, scores in n2v_scores.items()
    }
    (args.out / "n2v_scores.json").write_text(json.dumps({**n2v_summary, "train_s": round(n2v_seconds, 1)}, indent=1))
    print(
        f"N2V trained in {n2v_seconds:.0f} s; test patches PSNR {n2v_summary['noisy']['psnr']:.2f} -> "
        f"{n2v_summary['n2v']['psnr']:.2f} dB, SSIM {n2v_summary['noisy']['ssim']:.3f} -> {n2v_summary['n2v']['ssim']:.3f}",
        flush=True,
    )
    for rep in range(args.reps):
        order = np.random.default_rng(1000 * (args.seed + 1) + rep).permutation(pool)
        for n_labelled in subsets:
            chosen = order[:n_labelled]
            for method, scheme, _ in runs:
                config = SegmentationConfig(
                    method=method,
                    scheme=scheme,
                    patch_size=args.patch_size,
                    batch_size=args.batch_size,
                    epochs=args.epochs,
                    steps_per_epoch=args.steps,
                    learning_rate=args.lr,
                    depth=args.depth,
                    n_filters=args.n_filters,
                    stardist_features=2 * args.n_filters,
                    seed=args.seed + rep,
                )
                folder = args.out / f"rep{rep}" / f"P{n_labelled}-{method}-{scheme}"
                start = time.perf_counter()
                events = train_segmentation(
                    list(noisy[chosen]),
                    list(labels[chosen]),
                    config,
                    n2v_model=n2v if config.uses_n2v else None,
                    out_dir=folder,
                    device=args.device,
                    validation=(list(noisy[val]), list(labels[val])),
                )
                for _ in events:
                    pass
                train_s = time.perf_counter() - start
                model = SegmentationModel.load(folder, device=args.device)
                predicted = [model.predict(image) for image in noisy[test]]
                row = {
                    "data": args.data,
                    "sigma": args.sigma,
                    "rep": rep,
                    "n_labelled": n_labelled,
                    "method": method,
                    "scheme": scheme,
                    "ap": average_precision_dataset(list(labels[test]), predicted),
                    # VoidSeg's Table 1 averages AP over images.
                    "ap_per_image": average_precision_per_image(list(labels[test]), predicted),
                    "seg": seg_score_dataset(list(labels[test]), predicted),
                    "prob_thresh": model.thresholds.get("prob_thresh"),
                    "nms_thresh": model.thresholds.get("nms_thresh", ""),
                    "val_ap": model.thresholds.get("val_ap"),
                    "train_s": round(train_s, 1),
                }
                with csv_path.open("a", newline="") as handle:
                    csv.DictWriter(handle, FIELDS).writerow(row)
                print(f"rep {rep} P={n_labelled:>4} {method:8s} {scheme:20s} AP {row['ap']:.3f} SEG {row['seg']:.3f} ({train_s:.0f} s)", flush=True)
    write_summary(csv_path, args.out, args)
    return csv_path


def _mean_se(values: list[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return float(values.mean()), float(se)


def write_summary(csv_path: Path, out: Path, args: argparse.Namespace | None = None) -> None:
    """Markdown tables (mean ± standard error over repetitions) and the AP plot from ``results.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    sizes = sorted({int(r["n_labelled"]) for r in rows})
    names = [(m, s, name) for m, s, name in RUNS if any(r["method"] == m and r["scheme"] == s for r in rows)]
    lines = []
    if args is not None:
        lines.append(
            f"data {args.data}, sigma {args.sigma:g}, {args.reps} repetitions, seed {args.seed}; segmentation "
            f"{args.epochs}x{args.steps} steps of batch {args.batch_size}, {args.patch_size}px patches, lr {args.lr:g}; "
            f"depth {args.depth}, {args.n_filters} filters; N2V {args.n2v_epochs}x{args.n2v_steps} steps of batch "
            f"{args.n2v_batch_size}, {args.n2v_patch_size}px patches, lr {args.n2v_lr:g}\n"
        )
        lines.append(provenance_line() + "\n")
    scores_path = out / "n2v_scores.json"
    if scores_path.exists():
        scores = json.loads(scores_path.read_text())
        lines.append(
            f"N2V on the test patches: PSNR {scores['noisy']['psnr']:.2f} -> {scores['n2v']['psnr']:.2f} dB, "
            f"SSIM {scores['noisy']['ssim']:.3f} -> {scores['n2v']['ssim']:.3f} (trained in {scores['train_s']:.0f} s)\n"
        )
    fig, ax = plt.subplots(figsize=(6, 4))
    titles = {"ap": "AP pooled over test images", "ap_per_image": "AP per test image, averaged (VoidSeg's Table 1)", "seg": "SEG"}
    for metric in [m for m in ("ap_per_image", "ap", "seg") if all(r.get(m) not in (None, "") for r in rows)]:
        lines.append(f"### {titles[metric]} (mean ± standard error)\n")
        lines.append("| Scheme | " + " | ".join(f"{n} labelled" for n in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for method, scheme, name in names:
            cells, means, errors = [], [], []
            for n in sizes:
                values = [float(r[metric]) for r in rows if r["method"] == method and r["scheme"] == scheme and int(r["n_labelled"]) == n]
                mean, se = _mean_se(values) if values else (float("nan"), float("nan"))
                cells.append(f"{mean:.3f} ± {se:.3f}" if values else "–")
                means.append(mean)
                errors.append(se)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            if metric == "ap_per_image" or (metric == "ap" and "ap_per_image" not in rows[0]):
                ax.errorbar(sizes, means, yerr=errors, marker="o", capsize=3, label=name, linestyle="--" if method == "stardist" else "-")
        lines.append("")
    (out / "results.md").write_text("\n".join(lines))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("labelled 128x128 patches")
    ax.set_ylabel("AP (IoU 0.5) on test patches")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "ap_vs_labels.png", dpi=120)
    print((out / "results.md").read_text())


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.summary_only:
        write_summary(arguments.out / "results.csv", arguments.out)
    else:
        run(arguments)
