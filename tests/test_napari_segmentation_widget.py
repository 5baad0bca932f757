"""The segmentation widget driven like a user: paint a few labels, train every scheme, Stop, wrong layer choices."""

import numpy as np
import pytest

from denoise2seg.napari.n2v_widget import _N2V_FOLDERS
from denoise2seg.napari.layer_choice import NO_LAYER
from denoise2seg.napari.segmentation_widget import SEGMENTATION_LAYER
from denoise2seg.segmentation import SegmentationModel

pytestmark = pytest.mark.gui
SEGMENTATION = "Train segmentation"


@pytest.fixture
def painted(make_napari_viewer, nuclei_crop, tiny_n2v_folder):
    """A viewer with the noisy crop, labels painted in its top-left 64 x 64 corner only, and a trained N2V model."""
    viewer = make_napari_viewer()
    noisy, _, mask = nuclei_crop
    viewer.add_image(noisy, name="noisy")
    labels = viewer.add_labels(np.zeros(noisy.shape, np.int32), name="my labels")
    labels.data[:64, :64] = mask[:64, :64]
    labels.refresh()
    _N2V_FOLDERS[viewer] = tiny_n2v_folder
    return viewer


def make_widget(viewer, method="U-Net (3-class)", epochs=2, steps=15):
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise2seg", SEGMENTATION)
    widget.method_combo.setCurrentText(method)
    widget.patch_spin.setValue(32)
    widget.epochs_spin.setValue(epochs)
    widget.steps_spin.setValue(steps)
    widget.batch_spin.setValue(4)
    widget.lr_spin.setValue(0.01)
    widget.depth_spin.setValue(1)
    widget.filters_spin.setValue(8)
    widget.margin_spin.setValue(4)
    widget.preview_spin.setValue(10)
    # A fixed seed: a random one lets a 30-step training find no object now and then.
    widget.seed_spin.setValue(0)
    widget.device_combo.setCurrentText("cpu")
    return widget


def finished(widget) -> bool:
    """Training ended and the trained model's segmentation is shown (the Train button is enabled again)."""
    return not widget.panel.running and widget.panel.train_button.isEnabled()


def test_every_unet_scheme_trains_and_shows_objects(painted, qtbot):
    widget = make_widget(painted)
    assert widget.labels_combo.currentText() == "my labels"
    for scheme in ("baseline", "sequential", "finetune", "finetune-sequential"):
        widget.scheme_combo.setCurrentText(scheme)
        widget.panel.train_button.click()
        qtbot.waitUntil(lambda: finished(widget), timeout=60_000)
        assert widget.panel.runner.error is None, f"{scheme}: {widget.panel.runner.error}"
        live = painted.layers[SEGMENTATION_LAYER]
        assert live.data.shape == (128, 128) and live.data.max() > 0, f"{scheme}: no objects in the live layer"
        predicted = SegmentationModel.load(widget.model_folder, device="cpu").predict(painted.layers["noisy"].data)
        assert predicted.max() > 0, f"{scheme}: the saved model finds no object"


def test_stardist_sequential_trains_and_finetune_is_disabled(painted, qtbot):
    widget = make_widget(painted, method="StarDist", epochs=2, steps=15)
    enabled = {s: widget.scheme_combo.model().item(i).isEnabled() for i, s in enumerate(("baseline", "sequential", "finetune", "finetune-sequential"))}
    assert enabled == {"baseline": True, "sequential": True, "finetune": False, "finetune-sequential": False}
    widget.scheme_combo.setCurrentText("sequential")
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=60_000)
    assert widget.panel.runner.error is None
    assert SEGMENTATION_LAYER in painted.layers and painted.layers[SEGMENTATION_LAYER].data.shape == (128, 128)
    assert SegmentationModel.load(widget.model_folder, device="cpu").config.method == "stardist"


def test_stop_keeps_a_usable_model(painted, qtbot):
    widget = make_widget(painted, epochs=100, steps=10)
    steps = []
    on_event = widget._on_event
    widget._on_event = lambda e: (steps.append(e.step), on_event(e))
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: len(steps) >= 15, timeout=60_000)
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=30_000)

    assert widget.panel.runner.stopped and steps[-1] < 1000
    labels = SegmentationModel.load(widget.model_folder, device="cpu").predict(painted.layers["noisy"].data)
    assert labels.shape == (128, 128) and labels.dtype == np.int32


def test_labels_of_another_shape_show_an_error_and_change_nothing(painted, qtbot, error_messages):
    painted.add_labels(np.zeros((50, 60), np.int32), name="wrong")
    widget = make_widget(painted)
    widget.labels_combo.setCurrentText("wrong")
    layers_before = [layer.name for layer in painted.layers]
    widget.panel.train_button.click()

    assert any("'wrong' has shape (50, 60)" in m for m in error_messages())
    assert not widget.panel.running and widget.panel.train_button.isEnabled()
    assert [layer.name for layer in painted.layers] == layers_before and widget.model_folder is None


