"""Instance segmentation metrics of VoidSeg (Prakash et al. 2020, Sec. 3): ``average_precision``
(TP / (TP + FP + FN) at IoU >= 0.5, computed by ``stardist.matching``) and ``seg_score``
(SEG of Ulman et al. 2017: mean Jaccard index of each ground-truth object with the
predicted object covering more than half of it, 0 when there is none).
"""

from __future__ import annotations

import numpy as np
from stardist.matching import matching, matching_dataset

def _check_pair(labels_true: np.ndarray, labels_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels_true = np.asarray(labels_true)
    labels_test = np.asarray(labels_test)
    if labels_true.shape != labels_test.shape:
        raise ValueError(f"ground truth {labels_true.shape} and prediction {labels_test.shape} must have the same shape")
    return labels_true.astype(np.int64), labels_test.astype(np.int64)


def average_precision(labels_true: np.ndarray, labels_test: np.ndarray, iou_threshold: float = 0.5) -> float:
    """AP of one instance mask: ``TP / (TP + FP + FN)``, objects matched one-to-one at IoU >= ``iou_threshold``.

    Both inputs are integer label images of the same shape (0 = background). Two empty
    masks score 1 (nothing to find, nothing found).
    """
    labels_true, labels_test = _check_pair(labels_true, labels_test)
    if labels_true.max() == 0 and labels_test.max() == 0:
        return 1.0
    return float(matching(labels_true, labels_test, thresh=iou_threshold).accuracy)


def average_precision_dataset(labels_true: list[np.ndarray], labels_test: list[np.ndarray], iou_threshold: float = 0.5) -> float:
    """AP over a data set: TP, FP and FN summed over all images before the ratio is taken."""
    if len(labels_true) != len(labels_test):
        raise ValueError(f"got {len(labels_true)} ground-truth and {len(labels_test)} predicted masks")
    pairs = [_check_pair(t, p) for t, p in zip(labels_true, labels_test)]
    if all(t.max() == 0 and p.max() == 0 for t, p in pairs):
        return 1.0
    stats = matching_dataset([t for t, _ in pairs], [p for _, p in pairs], thresh=iou_threshold, show_progress=False)
    return float(stats.accuracy)


def average_precision_per_image(labels_true: list[np.ndarray], labels_test: list[np.ndarray], iou_threshold: float = 0.5) -> float:
    """AP averaged over images: :func:`average_precision` of each image, then the mean.

    VoidSeg's Table 1 averages per image (an image with few objects weighs as much as a
    crowded one); :func:`average_precision_dataset` pools the matches first instead.
    """
    if len(labels_true) != len(labels_test):
        raise ValueError(f"got {len(labels_true)} ground-truth and {len(labels_test)} predicted masks")
    if not labels_true:
        raise ValueError("no images to score")
    return float(np.mean([average_precision(t, p, iou_threshold) for t, p in zip(labels_true, labels_test)]))


def seg_jaccards(labels_true: np.ndarray, labels_test: np.ndarray) -> np.ndarray:
    """Jaccard index (in [0, 1]) of every ground-truth object with its SEG match, 0 when unmatched; in increasing id order."""
    labels_true, labels_test = _check_pair(labels_true, labels_test)
    true_ids, true_sizes = np.unique(labels_true[labels_true > 0], return_counts=True)
    if true_ids.size == 0:
        return np.zeros(0)
    pred_ids, pred_sizes = np.unique(labels_test[labels_test > 0], return_counts=True)
    pred_size = dict(zip(pred_ids.tolist(), pred_sizes.tolist()))
    both = (labels_true > 0) & (labels_test > 0)
    pairs, overlaps = np.unique(np.stack([labels_true[both], labels_test[both]]), axis=1, return_counts=True)
    jaccard = dict.fromkeys(true_ids.tolist(), 0.0)
    size_of = dict(zip(true_ids.tolist(), true_sizes.tolist()))
    for (t, p), overlap in zip(pairs.T.tolist(), overlaps.tolist()):
        # Strictly more than half of the GT object: at most one predicted object can qualify.
        if 2 * overlap > size_of[t]:
            jaccard[t] = overlap / (size_of[t] + pred_size[p] - overlap)
    return np.asarray(list(jaccard.values()))


def seg_score(labels_true: np.ndarray, labels_test: np.ndarray) -> float:
    """SEG of one instance mask; 1.0 when the ground truth has no object and nothing is predicted."""
    jaccards = seg_jaccards(labels_true, labels_test)
    if jaccards.size == 0:
        return 1.0 if np.asarray(labels_test).max() == 0 else 0.0
    return float(jaccards.mean())


def seg_score_dataset(labels_true: list[np.ndarray], labels_test: list[np.ndarray]) -> float:
    """SEG over a data set: the mean over all ground-truth objects of all images."""
    if len(labels_true) != len(labels_test):
        raise ValueError(f"got {len(labels_true)} ground-truth and {len(labels_test)} predicted masks")
    jaccards = np.concatenate([seg_jaccards(t, p) for t, p in zip(labels_true, labels_test)])
    if jaccards.size == 0:
        return 1.0 if all(np.asarray(p).max() == 0 for p in labels_test) else 0.0
    return float(jaccards.mean())
