"""Noise2Void training: it denoises the real DSB sample, stops cleanly, and rejects bad input."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v

TINY = dict(depth=1, n_filters=4, patch_size=16, batch_size=4, epochs=1, steps_per_epoch=2, seed=0)


def test_short_cpu_training_raises_psnr_on_the_noisy_sample(tmp_path):
    noisy, clean, _ = noisy_nuclei_2d(40)
    noisy, clean = noisy[:256, :256], clean[:256, :256]
    # A short CPU schedule: small net and batch, a learning rate 10x the paper's 4e-4 so
    # that 200 steps suffice. Measured: 16.1 dB -> 25.2-28.7 dB (seeds 0-2, about 20 s).
    config = N2VConfig(n_filters=8, depth=2, batch_size=16, epochs=4, steps_per_epoch=50, learning_rate=4e-3, seed=0)
    events = list(train_n2v(noisy, config, out_dir=tmp_path / "model", device="cpu"))
    assert events[-1].kind == "done"
    denoised = N2VModel.load(tmp_path / "model", device="cpu").predict(noisy)
    before = peak_signal_noise_ratio(clean, noisy, data_range=255)
    after = peak_signal_noise_ratio(clean, denoised, data_range=255)
    assert after - before > 6.0, f"PSNR {before:.2f} -> {after:.2f} dB"


def test_training_on_images_of_different_shapes_stacks_and_3d(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(40, 36)), rng.normal(size=(2, 24, 50)).astype(np.float32)]
    events = list(train_n2v(images, N2VConfig(**TINY), out_dir=tmp_path / "m2d", device="cpu"))
    assert [e.kind for e in events].count("step") == 2
    volume = rng.normal(size=(20, 24, 24))
    config = N2VConfig(**{**TINY, "ndim": 3, "patch_size": 8, "neighborhood_radius": 2})
    list(train_n2v(volume, config, out_dir=tmp_path / "m3d", device="cpu"))
    model = N2VModel.load(tmp_path / "m3d", device="cpu")
    assert model.predict(volume[:9, :13, :17]).shape == (9, 13, 17)


def test_stopping_mid_training_leaves_a_loadable_model(tmp_path):
    image = np.random.default_rng(1).normal(100, 20, size=(48, 48))
    events = train_n2v(image, N2VConfig(**{**TINY, "epochs": 3, "steps_per_epoch": 5}), out_dir=tmp_path / "m", device="cpu")
    for event in events:
        if event.kind == "step" and event.step == 3:
            break
    events.close()
    for which in ("best", "last"):
        denoised = N2VModel.load(tmp_path / "m", device="cpu", which=which).predict(image)
        assert denoised.shape == image.shape and np.isfinite(denoised).all()


def test_preview_events_carry_the_current_prediction():
    image = np.random.default_rng(2).normal(size=(32, 32))
    events = list(train_n2v(image, N2VConfig(**TINY), device="cpu", preview_image=image[:20, :28], preview_every=1))
    previews = [e for e in events if e.kind == "preview"]
    assert len(previews) == 2 and previews[0].preview.shape == (20, 28)


@pytest.mark.parametrize("every, expected_steps", [(3, [3, 4]), (100, [4])])
def test_the_last_step_is_previewed_even_when_it_is_not_a_multiple_of_the_preview_period(every, expected_steps):
    image = np.random.default_rng(3).normal(size=(32, 32))
    config = N2VConfig(**{**TINY, "epochs": 2, "steps_per_epoch": 2})
    events = list(train_n2v(image, config, device="cpu", preview_image=image, preview_every=every))
    assert [e.step for e in events if e.kind == "preview"] == expected_steps
    assert events[-1].kind == "done"


@pytest.mark.parametrize(
    "images, message",
    [
        ([], "no images given"),
        (np.zeros(50), "must be 2D or 3D"),
        (np.zeros((2, 2, 40, 40)), "must be 2D or 3D"),
        (np.full((40, 40), np.nan), "NaN or infinite"),
        ([np.zeros((40, 40)), np.zeros((40, 10))], "smaller than the patch shape"),
        (np.array([["a"] * 20] * 20), "real numbers"),
    ],
)
def test_bad_input_raises_a_clear_value_error(images, message):
    with pytest.raises(ValueError, match=message):
        next(train_n2v(images, N2VConfig(**TINY), device="cpu"))


@pytest.mark.parametrize(
    "overrides", [{"patch_size": 18, "depth": 2}, {"patch_size": 4, "depth": 1}, {"ndim": 4}, {"epochs": 0}, {"masked_fraction": 0}]
)
def test_bad_config_raises_value_error(overrides):
    with pytest.raises(ValueError):
        N2VConfig(**{**TINY, **overrides})


def test_a_patch_smaller_than_the_masking_window_names_the_window():
    with pytest.raises(ValueError, match="masking window, 2 \\* neighborhood_radius \\+ 1 = 5 pixels wide"):
        N2VConfig(**{**TINY, "patch_size": 4, "depth": 1, "neighborhood_radius": 2})
    N2VConfig(**{**TINY, "patch_size": 4, "depth": 1, "neighborhood_radius": 1})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        next(train_n2v(np.random.default_rng(0).normal(size=(32, 32)), N2VConfig(**TINY), device="cuda"))
