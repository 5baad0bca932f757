r"""The scheme comparison as a user runs it: the DSB sample with a few painted nuclei, every scheme cross-validated.

The noisy DSB2018 sample (sigma 40 by default) stands for the user's image; the objects
of its ground truth whose pixels lie in the top-left ``--region`` x ``--region`` pixels
stand for the nuclei a user painted there (the rest of the image is unannotated).
:func:`denoise2seg.segmentation.compare.compare_schemes` trains N2V on the image, cross-
validates every method x scheme on the painted region and retrains the best on it. This
script then scores the retrained model on the whole image against the full ground truth
(the pixels outside the painted region were never seen with labels), and writes the
comparison table, the whole-image score and the wall time to ``--out``::

    OMP_NUM_THREADS=2 python benchmarks/scheme_comparison.py --budget quick --out results/scheme_comparison.md

``--estimate`` instead times a few optimiser steps of each training a budget runs (N2V,
the U-Net, StarDist; the schemes of one method cost the same per step) and multiplies by
the steps the comparison plans, for every budget: the expected training time of a whole
comparison on this machine, without validation, threshold tuning and prediction (the
measured quick run says how much those add)::

    OMP_NUM_THREADS=2 python benchmarks/scheme_comparison.py --estimate --device cpu --out results/scheme_comparison_estimate.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import provenance_line

from dataclasses import replace

from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.metrics import score_image
from denoise2seg.n2v import train_n2v
from denoise2seg.segmentation import train_segmentation
from denoise2seg.segmentation.compare import BUDGETS, METHODS_COMPARED, compare_schemes, schemes_compared
from denoise2seg.segmentation.folds import STRIPS

TIMED_STEPS = 6


def seconds_per_step(events) -> float:
    """Mean wall time of the optimiser steps of ``events`` after the first (which includes warm-up)."""
    stamps = [time.perf_counter() for event in events if event.kind == "step"]
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def estimate(args) -> str:
    """The expected training time of a whole comparison for every budget, from a few timed steps of each training."""
    noisy, _, mask = noisy_nuclei_2d(args.sigma)
    painted = painted_objects(mask, args.region)
    lines = [
        "| budget | N2V (s/step) | U-Net (s/step) | StarDist (s/step) | planned steps | expected training time |",
        "|---|---|---|---|---|---|",
    ]
    for budget in BUDGETS.values():
        n2v = replace(budget.n2v, epochs=1, steps_per_epoch=TIMED_STEPS, seed=args.seed)
        per_step = {"n2v": seconds_per_step(train_n2v(noisy, n2v, device=args.device))}
        for method in METHODS_COMPARED:
            config = replace(
                budget.segmentation_config(method, "baseline", margin=16, seed=args.seed), epochs=1, steps_per_epoch=TIMED_STEPS,
                depth=budget.n2v.depth, n_filters=budget.n2v.n_filters,
            )
            per_step[method] = seconds_per_step(train_segmentation(noisy, painted, config, device=args.device))
        steps = budget.epochs * budget.steps_per_epoch
        runs = schemes_compared(list(METHODS_COMPARED))
        n2v_steps = budget.n2v.epochs * budget.n2v.steps_per_epoch
        seconds = n2v_steps * per_step["n2v"] + sum(STRIPS * steps * per_step[m] for m, _ in runs) + steps * max(
            per_step[m] for m in METHODS_COMPARED
        )
        planned = n2v_steps + len(runs) * STRIPS * steps + steps
        lines.append(
            f"| {budget.name} | {per_step['n2v']:.3f} | {per_step['unet']:.3f} | {per_step['stardist']:.3f} | {planned} | "
            f"{_duration(seconds)} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        f"Both methods, {STRIPS} folds (one annotated region, as in the example above), the N2V model trained first and "
        f"the best scheme retrained; {TIMED_STEPS} timed steps per training (the first left out); device {args.device}; "
        "training steps only.",
        "",
        provenance_line(),
    ]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def painted_objects(mask: np.ndarray, region: int) -> np.ndarray:
    """The objects of ``mask`` lying wholly in its top-left ``region`` x ``region`` pixels (the rest set to 0)."""
    ids = np.unique(mask)
    ids = ids[ids > 0]
    outside = np.unique(mask[region:, :]).tolist() + np.unique(mask[:, region:]).tolist()
    kept = [i for i in ids if i not in set(outside)]
    return np.where(np.isin(mask, kept), mask, 0).astype(np.int32)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sigma", type=float, default=40.0)
    parser.add_argument("--region", type=int, default=160, help="edge of the painted top-left region in pixels")
    parser.add_argument("--budget", choices=list(BUDGETS), default="quick")
    parser.add_argument("--methods", nargs="+", choices=METHODS_COMPARED, default=list(METHODS_COMPARED))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file for the results")
    parser.add_argument("--estimate", action="store_true", help="time a few steps of every budget's trainings instead")
    args = parser.parse_args(argv)
    if args.estimate:
        text = estimate(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text)
        return text

    noisy, _, mask = noisy_nuclei_2d(args.sigma)
    painted = painted_objects(mask, args.region)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for event in compare_schemes(
            noisy, painted, methods=args.methods, budget=args.budget, seed=args.seed, out_dir=folder, device=args.device
        ):
            if event.kind == "result":
                r = event.result
                print(f"{r.name}: AP {r.ap:.3f} ± {r.ap_se:.3f} ({time.perf_counter() - started:.0f} s so far)", flush=True)
        done = event
    seconds = time.perf_counter() - started
    whole = score_image(mask, done.labels[0], name="whole image")
    n_painted = len(np.unique(painted)) - 1
    lines = [
        done.comparison.to_markdown(),
        f"The retrained {done.comparison.best.name} on the whole {noisy.shape[0]} x {noisy.shape[1]} image against its "
        f"full ground truth ({whole.n_true} nuclei, {n_painted} of them painted): {whole.summary()}.",
        "",
        f"DSB sample sigma {args.sigma:g}, the {n_painted} nuclei wholly inside the top-left {args.region} x {args.region} "
        f"pixels painted; budget {args.budget}; seed {args.seed}; device {args.device}; whole comparison "
        f"(N2V, every fold, the retraining and the segmentation) {seconds / 60:.1f} min.",
        "",
        provenance_line(),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
