r"""LADP on synthetic-lesion MRI: Dice (overall, per lesion-size bin), MASD, NSD per pretraining variant.

Variants: no pretraining; DDP and LADP self-pretraining, each of the whole network or of
the decoder only (encoder frozen). Every variant is trained ``--reps`` times (seeds ``--seed``,
``--seed`` + 1000, ...) on the same synthetic-lesion cases and scored on held-out cases with flip
test-time augmentation and a majority vote over ``--ensemble`` members. Prints a
markdown table of means (+- standard deviation over repetitions) and writes it to
``--out``.

CPU-sized (the numbers in docs/ladp.md):

    OMP_NUM_THREADS=1 python benchmarks/ladp.py --device cpu --out ladp_table.md
    OMP_NUM_THREADS=1 python benchmarks/ladp.py --device cpu --reps 4 --resume ladp_table.json --out ladp_table.md

The paper's schedule on a GPU:

    python benchmarks/ladp.py --device cuda --pretrain-epochs 30 --finetune-epochs 30 --steps-per-epoch 0 \
        --lr 1e-4 --n-filters 32 --depth 3 --ensemble 8 --reps 5 --n-train 40 --n-val 8 --n-test 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import provenance_line

from denoise2seg.lesion.config import FinetuneConfig, PretrainConfig
from denoise2seg.lesion.model import LesionEnsemble
from denoise2seg.lesion.synthetic import synthetic_lesion_cases
from denoise2seg.lesion.train import train_ensemble
from denoise2seg.metrics.lesion import DEFAULT_NSD_TOLERANCE_MM, SIZE_BINS, score_case, summarize
from denoise2seg.training import choose_device

VARIANTS = (
    ("none", "none", False),
    ("DDP", "ddp", False),
    ("DDP, decoder-only", "ddp", True),
    ("LADP", "ladp", False),
    ("LADP, decoder-only", "ladp", True),
)
# Seeds of the case generator: training, validation and test cases never share one.
TRAIN_SEED, VAL_SEED, TEST_SEED = 0, 100, 200


def run_variant(mode: str, decoder_only: bool, rep: int, data: dict, args, device) -> dict:
    steps = args.steps_per_epoch or None
    pre = PretrainConfig(
        decoder_only=decoder_only, epochs=args.pretrain_epochs, batch_size=args.batch_size, learning_rate=args.lr,
        steps_per_epoch=steps, depth=args.depth, n_filters=args.n_filters,
    )
    fine = FinetuneConfig(
        epochs=args.finetune_epochs, batch_size=args.batch_size, learning_rate=args.lr, steps_per_epoch=steps,
        depth=args.depth, n_filters=args.n_filters,
    )
    with tempfile.TemporaryDirectory() as folder:
        events = train_ensemble(
            data["train"], val_cases=data["val"], pretraining=mode, pretrain_config=pre, finetune_config=fine,
            n_models=args.ensemble, out_dir=folder, device=device, seed=args.seed + 1000 * rep,
        )
        for _ in events:
            pass
        ensemble = LesionEnsemble.load(folder, device)
        scores = [
            score_case(case.labels, ensemble.predict(case.image, case.brain), case.brain, spacing=case.spacing, name=case.name, tolerance=args.tolerance)
            for case in data["test"]
        ]
    return summarize(scores)


def _cell(values: list[float], digits: int) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=6)
    parser.add_argument("--n-val", type=int, default=2)
    parser.add_argument("--n-test", type=int, default=6)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--steps-per-epoch", type=int, default=25, help="0: one pass over the training slices")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--n-filters", type=int, default=8)
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_NSD_TOLERANCE_MM, help="NSD tolerance (mm)")
    parser.add_argument("--variants", nargs="+", default=[name for name, _, _ in VARIANTS])
    parser.add_argument("--seed", type=int, default=0, help="repetition r trains with seed SEED + 1000 r")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (and a .json of the runs) here")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUNS.json",
                        help="runs of an earlier call (its .json): kept, and only the missing repetitions are trained")
    args = parser.parse_args(argv)
    device = choose_device(args.device)
    data = {
        "train": synthetic_lesion_cases(args.n_train, TRAIN_SEED),
        "val": synthetic_lesion_cases(args.n_val, VAL_SEED),
        "test": synthetic_lesion_cases(args.n_test, TEST_SEED),
    }
    runs: dict[str, list[dict]] = {}
    if args.resume is not None:
        earlier = json.loads(args.resume.read_text())
        runs = {name: list(summaries) for name, summaries in earlier.items()}
    for name, mode, decoder_only in VARIANTS:
        if name not in args.variants:
            continue
        # Repetition r always uses seed --seed + 1000 r, so a resumed benchmark equals one long run.
        for rep in range(len(runs.get(name, [])), args.reps):
            start = time.perf_counter()
            summary = run_variant(mode, decoder_only, rep, data, args, device)
            summary["seconds"] = time.perf_counter() - start
            runs.setdefault(name, []).append(summary)
            if args.out is not None:
                # Saved after every run, so an interrupted benchmark can be resumed.
                args.out.with_suffix(".json").write_text(json.dumps(runs, indent=2))
            print(f"{name} rep {rep}: dice {summary['dice']:.4f} masd {summary['masd']:.3f} nsd {summary['nsd']:.4f} "
                  f"({summary['seconds']:.0f} s)", flush=True)
    counts = runs[next(iter(runs))][0]
    header = (
        "| pretraining | Dice <1% | Dice 1-5% | Dice >5% | MASD (mm) | MASD penalised cases | NSD | Dice overall "
        "| overall Dice per repetition | train + test (s) |"
    )
    rows = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for name, summaries in runs.items():
        cells = [_cell([100 * s[f"dice {b}"] for s in summaries], 2) for b in SIZE_BINS]
        cells.append(_cell([s["masd"] for s in summaries], 3))
        # Runs recorded before the penalty existed have no count.
        cells.append(", ".join(str(s.get("n masd penalized", "?")) for s in summaries))
        cells.append(_cell([100 * s["nsd"] for s in summaries], 2))
        cells.append(_cell([100 * s["dice"] for s in summaries], 2))
        # Single runs at this size sometimes fail outright; the spread shows it.
        cells.append(", ".join(f"{100 * s['dice']:.1f}" for s in summaries))
        cells.append(f"{np.mean([s['seconds'] for s in summaries]):.0f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    steps = args.steps_per_epoch or "one pass"
    settings = (
        f"{args.n_train} training / {args.n_val} validation / {args.n_test} test synthetic-lesion cases "
        f"(test cases per bin: " + ", ".join(f"{b} {counts[f'n {b}']}" for b in SIZE_BINS) + "); "
        f"U-Net depth {args.depth}, {args.n_filters} filters; batch {args.batch_size}; pretraining {args.pretrain_epochs} "
        f"and finetuning {args.finetune_epochs} epochs of {steps} steps, Adam lr {args.lr:g}; ensemble of {args.ensemble}, "
        f"flip TTA; NSD tolerance {args.tolerance:g} mm; {args.reps} repetitions (mean ± std), seeds "
        f"{[args.seed + 1000 * rep for rep in range(args.reps)]}; device {device}. "
        "Dice and NSD in %. A case with an empty prediction or truth (one but not both) has MASD = the volume's "
        "diagonal (metrics.lesion.masd_penalty); the count per repetition is given."
    )
    table = "\n".join(rows) + f"\n\nSettings: {settings}\n\n{provenance_line()}"
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
