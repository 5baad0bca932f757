"""Images of every common dtype and label masks of any integer type go through training, prediction and export:
results in the input's units, label masks as integers, the pixel size kept; a uint16 layer in the GUI."""

import numpy as np
import pytest
import tifffile

from denoise2seg.cli.main import main
from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.io.pixel_size import PixelSize, read_pixel_size
from denoise2seg.io.tiff import write_tiff
from denoise2seg.n2v import N2VModel
from n2v_widget_settings import set_tiny

N2V_TINY = ["--epochs", "1", "--steps", "2", "--batch-size", "4", "--patch-size", "16", "--depth", "1", "--n-filters", "4",
            "--seed", "0", "--device", "cpu"]
SEG_TINY = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4",
            "--seed", "0", "--device", "cpu"]
PIXEL = PixelSize(y=0.25, x=0.25, unit="um")


def image_of(dtype) -> tuple[np.ndarray, np.ndarray]:
    """A 64 x 64 noisy nuclei image in the range of ``dtype`` (signed: around 0), and its instance mask."""
    noisy, _, mask = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=3)
    if dtype == np.int16:
        noisy = noisy * 40 - 4000
    elif dtype == np.uint16:
        noisy = noisy * 100
    return np.clip(noisy, np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype) if dtype != np.float32 else noisy.astype(dtype), mask


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_n2v_denoises_each_dtype_in_its_units_with_the_pixel_size(tmp_path, dtype):
    image, _ = image_of(dtype)
    write_tiff(tmp_path / "image.tif", image, axes="YX", pixel_size=PIXEL)
    assert main(["n2v", "train", str(tmp_path / "image.tif"), "--out", str(tmp_path / "model"), *N2V_TINY]) == 0
    assert main(["n2v", "predict", str(tmp_path / "model"), str(tmp_path / "image.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    denoised = tifffile.imread(tmp_path / "out" / "image_n2v.tif")
    assert denoised.dtype == np.float32 and denoised.shape == image.shape
    np.testing.assert_allclose(denoised, N2VModel.load(tmp_path / "model", device="cpu").predict(image.astype(np.float32)), rtol=1e-5, atol=1e-3)
    # In the input's units: the mean stays near the input's, whatever the dtype's range.
    assert abs(float(denoised.mean()) - float(image.mean())) < 0.5 * float(image.std())
    assert read_pixel_size(tmp_path / "out" / "image_n2v.tif") == PIXEL


@pytest.mark.parametrize("mask_dtype", [np.uint8, np.int16, np.uint32, np.int64])
def test_segmentation_takes_masks_of_any_integer_type_and_writes_integer_labels(tmp_path, mask_dtype):
    image, mask = image_of(np.uint16)
    write_tiff(tmp_path / "image.tif", image, axes="YX", pixel_size=PIXEL)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(mask_dtype))
    assert main(["seg", "train", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"),
                 "--out", str(tmp_path / "model"), *SEG_TINY]) == 0
    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "image.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    labels = tifffile.imread(tmp_path / "out" / "image_labels.tif")
    assert np.issubdtype(labels.dtype, np.integer) and labels.shape == image.shape and labels.min() >= 0
    assert read_pixel_size(tmp_path / "out" / "image_labels.tif") == PIXEL


@pytest.mark.gui
def test_a_uint16_layer_trains_n2v_in_the_gui_and_is_denoised_in_its_units(make_napari_viewer, open_widget, qtbot):
    from denoise2seg.napari.n2v_widget import DENOISED_LAYER

    image, _ = image_of(np.uint16)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="raw16", scale=(0.25, 0.25))
    widget = open_widget(viewer, "Train denoiser (N2V)")
    widget.image_list.select("raw16")
    set_tiny(widget, steps=4)
    widget.panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.panel.running, timeout=60_000)
    assert widget.panel.runner.error is None
    denoised = viewer.layers[DENOISED_LAYER]
    assert denoised.data.dtype == np.float32 and tuple(denoised.scale) == pytest.approx((0.25, 0.25))
    assert abs(float(denoised.data.mean()) - float(image.mean())) < 0.5 * float(image.std())
