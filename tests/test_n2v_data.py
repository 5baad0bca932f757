"""Data pieces of N2V training: 8-fold augmentation, patch sampling, validation split, normalisation."""

import numpy as np
import pytest
import torch

from denoise2seg.data.augment import random_dihedral
from denoise2seg.data.normalization import PercentileNormalizer
from denoise2seg.data.patches import PatchSampler
from denoise2seg.data.samples import NOISE_LEVELS, noisy_nuclei_2d
from denoise2seg.data.splits import split_validation_strip


def test_dihedral_augmentation_draws_all_eight_symmetries_and_applies_them_alike():
    patch = torch.arange(16.0).view(1, 1, 4, 4)
    batch = patch.expand(400, 1, 4, 4).clone()
    generator = torch.Generator().manual_seed(0)
    images, labels = random_dihedral(batch, batch + 100, generator=generator)
    variants = {tuple(im.flatten().tolist()) for im in images}
    symmetries = set()
    for k in range(4):
        rotated = torch.rot90(patch[0, 0], k)
        symmetries |= {tuple(rotated.flatten().tolist()), tuple(rotated.T.flatten().tolist())}
    assert variants == symmetries and len(variants) == 8
    assert torch.equal(labels, images + 100)


def test_dihedral_augmentation_needs_square_patches():
    with pytest.raises(ValueError, match="square"):
        random_dihedral(torch.zeros(2, 1, 4, 6))


def test_patch_sampler_cuts_matching_patches_from_images_of_different_shapes():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(1, 20, 30)).astype(np.float32), rng.normal(size=(1, 16, 16)).astype(np.float32)]
    targets = [im * 2 for im in images]
    sampler = PatchSampler(images, (8, 8), torch.device("cpu"), targets=targets, seed=0)
    patches, target_patches = sampler.sample(64)
    assert patches.shape == (64, 1, 8, 8)
    torch.testing.assert_close(target_patches, patches * 2)
    windows = {
        im.tobytes()
        for image in images
        for y in range(image.shape[1] - 7)
        for x in range(image.shape[2] - 7)
        for im in [image[:, y : y + 8, x : x + 8]]
    }
    assert all(p.numpy().tobytes() in windows for p in patches)


def test_validation_strip_is_held_out_from_training():
    image = np.arange(100 * 70, dtype=np.float32).reshape(1, 100, 70)
    train, val = split_validation_strip([image], (16, 16), 0.1, seed=0)
    assert train[0].shape == (1, 84, 70)
    assert val.shape == (4, 1, 16, 16)
    assert val.min() >= train[0].max()


def test_normaliser_maps_percentiles_to_0_and_1_and_back():
    image = np.random.default_rng(0).uniform(0, 1000, (64, 64)).astype(np.float32)
    normalizer = PercentileNormalizer.fit([image])
    normalized = normalizer.normalize(image)
    assert np.percentile(normalized, 1) == pytest.approx(0, abs=1e-4)
    assert np.percentile(normalized, 99.8) == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(normalizer.denormalize(normalized), image, rtol=1e-5, atol=1e-2)
    assert PercentileNormalizer.from_dict(normalizer.to_dict()) == normalizer


@pytest.mark.parametrize("sigma", NOISE_LEVELS)
def test_noisy_sample_has_the_requested_noise_and_is_reproducible(sigma):
    noisy, clean, mask = noisy_nuclei_2d(sigma)
    assert noisy.shape == clean.shape == mask.shape and mask.max() > 10
    assert np.std(noisy - clean) == pytest.approx(sigma, rel=0.02)
    assert np.array_equal(noisy, noisy_nuclei_2d(sigma)[0])
