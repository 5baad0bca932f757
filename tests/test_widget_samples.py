"""The CT and MRI widgets on the plugin's own samples, as a new user meets them: open the sample,
open the widget from the Plugins menu, set a tiny schedule, Train, see the result layers; then a
second run stopped mid-way leaves every finished phase's model on disk, loadable."""

from __future__ import annotations

import pytest

from conftest import PLUGIN
from denoise2seg.ct import CTLesionModel
from denoise2seg.ct.lowdose import PseudoCTFolder
from denoise2seg.ct.workflow import FINETUNE_PHASE, PRETEXT_FOLDER, SEGMENTATION_FOLDER
from denoise2seg.io.model_folder import read_model_config
from denoise2seg.lesion.model import LesionEnsemble
from denoise2seg.napari import ct_pretrain_widget, ladp_widget

pytestmark = pytest.mark.gui


def _ct_tiny(widget, folder, finetune_epochs):
    widget.loss_combo.setCurrentText("mse")
    for spin, value in ((widget.size_spin, 32), (widget.depth_spin, 2), (widget.filters_spin, 4), (widget.pretext_epochs_spin, 1),
                        (widget.finetune_epochs_spin, finetune_epochs), (widget.steps_spin, 2), (widget.batch_spin, 4)):
        spin.setValue(value)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(folder))


def test_ct_denoise_pretrain_on_its_sample(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "ct_synthetic_lesion")
    widget = open_widget(viewer, "CT denoise-pretrain")
    _ct_tiny(widget, tmp_path / "run", finetune_epochs=2)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.panel.status.text() == "done"
    assert viewer.layers[ct_pretrain_widget.LIVE_LAYER].data.shape == viewer.layers["CT (synthetic-lesion)"].data.shape

    _ct_tiny(widget, tmp_path / "stopped", finetune_epochs=500)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: widget.panel.status.text().startswith(FINETUNE_PHASE), timeout=120_000)
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.panel.status.text().startswith("stopped")
    assert read_model_config(tmp_path / "stopped" / PRETEXT_FOLDER, kind="ct_pretext")
    assert CTLesionModel.load(tmp_path / "stopped" / SEGMENTATION_FOLDER, device="cpu")


def test_low_dose_ct_on_its_sample(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "lowdose_ct_pair")
    widget = open_widget(viewer, "Low-dose CT denoise")
    widget.add_pair_button.click()
    assert widget.subject_list.count() == 1
    for spin, value in ((widget.epochs_spin, 1), (widget.steps_spin, 2), (widget.batch_spin, 2), (widget.patch_spin, 32),
                        (widget.filters_spin, 4), (widget.unet_filters_spin, 4), (widget.adapt_steps_spin, 2), (widget.period_spin, 1),
                        (widget.adapt_batch_spin, 2)):
        spin.setValue(value)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "run"))
    widget.train_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.train_panel.status.text() == "done"
    widget.target_combo.setCurrentText("low dose (simulated)")
    widget.adapt_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running and widget.adapt_panel.train_button.isEnabled(), timeout=120_000)
    assert viewer.layers["low dose (simulated) denoised (Pseudo-CT)"].data.shape == viewer.layers["low dose (simulated)"].data.shape

    widget.epochs_spin.setValue(500)
    widget.model_dir_edit.setText(str(tmp_path / "stopped"))
    widget.train_panel.train_button.click()
    qtbot.waitUntil(lambda: widget.train_panel.status.text().startswith("noise model"), timeout=120_000)
    widget.train_panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    folder = PseudoCTFolder(tmp_path / "stopped")
    assert folder.load_denoiser("cpu") and len(folder.load_noise_models("ensemble", "cpu")) == 1


def test_ladp_on_its_sample(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "mri_synthetic_lesion")
    widget = open_widget(viewer, "Lesion segmentation (LADP)")
    widget.brain_combo.setCurrentText("brain mask")
    for spin, value in ((widget.ensemble_spin, 2), (widget.pretrain_epochs_spin, 1), (widget.finetune_epochs_spin, 1),
                        (widget.steps_spin, 2), (widget.batch_spin, 4), (widget.filters_spin, 4), (widget.depth_spin, 2)):
        spin.setValue(value)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "run"))
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.panel.status.text().startswith("done")
    assert viewer.layers[ladp_widget.LIVE_LAYER].data.shape == viewer.layers["lesions (synthetic-lesion)"].data.shape

    widget.finetune_epochs_spin.setValue(200)
    widget.model_dir_edit.setText(str(tmp_path / "stopped"))
    widget.panel.train_button.click()
    # stopped in the first model's finetuning: its pretraining is finished, and it is kept as trained so far
    qtbot.waitUntil(lambda: widget.panel.status.text().startswith("model 1/2: finetuning"), timeout=120_000)
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert read_model_config(tmp_path / "stopped" / "member_00" / "pretrained", kind="ladp-pretrain")
    assert len(LesionEnsemble.load(tmp_path / "stopped", device="cpu")) == 1
