r"""3D segmentation from a few painted nuclei: stardist's 3D nuclei sample, 3D U-Net and StarDist 3D, baseline and sequential.

The volume is stardist's ``test_image_nuclei_3d`` (31 x 61 x 57 voxels, 51 nuclei, Z steps
about twice the pixel size: anisotropy (2, 1, 1)), with Gaussian noise of ``--noise``
grey values added (0: the sample as it is). The nuclei lying wholly inside the first
``--box`` x ``--box`` pixels of every slice stand for those a user painted (every voxel
of each). A 3D N2V model is trained on the noisy volume; each method x scheme is trained
on the painted nuclei and segments the whole volume, scored against the full ground
truth in 3D (stardist.matching on volumes): on the whole volume and on the voxels with
Y >= ``--box`` (no painted nucleus reaches there)::

    OMP_NUM_THREADS=2 python benchmarks/segmentation_3d.py --seeds 0 1 2 --out results/segmentation_3d.md

Each seed draws its own noise and trains every network afresh; the table gives the mean
and the standard deviation over seeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from stardist import data as stardist_data

from provenance import provenance_line, write_report

from denoise2seg.metrics import score_image
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation

ANISOTROPY = (2.0, 1.0, 1.0)
RUNS = (("unet", "baseline"), ("unet", "sequential"), ("stardist", "baseline"), ("stardist", "sequential"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise", type=float, default=20.0, help="std of the Gaussian noise added (grey values)")
    parser.add_argument("--box", type=int, default=30, help="painted nuclei lie inside the first BOX x BOX pixels")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="steps per epoch of each segmentation training")
    parser.add_argument("--n2v-epochs", type=int, default=10)
    parser.add_argument("--n-rays", type=int, default=48)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one noisy volume and training per seed")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    return parser.parse_args(argv)


def painted_nuclei(mask: np.ndarray, box: int) -> np.ndarray:
    """The nuclei of ``mask`` with every voxel in ``[:, :box, :box]``, whole; 0 elsewhere."""
    outside = np.unique(np.concatenate([mask[:, box:, :].ravel(), mask[:, :, box:].ravel()]))
    inside = np.setdiff1d(np.unique(mask[:, :box, :box]), np.concatenate([outside, [0]]))
    return np.where(np.isin(mask, inside), mask, 0).astype(np.int32)


def run_seed(args, image: np.ndarray, mask: np.ndarray, painted: np.ndarray, seed: int, workdir: Path) -> dict:
    """Train N2V and every method x scheme on one noisy copy of ``image``; their scores and times by (method, scheme)."""
    noisy = image + np.random.default_rng(seed).normal(0, args.noise, image.shape).astype(np.float32)
    n2v_config = N2VConfig(
        ndim=3, patch_size=16, batch_size=8, epochs=args.n2v_epochs, steps_per_epoch=20, n_filters=16,
        learning_rate=2e-3, seed=seed,
    )
    started = time.perf_counter()
    for _ in train_n2v(noisy, n2v_config, out_dir=workdir / "n2v", device=args.device):
        pass
    print(f"seed {seed}: N2V 3D {time.perf_counter() - started:.0f} s", flush=True)
    results = {}
    for method, scheme in RUNS:
        config = SegmentationConfig(
            method=method, scheme=scheme, ndim=3, anisotropy=ANISOTROPY, patch_size=32, patch_depth=16, batch_size=4,
            epochs=args.epochs, steps_per_epoch=args.steps, n_filters=16, n_rays=args.n_rays, learning_rate=2e-3,
            annotation_margin=4, seed=seed,
        )
        folder = workdir / f"{method}-{scheme}"
        started = time.perf_counter()
        n2v = workdir / "n2v" if config.uses_n2v else None
        for _ in train_segmentation(noisy, painted, config, n2v_model=n2v, out_dir=folder, device=args.device):
            pass
        trained_s = time.perf_counter() - started
        model = SegmentationModel.load(folder, device=args.device)
        started = time.perf_counter()
        labels = model.predict(noisy)
        predict_s = time.perf_counter() - started
        whole = score_image(mask, labels, ndim=3)
        unpainted = score_image(mask[:, args.box :], labels[:, args.box :], ndim=3)
        results[method, scheme] = (whole.ap_50, whole.seg, unpainted.ap_50, unpainted.seg, trained_s, predict_s)
        print(f"seed {seed} {method} {scheme}: {whole.summary()}; unpainted part {unpainted.summary()}", flush=True)
    return results


def _mean_std(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{values.mean():.3f} ± {values.std():.3f}" if values.size > 1 else f"{values[0]:.3f}"


def main(argv=None) -> str:
    args = parse_args(argv)
    image, mask = stardist_data.test_image_nuclei_3d(return_mask=True)
    image, mask = image.astype(np.float32), mask.astype(np.int32)
    painted = painted_nuclei(mask, args.box)
    n_painted = len(np.unique(painted)) - 1
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as workdir:
            runs.append(run_seed(args, image, mask, painted, seed, Path(workdir)))
    lines = [
        "| method | scheme | AP@0.5 whole volume | SEG whole volume | AP@0.5 unpainted part | SEG unpainted part | "
        "training (s) | prediction (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in RUNS:
        values = [run[key] for run in runs]
        scores = " | ".join(_mean_std(v[i] for v in values) for i in range(4))
        times = " | ".join(f"{np.median([v[i] for v in values]):.{digits}f}" for i, digits in ((4, 0), (5, 1)))
        lines.append(f"| {key[0]} | {key[1]} | {scores} | {times} |")
    lines += [
        "",
        f"stardist's 3D nuclei sample (31 x 61 x 57 voxels, {len(np.unique(mask)) - 1} nuclei) plus Gaussian noise of std "
        f"{args.noise:g}; {n_painted} whole nuclei painted (inside the first {args.box} x {args.box} pixels); unpainted part: "
        f"Y >= {args.box} ({score_image(mask[:, args.box:], mask[:, args.box:], ndim=3).n_true} nuclei, cut ones included). "
        f"N2V 3D: {args.n2v_epochs} x 20 steps of 8 patches of 16^3, 16 filters. Segmentation: {args.epochs} x {args.steps} steps "
        f"of 4 patches of 16 x 32 x 32, U-Net depth 2, 16 filters, lr 2e-3, margin 4, anisotropy {ANISOTROPY}, "
        f"StarDist {args.n_rays} rays; scores: mean ± std over seeds {args.seeds}, times: median; device {args.device}.",
        "",
        provenance_line(),
    ]
    table = "\n".join(lines) + "\n"
    write_report(table, args.out)
    return table


if __name__ == "__main__":
    main()
