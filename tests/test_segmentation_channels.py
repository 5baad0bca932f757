"""Multi-channel input for the segmenters: channels are the network's input channels, normalised each on its
own; labels have the spatial shape; a sequential scheme denoises all channels with a multi-channel N2V
model; finetuning from it and mismatched channels are refused with what to do."""

import numpy as np
import pytest

from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation

TINY = dict(patch_size=32, batch_size=2, epochs=1, steps_per_epoch=3, depth=1, n_filters=4, stardist_features=8, seed=0)


@pytest.fixture(scope="module")
def two_channel():
    """``(images, masks)``: two 2-channel 64 x 64 images (nuclei in grey values and in thousands) and their masks."""
    images, masks = [], []
    for seed in (1, 2):
        noisy, _, mask = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=seed)
        images.append(np.stack([noisy, noisy * 40 + 1000]).astype(np.float32))
        masks.append(mask)
    return images, masks


@pytest.fixture(scope="module")
def n2v_two_channel(tmp_path_factory, two_channel):
    folder = tmp_path_factory.mktemp("n2v2c")
    config = N2VConfig(patch_size=32, batch_size=2, epochs=1, steps_per_epoch=2, depth=1, n_filters=4, seed=0)
    for _ in train_n2v(two_channel[0], config, out_dir=folder, device="cpu", axes="CYX"):
        pass
    return folder


@pytest.mark.parametrize("method, scheme", [("unet", "baseline"), ("stardist", "sequential")])
def test_two_channel_images_train_a_two_channel_segmenter(tmp_path, two_channel, n2v_two_channel, method, scheme):
    images, masks = two_channel
    config = SegmentationConfig(method=method, scheme=scheme, channels=2, **TINY)
    n2v = n2v_two_channel if scheme == "sequential" else None
    list(train_segmentation(images, masks, config, n2v_model=n2v, out_dir=tmp_path, device="cpu"))
    model = SegmentationModel.load(tmp_path, device="cpu")
    assert model.net.spec.in_channels == 2
    if scheme == "baseline":
        # Each channel normalised in its own units.
        assert len(model.normalizer.mi) == 2 and model.normalizer.mi[1] > 100 * model.normalizer.mi[0]
    labels = model.predict(images[0])
    assert labels.shape == (64, 64)
    stack = model.predict(np.stack(images))
    assert stack.shape == (2, 64, 64)
    np.testing.assert_array_equal(stack[0], labels)
    with pytest.raises(ValueError, match=r"takes 2 channels.*shape \(3, 64, 64\) has 3"):
        model.predict(np.concatenate([images[0], images[0][:1]]))


def test_mismatched_channels_and_finetuning_are_refused_with_what_to_do(tmp_path, two_channel, n2v_two_channel):
    images, masks = two_channel
    with pytest.raises(ValueError, match=r"label mask 0 has shape \(2, 64, 64\), but image 0 of shape \(2, 64, 64\) \(2 channels\) needs a mask of \(64, 64\)"):
        next(train_segmentation(images[:1], [np.stack([masks[0]] * 2)], SegmentationConfig(channels=2, **TINY), device="cpu"))
    one_channel = SegmentationConfig(scheme="sequential", **TINY)
    with pytest.raises(ValueError, match="N2V model was trained on 2 channels but the images have 1"):
        next(train_segmentation([im[0] for im in images], masks, one_channel, n2v_model=n2v_two_channel, device="cpu"))
    finetune = SegmentationConfig(scheme="finetune", channels=2, **TINY)
    with pytest.raises(ValueError, match="use the sequential scheme"):
        next(train_segmentation(images, masks, finetune, n2v_model=n2v_two_channel, out_dir=tmp_path, device="cpu"))
