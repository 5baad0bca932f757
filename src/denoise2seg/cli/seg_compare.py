"""``denoise2seg seg compare``: cross-validate every VoidSeg scheme on the given labels, retrain and apply the best."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..io.outputs import check_output_files, check_output_folder, unique_output_paths
from ..io.pixel_size import read_pixel_size
from ..io.tiff import write_labels_tiff
from ..segmentation import SegmentationConfig
from ..segmentation.compare import BUDGETS, METHODS_COMPARED, compare_schemes
from .progress import TrainingInterrupted, consume_with_progress
from .seg_inputs import check_pairs, read_frames, read_masks

RESULT_FILES = ("comparison.csv", "comparison.md")
RESULT_FOLDERS = ("n2v", "best", "labels")


def _compare(args: argparse.Namespace) -> int:
    check_pairs(args.images, args.labels)
    inputs = [*args.images, *args.labels, *([args.n2v] if args.n2v is not None else [])]
    out = check_output_folder(args.out, overwrite=args.overwrite, inputs=inputs)
    results = check_output_files([out / name for name in RESULT_FILES], overwrite=args.overwrite, inputs=inputs)
    targets = check_output_files(
        unique_output_paths(args.images, out / "labels", suffix="_labels"), overwrite=args.overwrite, inputs=inputs
    )
    if args.overwrite:
        _remove_earlier_results(out)
    images, _ = read_frames(
        args.images, args.axes, for_training=True, single_channel="the scheme comparison takes single-channel images"
    )
    masks = read_masks(args.labels)
    budget = BUDGETS[args.budget]
    print(f"comparing the schemes with the {budget.name} budget: {budget.expected}")
    events = compare_schemes(
        images, masks, n2v_model=args.n2v, methods=args.methods, budget=budget, margin=args.margin, seed=args.seed,
        out_dir=out, device=args.device,
    )
    try:
        last = consume_with_progress(_printing_results(events), description="scheme comparison")
    except TrainingInterrupted:
        print("comparison stopped: the schemes finished so far are printed above; no table was written", file=sys.stderr)
        return 130
    comparison = last.comparison
    results[0].write_text(comparison.to_csv())
    results[1].write_text(comparison.to_markdown())
    (out / "labels").mkdir(exist_ok=True)
    for path, target, labels in zip(args.images, targets, last.labels):
        write_labels_tiff(target, labels, pixel_size=read_pixel_size(path))
    print()
    print(comparison.to_markdown())
    print(f"table: {results[0]}, {results[1]}; best scheme retrained on all labels: {last.path}; labels: {out / 'labels'}")
    return 0


def _remove_earlier_results(out: Path) -> None:
    """Delete what an earlier comparison wrote into ``out`` (``--overwrite``), so no result of it is left beside the new ones."""
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
    for folder in RESULT_FOLDERS:
        shutil.rmtree(out / folder, ignore_errors=True)


def _printing_results(events):
    """Pass ``events`` on, printing each scheme's result line as its folds end."""
    for event in events:
        if event.kind == "result":
            r = event.result
            print(f"\n{r.name}: AP {r.ap:.3f} ± {r.ap_se:.3f}, SEG {r.seg:.3f} ± {r.seg_se:.3f} over {len(r.fold_ap)} folds ({r.seconds:.0f} s)", flush=True)
        yield event


def register(commands) -> None:
    """Add ``compare`` to the ``seg`` commands."""
    compare = commands.add_parser(
        "compare",
        help="cross-validate every method x scheme on your labels, tell which is best, retrain and apply it",
        description=(
            "Train every VoidSeg scheme (U-Net: baseline, sequential, finetune, finetune-sequential; StarDist: baseline, "
            "sequential) on one shared N2V model, cross-validated on the given labels without leakage, and write a table "
            "of AP (IoU 0.5) and SEG with standard errors over folds. The best scheme (or, when tied, the one with the "
            "highest mean AP) is retrained on all labels and applied to the images."
        ),
    )
    compare.add_argument("images", nargs="+", type=Path, help="noisy images (2D or stacks of 2D frames), all used for N2V")
    compare.add_argument("--labels", nargs="+", type=Path, required=True, help="instance masks, one per image (only annotated regions count)")
    compare.add_argument("--axes", default=None, help="axes of the images, YX or TYX (default: guessed per file)")
    compare.add_argument("--n2v", type=Path, default=None, help="N2V model folder (default: trained on the images first)")
    compare.add_argument("--methods", nargs="+", choices=METHODS_COMPARED, default=list(METHODS_COMPARED), help="default: both")
    compare.add_argument(
        "--budget", choices=list(BUDGETS), default="quick",
        help="; ".join(f"{b.name}: {b.epochs} x {b.steps_per_epoch} steps per training, {b.expected}" for b in BUDGETS.values()),
    )
    compare.add_argument(
        "--margin", type=int, default=SegmentationConfig().annotation_margin,
        help="pixels around labelled objects that count (default %(default)s)",
    )
    compare.add_argument("--seed", type=int, default=0, help="one seed for every training (default %(default)s)")
    compare.add_argument("--out", type=Path, required=True, help="folder for the table, n2v/, best/ and labels/")
    compare.add_argument(
        "--overwrite", action="store_true",
        help="replace an earlier comparison in --out: its table, n2v/, best/ and labels/ are deleted first",
    )
    compare.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    compare.set_defaults(func=_compare)
