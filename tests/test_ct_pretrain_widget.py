"""The CT denoise-pretrain widget driven like a user: choose layers, pretrain + finetune, watch, segment, export."""

import numpy as np
import pytest

from denoise2seg.ct import read_volume, volume_dice
from denoise2seg.ct.samples import chest_ct_slice
from denoise2seg.ct.synthetic_lesions import synthetic_lesion_cases
from denoise2seg.napari import ct_pretrain_widget, training_panel
from denoise2seg.napari.ct_pretrain_widget import LIVE_LAYER, RESULT_LAYER, CTPretrainWidget
from test_ct_pretrain import _toy_volumes

pytestmark = pytest.mark.gui


def _tiny(widget, tmp_path, pretext="denoise"):
    widget.pretext_combo.setCurrentText(pretext)
    widget.loss_combo.setCurrentText("mse")
    widget.size_spin.setValue(32)
    widget.depth_spin.setValue(2)
    widget.filters_spin.setValue(8)
    widget.pretext_epochs_spin.setValue(1)
    widget.finetune_epochs_spin.setValue(12)
    widget.steps_spin.setValue(4)
    widget.batch_spin.setValue(8)
    widget.device_combo.setCurrentText("cpu")
    widget.model_dir_edit.setText(str(tmp_path / "model"))


def test_ct_widget_pretrains_finetunes_segments_and_exports(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    # an easy lesion (a dense square in aerated lung) so that a few dozen steps learn it
    (volume, other), (mask, _) = _toy_volumes(2, z=4)
    spacing = (2.5, 0.7, 0.7)
    viewer.add_image(other, name="unlabelled", scale=spacing)
    viewer.add_image(volume, name="ct", scale=spacing)
    viewer.add_labels(mask, name="lesions", scale=spacing)
    widget = CTPretrainWidget(viewer)
    qtbot.addWidget(widget)
    widget.image_combo.setCurrentText("ct")
    assert widget.labels_combo.currentText() == "lesions"
    widget.unlabelled_list.item(0).setSelected(True)
    widget.only_labelled_check.setChecked(False)
    _tiny(widget, tmp_path)
    widget.finetune_epochs_spin.setValue(30)
    widget.panel.train_button.click()
    assert not widget.panel.train_button.isEnabled() and widget.phase == "pretext"
    qtbot.waitUntil(lambda: widget.phase == "finetune" and not widget.running, timeout=120_000)

    assert (tmp_path / "model" / "pretext" / "config.json").is_file()
    assert (tmp_path / "model" / "segmentation" / "config.json").is_file()
    assert widget.steps_done == {"pretext": 4, "finetune": 30 * 4}
    assert len(widget.panel.plot.train_losses) == 30 * 4 and widget.panel.status.text() == "done"
    assert widget.panel.progress.value() == widget.panel.progress.maximum()
    assert LIVE_LAYER in viewer.layers and viewer.layers[LIVE_LAYER].data.shape == mask.shape
    assert tuple(viewer.layers[LIVE_LAYER].scale) == pytest.approx(spacing)

    widget.segment_button.click()
    assert RESULT_LAYER in viewer.layers
    segmented = viewer.layers[RESULT_LAYER].data
    assert segmented.shape == mask.shape and segmented.any()
    path = widget.export(tmp_path / "lesions.nii.gz")
    written = read_volume(path)
    np.testing.assert_array_equal(written.hu > 0, segmented > 0)
    assert written.spacing == pytest.approx(spacing)
    assert volume_dice(segmented, mask) > 0.5


def test_ct_widget_stop_keeps_a_model(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    (volume, mask), = synthetic_lesion_cases(chest_ct_slice(), n_cases=1, n_slices=3, seed=6)
    viewer.add_image(volume.hu, name="ct")
    viewer.add_labels(mask, name="lesions")
    widget = CTPretrainWidget(viewer)
    qtbot.addWidget(widget)
    _tiny(widget, tmp_path, pretext="none")
    assert not widget.loss_combo.isEnabled()
    widget.finetune_epochs_spin.setValue(500)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: widget.steps_done.get("finetune", 0) >= 3, timeout=60_000)
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.steps_done["finetune"] < 500 * 4 and widget.panel.status.text().startswith("stopped")
    assert (tmp_path / "model" / "segmentation" / "config.json").is_file()


def test_ct_widget_reports_bad_input(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr(ct_pretrain_widget, "show_error", errors.append)
    monkeypatch.setattr(training_panel, "show_error", errors.append)
    viewer = make_napari_viewer()
    viewer.add_image(np.full((2, 32, 32), -800, np.float32), name="ct")
    viewer.add_labels(np.zeros((2, 32, 32), np.uint8), name="lesions")
    widget = CTPretrainWidget(viewer)
    qtbot.addWidget(widget)
    _tiny(widget, tmp_path)
    widget.panel.train_button.click()
    assert not widget.running and "empty" in errors[-1]

    viewer.layers["lesions"].data[0, 5:9, 5:9] = 1
    widget.loss_combo.setCurrentText("perceptual")
    widget.vgg_edit.setText(str(tmp_path / "missing-vgg.pth"))
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    # the pretext failed at once with the message on how to provide the weights; no finetuning followed
    assert "--vgg-weights" in errors[-1] and widget.phase == "pretext"
    assert not (tmp_path / "model" / "segmentation").exists()
