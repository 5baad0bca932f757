"""Synthetic-lesion CT cases from real anatomy, and the napari reader/writer/sample of CT volumes."""

from __future__ import annotations

import numpy as np
import pytest

from denoise2seg.ct import read_volume
from denoise2seg.ct.samples import chest_ct_slice
from denoise2seg.ct.synthetic_lesions import deformed_slices, insert_lesions, lesion_region, synthetic_lesion_cases


def test_lung_region_of_the_real_chest_slice():
    chest = chest_ct_slice()
    region = lesion_region(chest.hu[0])
    # aerated lung only: a few thousand pixels of the 128x128 slice, all near -850 HU
    assert 1000 < region.sum() < 8000
    assert -950 < np.median(chest.hu[0][region]) < -600


def test_lesions_raise_density_exactly_inside_their_masks():
    rng = np.random.default_rng(3)
    anatomy = deformed_slices(chest_ct_slice().hu[0], 4, rng)
    region = lesion_region(anatomy)
    hu, mask, kinds = insert_lesions(anatomy, rng, region=region)
    assert kinds and mask.any()
    assert not (mask.astype(bool) & ~region).any()  # lesions stay in the lung
    rise = hu - anatomy
    assert rise.min() >= 0  # density only rises
    assert np.median(rise[mask > 0]) > 150
    assert np.median(rise[(mask == 0) & region]) < 5


def test_cases_are_varied_reproducible_and_all_have_lesions():
    chest = chest_ct_slice()
    cases = synthetic_lesion_cases(chest, n_cases=3, n_slices=5, seed=7)
    again = synthetic_lesion_cases(chest, n_cases=3, n_slices=5, seed=7)
    for (volume, mask), (volume2, mask2) in zip(cases, again):
        assert volume.shape == mask.shape == (5, 128, 128)
        assert volume.spacing == chest.spacing and volume.metadata["synthetic_lesion"]
        assert mask.any()
        np.testing.assert_array_equal(volume.hu, volume2.hu)
    # the anatomy differs between cases and between neighbouring slices, but not wildly
    assert np.abs(cases[0][0].hu - cases[1][0].hu).mean() > 20
    assert 0 < np.abs(np.diff(cases[0][0].hu, axis=0)).mean() < np.abs(cases[0][0].hu - cases[1][0].hu).mean()


def test_napari_volume_reader_keeps_spacing_and_hu(tmp_path):
    import nibabel as nib

    from denoise2seg.napari.volume_readers import get_volume_reader

    hu_xyz = np.random.default_rng(0).uniform(-1000, 300, (6, 7, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(hu_xyz, np.diag([0.5, 0.6, 2.5, 1.0])), str(tmp_path / "scan.nii.gz"))
    assert get_volume_reader(str(tmp_path / "image.png")) is None
    assert get_volume_reader(str(tmp_path)) is None  # a folder without DICOM files
    reader = get_volume_reader(str(tmp_path / "scan.nii.gz"))
    [(data, attributes, kind)] = reader(str(tmp_path / "scan.nii.gz"))
    assert kind == "image" and attributes["name"] == "scan"
    assert attributes["scale"] == pytest.approx((2.5, 0.6, 0.5))
    np.testing.assert_allclose(data, hu_xyz.transpose(2, 1, 0))


def test_napari_nifti_label_writer_round_trip(tmp_path):
    from denoise2seg.napari.volume_writers import write_labels_nifti

    labels = np.zeros((3, 5, 6), np.uint8)
    labels[1, 1:3, 2:5] = 1
    [written] = write_labels_nifti(str(tmp_path / "lesions.nii.gz"), labels, {"scale": (2.0, 0.7, 0.8), "metadata": {}})
    back = read_volume(written)
    np.testing.assert_array_equal(back.hu, labels)
    assert back.spacing == pytest.approx((2.0, 0.7, 0.8))


def test_napari_sample_is_image_and_exact_labels():
    from denoise2seg.napari.ct_samples import ct_synthetic_lesion

    (image, image_meta, image_kind), (labels, labels_meta, labels_kind) = ct_synthetic_lesion()
    assert (image_kind, labels_kind) == ("image", "labels")
    assert image.shape == labels.shape and labels.any()
    assert "synthetic-lesion" in image_meta["name"] and image_meta["scale"] == labels_meta["scale"]


def test_head_slice_from_pydicom_data_gets_body_lesions():
    pytest.importorskip("data_store", reason="the optional package pydicom-data is not installed")
    from denoise2seg.ct.samples import head_ct_slice

    head = head_ct_slice()
    assert head.shape == (1, 512, 512) and head.spacing[1:] == pytest.approx((0.478516, 0.478516))
    body = lesion_region(head.hu[0], "body")
    assert 0 < np.median(head.hu[0][body]) < 100  # brain and scalp, in HU
    (volume, mask), = synthetic_lesion_cases(head, n_cases=1, n_slices=2, seed=0, where="body")
    # lesions only raise density, so the body of the lesioned volume still holds every lesion voxel
    assert mask.any() and not (mask.astype(bool) & ~lesion_region(volume.hu, "body")).any()
