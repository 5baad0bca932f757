"""The N2V widget, opened through napari, on layers with channels: the axes it guesses and shows, 2-channel and RGB
training, and refusals that name the layer, its shape and what to choose."""

import numpy as np
import pytest

from denoise2seg.n2v import N2VModel
from denoise2seg.napari.n2v_widget import DENOISED_LAYER, channel_layer_name
from n2v_widget_settings import set_tiny

pytestmark = pytest.mark.gui
N2V = "Train denoiser (N2V)"


def two_channel_image(shape=(48, 40)) -> np.ndarray:
    """Channel 0 within 0-255, channel 1 within 0-60000."""
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(0, 255, shape), rng.uniform(0, 60000, shape)]).astype(np.float32)


def test_a_two_channel_layer_trains_a_two_channel_model(make_napari_viewer, open_widget, qtbot, error_messages):
    viewer = make_napari_viewer()
    image = two_channel_image()
    layer = viewer.add_image(image, name="cells", scale=(1.0, 0.5, 0.5))
    widget = open_widget(viewer, N2V)
    assert widget.axes_edit.text() == "CYX"
    set_tiny(widget)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    assert not error_messages()
    model = N2VModel.load(widget.model_folder, device="cpu")
    assert model.channels == 2 and model.net.spec.out_channels == 2
    # One layer per channel, each with its own contrast: the 0-255 channel is not drawn black beside the 0-60000 one.
    channels = [viewer.layers[channel_layer_name(c)] for c in range(2)]
    assert DENOISED_LAYER not in viewer.layers
    expected = N2VModel.load(widget.model_folder, device="cpu", which="last").predict(image, axes="CYX")
    for channel, given, wanted in zip(channels, image, expected):
        assert channel.data.shape == given.shape and tuple(channel.scale) == pytest.approx(tuple(layer.scale[1:]))
        np.testing.assert_allclose(channel.data, wanted, rtol=1e-4, atol=1e-1)
        assert 0.5 < channel.data.mean() / given.mean() < 2
        low, high = channel.contrast_limits
        assert low < np.median(channel.data) < high and high < 2 * given.max()
    assert channels[0].blending == channels[1].blending == "additive"
    listed = [widget.image_list.item(i).text() for i in range(widget.image_list.count())]
    assert listed == ["cells"], "the channel layers are results, not offered as images to train on"

    # a one-channel layer does not fit the two-channel model: the load says so
    viewer.add_image(image[0], name="grey")
    widget.image_list.select("grey")
    assert widget.axes_edit.text() == "YX"
    with pytest.raises(ValueError, match="layer 'grey' of shape \\(48, 40\\) with axes 'YX' has 1 channel but the model was trained on 2"):
        widget.load_model(widget.model_folder)


def test_an_rgb_layer_is_guessed_yxc_and_trains_three_channels(make_napari_viewer, open_widget, qtbot, error_messages):
    viewer = make_napari_viewer()
    rgb = np.random.default_rng(1).integers(0, 256, (40, 40, 3)).astype(np.uint8)
    viewer.add_image(rgb, name="photo", rgb=True)
    widget = open_widget(viewer, N2V)
    assert widget.axes_edit.text() == "YXC"
    set_tiny(widget, steps=3)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    assert not error_messages()
    assert N2VModel.load(widget.model_folder, device="cpu").channels == 3
    denoised = viewer.layers[DENOISED_LAYER]
    assert denoised.rgb and denoised.data.shape == rgb.shape


@pytest.mark.parametrize(
    "axes, expected",
    [
        ("TCYX", "layer 'cells' of shape (2, 48, 40) does not fit axes 'TCYX': they name 4 axes, the array has 3; "
                 "choose the axes of its shape, e.g. 'CYX'"),
        ("CYX, YX", "got 2 axes ('CYX, YX') for 1 images"),
    ],
)
def test_axes_that_do_not_fit_are_refused_and_nothing_starts(make_napari_viewer, open_widget, error_messages, axes, expected):
    viewer = make_napari_viewer()
    viewer.add_image(two_channel_image(), name="cells")
    widget = open_widget(viewer, N2V)
    widget.axes_edit.setText(axes)
    widget.panel.train_button.click()
    assert any(expected in m for m in error_messages()), error_messages()
    assert not widget.panel.running and widget.model_folder is None
    assert [layer.name for layer in viewer.layers] == ["cells"]


def test_an_rgb_layer_needs_its_colours_last(make_napari_viewer, open_widget, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40, 3), np.uint8) + np.arange(3, dtype=np.uint8), name="photo", rgb=True)
    widget = open_widget(viewer, N2V)
    widget.axes_edit.setText("YXT")
    widget.panel.train_button.click()
    assert any("'photo' of shape (40, 40, 3) is RGB" in m and "ending in C, e.g. 'YXC'" in m for m in error_messages())


def test_the_guess_follows_the_chosen_layers(make_napari_viewer, open_widget):
    viewer = make_napari_viewer()
    viewer.add_image(two_channel_image(), name="cells")
    viewer.add_image(np.zeros((12, 48, 40), np.float32), name="movie")
    widget = open_widget(viewer, N2V)
    widget.image_list.select("movie")
    assert widget.axes_edit.text() == "TYX"
    widget.image_list.select("cells", "movie")
    assert widget.axes_edit.text() == "CYX, TYX"


def test_the_preview_of_a_tcyx_layer_shows_all_channels_of_the_frame_under_the_slider(make_napari_viewer, open_widget, qtbot):
    viewer = make_napari_viewer()
    frames = np.stack([two_channel_image(), two_channel_image()[:, ::-1], two_channel_image()[:, :, ::-1]])
    viewer.add_image(frames, name="movie", scale=(3.0, 1.0, 0.5, 0.5))
    viewer.dims.set_point(0, 6.0)  # frame 2
    widget = open_widget(viewer, N2V)
    assert widget.axes_edit.text() == "TCYX"
    set_tiny(widget, steps=3)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)

    expected = N2VModel.load(widget.model_folder, device="cpu", which="last").predict(frames[2], axes="CYX")
    for c in range(2):
        denoised = viewer.layers[channel_layer_name(c)]
        assert denoised.data.shape == (1, 48, 40)
        assert tuple(denoised.translate) == pytest.approx((6.0, 0.0, 0.0)) and tuple(denoised.scale) == pytest.approx((3.0, 0.5, 0.5))
        np.testing.assert_allclose(denoised.data[0], expected[c], rtol=1e-4, atol=1e-1)
