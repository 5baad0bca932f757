"""Tiled prediction equals whole-image prediction; models round-trip through their folder."""

import numpy as np
import pytest
import torch

from denoise2seg.data.normalization import PercentileNormalizer
from denoise2seg.n2v import N2VConfig, N2VModel
from denoise2seg.nets import UNet, UNetSpec
from denoise2seg.prediction import default_tile_shape, predict_tiled


def _random_model(ndim: int, seed: int = 0) -> N2VModel:
    """An untrained N2V model with random weights and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    config = N2VConfig(ndim=ndim, depth=2, n_filters=4, patch_size=16)
    net = UNet(config.unet_spec())
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(2, 1, *(16,) * ndim) * 3 + 1)
    net.eval()
    return N2VModel(net, config, PercentileNormalizer(mi=10.0, ma=200.0))


@pytest.mark.parametrize(
    "shape, tile",
    [((61, 47), (16, 16)), ((64, 64), (32, 16)), ((33, 100), (20, 36)), ((1, 9), (4, 4))],
)
def test_tiled_equals_whole_2d(shape, tile):
    model = _random_model(2)
    image = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
    whole = model.predict(image, tile_shape=None)
    tiled = model.predict(image, tile_shape=tile)
    assert whole.shape == shape and whole.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-3)


def test_tiled_equals_whole_3d():
    model = _random_model(3)
    image = np.random.default_rng(2).uniform(0, 255, (13, 30, 21)).astype(np.float32)
    whole = model.predict(image, tile_shape=None)
    np.testing.assert_allclose(model.predict(image, tile_shape=(8, 12, 8)), whole, rtol=1e-4, atol=1e-3)


def test_stack_of_2d_frames_is_predicted_frame_by_frame():
    model = _random_model(2)
    stack = np.random.default_rng(3).uniform(0, 255, (3, 27, 35)).astype(np.float32)
    result = model.predict(stack, tile_shape=(16, 16))
    assert result.shape == stack.shape
    for frame, denoised in zip(stack, result):
        np.testing.assert_allclose(denoised, model.predict(frame, tile_shape=None), rtol=1e-4, atol=1e-3)


def test_multichannel_output_tiles_like_the_whole_image():
    torch.manual_seed(4)
    net = UNet(UNetSpec(ndim=2, in_channels=2, out_channels=3, depth=2, n_filters=4)).eval()
    image = np.random.default_rng(4).normal(size=(2, 45, 38)).astype(np.float32)
    spec = net.spec
    whole = predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius, tile_shape=None)
    tiled = predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius, tile_shape=(12, 12))
    assert whole.shape == (3, 45, 38)
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-4)


class RecordingIdentity:
    """A stand-in network that returns its input and records the spatial shape of every tile."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def __call__(self, tile: torch.Tensor) -> torch.Tensor:
        self.inputs.append(tile[0].numpy().copy())
        return tile


def test_default_tiles_bound_the_tile_size_and_cover_the_image():
    image = np.random.default_rng(6).normal(size=(1, 1101, 701)).astype(np.float32)
    net = RecordingIdentity()
    result = predict_tiled(net, image, divisor=4, halo=10)
    edge = default_tile_shape(2)[0]
    assert default_tile_shape(2) == (512, 512) and default_tile_shape(3) == (64, 64, 64)
    assert len(net.inputs) == 3 * 2
    # Halo 10 rounds up to 12 (the divisor); border windows shift inwards instead of shrinking.
    assert {tile.shape for tile in net.inputs} == {(1, edge + 2 * 12, edge + 2 * 12)}
    np.testing.assert_array_equal(result, image)


@pytest.mark.parametrize("shape", [(1, 13, 6), (2, 1, 9), (1, 3, 5, 7)])
def test_whole_image_tile_sees_the_image_padded_like_numpy(shape):
    image = np.random.default_rng(7).normal(size=shape)
    net = RecordingIdentity()
    predict_tiled(net, image, divisor=8, halo=4, tile_shape=None)
    padded_shape = [int(np.ceil(s / 8) * 8) for s in shape[1:]]
    modes = {s: "edge" if s == 1 else "reflect" for s in shape[1:]}
    expected = image.astype(np.float32)
    for axis, (s, p) in enumerate(zip(shape[1:], padded_shape), start=1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (0, p - s)
        expected = np.pad(expected, pad, mode=modes[s])
    (seen,) = net.inputs
    np.testing.assert_array_equal(seen, expected)


def test_default_tiling_of_a_large_image_equals_whole_image_and_keeps_the_input():
    model = _random_model(2)
    image = np.random.default_rng(8).integers(0, 255, (600, 530)).astype(np.uint16)
    original = image.copy()
    tiled = model.predict(image)
    whole = model.predict(image.astype(np.float32), tile_shape=None)
    assert tiled.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(image, original)


def test_out_is_filled_in_place_and_checked():
    torch.manual_seed(9)
    net = UNet(UNetSpec(ndim=2, in_channels=1, out_channels=2, depth=1, n_filters=4)).eval()
    image = np.random.default_rng(9).normal(size=(1, 20, 30)).astype(np.float32)
    spec = net.spec
    out = np.zeros((2, 20, 30), np.float32)
    returned = predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius, tile_shape=(8, 8), out=out)
    assert returned is out
    np.testing.assert_allclose(out, predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius), rtol=1e-4, atol=1e-4)
    for wrong in (np.zeros((1, 20, 30), np.float32), np.zeros((2, 20, 31), np.float32), np.zeros((2, 20, 30))):
        with pytest.raises(ValueError, match="out"):
            predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius, out=wrong)
    with pytest.raises(ValueError, match="tile_shape"):
        predict_tiled(net, image, divisor=spec.divisor, halo=spec.receptive_radius, tile_shape="whole")


def test_save_load_round_trip_gives_the_same_weights_and_predictions(tmp_path):
    model = _random_model(2)
    model.save(tmp_path / "model")
    loaded = N2VModel.load(tmp_path / "model", device="cpu")
    image = np.random.default_rng(5).uniform(0, 255, (40, 52)).astype(np.float32)
    assert loaded.config == model.config
    assert loaded.normalizer == model.normalizer
    saved, read = model.net.state_dict(), loaded.net.state_dict()
    assert saved.keys() == read.keys()
    for name in saved:
        torch.testing.assert_close(read[name], saved[name], rtol=0, atol=0)
    # The loaded network predicts in the CPU's channels-last layout: the same arithmetic, summed in another order.
    np.testing.assert_allclose(loaded.predict(image), model.predict(image), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("image", [np.zeros((4, 5, 6, 7)), np.zeros(10), np.full((8, 8), np.nan), np.zeros((0, 8))])
def test_predict_rejects_bad_images(image):
    with pytest.raises(ValueError):
        _random_model(2).predict(image)
