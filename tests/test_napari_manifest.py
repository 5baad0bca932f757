"""napari itself finds the plugin through its npe2 manifest: every widget, every sample, the reader and the writer.

The contributions are read from ``napari.yaml``, so a new widget or sample is covered
without editing this file.
"""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from conftest import PLUGIN

pytestmark = pytest.mark.gui

MANIFEST = yaml.safe_load((Path(__file__).parents[1] / "napari.yaml").read_text())
WIDGETS = [w["display_name"] for w in MANIFEST["contributions"]["widgets"]]
SAMPLES = [s["key"] for s in MANIFEST["contributions"]["sample_data"]]
# A laptop screen of 1366 x 768 pixels, less a task bar.
SCREEN_HEIGHT = 720


def test_manifest_is_the_one_napari_loads_and_every_command_resolves():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest(PLUGIN)
    assert [w.display_name for w in manifest.contributions.widgets] == WIDGETS
    for command in manifest.contributions.commands:
        module, _, attribute = command.python_name.partition(":")
        assert hasattr(__import__(module, fromlist=[attribute]), attribute), command.python_name


@pytest.mark.parametrize("display_name", WIDGETS)
def test_every_widget_opens_from_the_plugins_menu_and_fits_a_laptop_screen(make_napari_viewer, qtbot, display_name):
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, SCREEN_HEIGHT)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, display_name)
    assert widget.viewer == viewer  # napari hands widgets a proxy of the viewer
    assert dock.minimumSizeHint().height() <= SCREEN_HEIGHT, f"{display_name} needs {dock.minimumSizeHint().height()} px"
    # layers with long names arrive after the widget: no row may be cut off at the right
    viewer.add_image(np.zeros((4, 8, 8), np.float32), name="a layer with a long name (synthetic-lesion, channel 2)")
    viewer.add_labels(np.zeros((4, 8, 8), np.int32), name="labels with a long name (synthetic-lesion, annotations)")
    qtbot.wait(100)
    for scroll in widget.findChildren(QScrollArea):
        body = scroll.widget()
        assert scroll.viewport().width() >= body.minimumSizeHint().width(), f"{display_name}: rows cut off at the right"


def test_the_voidseg_widgets_docked_together_fit_a_laptop_screen(make_napari_viewer):
    viewer = make_napari_viewer()
    for display_name in ("Train denoiser (N2V)", "Train segmentation", "Predict / export"):
        viewer.window.add_plugin_dock_widget(PLUGIN, display_name)
    window = viewer.window._qt_window
    assert window.minimumSizeHint().height() <= SCREEN_HEIGHT
    assert window.minimumSize().height() <= SCREEN_HEIGHT


@pytest.mark.parametrize("key", SAMPLES)
def test_every_sample_opens_through_napari(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, key)
    assert len(viewer.layers) >= 1 and all(np.asarray(layer.data).size > 0 for layer in viewer.layers)


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


LAYER_MENUS = MANIFEST["contributions"]["menus"]


@pytest.mark.parametrize("menu", sorted(LAYER_MENUS))
def test_the_layers_menus_open_the_widgets(make_napari_viewer, menu):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    app = get_app_model()
    offered = {item.command.id: item.command.title for item in app.menus.get_menu(menu) if getattr(item, "command", None)}
    for entry in LAYER_MENUS[menu]:
        assert entry["command"] in offered, f"{entry['command']} is not in {menu}"
        app.commands.execute_command(entry["command"]).result()
    titles = {offered[e["command"]] for e in LAYER_MENUS[menu]}
    assert titles <= set(viewer.window.dock_widgets)


def test_napari_offers_the_tiff_reader_only_for_files_named_as_label_masks(tmp_path):
    from npe2 import PluginManager

    def readers_of(name: str) -> set[str]:
        return {reader.command for reader in PluginManager.instance().iter_compatible_readers([str(tmp_path / name)])}

    ours = f"{PLUGIN}.get_tiff_reader"
    # An image is napari's own reader's alone, so napari has no reader to ask the user about.
    assert ours not in readers_of("cells.tif") and ours not in readers_of("stack.tiff")
    for name in ("cells_labels.tif", "nuclei-mask.tiff", "scan_lesions.tif", "image_labels-2.tif", "stardist.tif"):
        assert ours in readers_of(name), name
