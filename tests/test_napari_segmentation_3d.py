"""3D segmentation in the GUI, driven like a user: stardist's 3D nuclei sample opened at its voxel size, a
3D N2V model trained in the N2V widget (axes ZYX), a few whole nuclei painted, StarDist 3D trained
sequentially in the segmentation widget, the live layer drawn at the image's scale and scored in 3D."""

import numpy as np
import pytest
from stardist import data as stardist_data

from denoise2seg.metrics import average_precision, score_image
from denoise2seg.napari.layer_choice import GROUND_TRUTH, ROLE_KEY
from denoise2seg.napari.segmentation_widget import SEGMENTATION_LAYER
from denoise2seg.segmentation import SegmentationModel
from n2v_widget_settings import set_tiny

pytestmark = pytest.mark.gui
N2V = "Train denoiser (N2V)"
SEGMENTATION = "Train segmentation"
# stardist's 3D sample has Z steps about twice its pixel size (calculate_extents of its mask: 7, 15, 14).
VOXEL_SIZE = (2.0, 1.0, 1.0)


@pytest.fixture
def volume_viewer(make_napari_viewer):
    """A viewer with the sample volume at its voxel size, its ground truth, and 5 whole nuclei painted in a Labels layer."""
    image, mask = stardist_data.test_image_nuclei_3d(return_mask=True)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="nuclei 3d", scale=VOXEL_SIZE)
    viewer.add_labels(mask.astype(np.int32), name="truth", scale=VOXEL_SIZE, metadata={ROLE_KEY: GROUND_TRUTH})
    inside = [i for i in np.unique(mask[:, :30, :30]) if i and not np.isin(i, mask[:, 30:, :]) and not np.isin(i, mask[:, :, 30:])]
    painted = np.where(np.isin(mask, inside[:5]), mask, 0).astype(np.int32)
    viewer.add_labels(painted, name="painted", scale=VOXEL_SIZE)
    return viewer


def train_n2v_3d(viewer, open_widget, qtbot):
    widget = open_widget(viewer, N2V)
    widget.image_list.select("nuclei 3d")
    widget.axes_edit.setText("ZYX")
    set_tiny(widget, steps=4, batch=2)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)
    assert widget.panel.runner.error is None


def test_stardist_3d_sequential_from_a_few_painted_nuclei(volume_viewer, open_widget, qtbot):
    train_n2v_3d(volume_viewer, open_widget, qtbot)
    widget = open_widget(volume_viewer, SEGMENTATION)
    widget.image_list.select("nuclei 3d")
    widget.axes_edit.setText("ZYX")
    # The 3D defaults replace the 2D ones the widget opened with.
    assert (widget.patch_spin.value(), widget.batch_spin.value(), widget.rays_spin.value()) == (64, 4, 96)
    widget.labels_combo.setCurrentText("painted")
    assert widget.truth_combo.currentText() == "truth"
    widget.method_combo.setCurrentText("StarDist")
    widget.scheme_combo.setCurrentText("sequential")
    widget.patch_spin.setValue(16)
    widget.patch_depth_spin.setValue(8)
    widget.batch_spin.setValue(2)
    widget.rays_spin.setValue(16)
    widget.epochs_spin.setValue(2)
    widget.steps_spin.setValue(4)
    widget.depth_spin.setValue(1)
    widget.filters_spin.setValue(8)
    widget.margin_spin.setValue(2)
    widget.preview_spin.setValue(4)
    widget.seed_spin.setValue(0)
    widget.device_combo.setCurrentText("cpu")
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running and widget.scores is not None, timeout=120_000)
    assert widget.panel.runner.error is None

    model = SegmentationModel.load(widget.model_folder, device="cpu")
    assert (model.config.ndim, model.config.method, model.config.scheme) == (3, "stardist", "sequential")
    assert model.config.anisotropy == VOXEL_SIZE and model.n2v.config.ndim == 3
    image = volume_viewer.layers["nuclei 3d"].data
    live = volume_viewer.layers[SEGMENTATION_LAYER]
    # The sample has 31 slices, fewer than a 3D preview's 32: the whole volume, drawn at its voxel size.
    assert live.data.shape == image.shape
    assert tuple(live.scale) == pytest.approx(VOXEL_SIZE) and tuple(live.translate) == pytest.approx((0, 0, 0))
    # The saved model's segmentation (float ties can flip a few voxels between NMS runs).
    assert average_precision(model.predict(image), live.data) > 0.95
    truth = volume_viewer.layers["truth"].data
    # Matched as volumes: each nucleus counts once, not once per slice it crosses.
    assert widget.scores.n_true == len(np.unique(truth)) - 1
    assert widget.scores == score_image(truth, live.data, name=SEGMENTATION_LAYER, ndim=3)
