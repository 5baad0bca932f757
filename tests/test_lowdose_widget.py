"""The Low-dose CT denoise widget opened from napari's Plugins menu and driven like a user:
add a subject, train the denoiser and the noise models in one run, Stop, adapt."""

import hashlib

import numpy as np
import pytest

from denoise2seg.ct.lowdose import DoseSimulation, PseudoCTFolder, simulated_subjects

pytestmark = pytest.mark.gui
LOW_DOSE = "Low-dose CT denoise"


def set_tiny(widget, tmp_path, epochs=1, steps=2):
    for spin, value in ((widget.epochs_spin, epochs), (widget.steps_spin, steps), (widget.batch_spin, 2), (widget.patch_spin, 32), (widget.filters_spin, 4), (widget.unet_filters_spin, 4)):
        spin.setValue(value)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "models"))


@pytest.fixture(scope="module")
def subjects():
    return simulated_subjects(["neck", "neck"], n_slices=2, dose=DoseSimulation(n_views=60), seed=0)


def test_train_then_adapt_shows_live_layer(make_napari_viewer, open_widget, qtbot, tmp_path, subjects):
    viewer = make_napari_viewer()
    train, test = subjects
    viewer.add_image(train.low_dose, name="low", scale=(1.0, 0.5, 0.5))
    viewer.add_image(train.normal_dose, name="normal")
    viewer.add_image(test.low_dose, name="test low", scale=(1.0, 0.5, 0.5))
    widget = open_widget(viewer, LOW_DOSE)
    assert (widget.low_combo.currentText(), widget.normal_combo.currentText()) == ("low", "normal")
    widget.add_pair_button.click()
    assert widget.subject_list.count() == 1
    set_tiny(widget, tmp_path)
    widget.train_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.train_panel.status.text() == "done"
    # one run: the denoiser, then the subject's noise model, 2 steps each
    assert len(widget.train_panel.plot.train_losses) == widget.train_panel.progress.maximum() == 4
    folder = PseudoCTFolder(tmp_path / "models")
    assert folder.load_denoiser("cpu") and len(folder.load_noise_models("ensemble", "cpu")) == 1

    widget.target_combo.setCurrentText("test low")
    widget.adapt_steps_spin.setValue(4)
    widget.period_spin.setValue(2)
    widget.adapt_batch_spin.setValue(2)
    live = "test low denoised (Pseudo-CT)"
    inserted = []
    viewer.layers.events.inserted.connect(lambda event: inserted.append(event.value.name))
    widget.adapt_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running and widget.adapt_panel.train_button.isEnabled(), timeout=60_000)
    assert widget.adapt_panel.status.text() == "done"
    result = viewer.layers[live]
    assert result.data.shape == test.low_dose.shape and tuple(result.scale) == (1.0, 0.5, 0.5)
    # the live slice and the final scan share one layer: replacing a layer freezes napari for seconds
    assert inserted == [live]
    assert np.abs(result.data - test.low_dose).mean() > 1.0


def test_stop_keeps_the_trained_denoiser(make_napari_viewer, open_widget, qtbot, tmp_path, subjects):
    viewer = make_napari_viewer()
    train = subjects[0]
    viewer.add_image(train.low_dose, name="low")
    viewer.add_image(train.normal_dose, name="normal")
    widget = open_widget(viewer, LOW_DOSE)
    widget.add_pair_button.click()
    set_tiny(widget, tmp_path, epochs=500)
    widget.train_panel.train_button.click()
    qtbot.waitUntil(lambda: widget.train_panel.status.text().startswith("noise model"), timeout=120_000)
    folder = PseudoCTFolder(tmp_path / "models")
    denoiser = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.denoiser.iterdir()}
    widget.train_panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.train_panel.status.text().startswith("stopped")
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.denoiser.iterdir()} == denoiser
    assert folder.load_denoiser("cpu").predict(train.low_dose).shape == train.low_dose.shape
    assert len(folder.load_noise_models("ensemble", "cpu")) == 1


def test_adding_the_same_layer_twice_is_refused(make_napari_viewer, open_widget, subjects, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(subjects[0].low_dose, name="only")
    widget = open_widget(viewer, LOW_DOSE)
    widget.low_combo.setCurrentText("only")
    widget.normal_combo.setCurrentText("only")
    widget.add_pair_button.click()
    assert widget.subject_list.count() == 0 and any("two different image layers" in m for m in error_messages())
    widget.train_panel.train_button.click()
    assert not widget.running and any("at least one training subject" in m for m in error_messages())


def test_sample_pair_is_two_aligned_layers():
    from denoise2seg.napari.ct_samples import lowdose_ct_pair

    (low, low_meta, kind), (normal, normal_meta, _) = lowdose_ct_pair()
    assert kind == "image" and low.shape == normal.shape == (2, 256, 256)
    noise = low - normal
    assert 10 < noise.std() < 150 and abs(noise.mean()) < 5  # visible, zero-mean low-dose noise in HU
    assert low_meta["name"] != normal_meta["name"]
