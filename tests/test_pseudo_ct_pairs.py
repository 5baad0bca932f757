"""Pseudo-noise sources and the paper's augmentation."""

import torch

from denoise2seg.ct.lowdose.augment import center_crop, random_rescale_flip, source_patch_size
from denoise2seg.ct.lowdose.pseudo_pairs import ensemble_noise, gaussian_noise, histogram_noise


def test_ensemble_picks_each_pixel_from_one_of_the_maps():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(3, 2, 40, 40, generator=generator)
    noise = ensemble_noise(maps, generator)
    assert noise.shape == (2, 40, 40)
    matches = noise.unsqueeze(0) == maps
    assert bool(matches.any(0).all())  # every pixel equals the value of some map there
    share = matches.float().mean(dim=(1, 2, 3))
    assert bool(((share > 0.28) & (share < 0.39)).all())  # about a third from each map
    assert not torch.equal(noise, ensemble_noise(maps, generator))  # redrawn on every call


def test_gaussian_and_histogram_noise_statistics():
    generator = torch.Generator().manual_seed(1)
    gaussian = gaussian_noise((1, 1, 200, 200), 0.02, torch.device("cpu"), generator)
    assert abs(float(gaussian.std()) - 0.02) < 0.001
    values = torch.tensor([-0.01, 0.0, 0.03])
    hist = histogram_noise(values, (1000,), generator)
    assert set(hist.unique().tolist()) <= set(values.tolist())
    assert len(hist.unique()) == 3


def test_rescale_flip_keeps_channels_aligned_and_zooms():
    generator = torch.Generator().manual_seed(2)
    size = source_patch_size(16, (0.5, 2.0))
    assert size == 32
    image = torch.rand(64, 1, size, size, generator=generator)
    out = random_rescale_flip(torch.cat([image, 2 * image], dim=1), 16, (0.5, 2.0), generator)
    assert out.shape == (64, 2, 16, 16)
    torch.testing.assert_close(out[:, 1], 2 * out[:, 0])
    fixed = random_rescale_flip(image, 16, (1.0, 1.0), generator)
    # At scale 1 the result is the central crop, possibly flipped.
    crop = center_crop(image, 16)
    candidates = torch.stack([crop, crop.flip(-1), crop.flip(-2), crop.flip(-1).flip(-2)])
    assert bool(((candidates - fixed.unsqueeze(0)).abs().amax(dim=(2, 3, 4)) < 1e-5).any(0).all())
