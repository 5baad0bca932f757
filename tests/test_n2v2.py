"""N2V2: max-blur-pool U-Net without the top skip connection, median blind-spot replacement, saved and loaded."""

import argparse
import itertools
import json

import numpy as np
import pytest
import tifffile
import torch

from denoise2seg.cli.main import main
from denoise2seg.cli.n2v import add_training_options, config_from_args
from denoise2seg.n2v import N2VConfig, N2VModel, blind_spot_mask, train_n2v
from denoise2seg.nets import UNet, UNetSpec
from denoise2seg.nets.unet import MaxBlurPool
from denoise2seg.prediction import predict_tiled

TINY = dict(depth=2, n_filters=8, patch_size=16, batch_size=4, epochs=1, steps_per_epoch=5, seed=0)


def _first_conv(block: torch.nn.Sequential) -> torch.nn.Module:
    return next(m for m in block if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)))


@pytest.mark.parametrize("shape", [(2, 3, 8, 12), (1, 2, 8, 4, 6)])
def test_blur_pool_halves_every_spatial_axis_and_keeps_channels(shape):
    pooled = MaxBlurPool(len(shape) - 2)(torch.randn(shape))
    assert pooled.shape == (*shape[:2], *(s // 2 for s in shape[2:]))


@pytest.mark.parametrize("shape", [(1, 2, 8, 8), (2, 1, 4, 6, 8)])
def test_blur_pool_keeps_a_constant_image_constant(shape):
    pooled = MaxBlurPool(len(shape) - 2)(torch.full(shape, 3.25))
    assert torch.allclose(pooled, torch.full_like(pooled, 3.25))


def test_blur_pool_is_the_binomial_blur_of_2_wide_maxima_at_every_second_pixel():
    image = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    padded = np.pad(image, 1, mode="edge")
    maxima = np.maximum.reduce([padded[:-1, :-1], padded[1:, :-1], padded[:-1, 1:], padded[1:, 1:]])
    taps = np.array([1, 2, 1]) / 4
    expected = np.array(
        [[(np.outer(taps, taps) * maxima[2 * i : 2 * i + 3, 2 * j : 2 * j + 3]).sum() for j in range(5)] for i in range(4)]
    )
    pooled = MaxBlurPool(2)(torch.from_numpy(image)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ndim, shape", [(2, (2, 1, 16, 24)), (3, (1, 1, 8, 16, 8))])
def test_net_without_top_skip_concatenates_nothing_at_full_resolution(ndim, shape):
    spec = UNetSpec(ndim=ndim, depth=2, n_filters=4)
    with_skip = UNet(spec)
    n2v2 = UNet(spec, blur_pool=True, top_skip=False)
    assert n2v2(torch.randn(shape)).shape == shape
    # The top decoder block sees only the upsampled features (4), not those plus the level's encoder output (4 + 4).
    assert _first_conv(with_skip.decoder[-1]).in_channels == 8
    assert _first_conv(n2v2.decoder[-1]).in_channels == 4
    assert _first_conv(n2v2.decoder[0]).in_channels == _first_conv(with_skip.decoder[0]).in_channels
    assert isinstance(n2v2.pool, MaxBlurPool) and not isinstance(with_skip.pool, MaxBlurPool)


def test_receptive_radius_bounds_what_an_n2v2_output_pixel_sees_and_tiles_match_the_whole_image():
    torch.manual_seed(0)
    net = UNet(UNetSpec(depth=2, n_filters=4, blur_pool=True, top_skip=False)).eval()
    radius = net.spec.receptive_radius
    size = 4 * ((2 * radius + 40) // 4)
    image = torch.randn(1, 1, size, size)
    for shift in range(4):
        centre = size // 2 + shift
        changed = image.clone()
        changed[..., centre, centre] += 10.0
        with torch.no_grad():
            diff = (net(image) - net(changed)).abs()[0, 0]
        rows, cols = torch.nonzero(diff > 1e-6, as_tuple=True)
        assert len(rows) > 0
        assert (rows - centre).abs().max() <= radius and (cols - centre).abs().max() <= radius
    picture = np.random.default_rng(1).normal(size=(1, 70, 90)).astype(np.float32)
    whole = predict_tiled(net, picture, divisor=4, halo=radius, tile_shape=None)
    tiled = predict_tiled(net, picture, divisor=4, halo=radius, tile_shape=(24, 32))
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5)


def _mirror(position: int, size: int) -> int:
    """Index of ``position`` of an axis of ``size`` pixels mirrored at both borders (numpy's "reflect")."""
    if position < 0:
        return -position
    return 2 * (size - 1) - position if position >= size else position


def _expected_median(patch: np.ndarray, centre: tuple[int, ...], radius: int) -> np.ndarray:
    """Per-channel median of the mirrored window around ``centre`` without it (``patch`` is ``(C, *spatial)``).

    A window position whose mirror image is the centre itself takes the opposite position.
    """
    spatial = patch.shape[1:]
    values = []
    for offset in itertools.product(range(-radius, radius + 1), repeat=len(spatial)):
        if not any(offset):
            continue
        source = tuple(_mirror(c + o, s) for c, o, s in zip(centre, offset, spatial))
        if source == centre:
            source = tuple(c - o for c, o in zip(centre, offset))
        values.append(patch[(slice(None), *source)])
    assert len(values) == (2 * radius + 1) ** len(spatial) - 1
    return np.median(np.stack(values), axis=0)


@pytest.mark.parametrize("spatial, radius", [((6, 6), 2), ((5, 7), 2), ((16, 16), 1), ((5, 6, 7), 2)])
def test_median_replacement_is_the_median_of_the_window_without_the_centre(spatial, radius):
    # Small patches and a large fraction put many blind spots at the border, where the window is mirrored.
    torch.manual_seed(0)
    patches = torch.randn(20, 2, *spatial)
    generator = torch.Generator().manual_seed(1)
    masked, mask = blind_spot_mask(patches, fraction=0.2, radius=radius, generator=generator, replacement="median")
    assert mask.sum() > 0
    original = patches.numpy()
    for n, *centre in torch.nonzero(mask[:, 0]).tolist():
        expected = _expected_median(original[n], tuple(centre), radius)
        np.testing.assert_allclose(masked[(n, slice(None), *centre)].numpy(), expected, rtol=1e-6)
    unmasked = ~mask.expand_as(patches)
    assert torch.equal(masked[unmasked], patches[unmasked])


def test_unknown_replacement_is_rejected():
    with pytest.raises(ValueError, match="replacement must be one of"):
        blind_spot_mask(torch.zeros(1, 1, 8, 8), replacement="mean")


def test_n2v2_config_builds_the_n2v2_net_and_median_replacement():
    config = N2VConfig(n2v2=True, lr_schedule="cosine")
    spec = config.unet_spec()
    assert spec.blur_pool and not spec.top_skip and config.replacement == "median"
    assert config.schedule().lr_schedule == "cosine"
    default = N2VConfig()
    assert not default.unet_spec().blur_pool and default.unet_spec().top_skip and default.replacement == "random"
    assert default.schedule().lr_schedule == "plateau"
    with pytest.raises(ValueError, match="lr_schedule"):
        N2VConfig(lr_schedule="step")


def test_n2v2_model_trains_saves_and_loads_the_same_net(tmp_path):
    image = np.random.default_rng(0).normal(100, 20, size=(48, 48)).astype(np.float32)
    config = N2VConfig(**TINY, n2v2=True, lr_schedule="cosine")
    events = list(train_n2v(image, config, out_dir=tmp_path / "trained", device="cpu"))
    assert [e.kind for e in events].count("step") == 5
    trained = N2VModel.load(tmp_path / "trained", device="cpu")
    assert trained.config.n2v2 and trained.config.lr_schedule == "cosine"
    assert trained.net.spec.blur_pool and not trained.net.spec.top_skip
    assert isinstance(trained.net.pool, MaxBlurPool)
    before = trained.predict(image)
    trained.save(tmp_path / "copy")
    loaded = N2VModel.load(tmp_path / "copy", device="cpu")
    assert isinstance(loaded.net.pool, MaxBlurPool)
    assert _first_conv(loaded.net.decoder[-1]).in_channels == _first_conv(trained.net.decoder[-1]).in_channels == 8
    np.testing.assert_array_equal(loaded.predict(image), before)


def test_spec_and_model_saved_before_n2v2_load_as_the_n2v_net(tmp_path):
    old_spec = {"ndim": 2, "in_channels": 1, "out_channels": 1, "depth": 2, "n_filters": 32, "kernel_size": 3, "batch_norm": True}
    spec = UNetSpec.from_dict(old_spec)
    assert not spec.blur_pool and spec.top_skip
    image = np.random.default_rng(1).normal(size=(32, 32)).astype(np.float32)
    folder = tmp_path / "old"
    list(train_n2v(image, N2VConfig(**{**TINY, "steps_per_epoch": 2}), out_dir=folder, device="cpu"))
    before = N2VModel.load(folder, device="cpu").predict(image)
    record = json.loads((folder / "config.json").read_text())
    for key in ("blur_pool", "top_skip"):
        del record["network"][key]
    for key in ("n2v2", "lr_schedule"):
        del record["config"][key]
    (folder / "config.json").write_text(json.dumps(record))
    model = N2VModel.load(folder, device="cpu")
    assert isinstance(model.net.pool, torch.nn.MaxPool2d) and model.net.spec.top_skip
    assert not model.config.n2v2 and model.config.lr_schedule == "plateau"
    np.testing.assert_array_equal(model.predict(image), before)


def test_cli_n2v2_with_cosine_schedule_records_both_in_the_model(tmp_path, capsys):
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, np.random.default_rng(2).normal(100, 20, (40, 44)).astype(np.float32))
    tiny = ["--epochs", "1", "--steps", "2", "--batch-size", "4", "--patch-size", "16", "--depth", "2", "--n-filters", "4"]
    args = ["n2v", "train", str(path), "--out", str(tmp_path / "model"), *tiny, "--seed", "0", "--device", "cpu"]
    assert main([*args, "--n2v2", "--lr-schedule", "cosine"]) == 0
    assert "model written to" in capsys.readouterr().out
    model = N2VModel.load(tmp_path / "model", device="cpu")
    assert model.config.n2v2 and model.config.lr_schedule == "cosine"
    assert model.net.spec.blur_pool and not model.net.spec.top_skip


def test_cli_defaults_stay_n2v_with_the_plateau_schedule():
    parser = argparse.ArgumentParser()
    add_training_options(parser)
    config = config_from_args(parser.parse_args([]))
    assert not config.n2v2 and config.lr_schedule == "plateau"


def test_finetuning_from_an_n2v2_model_says_to_use_plain_n2v_or_the_sequential_scheme(tmp_path):
    from denoise2seg.segmentation import SegmentationConfig, train_segmentation

    image = np.random.default_rng(1).normal(100, 20, size=(48, 48)).astype(np.float32)
    list(train_n2v(image, N2VConfig(**TINY, n2v2=True), out_dir=tmp_path / "n2v2", device="cpu"))
    n2v2 = N2VModel.load(tmp_path / "n2v2", device="cpu")
    labels = np.zeros((48, 48), np.int32)
    labels[10:20, 10:20], labels[30:40, 25:38] = 1, 2
    config = SegmentationConfig(scheme="finetune", depth=2, n_filters=8, patch_size=16, batch_size=2, epochs=1, steps_per_epoch=2)
    with pytest.raises(ValueError, match="sequential scheme"):
        list(train_segmentation([image], [labels], config, n2v_model=n2v2, device="cpu"))
    sequential = SegmentationConfig(**{**config.to_dict(), "scheme": "sequential"})
    events = list(train_segmentation([image], [labels], sequential, n2v_model=n2v2, out_dir=tmp_path / "seg", device="cpu"))
    assert events[-1].kind == "done"
