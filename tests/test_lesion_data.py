"""Synthetic-lesion MRI cases, their normalisation, slicing, and the napari sample."""

import numpy as np
import pytest

from denoise2seg.lesion.cases import BACKGROUND_VALUE, LesionCase, normalize_case
from denoise2seg.lesion.slices import SliceSet, split_slices
from denoise2seg.lesion.synthetic import synthetic_lesion_case
from denoise2seg.metrics.lesion import lesion_size_bin


def test_synthetic_lesion_cases_cover_the_size_bins():
    small, medium, large = synthetic_lesion_case(0), synthetic_lesion_case(2), synthetic_lesion_case(4)
    assert small.image.shape == (2, 95, 112, 96) and small.spacing == (2.0, 2.0, 2.0)
    assert lesion_size_bin(small.lesion_fraction) == "<1%"
    assert lesion_size_bin(medium.lesion_fraction) == "1-5%"
    assert lesion_size_bin(large.lesion_fraction) == ">5%"
    # Lesions lie in the brain, are hyperintense on the FLAIR-like channel and hypointense on T1.
    assert not (small.labels & ~small.brain).any()
    assert small.image[1][small.labels].mean() > small.image[1][small.brain & ~small.labels].mean() + 0.2
    assert small.image[0][small.labels].mean() < small.image[0][small.brain & ~small.labels].mean()
    # Different seeds deform the anatomy differently.
    assert not np.array_equal(small.brain, medium.brain)


def test_normalisation_is_zscore_in_the_brain_with_background_minus_six():
    rng = np.random.default_rng(0)
    image = rng.normal(5.0, 3.0, (2, 4, 8, 8)).astype(np.float32)
    brain = np.zeros((4, 8, 8), bool)
    brain[:, 2:6, 2:6] = True
    normalized = normalize_case(image, brain)
    assert np.allclose(normalized[:, brain].mean(1), 0, atol=1e-5)
    assert np.allclose(normalized[:, brain].std(1), 1, atol=1e-5)
    assert (normalized[:, ~brain] == BACKGROUND_VALUE).all()


def test_slices_pad_and_split_keep_lesions_on_both_sides():
    rng = np.random.default_rng(1)
    labels = np.zeros((10, 13, 14), bool)
    labels[::2, 4:7, 4:7] = True
    case = LesionCase(rng.random((2, 10, 13, 14)).astype(np.float32) + 1, labels, np.ones((10, 13, 14), bool))
    slices = SliceSet.from_cases([case], divisor=4)
    assert slices.images.shape == (10, 2, 16, 16)
    assert (slices.images[:, :, 13:, :] == BACKGROUND_VALUE).all()
    assert np.isinf(slices.d_min[1]) and slices.d_min[0] == -2.0
    train, val = split_slices(slices, 0.2, seed=0)
    assert len(train) + len(val) == 10
    for part in (train, val):
        assert part.labels.reshape(len(part), -1).any(1).any()
    with pytest.raises(ValueError, match="lesion mask"):
        SliceSet.from_cases([LesionCase(case.image, None, case.brain)], divisor=4)


def test_mri_sample_has_two_channels_labels_and_brain():
    from denoise2seg.napari.mri_samples import mri_synthetic_lesion

    layers = mri_synthetic_lesion()
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image", "image", "labels", "labels"]
    assert layers[0][0].shape == layers[2][0].shape and layers[2][0].any()
    assert "synthetic-lesion" in layers[0][1]["name"]
