"""Shared fixtures: error notifications seen during a test, a small noisy nuclei crop, a tiny trained N2V model."""

import pytest

from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.segmentation import SegmentationConfig, train_segmentation


@pytest.fixture
def error_messages():
    """A function returning the texts of napari error notifications shown since the test started."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    start = len(notification_manager.records)

    def new_errors() -> list[str]:
        return [str(n.message) for n in notification_manager.records[start:] if n.severity == NotificationSeverity.ERROR]

    return new_errors


@pytest.fixture(scope="session")
def nuclei_crop():
    """``(noisy, clean, mask)``: a 128 x 128 crop of the DSB sample at noise sigma 20."""
    noisy, clean, mask = noisy_nuclei_2d(20)
    crop = (slice(0, 128), slice(0, 128))
    return noisy[crop], clean[crop], mask[crop]


@pytest.fixture(scope="session")
def segmentation_folder(tmp_path_factory, nuclei_crop):
    """A tiny 3-class U-Net trained on :func:`nuclei_crop` (a model folder)."""
    folder = tmp_path_factory.mktemp("seg")
    noisy, _, mask = nuclei_crop
    config = SegmentationConfig(patch_size=32, batch_size=4, epochs=2, steps_per_epoch=15, learning_rate=0.01, depth=1, n_filters=8, seed=0)
    for _ in train_segmentation([noisy], [mask], config, out_dir=folder, device="cpu"):
        pass
    return folder


def _trained_n2v(folder, image, **settings):
    """``folder`` after training a seeded N2V model of 8 filters on 32x32 patches of ``image`` for one epoch of ``settings``."""
    config = N2VConfig(patch_size=32, epochs=1, n_filters=8, seed=0, **settings)
    for _ in train_n2v(image, config, out_dir=folder, device="cpu"):
        pass
    return folder


@pytest.fixture(scope="session")
def tiny_n2v_folder(tmp_path_factory, nuclei_crop):
    """Folder of an N2V model (depth 1, 8 filters) trained for 20 steps on :func:`nuclei_crop`."""
    return _trained_n2v(tmp_path_factory.mktemp("n2v"), nuclei_crop[0], batch_size=8, steps_per_epoch=20, depth=1)


@pytest.fixture(scope="session")
def nuclei_256():
    """``(noisy, mask)``: a 256 x 256 crop of the DSB sample at noise sigma 20 (several blocks of blockwise prediction)."""
    noisy, _, mask = noisy_nuclei_2d(20, seed=0)
    return noisy[:256, :256], mask[:256, :256]


@pytest.fixture(scope="session")
def depth2_n2v_folder(tmp_path_factory, nuclei_256):
    """Folder of an N2V model of depth 2 (8 filters, 5 steps) trained on :func:`nuclei_256`."""
    return _trained_n2v(tmp_path_factory.mktemp("n2v-depth2"), nuclei_256[0], batch_size=4, steps_per_epoch=5, depth=2)


PLUGIN = "napari-denoise2seg"


@pytest.fixture
def open_widget():
    """A function ``open_widget(viewer, display_name)`` that docks a widget of the plugin as *Plugins > denoise2seg* does."""

    def open_(viewer, display_name: str):
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, display_name)
        return widget

    return open_


@pytest.fixture
def tiny_budget():
    """A scheme-comparison budget of a few steps on tiny networks (seconds per training)."""
    from denoise2seg.segmentation.compare import Budget

    return Budget(
        "tiny", epochs=2, steps_per_epoch=15, batch_size=4, patch_size=32, depth=1, n_filters=8, learning_rate=0.01,
        n2v=N2VConfig(epochs=1, steps_per_epoch=10, batch_size=4, patch_size=32, depth=1, n_filters=8), expected="seconds",
    )
