"""Scores of predicted instance labels against ground truth, per image and over images: AP at IoU 0.5,
AP over the IoU sweep 0.5-0.9 and SEG, as one result with a dictionary and a Markdown rendering.

Objects are matched by ``stardist.matching.matching`` (one-to-one, IoU >= threshold) and SEG
is :func:`~denoise2seg.metrics.instances.seg_score`'s; a 3D array is a stack of 2D frames
``(T, Y, X)``, scored frame by frame (objects never span frames), as everywhere in the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from stardist.matching import matching

from .instances import seg_jaccards

# The IoU thresholds of the AP sweep of StarDist's evaluation (Schmidt et al. 2018): 0.5 to 0.9, step 0.05.
IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


@dataclass(frozen=True)
class InstanceScores:
    """AP at each IoU threshold and SEG of one image, or of several images together.

    Attributes
    ----------
    name : str
        What was scored: an image's name, ``"pooled"`` or ``"mean per image"``.
    average_precision : tuple of float
        ``TP / (TP + FP + FN)`` at each of ``iou_thresholds``, in [0, 1].
    seg : float
        SEG, the mean Jaccard index of the ground-truth objects with their match, in [0, 1].
    n_true, n_predicted : int
        Ground-truth and predicted objects (counted frame by frame in a stack).
    iou_thresholds : tuple of float
        The IoU thresholds of ``average_precision``.
    """

    name: str
    average_precision: tuple[float, ...]
    seg: float
    n_true: int
    n_predicted: int
    iou_thresholds: tuple[float, ...] = IOU_THRESHOLDS

    @property
    def ap_50(self) -> float:
        """AP at IoU 0.5 (VoidSeg's "AP")."""
        return self.average_precision[self.iou_thresholds.index(0.5)]

    @property
    def ap_mean(self) -> float:
        """AP averaged over the IoU thresholds (0.5 to 0.9)."""
        return float(np.mean(self.average_precision))

    def summary(self) -> str:
        """One line: AP at IoU 0.5, AP over the sweep, SEG (three decimals) and the object counts."""
        return (
            f"AP@0.5 {self.ap_50:.3f}  AP {self.iou_thresholds[0]:g}-{self.iou_thresholds[-1]:g} {self.ap_mean:.3f}  "
            f"SEG {self.seg:.3f}  ({self.n_true} objects, {self.n_predicted} predicted)"
        )

    def to_dict(self) -> dict:
        """The scores as plain numbers for JSON; ``average_precision`` lists AP at each of ``iou_thresholds``."""
        return {
            "name": self.name,
            "ap_50": self.ap_50,
            "ap_mean": self.ap_mean,
            "seg": self.seg,
            "n_true": self.n_true,
            "n_predicted": self.n_predicted,
            "iou_thresholds": list(self.iou_thresholds),
            "average_precision": list(self.average_precision),
        }


@dataclass(frozen=True)
class ScoreTable:
    """Scores of each image, pooled over all images, and averaged over images.

    ``pooled`` sums TP, FP and FN over the images before each AP is taken and averages SEG
    over all ground-truth objects, so crowded images weigh more; ``mean_per_image`` is the
    mean of the images' scores, each image weighing the same (its object counts are the totals).
    """

    images: tuple[InstanceScores, ...]
    pooled: InstanceScores
    mean_per_image: InstanceScores

    def to_dict(self) -> dict:
        """The table as plain numbers for JSON: ``images`` (a list), ``pooled`` and ``mean_per_image``."""
        return {
            "images": [scores.to_dict() for scores in self.images],
            "pooled": self.pooled.to_dict(),
            "mean_per_image": self.mean_per_image.to_dict(),
        }

    def to_markdown(self) -> str:
        """A Markdown table: one row per image, then the pooled and the per-image mean rows (four decimals)."""
        sweep = f"AP {self.pooled.iou_thresholds[0]:g}-{self.pooled.iou_thresholds[-1]:g}"
        lines = [f"| image | objects | predicted | AP@0.5 | {sweep} | SEG |", "|---|---:|---:|---:|---:|---:|"]
        for scores in (*self.images, self.pooled, self.mean_per_image):
            lines.append(
                f"| {scores.name} | {scores.n_true} | {scores.n_predicted} | "
                f"{scores.ap_50:.4f} | {scores.ap_mean:.4f} | {scores.seg:.4f} |"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Tally:
    """What scores are made of: TP, FP, FN at each IoU threshold (rows) and the SEG Jaccard index of each true object."""

    counts: np.ndarray
    jaccards: np.ndarray

    def scores(self, name: str) -> InstanceScores:
        """The scores these counts give, under ``name``."""
        tp, fp, fn = self.counts.T
        total = tp + fp + fn
        # Nothing to find and nothing found is a perfect result (as ``average_precision``).
        ap = np.where(total > 0, tp / np.maximum(total, 1), 1.0)
        n_predicted = int(tp[0] + fp[0])
        if self.jaccards.size:
            seg = float(self.jaccards.mean())
        else:
            seg = 1.0 if n_predicted == 0 else 0.0
        return InstanceScores(name, tuple(float(v) for v in ap), seg, int(tp[0] + fn[0]), n_predicted)


def _frames(labels: np.ndarray, ndim: int) -> list[np.ndarray]:
    return list(labels) if labels.ndim > ndim else [labels]


def _tally(labels_true: np.ndarray, labels_test: np.ndarray, name: str, ndim: int = 2) -> _Tally:
    """Match the objects of one image (``ndim``-D, or a stack matched frame by frame) at every IoU threshold."""
    labels_true, labels_test = np.asarray(labels_true), np.asarray(labels_test)
    if labels_true.shape != labels_test.shape:
        raise ValueError(
            f"{name}: the ground truth has shape {labels_true.shape} but the prediction {labels_test.shape}; "
            "score each prediction against the ground truth of the same image"
        )
    if labels_true.ndim not in (ndim, ndim + 1):
        expected = "a volume (Z, Y, X) or a stack of volumes (T, Z, Y, X)" if ndim == 3 else "a 2D image or a stack of 2D frames (T, Y, X)"
        raise ValueError(f"{name}: labels of shape {labels_true.shape}; expected {expected}")
    counts = np.zeros((len(IOU_THRESHOLDS), 3), np.int64)
    jaccards = []
    for frame_true, frame_test in zip(_frames(labels_true.astype(np.int64), ndim), _frames(labels_test.astype(np.int64), ndim)):
        stats = matching(frame_true, frame_test, thresh=IOU_THRESHOLDS)
        counts += np.array([(s.tp, s.fp, s.fn) for s in stats], np.int64)
        jaccards.append(seg_jaccards(frame_true, frame_test))
    return _Tally(counts, np.concatenate(jaccards) if jaccards else np.zeros(0))


def score_image(labels_true: np.ndarray, labels_test: np.ndarray, *, name: str = "image", ndim: int = 2) -> InstanceScores:
    """AP at each IoU threshold of :data:`IOU_THRESHOLDS` and SEG of one predicted label image.

    Parameters
    ----------
    labels_true, labels_test : ndarray of int
        Ground truth and prediction of one shape: a 2D image ``(Y, X)`` or a stack of 2D
        frames ``(T, Y, X)`` (0 = background, 1, 2, ... = objects). A stack is matched
        frame by frame and its counts summed over frames.
    name : str
        Name of the image in the result and in error messages.
    ndim : int
        Spatial axes of a frame: 2, or 3 to match the objects of volumes ``(Z, Y, X)``
        (stacks ``(T, Z, Y, X)``) in 3D, by their voxel IoU.

    Raises ``ValueError`` naming both shapes when they differ.
    """
    return _tally(labels_true, labels_test, name, ndim).scores(name)


def score_images(
    labels_true: Sequence[np.ndarray], labels_test: Sequence[np.ndarray], *, names: Sequence[str] | None = None, ndim: int = 2
) -> ScoreTable:
    """:func:`score_image` of each image, the scores pooled over images and their mean per image.

    Parameters
    ----------
    labels_true, labels_test : sequences of ndarray of int
        One ground truth and one prediction per image, pairwise of one shape (see
        :func:`score_image`).
    names : sequence of str, optional
        Name of each image (default ``"image 1"``, ``"image 2"``, ...).
    ndim : int
        2, or 3 for volumes (see :func:`score_image`).

    The pooled AP sums TP, FP and FN over all images (as
    :func:`~denoise2seg.metrics.average_precision_dataset`), the pooled SEG averages over all
    ground-truth objects (as :func:`~denoise2seg.metrics.seg_score_dataset`); the per-image
    mean averages each score over images (as
    :func:`~denoise2seg.metrics.average_precision_per_image`).
    """
    if len(labels_true) != len(labels_test):
        raise ValueError(f"got {len(labels_true)} ground-truth and {len(labels_test)} predicted label images; give one of each per image")
    if not labels_true:
        raise ValueError("no images to score")
    names = [f"image {i + 1}" for i in range(len(labels_true))] if names is None else list(names)
    if len(names) != len(labels_true):
        raise ValueError(f"got {len(names)} names for {len(labels_true)} images")
    tallies = [_tally(t, p, name, ndim) for t, p, name in zip(labels_true, labels_test, names)]
    images = tuple(tally.scores(name) for tally, name in zip(tallies, names))
    pooled = _Tally(sum(t.counts for t in tallies), np.concatenate([t.jaccards for t in tallies])).scores("pooled")
    mean = InstanceScores(
        "mean per image",
        tuple(float(v) for v in np.mean([s.average_precision for s in images], axis=0)),
        float(np.mean([s.seg for s in images])),
        pooled.n_true,
        pooled.n_predicted,
    )
    return ScoreTable(images, pooled, mean)
