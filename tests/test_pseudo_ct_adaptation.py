"""Base denoiser and noise-model training, and Algorithm 1 on a tiny scan."""

import numpy as np
import pytest
import torch

from denoise2seg.ct.lowdose import (
    AdaptationConfig,
    DenoiserConfig,
    DoseSimulation,
    LowDoseDenoiser,
    NoiseModel,
    NoiseModelConfig,
    PseudoCTAdaptation,
    load_noise_models,
    psnr_ssim,
    simulated_subjects,
    train_denoiser,
    train_noise_model,
)
from denoise2seg.ct.lowdose.pseudo_pairs import difference_histogram
from denoise2seg.io.model_folder import ModelFolderError

TINY = dict(patch_size=32, batch_size=4, seed=0)


@pytest.fixture(scope="module")
def subjects():
    return simulated_subjects(["neck", "neck"], n_slices=2, dose=DoseSimulation(low_dose_photons=2e4, n_views=90), seed=0)


@pytest.fixture(scope="module")
def trained(subjects, tmp_path_factory):
    root = tmp_path_factory.mktemp("pseudo_ct")
    config = DenoiserConfig(n_filters=8, epochs=2, steps_per_epoch=15, learning_rate=1e-3, **TINY)
    events = list(train_denoiser(subjects[:1], config, out_dir=root / "denoiser", device="cpu", preview_slice=subjects[0].low_dose[0]))
    noise_config = NoiseModelConfig(n_filters=8, depth=1, epochs=1, steps_per_epoch=10, learning_rate=1e-3, **TINY)
    list(train_noise_model(subjects[:1], noise_config, out_dir=root / "noise" / "a", device="cpu"))
    list(train_noise_model(subjects[:1], noise_config, out_dir=root / "noise" / "b", device="cpu"))
    return root, events


def test_denoiser_training_improves_and_saves(trained, subjects):
    root, events = trained
    val = [e.val_loss for e in events if e.kind == "epoch"]
    assert val[-1] < val[0]
    previews = [e.preview for e in events if e.kind == "preview"]
    assert previews and previews[-1].shape == subjects[0].low_dose[0].shape
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    assert denoiser.net.spec.n_filters == 8
    assert denoiser.predict(subjects[1].low_dose).shape == subjects[1].low_dose.shape
    with pytest.raises(ModelFolderError, match="lowdose-noise-model"):
        NoiseModel.load(root / "denoiser", "cpu")


@pytest.mark.parametrize("scheme", ["n2n", "n2v"])
def test_self_supervised_schemes_train(scheme, subjects):
    config = DenoiserConfig(scheme=scheme, n_filters=4, epochs=1, steps_per_epoch=3, **TINY)
    events = list(train_denoiser(subjects[:1], config, device="cpu"))
    assert events[-1].kind == "done" and np.isfinite([e.train_loss for e in events if e.kind == "step"]).all()


def test_n2n_needs_a_second_realisation(subjects):
    single = simulated_subjects(["neck"], n_slices=1, dose=DoseSimulation(n_views=30))[0]
    single.low_dose_repeat = None
    with pytest.raises(ValueError, match="two independent"):
        next(train_denoiser([single], DenoiserConfig(scheme="n2n", **TINY), device="cpu"))


def test_theta_is_copied_exactly_every_c_steps(trained, subjects):
    root, _ = trained
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    config = AdaptationConfig(steps=7, update_period=3, batch_size=2, patch_size=32, learning_rate=1e-3, seed=0)
    adaptation = PseudoCTAdaptation(denoiser, subjects[1].low_dose, load_noise_models(root / "noise", "cpu"), config, device="cpu")
    task = adaptation.task
    snapshots = {}
    for event in adaptation.run():
        if event.kind == "step":
            snapshots[event.step] = {k: v.clone() for k, v in task.model.state_dict().items()}
            expected = [c for c in (3, 6) if c < event.step]  # a copy is made before the next step's pseudo pair
            assert task.copy_steps == expected
    task.sync_teacher()
    assert task.copy_steps == [3, 6]
    teacher = task.teacher.state_dict()
    assert all(torch.equal(teacher[k], snapshots[6][k]) for k in teacher)
    assert not all(torch.equal(teacher[k], snapshots[7][k]) for k in teacher)
    # The returned image is f_theta(X) with theta from step 6.
    expected = denoiser.__class__(task.teacher).predict(subjects[1].low_dose)
    np.testing.assert_allclose(adaptation.denoised(), expected, atol=1e-3)


