"""Data pieces of N2V training: 8-fold augmentation, patch sampling, validation split, normalisation."""

import numpy as np
import pytest
import torch

from denoise2seg.data.augment import random_dihedral
from denoise2seg.data.normalization import PercentileNormalizer, ZScoreNormalizer, normalizer_from_dict
from denoise2seg.data.patches import PatchSampler
from denoise2seg.data.samples import NOISE_LEVELS, noisy_nuclei_2d
from denoise2seg.data.splits import split_validation


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


def _held_out(train, val, images):
    return 1 - sum(t[0].size for t in train) / sum(im[0].size for im in images), val


def test_a_single_image_loses_a_strip_of_at_most_the_fraction():
    image = np.arange(100 * 70, dtype=np.float32).reshape(1, 100, 70)
    train, val = split_validation([image], (16, 16), 0.1, seed=0, multiple=4)
    # 10 rows rounded down to a multiple of 4: 8 rows, 8 % of the image
    assert train[0].shape == (1, 92, 70)
    assert val.shape == (4, 1, 8, 16)
    assert val.min() >= train[0].max()


def test_small_images_are_held_out_whole_never_more_than_the_fraction():
    """The VoidSeg case: 128x128 images and 64 px patches (a patch-tall strip would be half of each)."""
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(1, 128, 128)).astype(np.float32) for _ in range(20)]
    train, val = split_validation(images, (64, 64), 0.1, seed=0, multiple=4)
    fraction, _ = _held_out(train, val, images)
    assert fraction == pytest.approx(0.1)
    assert all(t.shape == (1, 128, 128) for t in train) and val.shape == (2 * 4, 1, 64, 64)
    held = [im for im in images if not any(im is t for t in train)]
    assert {p.tobytes() for p in val} <= {p.tobytes() for im in held for p in (im[:, :64, :64], im[:, :64, 64:], im[:, 64:, :64], im[:, 64:, 64:])}

    # too few images to spare one: a strip of every image, at most the fraction of it
    train, val = split_validation(images[:3], (64, 64), 0.1, seed=0, multiple=4)
    fraction, _ = _held_out(train, val, images[:3])
    assert 0 < fraction <= 0.1 and val.shape[-2:] == (12, 64)


def test_zscore_normaliser_gives_zero_mean_unit_variance_and_back():
    image = np.random.default_rng(0).normal(300, 40, (64, 64)).astype(np.float32)
    normalizer = ZScoreNormalizer.fit([image, image[::2]])
    normalized = normalizer.normalize(image)
    assert normalized.mean() == pytest.approx(0, abs=0.05) and normalized.std() == pytest.approx(1, abs=0.05)
    np.testing.assert_allclose(normalizer.denormalize(normalized), image, rtol=1e-5, atol=1e-2)
    assert normalizer_from_dict(normalizer.to_dict()) == normalizer


def test_model_folders_written_before_zscore_keep_their_percentiles():
    stored = {"mi": 2.0, "ma": 10.0, "pmin": 1.0, "pmax": 99.8}
    assert normalizer_from_dict(stored) == PercentileNormalizer(2.0, 10.0)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalizer_from_dict({"method": "minmax"})


def test_normaliser_maps_percentiles_to_0_and_1_and_back():
    image = np.random.default_rng(0).uniform(0, 1000, (64, 64)).astype(np.float32)
    normalizer = PercentileNormalizer.fit([image])
    normalized = normalizer.normalize(image)
    assert np.percentile(normalized, 1) == pytest.approx(0, abs=1e-4)
    assert np.percentile(normalized, 99.8) == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(normalizer.denormalize(normalized), image, rtol=1e-5, atol=1e-2)
    assert normalizer_from_dict(normalizer.to_dict()) == normalizer


@pytest.mark.parametrize("sigma", NOISE_LEVELS)
def test_noisy_sample_has_the_requested_noise_and_is_reproducible(sigma):
    noisy, clean, mask = noisy_nuclei_2d(sigma)
    assert noisy.shape == clean.shape == mask.shape and mask.max() > 10
    assert np.std(noisy - clean) == pytest.approx(sigma, rel=0.02)
    assert np.array_equal(noisy, noisy_nuclei_2d(sigma)[0])
