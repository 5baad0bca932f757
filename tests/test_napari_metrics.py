"""Scores against a ground-truth layer in the predict and segmentation widgets, opened as the Plugins menu opens them."""

import numpy as np
import pytest

from denoise2seg.metrics import score_image
from denoise2seg.napari.layer_choice import GROUND_TRUTH, NO_LAYER, ROLE_KEY
from denoise2seg.napari.segmentation_widget import SEGMENTATION_LAYER

pytestmark = pytest.mark.gui
TRUTH = {ROLE_KEY: GROUND_TRUTH}


def _notifications() -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records]


def _predict_widget(viewer, open_widget, folder):
    widget = open_widget(viewer, "Predict / export")
    widget.set_model_folder(folder)
    widget.device_combo.setCurrentText("cpu")
    widget.image_list.select("image")
    return widget


def _apply(widget, qtbot):
    widget.apply_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_predict_shows_the_core_scores_of_the_result_against_the_ground_truth(
    make_napari_viewer, qtbot, open_widget, nuclei_crop, segmentation_folder, error_messages
):
    noisy, _, mask = nuclei_crop
    viewer = make_napari_viewer()
    viewer.add_image(noisy, name="image")
    viewer.add_labels(np.zeros(mask.shape, np.int32), name="my labels")
    viewer.add_labels(mask, name="truth", metadata=TRUTH)
    widget = _predict_widget(viewer, open_widget, segmentation_folder)
    assert widget.truth_combo.currentText() == "truth"
    _apply(widget, qtbot)

    result = viewer.layers["image labels"].data
    expected = score_image(mask, result)
    assert result.max() > 0 and expected.ap_50 > 0, "the tiny model finds nothing: the scores would not tell anything"
    assert widget.scores == {"image labels": expected}
    assert widget.scores_label.text() == f"image labels: {expected.summary()}"
    assert any(expected.summary() in message for message in _notifications())
    assert not error_messages()

    # The result layer is never its own ground truth.
    widget.truth_combo.setCurrentText("image labels")
    _apply(widget, qtbot)
    assert widget.scores == {}
    assert "not scored" in widget.scores_label.text() and "'image labels' is the layer this result replaces" in widget.scores_label.text()


def test_predict_refuses_a_ground_truth_of_another_shape_and_still_adds_the_result(
    make_napari_viewer, qtbot, open_widget, nuclei_crop, segmentation_folder, error_messages
):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_crop[0], name="image")
    viewer.add_labels(np.ones((50, 60), np.int32), name="other truth", metadata=TRUTH)
    widget = _predict_widget(viewer, open_widget, segmentation_folder)
    assert widget.truth_combo.currentText() == "other truth"
    _apply(widget, qtbot)

    text = widget.scores_label.text()
    assert "(50, 60)" in text and "(128, 128)" in text and "not scored" in text
    assert "AP" not in text and "SEG" not in text and widget.scores == {}
    assert "image labels" in viewer.layers
    assert any("Not scored" in m and "(50, 60)" in m for m in _notifications())
    assert not error_messages()


def test_predict_without_a_ground_truth_shows_no_scores(make_napari_viewer, qtbot, open_widget, nuclei_crop, segmentation_folder):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_crop[0], name="image")
    viewer.add_labels(nuclei_crop[2], name="unmarked labels")
    widget = _predict_widget(viewer, open_widget, segmentation_folder)
    assert widget.truth_combo.currentText() == NO_LAYER
    _apply(widget, qtbot)
    assert widget.scores == {} and widget.scores_label.text() == ""


@pytest.fixture
def annotated(make_napari_viewer, nuclei_crop):
    """A viewer with the noisy crop, labels painted in its top-left 64 x 64 corner, and the whole mask as ground truth."""
    viewer = make_napari_viewer()
    noisy, _, mask = nuclei_crop
    viewer.add_image(noisy, name="noisy")
    labels = viewer.add_labels(np.zeros(noisy.shape, np.int32), name="my labels")
    labels.data[:64, :64] = mask[:64, :64]
    labels.refresh()
    viewer.add_labels(mask, name="truth", metadata=TRUTH)
    return viewer


def _train(viewer, open_widget, qtbot, steps):
    widget = open_widget(viewer, "Train segmentation")
    for spin, value in [(widget.patch_spin, 32), (widget.epochs_spin, 1), (widget.steps_spin, steps), (widget.batch_spin, 4),
                        (widget.depth_spin, 1), (widget.filters_spin, 8), (widget.margin_spin, 4), (widget.preview_spin, 100)]:
        spin.setValue(value)
    widget.lr_spin.setValue(0.01)
    widget.device_combo.setCurrentText("cpu")
    assert (widget.labels_combo.currentText(), widget.truth_combo.currentText()) == ("my labels", "truth")
    return widget


def _finished(widget) -> bool:
    return not widget.panel.running and widget.panel.train_button.isEnabled()


def test_training_scores_the_final_segmentation_against_the_ground_truth(annotated, qtbot, open_widget, nuclei_crop):
    widget = _train(annotated, open_widget, qtbot, steps=20)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: _finished(widget) and widget.scores is not None, timeout=90_000)

    expected = score_image(nuclei_crop[2], annotated.layers[SEGMENTATION_LAYER].data, name=SEGMENTATION_LAYER)
    assert widget.scores == expected
    assert widget.scores_label.text().startswith(expected.summary()) and "128 x 128 px" in widget.scores_label.text()


def test_training_refuses_a_ground_truth_of_another_shape(annotated, qtbot, open_widget, error_messages):
    annotated.layers.remove("truth")
    annotated.add_labels(np.ones((50, 60), np.int32), name="truth", metadata=TRUTH)
    widget = _train(annotated, open_widget, qtbot, steps=3)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: _finished(widget) and widget.model_folder is not None, timeout=90_000)
    qtbot.waitUntil(lambda: widget.panel.train_button.isEnabled(), timeout=30_000)

    text = widget.scores_label.text()
    assert "(50, 60)" in text and "(128, 128)" in text and text.startswith("not scored")
    assert "AP" not in text and widget.scores is None
    assert SEGMENTATION_LAYER in annotated.layers and not error_messages()
