"""The Low-dose CT denoise widget, driven like a user: add a subject, train, adapt."""

import numpy as np
import pytest

from denoise2seg.ct.lowdose import DoseSimulation, simulated_subjects
from denoise2seg.napari.lowdose_ct_widget import LowDoseCTWidget

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def subjects():
    return simulated_subjects(["neck", "neck"], n_slices=2, dose=DoseSimulation(n_views=60), seed=0)


def test_train_then_adapt_shows_live_layer(make_napari_viewer, qtbot, tmp_path, subjects):
    viewer = make_napari_viewer()
    train, test = subjects
    viewer.add_image(train.low_dose, name="low")
    viewer.add_image(train.normal_dose, name="normal")
    viewer.add_image(test.low_dose, name="test low")
    widget = LowDoseCTWidget(viewer)
    widget.low_combo.setCurrentText("low")
    widget.normal_combo.setCurrentText("normal")
    widget.add_pair_button.click()
    assert widget.subject_list.count() == 1
    for spin, value in ((widget.epochs_spin, 1), (widget.steps_spin, 2), (widget.batch_spin, 2), (widget.patch_spin, 32), (widget.filters_spin, 4), (widget.unet_filters_spin, 4)):
        spin.setValue(value)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "models"))
    widget.train_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.train_panel.status.text() == "done" and widget.train_panel.plot.train_losses
    assert (tmp_path / "models" / "denoiser" / "weights.safetensors").is_file()
    assert len(list((tmp_path / "models" / "noise_models").iterdir())) == 1

    widget.target_combo.setCurrentText("test low")
    widget.adapt_steps_spin.setValue(4)
    widget.period_spin.setValue(2)
    widget.adapt_batch_spin.setValue(2)
    widget.adapt_panel.train_button.click()
    live = "test low denoised (Pseudo-CT)"
    assert live in viewer.layers
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.adapt_panel.status.text() == "done"
    denoised = viewer.layers[live].data
    assert denoised.shape == test.low_dose.shape
    assert np.abs(denoised - test.low_dose).mean() > 1.0


def test_adding_the_same_layer_twice_is_refused(make_napari_viewer, subjects):
    viewer = make_napari_viewer()
    viewer.add_image(subjects[0].low_dose, name="only")
    widget = LowDoseCTWidget(viewer)
    widget.low_combo.setCurrentText("only")
    widget.normal_combo.setCurrentText("only")
    widget.add_pair_button.click()
    assert widget.subject_list.count() == 0
    widget.train_panel.train_button.click()  # nothing to train on: an error notification, no worker
    assert not widget.running


def test_sample_pair_is_two_aligned_layers():
    from denoise2seg.napari.ct_samples import lowdose_ct_pair

    (low, low_meta, kind), (normal, normal_meta, _) = lowdose_ct_pair()
    assert kind == "image" and low.shape == normal.shape == (2, 256, 256)
    noise = low - normal
    assert 10 < noise.std() < 150 and abs(noise.mean()) < 5  # visible, zero-mean low-dose noise in HU
    assert low_meta["name"] != normal_meta["name"]