@pytest.mark.parametrize("noise", ["ensemble", "gaussian", "hist", "model+hist"])
def test_adaptation_changes_the_output(trained, subjects, noise):
    root, _ = trained
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    models = load_noise_models(root / "noise", "cpu")
    models = models[:1] if noise == "model+hist" else models
    volume = subjects[1].low_dose
    before = denoiser.predict(volume)
    config = AdaptationConfig(noise=noise, steps=4, update_period=2, batch_size=2, patch_size=32, learning_rate=1e-3, seed=1)
    histogram = difference_histogram([(s.low_dose, s.normal_dose) for s in subjects[:1]])
    adaptation = PseudoCTAdaptation(denoiser, volume, models, config, device="cpu", histogram=histogram)
    events = list(adaptation.run(preview_every=2))
    assert [e.kind for e in events].count("preview") == 2
    after = adaptation.denoised()
    assert after.shape == volume.shape
    assert np.abs(after - before).mean() > 0.01
    np.testing.assert_array_equal(denoiser.predict(volume), before)  # the pretrained model is left alone
    assert np.isfinite(psnr_ssim(after, subjects[1].normal_dose)).all()


def test_without_theta_update_returns_the_trained_copy(trained, subjects):
    root, _ = trained
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    config = AdaptationConfig(steps=3, update_period=None, batch_size=2, patch_size=32, learning_rate=1e-3, seed=2)
    adaptation = PseudoCTAdaptation(denoiser, subjects[1].low_dose[0], load_noise_models(root / "noise", "cpu"), config, device="cpu")
    list(adaptation.run())
    assert adaptation.task.copy_steps == []
    teacher = adaptation.task.teacher.state_dict()
    assert all(torch.equal(teacher[k], v) for k, v in denoiser.net.state_dict().items())
    np.testing.assert_allclose(adaptation.denoised(), adaptation.adapted_denoiser().predict(subjects[1].low_dose[0]), atol=1e-3)


def test_adaptation_rejects_bad_input(trained, subjects):
    root, _ = trained
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    with pytest.raises(ValueError, match="at least one noise model"):
        PseudoCTAdaptation(denoiser, subjects[1].low_dose, [], AdaptationConfig(patch_size=32), device="cpu")
    with pytest.raises(ValueError, match="smaller than"):
        PseudoCTAdaptation(denoiser, np.zeros((40, 40)), [], AdaptationConfig(noise="gaussian"), device="cpu")


def test_hist_noise_samples_the_training_pairs_difference_not_the_test_scan(trained, subjects):
    root, _ = trained
    denoiser = LowDoseDenoiser.load(root / "denoiser", "cpu")
    training_pair = (subjects[0].low_dose, subjects[0].normal_dose)
    histogram = difference_histogram([training_pair])
    np.testing.assert_allclose(np.sort(histogram), np.sort(((training_pair[0] - training_pair[1]) / 4096).ravel()), atol=1e-6)
    config = AdaptationConfig(noise="hist", steps=2, batch_size=2, patch_size=32, seed=0)
    adaptation = PseudoCTAdaptation(denoiser, subjects[1].low_dose, [], config, device="cpu", histogram=histogram)
    task = adaptation.task
    patches = task._cut(4, torch.Generator().manual_seed(0))
    noise = task.pseudo_noise(patches, torch.Generator().manual_seed(1))
    assert set(np.unique(noise.numpy())) <= set(np.unique(histogram))
    with pytest.raises(ValueError, match="LDCT - NDCT histogram"):
        PseudoCTAdaptation(denoiser, subjects[1].low_dose, [], config, device="cpu")
