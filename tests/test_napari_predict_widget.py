"""The predict/export widget: apply saved N2V and segmentation models to images and stacks, export and read back masks."""

import hashlib

import numpy as np
import pytest
import tifffile
from qtpy.QtWidgets import QFileDialog, QMessageBox

from denoise2seg.n2v import N2VModel
from denoise2seg.napari.predict_widget import DEFAULT_TILE
from denoise2seg.napari.readers import get_tiff_reader
from denoise2seg.segmentation import SegmentationModel

pytestmark = pytest.mark.gui


def open_widget(viewer):
    """The widget as napari makes it: from the plugin's manifest, docked in the viewer."""
    _, widget = viewer.window.add_plugin_dock_widget("napari-denoise2seg", "Predict / export")
    return widget


def checksum(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_apply(widget, qtbot):
    widget.apply_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_segment_image_and_stack_then_export_and_read_back(make_napari_viewer, qtbot, nuclei_crop, segmentation_folder, tmp_path):
    viewer = make_napari_viewer()
    noisy = nuclei_crop[0]
    viewer.add_image(noisy, name="image", scale=(0.5, 0.25), translate=(10.0, -4.0))
    viewer.add_image(np.stack([noisy, noisy[::-1], noisy[:, ::-1]]), name="stack", scale=(3.0, 0.5, 0.25))
    widget = open_widget(viewer)
    widget.set_model_folder(segmentation_folder)
    assert widget.kind_label.text().startswith("segmentation: unet")
    widget.image_list.select("image", "stack")
    widget.tile_spin.setValue(64)
    widget.device_combo.setCurrentText("cpu")
    # Three frames look like three channels by their shape: the user says they are frames.
    assert widget.axes_edit.text() == "YX, CYX"
    widget.axes_edit.setText("YX, TYX")
    run_apply(widget, qtbot)

    assert widget.progress.value() == widget.progress.maximum() == 4
    # The result layers the run added did not bring the guess back over what the user typed.
    assert widget.axes_edit.text() == "YX, TYX"
    widget.image_list.select("image")
    widget.image_list.select("image", "stack")
    assert widget.axes_edit.text() == "YX, TYX"
    model = SegmentationModel.load(segmentation_folder, device="cpu")
    single, stack = viewer.layers["image labels"].data, viewer.layers["stack labels"].data
    assert single.max() > 0 and stack.shape == (3, 128, 128)
    for name in ("image", "stack"):
        np.testing.assert_array_equal(viewer.layers[f"{name} labels"].scale, viewer.layers[name].scale)
        np.testing.assert_array_equal(viewer.layers[f"{name} labels"].translate, viewer.layers[name].translate)
    np.testing.assert_array_equal(stack[0] > 0, single > 0)
    np.testing.assert_array_equal(single > 0, model.predict(noisy) > 0)

    written = widget.export_masks(tmp_path / "batch")
    assert sorted(p.name for p in written) == ["image_labels.tif", "stack_labels.tif"]
    for path, expected in zip(sorted(written), (single, stack)):
        (data, kwargs, layer_type), = get_tiff_reader(str(path))(str(path))
        assert layer_type == "labels"
        np.testing.assert_array_equal(data, expected)

    widget.image_list.select("image")
    run_apply(widget, qtbot)
    one = widget.export_masks(tmp_path / "one_mask.tif")
    (data, _, layer_type), = get_tiff_reader(str(one[0]))(str(one[0]))
    assert layer_type == "labels" and np.array_equal(data, single)


def test_export_replaces_an_existing_tiff_only_when_confirmed(make_napari_viewer, qtbot, nuclei_crop, segmentation_folder, tmp_path, monkeypatch, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_crop[0], name="image")
    widget = open_widget(viewer)
    widget.set_model_folder(segmentation_folder)
    widget.device_combo.setCurrentText("cpu")
    run_apply(widget, qtbot)
    mask = viewer.layers["image labels"].data
    target = tmp_path / "result.tif"
    tifffile.imwrite(target, np.full((5, 5), 7, np.uint8))
    before = checksum(target)

    with pytest.raises(ValueError, match=r"result\.tif already exists; confirm replacing it"):
        widget.export_masks(target)
    assert checksum(target) == before
    (tmp_path / "batch").mkdir()
    tifffile.imwrite(tmp_path / "batch" / "image_labels.tif", np.zeros((5, 5), np.uint8))
    kept = checksum(tmp_path / "batch" / "image_labels.tif")
    with pytest.raises(ValueError, match=r"image_labels\.tif already exists"):
        widget.export_masks(tmp_path / "batch")
    assert checksum(tmp_path / "batch" / "image_labels.tif") == kept

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), "TIFF (*.tif *.tiff)"))
    questions = []

    def answer(reply):
        def question(parent, title, text, *args):
            questions.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.No))
    widget.export_button.click()
    assert len(questions) == 1 and "result.tif" in questions[0]
    assert checksum(target) == before
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.Yes))
    widget.export_button.click()
    assert len(questions) == 2 and not error_messages()
    np.testing.assert_array_equal(tifffile.imread(target), mask)


