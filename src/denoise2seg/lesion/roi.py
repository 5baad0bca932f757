"""The CarveMix region of interest around a lesion annotation (LADP Eqs. 2-3).

LADP (Ninalga 2023, Sec. II-C) takes the ROI ``C(y) = {D(.|y) <= lambda}`` from CarveMix
(Zhang et al. 2023): ``D`` is the signed distance of a pixel to the lesion contour,
negative inside the lesion, and ``lambda`` is redrawn for every sample, so the ROI is
sometimes an eroded lesion and sometimes the lesion with a margin around it.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt


def signed_distance(mask: np.ndarray, spacing: float | tuple[float, ...] = 1.0) -> np.ndarray:
    """Signed Euclidean distance of every pixel to the contour of ``mask``.

    Parameters
    ----------
    mask : bool array ``(*spatial)``
        Lesion annotation of one sample (2D slice or 3D volume).
    spacing : float or tuple
        Pixel size per axis (units of the returned distances; 1 = pixels).

    Returns
    -------
    float32 array ``(*spatial)``: for a pixel outside the lesion the distance to the
    nearest lesion pixel (> 0); for a pixel inside minus the distance to the nearest
    background pixel (< 0), as in CarveMix. Lesion pixels touching the background get
    ``-1`` (one pixel), background pixels touching the lesion ``+1``. An empty mask has
    no contour: every pixel gets ``+inf``, so no ``lambda`` selects any of them.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    outside = distance_transform_edt(~mask, sampling=spacing)
    if mask.all():
        inside = np.full(mask.shape, np.inf)
    else:
        inside = distance_transform_edt(mask, sampling=spacing)
    return np.where(mask, -inside, outside).astype(np.float32)


def sample_lambda(d_min: float, rng: np.random.Generator) -> float:
    """Draw the ROI threshold ``lambda`` for a lesion whose deepest pixel is at ``d_min``.

    LADP Eq. 3 (from CarveMix) writes ``lambda ~ 1/2 U(-|Dmin|/2, 0) + 1/2 U(0, |Dmin|)``:
    a mixture density, i.e. with probability 1/2 ``lambda`` is uniform on
    ``[-|Dmin|/2, 0]`` (the ROI is the lesion shrunk by up to half its depth) and with
    probability 1/2 uniform on ``[0, |Dmin|]`` (the lesion plus a margin up to its
    depth). CarveMix's reference code draws it that way (one uniform variable, its sign
    picking the branch); the sum of two uniform variables would be a triangular law the
    paper does not describe.
    """
    depth = abs(float(d_min))
    if rng.random() < 0.5:
        return float(rng.uniform(-depth / 2, 0.0))
    return float(rng.uniform(0.0, depth))


def roi_mask(distance: np.ndarray, lam: float) -> np.ndarray:
    """ROI indicator ``C = {D <= lambda}`` (LADP Eq. 2) as a bool array like ``distance``."""
    return np.asarray(distance) <= lam


def sample_roi(distance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random ROI from a precomputed :func:`signed_distance` map.

    ``Dmin`` is the minimum of ``distance`` (the depth of the lesion; an indication of its
    size). A sample without lesion has an empty ROI.
    """
    distance = np.asarray(distance)
    d_min = float(distance.min())
    if d_min == np.inf:
        return np.zeros(distance.shape, dtype=bool)
    if d_min == -np.inf:
        # The whole sample is lesion: it has no contour, and the ROI is all of it.
        return np.ones(distance.shape, dtype=bool)
    return roi_mask(distance, sample_lambda(d_min, rng))
