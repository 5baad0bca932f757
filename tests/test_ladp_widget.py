"""The LADP widget driven like a user: choose layers, train an ensemble, watch it, segment, export."""

import nibabel as nib
import numpy as np
import pytest

from denoise2seg.napari.ladp_widget import LIVE_LAYER, RESULT_LAYER, LADPWidget
from test_lesion_training import blob_case

pytestmark = pytest.mark.gui


def test_ladp_widget_trains_segments_and_exports(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    case = blob_case(0)
    viewer.add_image(case.image[0], name="t1", scale=case.spacing)
    viewer.add_image(case.image[1], name="flair", scale=case.spacing)
    viewer.add_labels(case.labels.astype(np.uint8), name="lesions", scale=case.spacing)
    widget = LADPWidget(viewer)
    qtbot.addWidget(widget)
    assert widget.channel_combos[0].currentText() == "t1" and widget.channel_combos[1].currentText() == "flair"
    assert widget.labels_combo.currentText() == "lesions"

    widget.mode_combo.setCurrentText("LADP")
    widget.decoder_only_check.setChecked(True)
    widget.ensemble_spin.setValue(2)
    widget.pretrain_epochs_spin.setValue(1)
    widget.finetune_epochs_spin.setValue(3)
    widget.steps_spin.setValue(20)
    widget.batch_spin.setValue(8)
    widget.lr_spin.setValue(0.01)
    widget.filters_spin.setValue(8)
    widget.depth_spin.setValue(2)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "model"))
    widget.train_button.click()
    assert not widget.train_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)

    assert (tmp_path / "model" / "config.json").is_file()
    assert len(widget.losses) == 2 * (20 + 60)
    assert set(widget.phases) == {"pretrain", "finetune"}
    assert widget.panel.plot.train_losses == widget.losses
    assert widget.panel.progress.value() == widget.panel.progress.maximum() == 2 * (20 + 60)
    assert LIVE_LAYER in viewer.layers and viewer.layers[LIVE_LAYER].data.shape == case.labels.shape

    widget.segment_button.click()
    assert RESULT_LAYER in viewer.layers
    mask = viewer.layers[RESULT_LAYER].data > 0
    assert 2 * (mask & case.labels).sum() / (mask.sum() + case.labels.sum()) > 0.5

    path = widget.export(tmp_path / "lesions.nii.gz")
    written = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)
    assert (written > 0).tolist() == mask.tolist()


def test_ladp_widget_stop_keeps_a_model(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    case = blob_case(1)
    viewer.add_image(case.image[1], name="flair")
    viewer.add_labels(case.labels.astype(np.uint8), name="lesions")
    widget = LADPWidget(viewer)
    qtbot.addWidget(widget)
    widget.mode_combo.setCurrentText("none")
    assert not widget.decoder_only_check.isEnabled()
    widget.ensemble_spin.setValue(3)
    widget.finetune_epochs_spin.setValue(50)
    widget.steps_spin.setValue(10)
    widget.filters_spin.setValue(4)
    widget.depth_spin.setValue(2)
    widget.batch_spin.setValue(4)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "model"))
    widget.train_button.click()
    qtbot.waitUntil(lambda: len(widget.losses) >= 3, timeout=60_000)
    widget.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(widget.losses) < 3 * 500
    assert (tmp_path / "model" / "config.json").is_file()


def test_ladp_widget_reports_an_empty_annotation(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((4, 16, 16), np.float32), name="t1")
    viewer.add_labels(np.zeros((4, 16, 16), np.uint8), name="lesions")
    widget = LADPWidget(viewer)
    qtbot.addWidget(widget)
    errors = []
    monkeypatch.setattr("denoise2seg.napari.ladp_widget.show_error", errors.append)
    widget.train_button.click()
    assert not widget.running and errors and "empty" in errors[0]
