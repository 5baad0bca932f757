"""The N2V widget driven like a user: load the sample, train with tiny settings, watch the denoised layer, save/load."""

import numpy as np
import pytest

from denoise2seg.n2v import N2VModel
from denoise2seg.napari.n2v_widget import DENOISED_LAYER, current_n2v_folder
from denoise2seg.napari.sample_data import nuclei_sigma20
from n2v_widget_settings import set_tiny as shared_tiny

pytestmark = pytest.mark.gui
N2V = "Train denoiser (N2V)"


def widget_on_sample_crop(make_napari_viewer, open_widget, size: int):
    """A viewer with the top-left ``size`` x ``size`` pixels of the sigma-20 sample and the N2V widget, its noisy layer chosen."""
    viewer = make_napari_viewer()
    for data, kwargs, layer_type in nuclei_sigma20():
        viewer._add_layer_from_data(data[:size, :size], kwargs, layer_type)
    widget = open_widget(viewer, N2V)
    widget.image_list.select("DSB sigma 20 noisy")
    return viewer, widget


def set_tiny(widget, epochs=2, steps=10):
    """The shared tiny settings with 32-pixel patches of batch 8: this file's sample crops train on them."""
    shared_tiny(widget, steps, 8, patch=32, epochs=epochs)


def test_training_shows_a_changing_denoised_layer_and_writes_a_model(make_napari_viewer, open_widget, qtbot, tmp_path):
    viewer, widget = widget_on_sample_crop(make_napari_viewer, open_widget, 128)
    set_tiny(widget)
    previews = []
    on_event = widget._on_event

    def record_preview(event):
        on_event(event)
        if event.kind == "preview":
            previews.append(viewer.layers[DENOISED_LAYER].data.copy())

    widget._on_event = record_preview
    inserted = []
    viewer.layers.events.inserted.connect(lambda event: inserted.append(event.value.name))

    widget.panel.train_button.click()
    assert not widget.panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    assert len(previews) == 4 and previews[0].shape == (128, 128)
    # every preview refreshed one layer: re-creating it makes napari collect garbage on the GUI thread
    assert inserted == [DENOISED_LAYER]
    assert not np.allclose(previews[0], previews[-1]), "the denoised layer did not change during training"
    assert widget.model_folder is not None and current_n2v_folder(viewer) == widget.model_folder
    assert widget.panel.plot.train_steps[-1] == 20 and len(widget.panel.plot.val_losses) == 2

    saved = widget.save_model(tmp_path / "saved")
    viewer.layers.remove(DENOISED_LAYER)
    widget.load_model(saved)
    qtbot.waitUntil(lambda: DENOISED_LAYER in viewer.layers and widget.load_button.isEnabled(), timeout=30_000)
    expected = N2VModel.load(saved, device="cpu").predict(viewer.layers["DSB sigma 20 noisy"].data)
    np.testing.assert_allclose(viewer.layers[DENOISED_LAYER].data, expected, rtol=1e-4, atol=1e-3)


def test_wrong_layer_shows_an_error_and_changes_nothing(make_napari_viewer, open_widget, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 3, 64, 64), np.float32), name="4d")
    widget = open_widget(viewer, N2V)
    widget.image_list.select("4d")
    widget.axes_edit.setText("TYX")
    widget.panel.train_button.click()

    assert any("'4d' of shape (2, 3, 64, 64) does not fit axes 'TYX'" in m for m in error_messages())
    assert not widget.panel.running and widget.panel.train_button.isEnabled()
    assert [layer.name for layer in viewer.layers] == ["4d"] and widget.model_folder is None


def test_preview_lies_on_its_frame_and_pixels(make_napari_viewer, open_widget, qtbot, nuclei_crop):
    """A stack with a pixel size of 0.5 and an offset: the preview is drawn on the frame under the slider, at scale."""
    viewer = make_napari_viewer()
    noisy = nuclei_crop[0]
    stack = viewer.add_image(np.stack([noisy, noisy[::-1], noisy[:, ::-1]]), name="stack", scale=(2.0, 0.5, 0.5), translate=(0, 10, 20))
    viewer.dims.set_point(0, 2.0)  # frame 1 of the stack (world coordinate 2)
    widget = open_widget(viewer, N2V)
    assert widget.axes_edit.text() == "CYX"  # three frames look like three channels: the user says they are frames
    widget.axes_edit.setText("TYX")
    set_tiny(widget, epochs=1, steps=5)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    denoised = viewer.layers[DENOISED_LAYER]
    # one frame, translated onto frame 1: the other frames show no preview
    assert denoised.data.shape == (1, 128, 128)
    assert tuple(denoised.scale) == pytest.approx(tuple(stack.scale))
    assert tuple(denoised.translate) == pytest.approx((2.0, 10.0, 20.0))
    expected = N2VModel.load(widget.model_folder, device="cpu", which="last").predict(noisy[::-1])
    np.testing.assert_allclose(denoised.data[0], expected, rtol=1e-4, atol=1e-3)


