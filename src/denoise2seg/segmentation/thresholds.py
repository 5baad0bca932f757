"""Choice of the post-processing thresholds that maximise AP on validation data (VoidSeg Sec. 3)."""

from __future__ import annotations

import numpy as np

from ..metrics import average_precision_dataset
from .star_convex import nms_candidates, polygons_above
from .three_class import instances_from_probabilities

# Grids searched: foreground-probability thresholds for the U-Net; probability and NMS
# (IoU) thresholds for StarDist around stardist's defaults (0.5, 0.4).
UNET_PROB_GRID = tuple(np.round(np.arange(0.1, 0.96, 0.05), 2).tolist())
STARDIST_PROB_GRID = tuple(np.round(np.arange(0.1, 0.91, 0.05), 2).tolist())
STARDIST_NMS_GRID = (0.3, 0.4, 0.5)


def _region(valid: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of the annotated pixels of a 2D or 3D ``valid`` mask."""
    return tuple(slice(int(c.min()), int(c.max()) + 1) for c in np.nonzero(valid))


def optimise_unet_threshold(
    outputs: list[np.ndarray], labels: list[np.ndarray], valid: list[np.ndarray], border: str = "inner"
) -> dict:
    """Foreground threshold maximising AP over the annotated regions.

    ``outputs`` are ``(3, Y, X)`` class probabilities, ``labels`` the instance masks and
    ``valid`` the annotated-region masks; ``border`` as the model was trained
    (:func:`~.three_class.instances_from_probabilities`). Returns ``{"prob_thresh", "val_ap"}``.
    """
    regions = [_region(v) for v in valid]
    truth = [lab[r] for lab, r in zip(labels, regions)]
    best = {"prob_thresh": 0.5, "val_ap": -1.0}
    for threshold in UNET_PROB_GRID:
        predicted = [instances_from_probabilities(out, threshold, border=border)[r] for out, r in zip(outputs, regions)]
        ap = average_precision_dataset(truth, predicted)
        if ap > best["val_ap"]:
            best = {"prob_thresh": float(threshold), "val_ap": ap}
    return best


def optimise_stardist_thresholds(
    outputs: list[np.ndarray], labels: list[np.ndarray], valid: list[np.ndarray], anisotropy: tuple[float, float, float] | None = None
) -> dict:
    """Probability and NMS thresholds maximising AP over the annotated regions.

    ``outputs`` are ``(1 + n_rays, *spatial)`` (probability, distances; 3D with the
    rays of ``anisotropy``). One NMS per NMS threshold serves every probability
    threshold (see :func:`nms_candidates`).
    Returns ``{"prob_thresh", "nms_thresh", "val_ap"}``.
    """
    regions = [_region(v) for v in valid]
    truth = [lab[r] for lab, r in zip(labels, regions)]
    best = {"prob_thresh": 0.5, "nms_thresh": 0.4, "val_ap": -1.0}
    floor = min(STARDIST_PROB_GRID)
    for nms_thresh in STARDIST_NMS_GRID:
        candidates = [nms_candidates(out[0], out[1:], nms_thresh, floor, anisotropy) for out in outputs]
        for prob_thresh in STARDIST_PROB_GRID:
            predicted = [
                polygons_above(c, out.shape[1:], prob_thresh, anisotropy)[r] for c, out, r in zip(candidates, outputs, regions)
            ]
            ap = average_precision_dataset(truth, predicted)
            if ap > best["val_ap"]:
                best = {"prob_thresh": float(prob_thresh), "nms_thresh": float(nms_thresh), "val_ap": ap}
    return best