def test_denoise_with_an_n2v_folder_and_refuse_a_foreign_folder(make_napari_viewer, qtbot, nuclei_crop, tiny_n2v_folder, tmp_path, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_crop[0], name="image", scale=(2.0, 2.0), translate=(-3.0, 8.0))
    widget = open_widget(viewer)
    widget.set_model_folder(tiny_n2v_folder)
    assert widget.kind_label.text() == "Noise2Void denoiser"
    assert widget.tile_spin.value() == DEFAULT_TILE == 512
    widget.tile_spin.setValue(64)
    run_apply(widget, qtbot)
    denoised = viewer.layers["image denoised"]
    expected = N2VModel.load(tiny_n2v_folder, device="cpu").predict(nuclei_crop[0], tile_shape=None)
    np.testing.assert_allclose(denoised.data, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(denoised.scale, (2.0, 2.0))
    np.testing.assert_array_equal(denoised.translate, (-3.0, 8.0))

    (tmp_path / "not_a_model").mkdir()
    widget.set_model_folder(tmp_path / "not_a_model")
    widget.apply_button.click()
    assert any("no config.json" in m for m in error_messages())
    assert widget.worker is None and [layer.name for layer in viewer.layers] == ["image", "image denoised"]


def test_stop_ends_a_long_prediction_without_a_partial_layer(make_napari_viewer, qtbot, nuclei_crop, tiny_n2v_folder):
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([nuclei_crop[0]] * 200), name="long stack")
    widget = open_widget(viewer)
    widget.set_model_folder(tiny_n2v_folder)
    widget.image_list.select("long stack")
    widget.device_combo.setCurrentText("cpu")
    widget.apply_button.click()
    assert widget.stop_button.isEnabled()
    qtbot.waitUntil(lambda: widget.progress.value() >= 1, timeout=30_000)
    widget.stop_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)

    assert 1 <= widget.progress.value() < 200
    assert [layer.name for layer in viewer.layers] == ["long stack"]
    assert widget.apply_button.isEnabled() and not widget.stop_button.isEnabled()
    from napari.utils.notifications import notification_manager

    assert any("stopped after" in str(n.message) for n in notification_manager.records[-3:])


def test_n2v_models_with_channels_or_3d_apply_with_the_axes_shown(make_napari_viewer, qtbot, tmp_path, error_messages):
    from denoise2seg.n2v import N2VConfig, train_n2v

    rng = np.random.default_rng(0)
    cells = np.stack([rng.uniform(0, 255, (48, 40)), rng.uniform(0, 60000, (48, 40))]).astype(np.float32)
    volume = rng.normal(100, 10, (16, 32, 32)).astype(np.float32)
    tiny = dict(epochs=1, steps_per_epoch=3, batch_size=2, depth=1, n_filters=4, seed=0)
    for _ in train_n2v(cells, N2VConfig(patch_size=16, **tiny), axes="CYX", out_dir=tmp_path / "two", device="cpu"):
        pass
    for _ in train_n2v(volume, N2VConfig(ndim=3, patch_size=8, **tiny), out_dir=tmp_path / "3d", device="cpu"):
        pass
    viewer = make_napari_viewer()
    viewer.add_image(cells, name="cells")
    viewer.add_image(volume, name="volume")
    widget = open_widget(viewer)
    widget.device_combo.setCurrentText("cpu")

    widget.set_model_folder(tmp_path / "two")
    widget.image_list.select("cells")
    assert widget.axes_edit.text() == "CYX"
    run_apply(widget, qtbot)
    expected = N2VModel.load(tmp_path / "two", device="cpu").predict(cells, axes="CYX", tile_shape=(DEFAULT_TILE, DEFAULT_TILE))
    np.testing.assert_allclose(viewer.layers["cells denoised"].data, expected, rtol=1e-4, atol=1e-2)

    widget.axes_edit.setText("TYX")
    widget.apply_button.click()
    assert any("1 channel but the model was trained on 2" in m for m in error_messages())

    widget.set_model_folder(tmp_path / "3d")
    widget.image_list.select("volume")
    widget.axes_edit.setText("ZYX")
    run_apply(widget, qtbot)
    expected = N2VModel.load(tmp_path / "3d", device="cpu").predict(volume, axes="ZYX")
    np.testing.assert_allclose(viewer.layers["volume denoised"].data, expected, rtol=1e-4, atol=1e-2)


