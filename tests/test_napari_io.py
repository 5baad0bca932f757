"""TIFF reader/writers and the nuclei sample data contributed to napari."""

import numpy as np
import pytest
import tifffile

from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.napari import sample_data
from denoise2seg.napari.readers import get_tiff_reader, read_tiff
from denoise2seg.napari.writers import write_image_tiff, write_labels_tiff


def _grey_with_dark_background() -> np.ndarray:
    """An 8-bit image, 41 % exact zeros and 213 other grey values: pixel values alone make it look like a mask."""
    rng = np.random.default_rng(0)
    image = rng.integers(43, 256, (120, 150)).astype(np.uint8)
    image[rng.random(image.shape) < 0.41] = 0
    return image


def _labels() -> np.ndarray:
    labels = np.zeros((40, 50), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:30, 30:45] = 300
    return labels


@pytest.mark.gui
def test_grey_image_with_many_zeros_is_left_to_napari_and_opens_as_image(tmp_path, make_napari_viewer):
    image = _grey_with_dark_background()
    assert 0.38 < np.mean(image == 0) < 0.44 and len(np.unique(image)) == 214
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, image)
    assert get_tiff_reader(str(path)) is None

    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path))
    assert layer.__class__.__name__ == "Image"
    np.testing.assert_array_equal(layer.data, image)


@pytest.mark.gui
def test_written_mask_round_trips_as_labels_when_named_as_one(tmp_path, make_napari_viewer):
    labels = _labels()
    (path,) = write_labels_tiff(str(tmp_path / "nuclei"), labels, {"name": "nuclei"})
    assert path.endswith("nuclei.tif")
    (data, kwargs, layer_type), = get_tiff_reader(path)(path)
    assert layer_type == "labels" and kwargs["name"] == "nuclei"
    np.testing.assert_array_equal(data, labels)

    # napari is offered this reader only for names of label masks, so it never asks which reader to use
    # for an image; a mask saved under another name opens with napari's own reader, as an image of its ids.
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path)
    assert layer.__class__.__name__ == "Image"
    np.testing.assert_array_equal(layer.data, labels)
    # A mask's name offers this reader beside napari's (the GUI asks which, once, and can remember it).
    (named,) = write_labels_tiff(str(tmp_path / "nuclei_labels"), labels, {"name": "nuclei"})
    (layer,) = viewer.open(named, plugin="napari-denoise2seg")
    assert layer.__class__.__name__ == "Labels"
    np.testing.assert_array_equal(layer.data, labels)


@pytest.mark.parametrize(
    "name", ["stardist.tif", "cells_labels.tif", "nuclei-mask.tif", "scan_lesions.tif", "image_labels-2.tif", "segmentation.tiff"]
)
def test_mask_names_open_as_labels(tmp_path, name):
    # 1600 touching nuclei: hardly any background, more ids than a value count would allow.
    labels = np.kron(np.arange(1600, dtype=np.uint16).reshape(40, 40), np.ones((4, 4), np.uint16))
    tifffile.imwrite(tmp_path / name, labels)
    (data, _, layer_type), = get_tiff_reader(str(tmp_path / name))(str(tmp_path / name))
    assert layer_type == "labels"
    np.testing.assert_array_equal(data, labels)


@pytest.mark.parametrize("name, dtype", [("masked.tif", np.uint16), ("unlabelled.tif", np.uint8), ("cells_mask.tif", np.float32)])
def test_other_names_and_float_masks_are_declined(tmp_path, name, dtype):
    tifffile.imwrite(tmp_path / name, _labels().astype(dtype))
    assert get_tiff_reader(str(tmp_path / name)) is None


def test_written_image_is_declined_and_other_files_are_ignored(tmp_path):
    image = np.random.default_rng(0).normal(100, 20, (40, 50)).astype(np.float32)
    (path,) = write_image_tiff(str(tmp_path / "raw.tif"), image, {"name": "raw"})
    assert get_tiff_reader(path) is None
    np.testing.assert_array_equal(tifffile.imread(path), image)
    assert get_tiff_reader(str(tmp_path / "photo.png")) is None


def test_reader_errors_name_the_file_and_the_reason(tmp_path):
    noisy, _, _ = noisy_nuclei_2d(10)
    tifffile.imwrite(tmp_path / "raw16.tif", np.clip(noisy * 100, 0, 65535).astype(np.uint16))
    with pytest.raises(ValueError, match=r"raw16\.tif is not read as a label mask: it has no label-mask marker"):
        read_tiff(str(tmp_path / "raw16.tif"))

    (tmp_path / "broken_labels.tif").write_bytes(b"II*\x00" + b"\x00" * 12)
    reader = get_tiff_reader(str(tmp_path / "broken_labels.tif"))
    assert reader is read_tiff
    with pytest.raises(ValueError, match=r"broken_labels\.tif: not a readable TIFF file"):
        reader(str(tmp_path / "broken_labels.tif"))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 12)
    assert get_tiff_reader(str(tmp_path / "broken.tif")) is None


def test_samples_hold_noisy_clean_and_mask():
    for make, sigma in ((sample_data.nuclei_sigma10, 10), (sample_data.nuclei_sigma40, 40)):
        layers = {kind if kind == "labels" else kwargs["name"].split()[-1]: data for data, kwargs, kind in make()}
        assert set(layers) == {"clean", "noisy", "labels"}
        assert abs(np.std(layers["noisy"] - layers["clean"]) - sigma) < 0.05 * sigma
        assert layers["labels"].max() > 10
    synthetic = {kind: data for data, _, kind in sample_data.synthetic_nuclei()}
    assert synthetic["labels"].shape == (256, 256) and synthetic["labels"].max() > 10
