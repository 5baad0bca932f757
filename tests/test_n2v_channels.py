"""Multi-channel N2V (2D): per-channel normalisation, channels as network channels, axes in the library and the CLI."""

import json

import numpy as np
import pytest
import tifffile

from denoise2seg.cli.main import main
from denoise2seg.data.normalization import PercentileNormalizer, ZScoreNormalizer, fit_normalizer, normalizer_from_dict
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v

TINY = dict(patch_size=16, batch_size=4, epochs=1, steps_per_epoch=5, depth=1, n_filters=8, seed=0)
CLI_TINY = ["--epochs", "1", "--steps", "5", "--batch-size", "4", "--patch-size", "16", "--depth", "1", "--n-filters", "8",
            "--seed", "0", "--device", "cpu"]
# Two channels in very different units: an 8-bit one and a 16-bit one.
SCALES = (255.0, 60000.0)


def two_channel_image(shape=(48, 40), seed=0) -> np.ndarray:
    """A ``(2, Y, X)`` image: smooth structure plus noise, channel 0 within 0-255, channel 1 within 0-60000."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    signal = 0.5 + 0.3 * np.sin(y / 5.0) * np.cos(x / 7.0)
    channels = [np.clip(signal + rng.normal(0, 0.1, shape), 0, 1) * scale for scale in SCALES]
    return np.stack(channels).astype(np.float32)


@pytest.fixture(scope="module")
def two_channel_folder(tmp_path_factory):
    """Folder of a 2-channel N2V model trained 5 steps on :func:`two_channel_image` with axes ``CYX``."""
    folder = tmp_path_factory.mktemp("n2v2ch")
    for _ in train_n2v(two_channel_image(), N2VConfig(**TINY), axes="CYX", out_dir=folder, device="cpu"):
        pass
    return folder


@pytest.mark.parametrize("method", ["zscore", "percentile"])
def test_per_channel_normalisation_scales_each_channel_and_round_trips(method):
    image = two_channel_image()
    normalizer = fit_normalizer([image, image[:, ::2]], method, per_channel=True)
    assert normalizer.channels == 2
    normalized = normalizer.normalize(image)
    for channel in normalized:
        if method == "zscore":
            assert channel.mean() == pytest.approx(0, abs=0.05) and channel.std() == pytest.approx(1, abs=0.05)
        else:
            assert np.percentile(channel, 1) == pytest.approx(0, abs=0.02) and np.percentile(channel, 99.8) == pytest.approx(1, abs=0.02)
    np.testing.assert_allclose(normalizer.denormalize(normalized), image, rtol=1e-5, atol=1e-2)
    stored = json.loads(json.dumps(normalizer.to_dict()))
    assert normalizer_from_dict(stored) == normalizer


def test_single_channel_statistics_keep_the_stored_format_and_old_folders_load():
    image = np.random.default_rng(1).normal(300, 40, (32, 32)).astype(np.float32)
    per_channel = ZScoreNormalizer.fit([image[None]], per_channel=True)
    assert per_channel == ZScoreNormalizer.fit([image])
    assert isinstance(per_channel.to_dict()["mean"], float)
    assert normalizer_from_dict({"method": "zscore", "mean": 300.0, "std": 40.0}) == ZScoreNormalizer(300.0, 40.0)
    assert normalizer_from_dict({"mi": 2.0, "ma": 10.0, "pmin": 1.0, "pmax": 99.8}) == PercentileNormalizer(2.0, 10.0)


def test_per_channel_statistics_need_channels_first():
    normalizer = ZScoreNormalizer((1.0, 2.0), (1.0, 1.0))
    with pytest.raises(ValueError, match=r"holds 2 channels but the image has shape \(3, 8, 8\)"):
        normalizer.normalize(np.zeros((3, 8, 8)))


def test_two_channels_of_different_units_train_a_two_channel_model(two_channel_folder):
    image = two_channel_image()
    model = N2VModel.load(two_channel_folder, device="cpu")
    assert model.channels == 2
    assert (model.net.spec.in_channels, model.net.spec.out_channels) == (2, 2)
    record = json.loads((two_channel_folder / "config.json").read_text())
    assert record["network"]["in_channels"] == 2 and record["network"]["out_channels"] == 2
    assert len(record["normalization"]["mean"]) == 2

    denoised = model.predict(image, axes="CYX")
    assert denoised.shape == (2, 48, 40) and denoised.dtype == np.float32
    for channel, (out, given) in enumerate(zip(denoised, image)):
        assert 0.5 < out.mean() / given.mean() < 2, f"channel {channel} is not in its own units"
    np.testing.assert_allclose(model.predict(image), denoised, rtol=1e-5)  # CYX is the default of a 2-channel model


def test_prediction_keeps_the_axes_order_of_the_input(two_channel_folder):
    model = N2VModel.load(two_channel_folder, device="cpu")
    image = two_channel_image()
    cyx = model.predict(image, axes="CYX")
    yxc = model.predict(np.moveaxis(image, 0, -1), axes="YXC")
    np.testing.assert_allclose(np.moveaxis(yxc, -1, 0), cyx, rtol=1e-4, atol=1e-2)
    stack = np.stack([image, image[:, ::-1]])
    tcyx = model.predict(stack, axes="TCYX", tile_shape=(16, 16))
    assert tcyx.shape == stack.shape
    np.testing.assert_allclose(tcyx[1], model.predict(image[:, ::-1], axes="CYX"), rtol=1e-4, atol=1e-1)


def test_wrong_channel_count_names_both_counts(two_channel_folder):
    model = N2VModel.load(two_channel_folder, device="cpu")
    rgb = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(ValueError, match="has 3 channels but the model was trained on 2"):
        model.predict(rgb, axes="YXC", name="rgb.tif")
    with pytest.raises(ValueError, match="rgb.tif"):
        model.predict(rgb, axes="YXC", name="rgb.tif")
    # a 2D frame (as the predict widget hands over) has one channel
    with pytest.raises(ValueError, match=r"shape \(32, 32\) with axes 'YX' has 1 channel but the model was trained on 2"):
        model.predict(rgb[..., 0])


def test_training_images_must_agree_on_their_channels():
    with pytest.raises(ValueError, match="image 1 has 3 channels but image 0 has 2"):
        next(train_n2v([two_channel_image(), np.zeros((3, 32, 32))], N2VConfig(**TINY), axes="CYX", device="cpu"))


def test_rgb_image_trains_as_three_channels(tmp_path):
    rng = np.random.default_rng(2)
    rgb = np.clip(rng.normal((60, 120, 200), 25, (40, 40, 3)), 0, 255).astype(np.uint8)
    for _ in train_n2v(rgb, N2VConfig(**TINY), axes="YXC", out_dir=tmp_path, device="cpu"):
        pass
    model = N2VModel.load(tmp_path, device="cpu")
    assert model.channels == 3
    denoised = model.predict(rgb, axes="YXC")
    assert denoised.shape == rgb.shape
    means = denoised.reshape(-1, 3).mean(axis=0)
    assert means[0] < means[1] < means[2]  # the colours stay apart: each channel has its own statistics


def test_cli_trains_with_axes_and_writes_a_two_channel_result(tmp_path, capsys):
    source = tmp_path / "cells.tif"
    image = two_channel_image()
    tifffile.imwrite(source, image)
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(source), "--axes", "CYX", "--out", str(model_dir), *CLI_TINY]) == 0
    assert N2VModel.load(model_dir, device="cpu").channels == 2
    out = tmp_path / "denoised"
    assert main(["n2v", "predict", str(model_dir), str(source), "--axes", "CYX", "--out", str(out), "--device", "cpu"]) == 0
    denoised = tifffile.imread(out / "cells_n2v.tif")
    assert denoised.shape == (2, 48, 40)
    np.testing.assert_allclose(denoised, N2VModel.load(model_dir, device="cpu").predict(image, axes="CYX"), rtol=1e-5)
    capsys.readouterr()

    # an RGB-ordered copy is read with its own axes and written back in them
    yxc = tmp_path / "cells_yxc.tif"
    tifffile.imwrite(yxc, np.moveaxis(image, 0, -1))
    assert main(["n2v", "predict", str(model_dir), str(yxc), "--axes", "YXC", "--out", str(out), "--device", "cpu"]) == 0
    assert tifffile.imread(out / "cells_yxc_n2v.tif").shape == (48, 40, 2)


def test_cli_guesses_channels_for_a_short_first_axis_and_says_so(tmp_path, capsys):
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, two_channel_image())
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(source), "--out", str(model_dir), *CLI_TINY]) == 0
    printed = capsys.readouterr().out
    assert f"{source}: shape (2, 48, 40), axes CYX (guessed" in printed
    assert N2VModel.load(model_dir, device="cpu").channels == 2

    out = tmp_path / "denoised"
    assert main(["n2v", "predict", str(model_dir), str(source), "--out", str(out), "--device", "cpu"]) == 0
    assert "axes CYX (guessed" in capsys.readouterr().out
    assert tifffile.imread(out / "cells_n2v.tif").shape == (2, 48, 40)


def test_cli_refuses_a_file_that_does_not_fit_the_axes(tmp_path, capsys):
    source = tmp_path / "cells.tif"
    tifffile.imwrite(source, two_channel_image())
    assert main(["n2v", "train", str(source), "--axes", "YX", "--out", str(tmp_path / "model"), *CLI_TINY]) == 2
    err = capsys.readouterr().err
    assert str(source) in err and "(2, 48, 40)" in err and "'YX'" in err and "e.g. 'CYX'" in err
    assert not (tmp_path / "model").exists()


def test_cli_predict_refuses_another_channel_count(tmp_path, two_channel_folder, capsys):
    source = tmp_path / "grey.tif"
    tifffile.imwrite(source, two_channel_image()[0])
    out = tmp_path / "denoised"
    assert main(["n2v", "predict", str(two_channel_folder), str(source), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert str(source) in err and "has 1 channel" in err and "trained on 2" in err
    assert not out.exists()
