"""Cross-validation folds of few annotations, without a labelled pixel in two parts.

The annotated frames are cut into *units*, each trained on or scored as a whole:

* with 3 or more annotated frames, each frame is a unit (leave one frame out);
* with fewer, each annotated region is cut into :data:`STRIPS` strips across its longer
  side and unit ``k`` holds strip ``k`` of every region. Every object belongs to the
  strip of its centre: the unit's pixels are its strip's plus its own objects', less the
  other units' objects, so no object is split and no labelled pixel lies in two units.

Fold ``k`` scores unit ``k``, tunes the thresholds (and takes the validation loss) on the
next unit, and trains on the others, so the scored part never informs its own model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .annotations import AnnotatedFrame, grow_window

# Strips per annotated region when there are too few annotated frames to leave one out.
STRIPS = 3
MIN_FRAMES_FOR_LEAVE_ONE_OUT = 3


@dataclass(frozen=True)
class Unit:
    """One part of the annotations, on the whole 2D frame ``frame``.

    ``labels`` (int32) holds this unit's objects only and ``valid`` (bool) the pixels it
    owns; ``source`` is the ``(image index, frame index or None)`` of the frame.
    """

    frame: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    source: tuple[int, int | None]

    def annotated_frame(self, patch_shape: tuple[int, int]) -> AnnotatedFrame:
        """The unit as an :class:`AnnotatedFrame` cropped to its pixels, grown to at least ``patch_shape``."""
        rows, cols = np.nonzero(self.valid)
        box = (slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1))
        crop = tuple(grow_window(w, p, s) for w, p, s in zip(box, patch_shape, self.frame.shape))
        return AnnotatedFrame(self.frame[crop], self.labels[crop], self.valid[crop], self.frame, crop, self.source)

    def owned(self, predicted: np.ndarray) -> np.ndarray:
        """The objects of ``predicted`` (instance labels of the whole frame) whose centre lies in this unit's pixels."""
        ids = np.unique(predicted)
        ids = ids[ids > 0]
        if ids.size == 0:
            return np.zeros_like(predicted)
        centres = np.round(ndi.center_of_mass(np.ones_like(predicted), predicted, ids)).astype(int)
        keep = ids[self.valid[centres[:, 0], centres[:, 1]]]
        return np.where(np.isin(predicted, keep), predicted, 0)


@dataclass(frozen=True)
class Fold:
    """Train on ``train``, tune thresholds on ``tune``, score ``test`` (lists of :class:`Unit`)."""

    train: tuple[Unit, ...]
    tune: tuple[Unit, ...]
    test: tuple[Unit, ...]


def _whole_frame(frame: AnnotatedFrame) -> Unit:
    labels = np.zeros(frame.frame.shape, np.int32)
    valid = np.zeros(frame.frame.shape, bool)
    labels[frame.crop] = frame.labels
    valid[frame.crop] = frame.valid
    return Unit(frame.frame, labels, valid, frame.source)


def _strips(unit: Unit, n: int) -> list[Unit]:
    """``unit`` cut into ``n`` strips across the longer side of its pixels; each object goes with the strip of its centre."""
    rows, cols = np.nonzero(unit.valid)
    axis = 0 if np.ptp(rows) >= np.ptp(cols) else 1
    coords = (rows, cols)[axis]
    edges = np.linspace(coords.min(), coords.max() + 1, n + 1)
    position = np.indices(unit.frame.shape)[axis]
    strip_of_pixel = np.clip(np.searchsorted(edges, position, side="right") - 1, 0, n - 1)
    ids = np.unique(unit.labels)
    ids = ids[ids > 0]
    centres = np.asarray(ndi.center_of_mass(np.ones_like(unit.labels), unit.labels, ids)).reshape(-1, 2)
    strip_of_object = np.clip(np.searchsorted(edges, centres[:, axis], side="right") - 1, 0, n - 1)
    pieces = []
    for k in range(n):
        own = np.isin(unit.labels, ids[strip_of_object == k])
        others = (unit.labels > 0) & ~own
        valid = ((unit.valid & (strip_of_pixel == k)) | own) & ~others
        pieces.append(Unit(unit.frame, np.where(own, unit.labels, 0).astype(np.int32), valid, unit.source))
    return pieces


def annotation_units(frames: list[AnnotatedFrame]) -> tuple[list[list[Unit]], str]:
    """The units of ``frames`` (one list of :class:`Unit` per unit) and a sentence saying how they were cut."""
    if not frames:
        raise ValueError("no annotated frame to compare on: paint a few objects first")
    whole = [_whole_frame(f) for f in frames]
    if len(frames) >= MIN_FRAMES_FOR_LEAVE_ONE_OUT:
        return [[u] for u in whole], f"leave-one-out over the {len(frames)} annotated frames"
    strips = [_strips(u, STRIPS) for u in whole]
    if any(not piece.valid.any() for pieces in strips for piece in pieces):
        raise ValueError(
            f"an annotated region is too small to cut into {STRIPS} parts for the comparison; annotate a larger region "
            f"or {MIN_FRAMES_FOR_LEAVE_ONE_OUT} frames or more"
        )
    groups = [[pieces[k] for pieces in strips] for k in range(STRIPS)]
    regions = "the annotated region" if len(frames) == 1 else f"each of the {len(frames)} annotated regions"
    return groups, (
        f"{len(frames)} annotated frame{'s' * (len(frames) != 1)}, too few to leave one out: {regions} cut into "
        f"{STRIPS} strips across its longer side (each object with the strip of its centre), leave one strip out"
    )


def make_folds(groups: list[list[Unit]]) -> list[Fold]:
    """Fold ``k`` tests unit ``k``, tunes on unit ``k + 1`` (cyclically) and trains on the rest; needs 3 units or more."""
    n = len(groups)
    if n < 3:
        raise ValueError(f"cross-validation needs at least 3 parts of the annotations, got {n}")
    folds = []
    for k in range(n):
        tune = (k + 1) % n
        train = [u for j, g in enumerate(groups) if j not in (k, tune) for u in g]
        folds.append(Fold(tuple(train), tuple(groups[tune]), tuple(groups[k])))
    return folds
