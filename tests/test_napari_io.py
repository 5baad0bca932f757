"""TIFF reader/writers and the nuclei sample data contributed to napari."""

import numpy as np
import tifffile

from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.napari import sample_data
from denoise2seg.napari.readers import get_tiff_reader
from denoise2seg.napari.writers import write_image_tiff, write_labels_tiff


def test_writers_round_trip_through_the_reader(tmp_path):
    labels = np.zeros((40, 50), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:30, 30:45] = 300
    image = np.random.default_rng(0).normal(100, 20, (40, 50)).astype(np.float32)
    (labels_path,) = write_labels_tiff(str(tmp_path / "nuclei"), labels, {"name": "nuclei"})
    (image_path,) = write_image_tiff(str(tmp_path / "raw.tif"), image, {"name": "raw"})
    assert labels_path.endswith(".tif")

    for path, expected, kind in ((labels_path, labels, "labels"), (image_path, image, "image")):
        (data, kwargs, layer_type), = get_tiff_reader(path)(path)
        assert layer_type == kind and kwargs["name"] == path.split("/")[-1][:-4]
        np.testing.assert_array_equal(data, expected)


def test_reader_tells_masks_from_images_and_ignores_other_files(tmp_path):
    noisy, _, mask = noisy_nuclei_2d(10)
    tifffile.imwrite(tmp_path / "cells.tif", mask.astype(np.uint16))
    tifffile.imwrite(tmp_path / "raw16.tif", np.clip(noisy * 100, 0, 65535).astype(np.uint16))
    tifffile.imwrite(tmp_path / "cells_mask.tif", (mask > 0).astype(np.uint8))
    kinds = {p: get_tiff_reader(str(tmp_path / p))(str(tmp_path / p))[0][2] for p in ("cells.tif", "raw16.tif", "cells_mask.tif")}
    assert kinds == {"cells.tif": "labels", "raw16.tif": "image", "cells_mask.tif": "labels"}
    assert get_tiff_reader(str(tmp_path / "photo.png")) is None


def test_samples_hold_noisy_clean_and_mask():
    for make, sigma in ((sample_data.nuclei_sigma10, 10), (sample_data.nuclei_sigma40, 40)):
        layers = {kind if kind == "labels" else kwargs["name"].split()[-1]: data for data, kwargs, kind in make()}
        assert set(layers) == {"clean", "noisy", "labels"}
        assert abs(np.std(layers["noisy"] - layers["clean"]) - sigma) < 0.05 * sigma
        assert layers["labels"].max() > 10
    synthetic = {kind: data for data, _, kind in sample_data.synthetic_nuclei()}
    assert synthetic["labels"].shape == (256, 256) and synthetic["labels"].max() > 10
