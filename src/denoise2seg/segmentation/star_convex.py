"""StarDist (Schmidt et al. 2018; Weigert et al. 2020 in 3D) in torch: targets, ray-aware augmentation, losses, instances.

Targets, non-maximum suppression and rasterisation are stardist's own numpy functions
(2D: ``star_dist``, ``edt_prob``, ``non_maximum_suppression``, ``polygons_to_label``;
3D: ``star_dist3D``, ``non_maximum_suppression_3d``, ``polyhedron_to_label`` with
``Rays_GoldenSpiral`` rays); only the network and the losses run in torch. In 2D, rays
``k = 0..n_rays-1`` point at angle ``2 pi k / n_rays`` with direction ``(dy, dx) =
(sin, cos)`` (stardist's convention); in 3D they are stardist's golden-spiral rays,
stretched by the anisotropy of the voxels.
"""

from __future__ import annotations

import numpy as np
import torch
from stardist import (
    Rays_GoldenSpiral,
    edt_prob,
    non_maximum_suppression,
    non_maximum_suppression_3d,
    polygons_to_label,
    polyhedron_to_label,
    star_dist,
    star_dist3D,
)

# Target channels: 0 = annotated region (1/0), 1 = object probability, 2.. = ray distances.
VALID, PROB, DIST = 0, 1, 2


def rays_3d(n_rays: int, anisotropy: tuple[float, float, float] | None = None) -> Rays_GoldenSpiral:
    """stardist's golden-spiral rays for 3D, stretched by the ``(Z, Y, X)`` voxel ``anisotropy`` (None: isotropic)."""
    return Rays_GoldenSpiral(n_rays, anisotropy=None if anisotropy is None else tuple(anisotropy))


def stardist_targets(
    labels: np.ndarray, n_rays: int, valid: np.ndarray | None = None, anisotropy: tuple[float, float, float] | None = None
) -> np.ndarray:
    """``(2 + n_rays, *spatial)`` float32 targets of a 2D or 3D instance mask: valid, edt_prob, ray distances.

    3D masks get ``star_dist3D`` along :func:`rays_3d` and an ``edt_prob`` measured in
    the voxel ``anisotropy``.
    """
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    valid = np.ones(labels.shape, dtype=bool) if valid is None else valid
    if labels.ndim == 3:
        prob = edt_prob(labels, anisotropy=anisotropy)
        dist = star_dist3D(labels, rays_3d(n_rays, anisotropy), mode="cpp")
    else:
        prob = edt_prob(labels)
        dist = star_dist(labels, n_rays, mode="cpp")
    return np.concatenate([valid[None].astype(np.float32), prob[None].astype(np.float32), np.moveaxis(dist, -1, 0)])


