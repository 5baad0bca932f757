"""StarDist in torch: targets and NMS round-trip a label image, ray-aware augmentation, the loss."""

import numpy as np
import pytest
import torch
from stardist import star_dist

from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.metrics import average_precision
from denoise2seg.segmentation.networks import StarDistNet
from denoise2seg.nets import UNetSpec
from denoise2seg.segmentation.star_convex import (
    DIST,
    instances_from_stardist,
    random_dihedral_rays,
    ray_permutations,
    stardist_loss,
    stardist_targets,
)


@pytest.fixture(scope="module")
def labels():
    return synthetic_nuclei((96, 96), n_objects=10, noise_sigma=0, seed=5)[2]


def test_targets_and_nms_reproduce_the_mask(labels):
    targets = stardist_targets(labels, 32)
    assert targets.shape == (34, 96, 96)
    assert np.all(targets[0] == 1)
    assert np.all((targets[1] > 0) == (labels > 0))
    predicted = instances_from_stardist(targets[1], targets[DIST:], prob_thresh=0.5, nms_thresh=0.4)
    assert average_precision(labels, predicted) > 0.9


@pytest.mark.parametrize("name, operation", [("flip_x", np.fliplr), ("flip_y", np.flipud), ("transpose", np.transpose)])
def test_ray_permutation_matches_star_dist_of_the_transformed_mask(labels, name, operation):
    dist = np.moveaxis(star_dist(labels, 32, mode="cpp"), -1, 0)
    expected = np.moveaxis(star_dist(np.ascontiguousarray(operation(labels)), 32, mode="cpp"), -1, 0)
    moved = np.stack([operation(d) for d in dist])[ray_permutations(32)[name]]
    inside = operation(labels) > 0
    assert np.mean(np.abs(moved - expected)[:, inside] < 0.5) > 0.99


def test_augmentation_keeps_targets_consistent(labels):
    targets = torch.as_tensor(np.stack([stardist_targets(labels, 32)] * 8))
    images = torch.as_tensor(np.stack([labels[None]] * 8).astype(np.float32))
    aug_images, aug_targets = random_dihedral_rays(images, targets, 32, generator=torch.Generator().manual_seed(0))
    assert len({tuple(im.flatten()[:200].tolist()) for im in aug_images}) > 2  # several symmetries drawn
    for image, target in zip(aug_images, aug_targets):
        moved_labels = image[0].numpy().astype(np.int32)
        expected = np.moveaxis(star_dist(moved_labels, 32, mode="cpp"), -1, 0)
        inside = moved_labels > 0
        assert np.mean(np.abs(target[DIST:].numpy() - expected)[:, inside] < 0.5) > 0.99


def test_loss_prefers_correct_output_and_ignores_unannotated_pixels(labels):
    valid = np.zeros(labels.shape, dtype=bool)
    valid[:48] = True
    targets = torch.as_tensor(stardist_targets(labels, 32, valid))[None]
    prob = targets[:, 1:2].clamp(1e-4, 1 - 1e-4)
    perfect = torch.cat([torch.log(prob / (1 - prob)), targets[:, DIST:]], dim=1)
    wrong = torch.zeros_like(perfect)
    assert stardist_loss(perfect, targets) < 0.5 * stardist_loss(wrong, targets)
    changed = perfect.clone()
    changed[..., 48:, :] = 5.0
    assert stardist_loss(changed, targets) == pytest.approx(float(stardist_loss(perfect, targets)))


def test_network_output_shape():
    net = StarDistNet(UNetSpec(depth=1, n_filters=4, out_channels=8), n_rays=16)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 17, 32, 32)
