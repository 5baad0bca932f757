"""Which VoidSeg scheme segments *these* images best: every method x scheme cross-validated on the user's labels.

:func:`compare_schemes` is one generator of training events for the whole comparison:

1. an N2V model, trained on all the images when none is given (shared by every scheme);
2. for each method x scheme (U-Net: baseline, sequential, finetune, finetune-sequential;
   StarDist: baseline, sequential) and each fold of :mod:`.folds`: a training on the
   fold's training part, thresholds tuned on its held-out part, AP (IoU 0.5) and SEG on
   its scored part; a ``"result"`` event when a scheme's folds are done;
3. the best scheme retrained on all the labels and applied to the images.

A scheme is marked best only when its lead in mean AP exceeds the fold spread (the sum of
the two leading schemes' standard errors); otherwise the comparison says the schemes are
tied, and the one with the highest mean AP is the one retrained.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..metrics import score_images
from ..n2v import N2VConfig, N2VModel, train_n2v
from ..training import TrainingEvent, relay
from ..validation import check_training_images
from .annotations import collect_annotated_frames, frames_of
from .config import FINETUNE_SCHEMES, SCHEMES, SegmentationConfig
from .folds import Fold, annotation_units, make_folds
from .model import SegmentationModel
from .train import train_on_frames, train_segmentation

METHODS_COMPARED = ("unet", "stardist")


@dataclass(frozen=True)
class Budget:
    """Training settings of one comparison preset, for every scheme alike, and the N2V model trained when none is given.

    ``expected`` says how long a whole comparison takes: measured, or estimated from timed
    steps (``benchmarks/scheme_comparison.py --estimate``; docs/segmentation.md, "Which
    scheme is best for my data").
    """

    name: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    patch_size: int
    depth: int
    n_filters: int
    learning_rate: float
    n2v: N2VConfig
    expected: str

    def segmentation_config(self, method: str, scheme: str, *, margin: int, seed: int | None) -> SegmentationConfig:
        return SegmentationConfig(
            method=method, scheme=scheme, epochs=self.epochs, steps_per_epoch=self.steps_per_epoch, batch_size=self.batch_size,
            patch_size=self.patch_size, depth=self.depth, n_filters=self.n_filters, learning_rate=self.learning_rate,
            annotation_margin=margin, seed=seed,
        )


BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        "quick", epochs=4, steps_per_epoch=25, batch_size=8, patch_size=64, depth=2, n_filters=16, learning_rate=2e-3,
        n2v=N2VConfig(epochs=5, steps_per_epoch=40, batch_size=32, n_filters=16, learning_rate=2e-3),
        expected="6.5-7 minutes on 2 CPU cores for the 512 x 512 DSB sample with both methods; GPU not measured",
    ),
    "standard": Budget(
        "standard", epochs=20, steps_per_epoch=50, batch_size=16, patch_size=128, depth=2, n_filters=32, learning_rate=1e-3,
        n2v=N2VConfig(epochs=15, steps_per_epoch=40, batch_size=32, n_filters=32, learning_rate=2e-3),
        expected="about 12 hours of training steps on 2 CPU cores (estimated from timed steps); GPU not measured",
    ),
    "paper": Budget(
        "paper", epochs=200, steps_per_epoch=400, batch_size=128, patch_size=128, depth=2, n_filters=32, learning_rate=4e-4,
        n2v=N2VConfig(),
        expected="about 560 days of training steps on 2 CPU cores (estimated): a GPU is needed; GPU not measured",
    ),
}


@dataclass(frozen=True)
class SchemeResult:
    """One method x scheme over the folds: AP at IoU 0.5 and SEG per fold, and the training time (s) of all folds."""

    method: str
    scheme: str
    fold_ap: tuple[float, ...]
    fold_seg: tuple[float, ...]
    seconds: float

    @property
    def name(self) -> str:
        return run_name(self.method, self.scheme)

    @property
    def ap(self) -> float:
        return float(np.mean(self.fold_ap))

    @property
    def seg(self) -> float:
        return float(np.mean(self.fold_seg))

    @property
    def ap_se(self) -> float:
        """Standard error of the mean AP over folds (0 for one fold)."""
        return _standard_error(self.fold_ap)

    @property
    def seg_se(self) -> float:
        return _standard_error(self.fold_seg)


def run_name(method: str, scheme: str) -> str:
    """How a method x scheme is named to the user: "U-Net sequential", "StarDist baseline"."""
    return f"{'U-Net' if method == 'unet' else 'StarDist'} {scheme}"


def _standard_error(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


@dataclass
class Comparison:
    """The results of a comparison, how the labels were split, and the verdict.

    ``best`` is the scheme with the highest mean AP (then SEG); ``decisive`` whether its
    lead over the runner-up exceeds the sum of their standard errors (else the schemes are
    tied), and never when every AP is 0.
    ``notes`` say what was left out and why.
    """

    results: list[SchemeResult]
    split: str
    budget: str
    notes: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> list[SchemeResult]:
        """The results by mean AP, then mean SEG (which breaks ties of AP, common with few objects)."""
        return sorted(self.results, key=lambda r: (r.ap, r.seg), reverse=True)

    @property
    def best(self) -> SchemeResult | None:
        return self.ranked[0] if self.results else None

    @property
    def decisive(self) -> bool:
        ranked = self.ranked
        if not ranked or ranked[0].ap == 0:
            return False
        if len(ranked) < 2:
            return True
        first, second = ranked[:2]
        return first.ap - second.ap > first.ap_se + second.ap_se

    def tied(self) -> list[SchemeResult]:
        """The schemes whose mean AP lies within the fold spread of the best one's (the best included)."""
        best = self.best
        if best is None:
            return []
        return [r for r in self.ranked if best.ap - r.ap <= best.ap_se + r.ap_se]

    def verdict(self) -> str:
        """One sentence: which scheme is best, or which are tied."""
        best = self.best
        if best is None:
            return "no scheme finished"
        if best.ap == 0:
            return (
                f"no scheme found the painted objects (every AP is 0): the budget is too small for these data, or too "
                f"few objects are painted; {best.name}, with the highest SEG ({best.seg:.3f}), is the one retrained"
            )
        if len(self.results) == 1:
            return f"only {best.name} was run (AP {best.ap:.3f})"
        if self.decisive:
            second = self.ranked[1]
            return (
                f"{best.name} is best: AP {best.ap:.3f} ± {best.ap_se:.3f} against {second.ap:.3f} ± {second.ap_se:.3f} "
                f"for {second.name}, a lead beyond the fold spread"
            )
        names = ", ".join(r.name for r in self.tied())
        return (
            f"tied: {names} lie within the fold spread of each other (standard errors over folds); "
            f"{best.name} has the highest mean AP ({best.ap:.3f})"
        )

    def rows(self) -> list[dict]:
        """One dictionary per scheme (ranked): AP and SEG with their standard errors, folds, time, mark."""
        best, decisive = self.best, self.decisive
        return [
            {
                "scheme": r.name,
                "method": r.method,
                "ap_50": round(r.ap, 4),
                "ap_50_se": round(r.ap_se, 4),
                "seg": round(r.seg, 4),
                "seg_se": round(r.seg_se, 4),
                "folds": len(r.fold_ap),
                "training_s": round(r.seconds, 1),
                "best": bool(decisive and r is best),
            }
            for r in self.ranked
        ]

    def to_csv(self) -> str:
        rows = self.rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["scheme"])
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def to_markdown(self) -> str:
        lines = [
            "| scheme | AP (IoU 0.5) | SEG | folds | training (s) |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows():
            mark = " (best)" if row["best"] else ""
            lines.append(
                f"| {row['scheme']}{mark} | {row['ap_50']:.3f} ± {row['ap_50_se']:.3f} | {row['seg']:.3f} ± {row['seg_se']:.3f} "
                f"| {row['folds']} | {row['training_s']:.0f} |"
            )
        lines += ["", f"Validation: {self.split}. ± is the standard error over folds. Budget: {self.budget}.", "", self.verdict() + "."]
        lines += [f"Note: {note}." for note in self.notes]
        return "\n".join(lines) + "\n"


@dataclass
class ComparisonEvent(TrainingEvent):
    """A :class:`TrainingEvent` of the comparison; ``phase`` names the training ("U-Net sequential, fold 2/3").

    A ``"result"`` event carries the :class:`SchemeResult` of a scheme whose folds are
    done and the :class:`Comparison` so far; the final ``"done"`` event the comparison,
    ``path`` (the folder of the best scheme retrained on all labels) and ``labels`` (its
    segmentation of each image).
    """

    result: SchemeResult | None = None
    comparison: Comparison | None = None
    labels: list[np.ndarray] | None = None


def schemes_compared(methods: Sequence[str], *, finetune: bool = True) -> list[tuple[str, str]]:
    """The method x scheme pairs of a comparison: the finetune schemes for the U-Net only (and only when ``finetune``)."""
    unknown = [m for m in methods if m not in METHODS_COMPARED]
    if unknown or not methods:
        raise ValueError(f"methods must be among {METHODS_COMPARED}, got {list(methods)}")
    pairs = []
    for method in methods:
        for scheme in SCHEMES:
            if scheme in FINETUNE_SCHEMES and (method == "stardist" or not finetune):
                continue
            pairs.append((method, scheme))
    return pairs


def _fold_scores(model: SegmentationModel, fold: Fold) -> tuple[float, float]:
    """AP at IoU 0.5 and SEG of ``model`` on the scored units of ``fold``, pooled over them."""
    truths, predictions = [], []
    for unit in fold.test:
        predicted = unit.owned(model.predict(unit.frame))
        rows, cols = np.nonzero(unit.valid | (predicted > 0))
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        truths.append(unit.labels[box])
        predictions.append(predicted[box])
    pooled = score_images(truths, predictions).pooled
    return pooled.ap_50, pooled.seg


def compare_schemes(
    images,
    labels,
    *,
    n2v_model: N2VModel | str | Path | None = None,
    methods: Sequence[str] = METHODS_COMPARED,
    budget: str | Budget = "quick",
    margin: int | None = None,
    seed: int | None = 0,
    out_dir: str | Path | None = None,
    device: str = "auto",
) -> Iterator[ComparisonEvent]:
    """Cross-validate every method x scheme on ``labels`` and retrain the best; yield :class:`ComparisonEvent` objects.

    Parameters
    ----------
    images, labels
        As for :func:`~denoise2seg.segmentation.train_segmentation`: 2D images or stacks
        of 2D frames, and instance masks of the same shapes (only annotated regions count).
    n2v_model : N2VModel or path, optional
        The N2V model every scheme but the baselines uses; trained on all ``images``
        with the budget's N2V settings when omitted (written to ``out_dir/n2v``). The
        U-Nets take its depth and filters, so that the finetune schemes can start from
        it; an N2V2 model cannot initialise them, so they are left out (noted).
    methods : "unet" and/or "stardist"
    budget : "quick", "standard", "paper" or a :class:`Budget`
    margin : int, optional
        Annotation margin (pixels; default that of :class:`SegmentationConfig`).
    seed : int, optional
        One seed for every training, so the schemes differ only by scheme.
    out_dir : path, optional
        Folder for ``n2v/`` (when trained here) and ``best/``, the best scheme retrained
        on all labels; a new temporary folder when omitted. The fold models are temporary.

    Steps count over the whole comparison. Closing the generator (Stop) stops the
    training under way; the results so far are those of the ``"result"`` events.
    """
    budget = BUDGETS[budget] if isinstance(budget, str) else budget
    margin = SegmentationConfig().annotation_margin if margin is None else margin
    check_training_images(images, ndim=(2, 3))
    patch_shape = (budget.patch_size, budget.patch_size)
    frames = collect_annotated_frames(images, labels, margin=margin, patch_shape=patch_shape)
    groups, split = annotation_units(frames)
    folds = make_folds(groups)
    # The crops each fold trains and tunes on: the same for every scheme (all share the patch size).
    fold_frames = [
        ([u.annotated_frame(patch_shape) for u in fold.train], [u.annotated_frame(patch_shape) for u in fold.tune])
        for fold in folds
    ]
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="denoise2seg-comparison-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    notes: list[str] = []
    n2v = N2VModel.load(n2v_model, device=device) if isinstance(n2v_model, (str, Path)) else n2v_model
    n2v_config = replace(budget.n2v, seed=seed)
    network = (n2v.config.depth, n2v.config.n_filters) if n2v is not None else (n2v_config.depth, n2v_config.n_filters)
    finetune = not (n2v is not None and n2v.config.n2v2)
    if not finetune:
        notes.append("the finetune schemes are left out: an N2V2 network cannot initialise the segmentation U-Net")
    runs = schemes_compared(methods, finetune=finetune)
    configs = {
        run: replace(budget.segmentation_config(*run, margin=margin, seed=seed), depth=network[0], n_filters=network[1])
        for run in runs
    }
    steps = {run: config.epochs * config.steps_per_epoch for run, config in configs.items()}
    n2v_steps = 0 if n2v is not None else n2v_config.epochs * n2v_config.steps_per_epoch
    total = n2v_steps + sum(steps[run] * len(folds) for run in runs) + max(steps.values())
    comparison = Comparison([], split, f"{budget.name}, {budget.epochs} x {budget.steps_per_epoch} steps per training", notes)
    offset = 0
    if n2v is None:
        events = train_n2v(images, n2v_config, out_dir=out_dir / "n2v", device=device)
        yield from relay(events, offset=offset, total=total, phase="N2V on all images", event_type=ComparisonEvent)
        n2v = N2VModel.load(out_dir / "n2v", device=device)
        offset += n2v_steps
    normalizer_frames = [frame for frame, _ in frames_of(images)]
    with tempfile.TemporaryDirectory(prefix="denoise2seg-folds-") as scratch:
        for method, scheme in runs:
            config = configs[(method, scheme)]
            aps, segs = [], []
            started = time.perf_counter()
            for k, (fold, (train_frames, tune_frames)) in enumerate(zip(folds, fold_frames), start=1):
                folder = Path(scratch) / f"{method}-{scheme}-{k}"
                events = train_on_frames(
                    train_frames, tune_frames, config, n2v_model=n2v if config.uses_n2v else None,
                    normalizer_frames=normalizer_frames, out_dir=folder, device=device,
                )
                label = f"{run_name(method, scheme)}, fold {k}/{len(folds)}"
                yield from relay(events, offset=offset, total=total, phase=label, event_type=ComparisonEvent)
                offset += steps[(method, scheme)]
                ap, seg = _fold_scores(SegmentationModel.load(folder, device=device), fold)
                aps.append(ap)
                segs.append(seg)
            result = SchemeResult(method, scheme, tuple(aps), tuple(segs), time.perf_counter() - started)
            comparison.results.append(result)
            yield ComparisonEvent("result", offset, total, 0, phase=result.name, result=result, comparison=comparison)
    best = comparison.best
    config = configs[(best.method, best.scheme)]
    events = train_segmentation(images, labels, config, n2v_model=n2v if config.uses_n2v else None, out_dir=out_dir / "best", device=device)
    yield from relay(events, offset=offset, total=total, phase=f"{best.name} on all labels", event_type=ComparisonEvent)
    model = SegmentationModel.load(out_dir / "best", device=device)
    segmented = [model.predict(image) for image in ([images] if isinstance(images, np.ndarray) else images)]
    yield ComparisonEvent("done", total, total, 0, path=out_dir / "best", comparison=comparison, labels=segmented)