def ray_permutations(n_rays: int) -> dict[str, np.ndarray]:
    """Index arrays mapping ray distances under the three generators of the square's symmetries.

    A flip of X sends angle ``phi`` to ``pi - phi``, a flip of Y to ``-phi``, a Y/X
    transpose to ``pi/2 - phi``; each is its own inverse, so after the spatial operation
    the new channel ``k`` holds the old channel ``perm[k]``.
    """
    k = np.arange(n_rays)
    return {
        "flip_x": (n_rays // 2 - k) % n_rays,
        "flip_y": (-k) % n_rays,
        "transpose": (n_rays // 4 - k) % n_rays,
    }


def random_dihedral_rays(
    images: torch.Tensor, targets: torch.Tensor, n_rays: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """8-fold flips/rot90 of ``(N, C, Y, X)`` images and their StarDist targets, on device.

    Unlike plain image augmentation, the ray-distance channels are permuted so that a
    rotated object keeps correct distances along every ray.
    """
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"dihedral augmentation needs square patches, got {tuple(images.shape[-2:])}")
    n = images.shape[0]
    draws = torch.rand(3, n, device=images.device, generator=generator) < 0.5
    view = (n, 1, 1, 1)
    perms = ray_permutations(n_rays)
    operations = (
        (lambda t: t.flip(-1), perms["flip_x"]),
        (lambda t: t.flip(-2), perms["flip_y"]),
        (lambda t: t.transpose(-1, -2), perms["transpose"]),
    )
    for draw, (operation, perm) in zip(draws, operations):
        moved = operation(targets)
        index = torch.as_tensor(perm + DIST, device=targets.device)
        moved = torch.cat([moved[:, :DIST], moved.index_select(1, index)], dim=1)
        images = torch.where(draw.view(view), operation(images), images)
        targets = torch.where(draw.view(view), moved, targets)
    return images, targets


def stardist_loss(
    output: torch.Tensor,
    targets: torch.Tensor,
    prob_weight: float = 1.0,
    dist_weight: float = 0.2,
    background_reg: float = 1e-4,
) -> torch.Tensor:
    """StarDist's loss on annotated pixels: BCE on probability + prob-weighted L1 on distances.

    ``output`` is ``(N, 1 + n_rays, Y, X)`` (probability logit, distances in pixels);
    ``targets`` as from :func:`stardist_targets`. As in stardist, the distance term is
    normalised by the mean probability weight, and distances predicted on background
    are pulled to 0 with weight ``background_reg``.
    """
    output = output.float()
    valid = targets[:, VALID]
    prob_true = targets[:, PROB]
    dist_true = targets[:, DIST:]
    n_valid = valid.sum().clamp_min(1.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(output[:, 0], prob_true, reduction="none")
    prob_loss = (bce * valid).sum() / n_valid
    dist_pred = output[:, 1:]
    weight = prob_true * valid
    l1 = (dist_pred - dist_true).abs().mean(dim=1)
    dist_loss = (weight * l1).sum() / weight.sum().clamp_min(1e-6)
    reg = ((1.0 - prob_true) * valid * dist_pred.abs().mean(dim=1)).sum() / n_valid
    return prob_weight * prob_loss + dist_weight * (dist_loss + background_reg * reg)


# At most this fraction of the pixels enters NMS (the most probable ones). Nuclei cover far
# less of an image; the cap only bounds the quadratic cost of NMS for an undertrained
# network whose probability map is high everywhere.
MAX_CANDIDATE_FRACTION = 0.1
# Candidates of a live preview in 3D: stardist's 3D NMS takes about 2 ms per candidate with
# 64 rays on one core, so a preview stays within seconds whatever the network outputs.
PREVIEW_CANDIDATES_3D = 3000


def nms_candidates(
    prob: np.ndarray,
    dist: np.ndarray,
    nms_thresh: float,
    prob_floor: float,
    anisotropy: tuple[float, float, float] | None = None,
    max_candidates: int | None = None,
) -> tuple:
    """Polygons (polyhedra in 3D) surviving stardist's NMS among pixels with ``prob > prob_floor``.

    ``prob`` is ``(Y, X)`` or ``(Z, Y, X)``, ``dist`` ``(n_rays, *spatial)``; in 3D the
    rays are :func:`rays_3d` of ``anisotropy``. Returns ``(points, probs, dists)``.
    Greedy NMS visits candidates by decreasing probability, so the survivors
    for any higher probability threshold are exactly these survivors above it: one NMS
    per ``nms_thresh`` serves a whole sweep of probability thresholds. For the same
    reason, keeping only the most probable ``MAX_CANDIDATE_FRACTION`` of pixels (at most
    ``max_candidates`` when given) changes nothing among the survivors above that level.
    """
    dist = np.ascontiguousarray(np.moveaxis(dist, 0, -1), dtype=np.float32)
    dist = np.maximum(dist, 1e-3)
    k = max(1, int(MAX_CANDIDATE_FRACTION * prob.size))
    if max_candidates is not None:
        k = min(k, max_candidates)
    prob_floor = max(prob_floor, float(np.partition(prob.ravel(), -k)[-k]))
    prob = np.asarray(prob, dtype=np.float32)
    if not (prob > prob_floor).any():
        n_rays = dist.shape[-1]
        return np.zeros((0, prob.ndim), dtype=int), np.zeros(0, dtype=np.float32), np.zeros((0, n_rays), dtype=np.float32)
    if prob.ndim == 3:
        rays = rays_3d(dist.shape[-1], anisotropy)
        return non_maximum_suppression_3d(dist, prob, rays, prob_thresh=prob_floor, nms_thresh=nms_thresh)
    return non_maximum_suppression(dist, prob, prob_thresh=prob_floor, nms_thresh=nms_thresh)


def polygons_above(
    candidates: tuple, shape: tuple[int, ...], prob_thresh: float, anisotropy: tuple[float, float, float] | None = None
) -> np.ndarray:
    """Rasterise the NMS survivors with probability above ``prob_thresh`` into int32 labels of ``shape`` (2D or 3D)."""
    points, probs, dists = candidates
    keep = probs > prob_thresh
    if not keep.any():
        return np.zeros(shape, dtype=np.int32)
    if len(shape) == 3:
        rays = rays_3d(dists.shape[-1], anisotropy)
        labels = polyhedron_to_label(dists[keep], points[keep], rays, shape, prob=probs[keep], verbose=False)
        return labels.astype(np.int32)
    return polygons_to_label(dists[keep], points[keep], shape, prob=probs[keep]).astype(np.int32)


def instances_from_stardist(
    prob: np.ndarray,
    dist: np.ndarray,
    prob_thresh: float,
    nms_thresh: float,
    anisotropy: tuple[float, float, float] | None = None,
    max_candidates: int | None = None,
) -> np.ndarray:
    """Instance labels (int32, shape of ``prob``) from StarDist outputs ``prob (*spatial)``, ``dist (n_rays, *spatial)``.

    ``max_candidates`` bounds the pixels entering NMS (the most probable ones; see
    :func:`nms_candidates`).
    """
    candidates = nms_candidates(prob, dist, nms_thresh, prob_thresh, anisotropy, max_candidates)
    return polygons_above(candidates, prob.shape, prob_thresh, anisotropy)