def test_export_a_bioimageio_package_then_denoise_with_it(make_napari_viewer, qtbot, nuclei_crop, tiny_n2v_folder, tmp_path, error_messages):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_crop[0], name="image", scale=(2.0, 2.0))
    widget = open_widget(viewer)
    widget.set_model_folder(tiny_n2v_folder)
    package = tmp_path / "n2v.zip"
    widget.export_package(package)
    qtbot.waitUntil(lambda: widget.export_worker is None, timeout=120_000)
    assert package.is_file() and not error_messages()
    before = checksum(package)
    with pytest.raises(ValueError, match="already exists"):
        widget.export_package(package)
    assert checksum(package) == before

    widget.set_model_folder(package)
    assert widget.kind_label.text() == "bioimage.io package: denoiser"
    with pytest.raises(ValueError, match="is a bioimage.io package already"):
        widget.export_package(tmp_path / "again.zip")
    run_apply(widget, qtbot)
    denoised = viewer.layers["image denoised"]
    expected = N2VModel.load(tiny_n2v_folder, device="cpu").predict(nuclei_crop[0], tile_shape=None)
    np.testing.assert_allclose(denoised.data, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(denoised.scale, (2.0, 2.0))


def test_a_multiscale_layer_is_predicted_at_full_resolution(make_napari_viewer, qtbot, nuclei_crop, tiny_n2v_folder):
    viewer = make_napari_viewer()
    image = nuclei_crop[0]
    viewer.add_image([image, image[::2, ::2], image[::4, ::4]], name="pyramid", multiscale=True)
    widget = open_widget(viewer)
    widget.set_model_folder(tiny_n2v_folder)
    run_apply(widget, qtbot)
    denoised = viewer.layers["pyramid denoised"]
    expected = N2VModel.load(tiny_n2v_folder, device="cpu").predict(image, tile_shape=None)
    assert denoised.data.shape == image.shape
    np.testing.assert_allclose(denoised.data, expected, rtol=1e-4, atol=1e-3)


def test_a_dask_layer_is_predicted_block_by_block_into_a_lazy_layer(make_napari_viewer, qtbot, nuclei_crop, tiny_n2v_folder, segmentation_folder, error_messages):
    import dask.array as da

    viewer = make_napari_viewer()
    image = nuclei_crop[0]
    viewer.add_image(da.from_array(image, chunks=64), name="lazy", scale=(2.0, 2.0))
    widget = open_widget(viewer)
    widget.set_model_folder(tiny_n2v_folder)
    run_apply(widget, qtbot)
    denoised = viewer.layers["lazy denoised"]
    assert isinstance(denoised.data, da.Array)
    expected = N2VModel.load(tiny_n2v_folder, device="cpu").predict(image, tile_shape=None)
    np.testing.assert_allclose(np.asarray(denoised.data), expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(denoised.scale, (2.0, 2.0))

    widget.set_model_folder(segmentation_folder)
    widget.image_list.select("lazy")
    run_apply(widget, qtbot)
    assert not error_messages()
    labels = np.asarray(viewer.layers["lazy labels"].data)
    whole = SegmentationModel.load(segmentation_folder, device="cpu").predict(image, tile_shape=None)
    assert labels.shape == image.shape and labels.max() > 0
    assert len(np.unique(labels)) == len(np.unique(whole))


def test_contrast_limits_of_a_lazy_result_of_many_chunks_are_read_from_a_sample_of_it():
    import dask.array as da

    from denoise2seg.napari.layer_choice import display_range

    values = np.random.default_rng(0).normal(100, 10, (600, 600)).astype(np.float32)
    low, high = display_range(da.from_array(values, chunks=300))
    assert (low, high) == display_range(values) and low < 100 < high
