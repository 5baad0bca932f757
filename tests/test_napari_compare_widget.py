"""The scheme-comparison widget opened from the Plugins menu: compare on the sample, watch the table fill, get the best layer."""

import numpy as np
import pytest

from denoise2seg.napari.compare_widget import BEST_LAYER_SUFFIX
from denoise2seg.segmentation import SegmentationModel
from denoise2seg.segmentation import compare

pytestmark = pytest.mark.gui
COMPARE = "Compare schemes"


def test_comparison_on_the_sample_fills_the_table_and_adds_the_best_segmentation(
    make_napari_viewer, open_widget, qtbot, monkeypatch, nuclei_crop, tiny_budget
):
    monkeypatch.setitem(compare.BUDGETS, "quick", tiny_budget)
    viewer = make_napari_viewer()
    noisy, _, mask = nuclei_crop
    viewer.add_image(noisy, name="noisy", scale=(0.5, 0.5))
    painted = viewer.add_labels(np.zeros(noisy.shape, np.int32), name="my labels", scale=(0.5, 0.5))
    painted.data[:96, :96] = mask[:96, :96]
    widget = open_widget(viewer, COMPARE)
    widget.image_list.select("noisy")
    assert widget.labels_combo.currentText() == "my labels"
    widget.unet_check.setChecked(False)
    widget.device_combo.setCurrentText("cpu")
    rows_seen = []
    on_event = widget._on_event
    widget._on_event = lambda event: (on_event(event), rows_seen.append(widget.table.rowCount()))

    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=120_000)

    assert widget.panel.runner.error is None
    assert 1 in rows_seen, "the table did not show the first scheme before the second was done"
    assert widget.table.rowCount() == 2
    shown = [widget.table.item(i, 0).text() for i in range(2)]
    assert shown == [r.name for r in widget.comparison.ranked]
    assert sorted(shown) == ["StarDist baseline", "StarDist sequential"]
    assert "leave one strip out" in widget.verdict_label.text()
    best = viewer.layers[f"noisy {BEST_LAYER_SUFFIX}"]
    assert best.data.shape == noisy.shape and tuple(best.scale) == (0.5, 0.5)
    np.testing.assert_array_equal(best.data, SegmentationModel.load(widget.best_folder, device="cpu").predict(noisy))


def test_compare_without_annotations_says_what_to_do(make_napari_viewer, open_widget, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32), name="noisy")
    widget = open_widget(viewer, COMPARE)
    widget.image_list.select("noisy")
    widget.panel.train_button.click()
    assert not widget.panel.running
    assert any("choose the Labels layer" in m for m in error_messages())
