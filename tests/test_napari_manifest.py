"""napari itself finds the plugin through its npe2 manifest: samples, dock widgets, reader and writer."""

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.gui

PLUGIN = "napari-denoise2seg"


def test_manifest_is_valid_and_lists_every_widget():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest(PLUGIN)
    widget_names = {w.display_name for w in manifest.contributions.widgets}
    assert widget_names == {
        "Train denoiser (N2V)",
        "Train segmentation",
        "Predict / export",
        "CT denoise-pretrain",
        "Low-dose CT denoise",
        "Lesion segmentation (LADP)",
    }
    for command in manifest.contributions.commands:
        module, _, attribute = command.python_name.partition(":")
        assert hasattr(__import__(module, fromlist=[attribute]), attribute), command.python_name


def test_sample_and_dock_widget_open_through_napari(make_napari_viewer):
    from denoise2seg.napari.n2v_widget import N2VWidget

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_sigma40")
    names = [layer.name for layer in viewer.layers]
    assert any("noisy" in name for name in names) and any(layer.__class__.__name__ == "Labels" for layer in viewer.layers)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train denoiser (N2V)")
    assert isinstance(widget, N2VWidget)


def test_reader_and_writer_are_used_by_napari(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    mask = np.zeros((32, 40), np.uint16)
    mask[4:12, 5:20] = 3
    viewer.add_labels(mask.astype(np.int32), name="mask")
    target = tmp_path / "mask.tif"
    written = viewer.layers["mask"].save(str(target), plugin=PLUGIN)
    assert written and np.array_equal(tifffile.imread(target), mask)
    layers = viewer.open(str(target), plugin=PLUGIN)
    assert len(layers) == 1 and np.array_equal(np.asarray(layers[0].data), mask)
