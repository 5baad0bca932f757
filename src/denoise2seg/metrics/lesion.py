"""Lesion segmentation metrics of LADP / BONBID-HIE: Dice (overall and per lesion-size bin), MASD, NSD.

Surface distances come from MONAI (``monai.metrics``), which finds the boundary voxels of
each mask and measures Euclidean distances in millimetres with the voxel ``spacing``.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..extras import import_ct
from .overlap import dice_score

# Lesion volume as a share of brain volume: the paper's bins (< 1 %, 1-5 %, > 5 %).
SIZE_BINS = ("<1%", "1-5%", ">5%")
# NSD tolerance (mm). The paper does not state one; 2 mm is one voxel of the
# synthetic-lesion data and about the in-plane resolution of clinical brain MRI.
DEFAULT_NSD_TOLERANCE_MM = 2.0


@contextmanager
def _quiet_monai():
    """Silence MONAI's deprecation notice about an argument it passes to itself (MONAI 1.5-1.6)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        yield


def _as_monai(mask: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(mask, dtype=bool)[None, None])


def _spacing(spacing, ndim: int) -> list[float]:
    values = [float(spacing)] * ndim if np.isscalar(spacing) else [float(s) for s in spacing]
    if len(values) != ndim:
        raise ValueError(f"spacing needs one value per axis ({ndim}), got {spacing}")
    return values


def _check_pair(mask_true: np.ndarray, mask_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask_true, mask_test = np.asarray(mask_true) > 0, np.asarray(mask_test) > 0
    if mask_true.shape != mask_test.shape:
        raise ValueError(f"ground truth shape {mask_true.shape} differs from prediction shape {mask_test.shape}")
    return mask_true, mask_test


def mean_average_surface_distance(mask_true: np.ndarray, mask_test: np.ndarray, *, spacing=1.0) -> float:
    """MASD: the mean of the two directed average surface distances (test to true and back), in units of ``spacing``.

    0 when both masks are empty; ``nan`` when only one is (no surface to measure to).
    """
    truth, pred = _check_pair(mask_true, mask_test)
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return math.nan
    sampling = _spacing(spacing, pred.ndim)
    p, t = _as_monai(pred), _as_monai(truth)
    with _quiet_monai():
        distance = import_ct("monai.metrics", "Measuring lesion surface distances").compute_average_surface_distance
        to_truth = distance(p, t, include_background=True, spacing=sampling)
        to_pred = distance(t, p, include_background=True, spacing=sampling)
    return float((to_truth + to_pred).item() / 2.0)


def normalized_surface_dice(
    mask_true: np.ndarray, mask_test: np.ndarray, *, tolerance: float = DEFAULT_NSD_TOLERANCE_MM, spacing=1.0
) -> float:
    """NSD (Nikolov et al. 2021): share of both boundaries lying within ``tolerance`` of the other.

    ``tolerance`` is in the units of ``spacing`` (mm). 1 when both masks are empty, 0 when
    only one is.
    """
    truth, pred = _check_pair(mask_true, mask_test)
    if not pred.any() and not truth.any():
        return 1.0
    if not pred.any() or not truth.any():
        return 0.0
    with _quiet_monai():
        value = import_ct("monai.metrics", "Measuring lesion surface distances").compute_surface_dice(
            _as_monai(pred), _as_monai(truth), [float(tolerance)], include_background=True, spacing=_spacing(spacing, pred.ndim)
        )
    return float(value.item())


def lesion_size_bin(fraction: float) -> str:
    """The paper's bin of a lesion volume ``fraction`` (of the brain): ``"<1%"``, ``"1-5%"`` or ``">5%"``."""
    if fraction < 0.01:
        return SIZE_BINS[0]
    if fraction <= 0.05:
        return SIZE_BINS[1]
    return SIZE_BINS[2]


def masd_penalty(shape: tuple[int, ...], spacing=1.0) -> float:
    """The MASD given to a case where exactly one of truth and prediction is empty: the volume's diagonal.

    No surface distance exists then; the diagonal (in the units of ``spacing``) is the
    largest distance two voxels of the volume can have, so a missed or invented lesion
    counts as the worst possible boundary error instead of vanishing from the mean.
    """
    sizes = np.asarray(shape, dtype=float) * np.asarray(_spacing(spacing, len(shape)))
    return float(np.sqrt((sizes**2).sum()))


@dataclass
class CaseScores:
    """Metrics of one case; ``masd_penalized`` when its MASD is :func:`masd_penalty` (one mask empty)."""

    name: str
    lesion_fraction: float
    size_bin: str
    dice: float
    masd: float
    nsd: float
    masd_penalized: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def score_case(
    mask_true: np.ndarray,
    mask_test: np.ndarray,
    brain: np.ndarray,
    *,
    spacing=1.0,
    name: str = "case",
    tolerance: float = DEFAULT_NSD_TOLERANCE_MM,
) -> CaseScores:
    """Dice, MASD and NSD of one volume, with its lesion-size bin (lesion voxels / brain voxels).

    When exactly one of the masks is empty, MASD is :func:`masd_penalty` (and flagged).
    """
    truth, pred = _check_pair(mask_true, mask_test)
    brain = np.asarray(brain, dtype=bool)
    if brain.shape != truth.shape or not brain.any():
        raise ValueError(f"brain mask must be non-empty with shape {truth.shape}, got {brain.shape}")
    fraction = float((truth & brain).sum() / brain.sum())
    masd = mean_average_surface_distance(truth, pred, spacing=spacing)
    penalized = math.isnan(masd)
    return CaseScores(
        name,
        fraction,
        lesion_size_bin(fraction),
        dice_score(truth, pred),
        masd_penalty(truth.shape, spacing) if penalized else masd,
        normalized_surface_dice(truth, pred, tolerance=tolerance, spacing=spacing),
        penalized,
    )


def summarize(scores: list[CaseScores]) -> dict:
    """Means over cases: ``dice`` (overall), ``dice <1%`` etc. per bin (nan for an empty bin),
    ``masd`` (over all cases, penalised ones included), ``nsd``, and ``n`` / ``n <1%`` etc.
    case counts, with ``n masd penalized`` the cases whose MASD is the penalty.

    A MASD that is not a number (a score made without :func:`score_case`'s penalty) is
    refused rather than left out: leaving failed cases out would favour a method that fails.
    """
    if not scores:
        raise ValueError("no case scores to summarise")
    summary = {"dice": float(np.mean([s.dice for s in scores])), "n": len(scores)}
    for size_bin in SIZE_BINS:
        in_bin = [s.dice for s in scores if s.size_bin == size_bin]
        summary[f"dice {size_bin}"] = float(np.mean(in_bin)) if in_bin else math.nan
        summary[f"n {size_bin}"] = len(in_bin)
    masd = [s.masd for s in scores]
    if not all(np.isfinite(masd)):
        raise ValueError("a case has no MASD; score cases with score_case, which penalises a missing surface")
    summary["masd"] = float(np.mean(masd))
    summary["n masd penalized"] = sum(s.masd_penalized for s in scores)
    summary["nsd"] = float(np.mean([s.nsd for s in scores]))
    return summary
