"""The CarveMix ROI and the label-aware noise of LADP on small arrays."""

import numpy as np
import pytest
import torch

from denoise2seg.lesion.noise import add_label_aware_noise, label_aware_noise
from denoise2seg.lesion.roi import roi_mask, sample_lambda, sample_roi, signed_distance


def test_signed_distance_on_a_5x5_square():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    distance = signed_distance(mask)
    # Centre: one pixel from the nearest background pixel, inside -> negative.
    assert distance[2, 2] == -2.0
    assert distance[1, 1] == -1.0
    assert distance[0, 2] == 1.0
    assert distance[0, 0] == pytest.approx(np.sqrt(2))
    assert (distance[mask] < 0).all() and (distance[~mask] > 0).all()


def test_signed_distance_without_lesion_selects_nothing():
    distance = signed_distance(np.zeros((5, 5), bool))
    assert np.isinf(distance).all()
    assert not sample_roi(distance, np.random.default_rng(0)).any()


def test_lambda_stays_in_its_bounds_and_takes_both_branches():
    rng = np.random.default_rng(1)
    d_min = -4.0
    lams = np.array([sample_lambda(d_min, rng) for _ in range(4000)])
    assert lams.min() >= -2.0 and lams.max() <= 4.0
    # A mixture of U(-2, 0) and U(0, 4) with equal weights: half the draws are negative.
    assert abs((lams < 0).mean() - 0.5) < 0.03
    assert abs(lams[lams < 0].mean() - (-1.0)) < 0.05
    assert abs(lams[lams >= 0].mean() - 2.0) < 0.1


def test_roi_contains_the_lesion_when_lambda_is_not_negative_and_stays_in_bounds():
    mask = np.zeros((21, 21), bool)
    mask[6:15, 5:14] = True
    distance = signed_distance(mask)
    d_min = abs(distance.min())
    rng = np.random.default_rng(2)
    for _ in range(200):
        lam = sample_lambda(distance.min(), rng)
        roi = roi_mask(distance, lam)
        # Never beyond the largest margin |Dmin|, never smaller than the lesion eroded by |Dmin|/2.
        assert not (roi & (distance > d_min)).any()
        assert roi[distance <= -d_min / 2].all()
        if lam >= 0:
            assert roi[mask].all()
        else:
            assert not roi[~mask].any()


def test_noise_standard_deviation_inside_and_outside_the_roi():
    roi = torch.zeros(4, 64, 64, dtype=torch.bool)
    roi[:, :, :24] = True
    generator = torch.Generator().manual_seed(0)
    noise = label_aware_noise(roi, channels=2, sigma_a=1.5, sigma_b=0.8, generator=generator)
    assert noise.shape == (4, 2, 64, 64)
    inside = noise.permute(1, 0, 2, 3)[:, roi]
    outside = noise.permute(1, 0, 2, 3)[:, ~roi]
    for channel in range(2):
        assert inside[channel].std().item() == pytest.approx(1.5, rel=0.03)
        assert outside[channel].std().item() == pytest.approx(0.8, rel=0.03)
        assert abs(inside[channel].mean().item()) < 0.05


def test_noising_transform_mixes_image_and_noise():
    image = torch.full((1, 2, 4, 4), 2.0)
    noise = torch.ones(1, 2, 4, 4)
    noisy = add_label_aware_noise(image, noise, gamma=0.95)
    assert torch.allclose(noisy, torch.full_like(image, 0.95**0.5 * 2 + 0.05**0.5))
    with pytest.raises(ValueError):
        add_label_aware_noise(image, noise, gamma=1.5)
