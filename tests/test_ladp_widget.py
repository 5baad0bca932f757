"""The LADP widget opened from napari's Plugins menu and driven like a user: choose layers, train an
ensemble, watch it, Stop, segment, export."""

import hashlib

import nibabel as nib
import numpy as np
import pytest

from denoise2seg.lesion.model import LesionEnsemble
from denoise2seg.napari.ladp_widget import LIVE_LAYER, RESULT_LAYER
from test_lesion_training import blob_case

pytestmark = pytest.mark.gui
LADP = "Lesion segmentation (LADP)"


def test_ladp_widget_trains_segments_and_exports(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer = make_napari_viewer()
    case = blob_case(0)
    viewer.add_image(case.image[0], name="t1", scale=case.spacing)
    viewer.add_image(case.image[1], name="flair", scale=case.spacing)
    viewer.add_labels(case.labels.astype(np.uint8), name="lesions", scale=case.spacing)
    widget = open_widget(viewer, LADP)
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
    statuses = []
    widget.panel.progress.valueChanged.connect(lambda _: statuses.append(widget.panel.status.text()))
    widget.panel.train_button.click()
    assert not widget.panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)

    assert (tmp_path / "model" / "config.json").is_file() and len(LesionEnsemble.load(tmp_path / "model", device="cpu")) == 2
    assert len(widget.panel.plot.train_losses) == 2 * (20 + 60)
    assert widget.panel.progress.value() == widget.panel.progress.maximum() == 2 * (20 + 60)
    # the user sees which member and stage is training
    assert {s.split(":")[0] + ":" + s.split(":")[1] for s in statuses if s.startswith("model")} == {
        "model 1/2: pretraining", "model 1/2: finetuning", "model 2/2: pretraining", "model 2/2: finetuning"
    }
    live = viewer.layers[LIVE_LAYER]
    assert live.data.shape == case.labels.shape and tuple(live.scale) == pytest.approx(tuple(case.spacing))

    widget.segment_button.click()
    qtbot.waitUntil(lambda: RESULT_LAYER in viewer.layers and widget.segment_button.isEnabled(), timeout=60_000)
    mask = viewer.layers[RESULT_LAYER].data > 0
    assert 2 * (mask & case.labels).sum() / (mask.sum() + case.labels.sum()) > 0.5

    path = widget.export(tmp_path / "lesions.nii.gz")
    written = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)
    assert (written > 0).tolist() == mask.tolist()


def test_ladp_widget_stop_keeps_the_finished_members(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer = make_napari_viewer()
    case = blob_case(1)
    viewer.add_image(case.image[1], name="flair")
    viewer.add_labels(case.labels.astype(np.uint8), name="lesions")
    widget = open_widget(viewer, LADP)
    widget.mode_combo.setCurrentText("none")
    assert not widget.decoder_only_check.isEnabled()
    widget.ensemble_spin.setValue(3)
    widget.finetune_epochs_spin.setValue(5)
    widget.steps_spin.setValue(20)
    widget.filters_spin.setValue(4)
    widget.depth_spin.setValue(2)
    widget.batch_spin.setValue(4)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "model"))
    widget.panel.train_button.click()
    # stop while the second member trains: the first one is finished
    qtbot.waitUntil(lambda: widget.panel.status.text().startswith("model 2/3"), timeout=60_000)
    first = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "model" / "member_00").iterdir() if p.is_file()}
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.panel.status.text().startswith("stopped") and len(widget.panel.plot.train_losses) < 2 * 100
    ensemble = LesionEnsemble.load(tmp_path / "model", device="cpu")
    assert len(ensemble) == 1
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "model" / "member_00").iterdir() if p.is_file()} == first
    assert ensemble.predict(case.image[1:], case.brain).shape == case.labels.shape


def test_ladp_widget_reports_an_empty_annotation(make_napari_viewer, open_widget, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((4, 16, 16), np.float32), name="t1")
    viewer.add_labels(np.zeros((4, 16, 16), np.uint8), name="lesions")
    widget = open_widget(viewer, LADP)
    widget.panel.train_button.click()
    assert not widget.running and any("'lesions' is empty" in m for m in error_messages())