def test_n2v2_box_trains_an_n2v2_model(make_napari_viewer, open_widget, qtbot):
    viewer, widget = widget_on_sample_crop(make_napari_viewer, open_widget, 64)
    set_tiny(widget, epochs=1, steps=3)
    widget.depth_spin.setValue(2)
    widget.n2v2_check.setChecked(True)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)
    model = N2VModel.load(widget.model_folder, device="cpu")
    assert model.config.n2v2 and model.net.spec.blur_pool and not model.net.spec.top_skip
    assert DENOISED_LAYER in viewer.layers


def test_stop_then_continue_training_extends_the_run_and_its_loss_curve(make_napari_viewer, open_widget, qtbot):
    viewer, widget = widget_on_sample_crop(make_napari_viewer, open_widget, 128)
    set_tiny(widget, epochs=3, steps=10)
    assert not widget.panel.continue_button.isEnabled()
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: len(widget.panel.plot.train_steps) >= 4, timeout=60_000)
    widget.panel.stop_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=30_000)
    stopped_at = widget.panel.plot.train_steps[-1]
    first = widget.model_folder
    first_weights = (first / "last.safetensors").read_bytes()
    assert stopped_at < 30 and widget.panel.continue_button.isEnabled()

    widget.epochs_spin.setValue(1)
    widget.panel.continue_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    assert widget.panel.runner.error is None
    end = 10 * (-(-stopped_at // 10) + 1)
    assert widget.panel.plot.train_steps == list(range(1, end + 1))
    assert widget.panel.plot.axes.get_xlim()[1] == end, "the loss plot's step axis still spans the first run's plan"
    assert widget.model_folder != first and (first / "last.safetensors").read_bytes() == first_weights
    assert N2VModel.load(widget.model_folder, device="cpu").config.epochs == end // 10


def test_the_same_seed_repeats_a_run(make_napari_viewer, open_widget, qtbot):
    viewer, widget = widget_on_sample_crop(make_napari_viewer, open_widget, 128)
    set_tiny(widget, epochs=1, steps=5)
    image = viewer.layers["DSB sigma 20 noisy"].data
    denoised = []
    for seed in (7, 7, -1):
        widget.seed_spin.setValue(seed)
        widget.panel.train_button.click()
        qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)
        denoised.append(N2VModel.load(widget.model_folder, device="cpu").predict(image))
    np.testing.assert_allclose(denoised[0], denoised[1], rtol=1e-5, atol=1e-4)
    assert not np.allclose(denoised[0], denoised[2], rtol=1e-5, atol=1e-4)


def test_a_z_stack_with_axes_zyx_trains_a_3d_model_with_a_preview_around_the_slider(make_napari_viewer, open_widget, qtbot):
    from denoise2seg.data.synthetic_nuclei import synthetic_nuclei

    clean = np.stack([synthetic_nuclei((48, 48), n_objects=4, noise_sigma=0, seed=z // 8)[1] for z in range(40)]).astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 20, clean.shape).astype(np.float32)
    viewer = make_napari_viewer()
    layer = viewer.add_image(noisy, name="stack", scale=(2.0, 0.5, 0.5))
    widget = open_widget(viewer, N2V)
    widget.image_list.select("stack")
    assert widget.axes_edit.text() == "TYX"
    widget.axes_edit.setText("ZYX")
    assert widget.patch_spin.value() == 32
    set_tiny(widget, epochs=1, steps=4)
    widget.patch_spin.setValue(16)
    widget.preview_spin.setValue(2)
    viewer.dims.set_point(0, 35 * 2.0)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    assert widget.panel.runner.error is None
    model = N2VModel.load(widget.model_folder, device="cpu")
    assert model.config.ndim == 3 and model.net.spec.ndim == 3
    preview = viewer.layers[DENOISED_LAYER]
    # The 32 slices around slice 35 of 40: slices 8 to 39, drawn where they lie.
    assert preview.data.shape == (32, 48, 48)
    assert tuple(preview.translate) == pytest.approx((8 * 2.0, 0.0, 0.0)) and tuple(preview.scale) == pytest.approx(tuple(layer.scale))
    expected = N2VModel.load(widget.model_folder, device="cpu", which="last").predict(noisy[8:40], axes="ZYX")
    np.testing.assert_allclose(preview.data, expected, rtol=1e-4, atol=1e-2)
