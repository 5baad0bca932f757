"""The pixel size of the input reaches the results: TIFF resolution tags in, the same out, in the CLI and in napari."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from denoise2seg.cli.main import main
from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.io.pixel_size import PixelSize, read_pixel_size
from denoise2seg.io.tiff import write_labels_tiff, write_tiff


def test_resolution_tags_and_spacing_round_trip(tmp_path):
    write_tiff(tmp_path / "a.tif", np.zeros((3, 8, 9), np.float32), axes="ZYX", pixel_size=PixelSize(y=0.25, x=0.5, unit="um", z=2.0))
    assert read_pixel_size(tmp_path / "a.tif") == PixelSize(y=0.25, x=0.5, unit="um", z=2.0)
    write_labels_tiff(tmp_path / "b.tif", np.ones((8, 9), np.int32), pixel_size=PixelSize(y=0.1, x=0.1, unit="mm"))
    assert read_pixel_size(tmp_path / "b.tif") == PixelSize(y=pytest.approx(0.1), x=pytest.approx(0.1), unit="mm")
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((8, 9), np.uint16))
    assert read_pixel_size(tmp_path / "plain.tif") is None


def test_an_imagej_file_gives_its_micron_size_and_z_step(tmp_path):
    tifffile.imwrite(
        tmp_path / "ij.tif", np.zeros((4, 8, 9), np.uint16), imagej=True, resolution=(1 / 0.2, 1 / 0.3),
        metadata={"spacing": 1.5, "unit": "micron", "axes": "ZYX"},
    )
    size = read_pixel_size(tmp_path / "ij.tif")
    assert size.unit == "um" and size.z == 1.5
    assert (size.y, size.x) == pytest.approx((0.3, 0.2))


def test_seg_predict_and_n2v_predict_keep_the_input_pixel_size(tmp_path, segmentation_folder, tiny_n2v_folder, nuclei_crop):
    noisy = nuclei_crop[0]
    tifffile.imwrite(tmp_path / "image.tif", noisy, resolution=(1 / 0.65, 1 / 0.65), resolutionunit=5)
    assert main(["seg", "predict", str(segmentation_folder), str(tmp_path / "image.tif"), "--out", str(tmp_path / "labels"), "--device", "cpu"]) == 0
    assert main(["n2v", "predict", str(tiny_n2v_folder), str(tmp_path / "image.tif"), "--out", str(tmp_path / "denoised"), "--device", "cpu"]) == 0
    for result in (tmp_path / "labels" / "image_labels.tif", tmp_path / "denoised" / "image_n2v.tif"):
        size = read_pixel_size(result)
        assert size.unit == "um" and (size.y, size.x) == pytest.approx((0.65, 0.65))


@pytest.mark.gui
def test_a_labels_layer_exported_from_napari_opens_at_its_scale(make_napari_viewer, tmp_path):
    _, _, labels = synthetic_nuclei((40, 50), n_objects=3, noise_sigma=5, seed=0)
    viewer = make_napari_viewer()
    viewer.add_labels(labels.astype(np.int32), name="mask", scale=(0.4, 0.8), metadata={"unit": "um"})
    viewer.layers.save(str(tmp_path / "mask.tif"), plugin="napari-denoise2seg")
    size = read_pixel_size(tmp_path / "mask.tif")
    assert (size.y, size.x, size.unit) == (pytest.approx(0.4), pytest.approx(0.8), "um")
    opened = viewer.open(str(tmp_path / "mask.tif"), plugin="napari-denoise2seg")[0]
    assert tuple(opened.scale) == pytest.approx((0.4, 0.8))
    np.testing.assert_array_equal(opened.data, labels)


@pytest.mark.parametrize("unit", ["", "nm"])
def test_a_pixel_size_without_a_tiff_unit_is_not_written_in_inches(tmp_path, unit):
    size = PixelSize(y=0.5, x=0.5, unit=unit)
    write_tiff(tmp_path / "out.tif", np.zeros((4, 5), np.float32), axes="YX", pixel_size=size)
    assert read_pixel_size(tmp_path / "out.tif") == size
