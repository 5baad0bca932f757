"""The CT denoise-pretrain widget opened from napari's Plugins menu and driven like a user:
choose layers, pretrain + finetune in one run, watch, Stop, segment, export."""

import hashlib

import numpy as np
import pytest

from denoise2seg.ct import CTLesionModel, read_volume
from denoise2seg.ct.workflow import FINETUNE_PHASE, PRETEXT_FOLDER, SEGMENTATION_FOLDER
from denoise2seg.io.model_folder import read_model_config
from denoise2seg.metrics import dice_score
from denoise2seg.napari.ct_pretrain_widget import LIVE_LAYER, RESULT_LAYER
from test_ct_pretrain import _toy_volumes

pytestmark = pytest.mark.gui
CT = "CT denoise-pretrain"


def _tiny(widget, tmp_path, pretext="denoise", finetune_epochs=12):
    widget.pretext_combo.setCurrentText(pretext)
    widget.loss_combo.setCurrentText("mse")
    widget.size_spin.setValue(32)
    widget.depth_spin.setValue(2)
    widget.filters_spin.setValue(8)
    widget.pretext_epochs_spin.setValue(1)
    widget.finetune_epochs_spin.setValue(finetune_epochs)
    widget.steps_spin.setValue(4)
    widget.batch_spin.setValue(8)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "model"))


@pytest.fixture
def ct_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    # an easy lesion (a dense square in aerated lung) so that a few dozen steps learn it
    (volume, other), (mask, _) = _toy_volumes(2, z=4)
    spacing = (2.5, 0.7, 0.7)
    viewer.add_image(other, name="unlabelled", scale=spacing)
    viewer.add_image(volume, name="ct", scale=spacing, translate=(0, 5, 5))
    viewer.add_labels(mask, name="lesions", scale=spacing, translate=(0, 5, 5))
    return viewer, volume, mask


def test_ct_widget_pretrains_finetunes_segments_and_exports(ct_viewer, open_widget, qtbot, tmp_path):
    viewer, volume, mask = ct_viewer
    widget = open_widget(viewer, CT)
    widget.image_combo.setCurrentText("ct")
    assert widget.labels_combo.currentText() == "lesions"
    widget.unlabelled_list.select("unlabelled")
    widget.only_labelled_check.setChecked(False)
    _tiny(widget, tmp_path, finetune_epochs=30)
    widget.panel.train_button.click()
    assert not widget.panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)

    assert widget.panel.status.text() == "done"
    # one run over both phases: 1 pretext epoch and 30 finetuning epochs of 4 steps
    assert len(widget.panel.plot.train_losses) == 4 + 30 * 4
    assert widget.panel.progress.value() == widget.panel.progress.maximum() == 4 + 30 * 4
    assert read_model_config(tmp_path / "model" / PRETEXT_FOLDER, kind="ct_pretext")
    assert read_model_config(tmp_path / "model" / SEGMENTATION_FOLDER)["pretrained_from"] == str(tmp_path / "model" / PRETEXT_FOLDER)
    live = viewer.layers[LIVE_LAYER]
    assert live.data.shape == mask.shape
    assert tuple(live.scale) == pytest.approx((2.5, 0.7, 0.7)) and tuple(live.translate) == pytest.approx((0, 5, 5))

    widget.segment_button.click()
    qtbot.waitUntil(lambda: RESULT_LAYER in viewer.layers and widget.segment_button.isEnabled(), timeout=60_000)
    segmented = viewer.layers[RESULT_LAYER].data
    assert segmented.shape == mask.shape and segmented.any()
    assert dice_score(mask, segmented) > 0.5
    path = widget.export(tmp_path / "lesions.nii.gz")
    written = read_volume(path)
    np.testing.assert_array_equal(written.hu > 0, segmented > 0)
    assert written.spacing == pytest.approx((2.5, 0.7, 0.7))


def test_ct_widget_stop_keeps_the_finished_pretext_and_the_model_so_far(ct_viewer, open_widget, qtbot, tmp_path):
    viewer, volume, _ = ct_viewer
    widget = open_widget(viewer, CT)
    widget.image_combo.setCurrentText("ct")
    _tiny(widget, tmp_path, finetune_epochs=500)
    phases = []
    widget.panel.progress.valueChanged.connect(lambda _: phases.append(widget.panel.status.text()))
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: any(text.startswith(FINETUNE_PHASE) for text in phases), timeout=60_000)
    pretext = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "model" / PRETEXT_FOLDER).iterdir()}
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)

    assert widget.panel.status.text().startswith("stopped")
    assert len(widget.panel.plot.train_losses) < 4 + 500 * 4
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "model" / PRETEXT_FOLDER).iterdir()}
    assert after == pretext
    model = CTLesionModel.load(tmp_path / "model" / SEGMENTATION_FOLDER, device="cpu")
    assert model.predict(volume).shape == volume.shape


def test_ct_widget_reports_bad_input(make_napari_viewer, open_widget, qtbot, tmp_path, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).normal(-800, 30, (2, 32, 32)).astype(np.float32), name="ct")
    viewer.add_labels(np.zeros((2, 32, 32), np.uint8), name="lesions")
    widget = open_widget(viewer, CT)
    _tiny(widget, tmp_path)
    widget.panel.train_button.click()
    assert not widget.running and any("'lesions' is empty" in m for m in error_messages())

    viewer.layers["lesions"].data[0, 5:9, 5:9] = 1
    widget.loss_combo.setCurrentText("perceptual")
    widget.vgg_edit.setText(str(tmp_path / "missing-vgg.pth"))
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    # the pretext failed at once with the message on how to provide the weights; no finetuning followed
    assert any("--vgg-weights" in m for m in error_messages())
    assert not (tmp_path / "model" / SEGMENTATION_FOLDER).exists()

    viewer.add_labels(np.zeros((3, 32, 32), np.uint8), name="other shape")
    widget.labels_combo.setCurrentText("other shape")
    widget.panel.train_button.click()
    assert any("'other shape' has shape (3, 32, 32)" in m for m in error_messages())


def test_export_refuses_to_replace_a_file(make_napari_viewer, open_widget, tmp_path, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 8, 8), np.float32), name="ct")
    viewer.add_labels(np.ones((2, 8, 8), np.uint8), name=RESULT_LAYER)
    widget = open_widget(viewer, CT)
    target = tmp_path / "lesions.nii.gz"
    target.write_bytes(b"an earlier export")
    assert widget.export(target) is None
    assert target.read_bytes() == b"an earlier export"
    assert any("exists" in m for m in error_messages())
    assert read_volume(widget.export(target, overwrite=True)).hu.shape == (2, 8, 8)