def test_the_samples_ground_truth_is_never_preselected_as_annotations(make_napari_viewer, error_messages):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-denoise2seg", "nuclei_sigma40")
    widget = make_widget(viewer)
    assert widget.labels_combo.currentText() == NO_LAYER
    widget.panel.train_button.click()
    assert not widget.panel.running
    assert any("DSB sigma 40 mask" in m and "ground truth" in m for m in error_messages())

    viewer.add_labels(np.zeros(viewer.layers["DSB sigma 40 noisy"].data.shape, np.int32), name="Labels")
    assert widget.labels_combo.currentText() == "Labels"


def test_corrected_segmentation_continues_the_training(painted, qtbot):
    from denoise2seg.napari.segmentation_widget import CORRECTED_LAYER

    widget = make_widget(painted, epochs=2, steps=15)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=60_000)
    first = widget.model_folder
    assert widget.panel.continue_button.isEnabled()
    qtbot.waitUntil(lambda: widget.panel.train_button.isEnabled(), timeout=30_000)

    # The user corrects the segmentation: erases its first object, paints a new one.
    segmentation = painted.layers[SEGMENTATION_LAYER]
    corrected = segmentation.data.copy()
    erased = corrected.max()
    corrected[corrected == erased] = 0
    corrected[100:108, 100:108] = erased + 1
    segmentation.data = corrected
    widget.labels_combo.setCurrentText(SEGMENTATION_LAYER)
    widget.epochs_spin.setValue(1)
    widget.panel.continue_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=60_000)

    assert widget.panel.runner.error is None
    assert widget.labels_combo.currentText() == CORRECTED_LAYER
    np.testing.assert_array_equal(painted.layers[CORRECTED_LAYER].data, corrected)
    assert widget.panel.plot.train_steps == list(range(1, 46))
    assert widget.model_folder != first
    assert SegmentationModel.load(widget.model_folder, device="cpu").config.epochs == 3


def test_a_window_drawn_on_part_of_a_stack_annotates_those_pixels():
    import napari

    from denoise2seg.napari.layer_choice import placement, window_on_image

    image = napari.layers.Image(np.zeros((3, 40, 50), np.float32), scale=(1, 0.5, 0.5), translate=(0, 10, 20))
    window = np.zeros((1, 8, 6), np.int32)
    window[0, 2:5, 1:4] = 7
    drawn = napari.layers.Labels(window, **placement(image, 3, (2, 30, 40)))
    labels = window_on_image(drawn, image)
    assert labels.shape == (3, 40, 50)
    expected = np.zeros((3, 40, 50), np.int32)
    expected[2, 32:35, 41:44] = 7
    np.testing.assert_array_equal(labels, expected)

    outside = napari.layers.Labels(window, **placement(image, 3, (2, 36, 40)))
    with pytest.raises(ValueError, match="does not lie on whole pixels"):
        window_on_image(outside, image)


def test_a_two_channel_layer_trains_a_two_channel_segmenter_not_two_frames(painted, qtbot):
    noisy = painted.layers["noisy"].data
    painted.add_image(np.stack([noisy, noisy * 40 + 1000]), name="two channels")
    # napari makes a Labels layer on a 2-channel image with the channel axis; paint on one channel's plane.
    labels = painted.add_labels(np.zeros((2, *noisy.shape), np.int32), name="channel labels")
    labels.data[1, :64, :64] = painted.layers["my labels"].data[:64, :64]
    widget = make_widget(painted)
    widget.image_list.select("two channels")
    assert widget.axes_edit.text() == "CYX"
    widget.labels_combo.setCurrentText("channel labels")
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=60_000)
    assert widget.panel.runner.error is None
    model = SegmentationModel.load(widget.model_folder, device="cpu")
    assert model.config.channels == 2 and model.net.spec.in_channels == 2
    live = painted.layers[SEGMENTATION_LAYER]
    assert live.data.shape == noisy.shape and live.data.max() > 0


def test_an_rgb_layer_trains_a_three_channel_segmenter(painted, qtbot):
    noisy = painted.layers["noisy"].data
    scaled = (noisy - noisy.min()) / (noisy.max() - noisy.min()) * 255
    painted.add_image(np.stack([scaled, scaled, 255 - scaled], axis=-1).astype(np.uint8), name="photo", rgb=True)
    widget = make_widget(painted)
    widget.image_list.select("photo")
    assert widget.axes_edit.text() == "YXC"
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: finished(widget), timeout=60_000)
    assert widget.panel.runner.error is None
    assert SegmentationModel.load(widget.model_folder, device="cpu").config.channels == 3
    assert painted.layers[SEGMENTATION_LAYER].data.shape == noisy.shape
