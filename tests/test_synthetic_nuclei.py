"""The synthetic nuclei generator: exact masks, requested noise, touching objects, fixed seeds."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from denoise2seg.data.synthetic_nuclei import nuclei_patch_dataset, synthetic_nuclei


def test_masks_are_exact_instances_and_noise_has_requested_sigma():
    noisy, clean, labels = synthetic_nuclei((256, 256), n_objects=30, noise_sigma=40, seed=3)
    assert noisy.shape == clean.shape == labels.shape == (256, 256)
    assert labels.dtype == np.int32
    ids = np.unique(labels)
    assert ids.tolist() == list(range(ids.max() + 1))
    assert 20 <= ids.max() <= 30
    for i in ids[1:]:
        assert ndi.label(labels == i)[1] == 1
    assert np.std(noisy - clean) == pytest.approx(40, rel=0.05)
    # Nuclei are brighter than the background in the clean image.
    assert clean[labels > 0].mean() > clean[labels == 0].mean() + 50


def test_varied_sizes_and_touching_nuclei():
    sizes, touching = [], 0
    for seed in range(4):
        _, _, labels = synthetic_nuclei(seed=seed)
        sizes.extend(np.bincount(labels.ravel())[1:].tolist())
        grown = ndi.grey_dilation(labels, size=3)
        touching += int(((grown != labels) & (labels > 0)).any())
    assert max(sizes) > 3 * min(sizes)
    assert touching >= 2


def test_seeds_reproduce_and_differ():
    a = synthetic_nuclei((64, 64), 5, 10, seed=1)
    b = synthetic_nuclei((64, 64), 5, 10, seed=1)
    c = synthetic_nuclei((64, 64), 5, 10, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])


def test_patch_datasets():
    noisy, clean, labels = nuclei_patch_dataset("synthetic", 20, n_images=2)
    assert noisy.shape == clean.shape == labels.shape == (8, 128, 128)
    noisy, _, labels = nuclei_patch_dataset("dsb", 40)
    assert noisy.shape == labels.shape == (16, 128, 128)
    assert all(np.unique(p).size - 1 == p.max() for p in labels)
    with pytest.raises(ValueError, match="source"):
        nuclei_patch_dataset("bbbc")
