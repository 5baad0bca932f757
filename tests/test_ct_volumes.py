"""CT volume readers/writers, windowing and the slice crop/resize round trip."""

from __future__ import annotations

import numpy as np
import pytest

from denoise2seg.ct import (
    CTVolume,
    apply_window,
    read_volume,
    to_network_slices,
    to_volume_slices,
    write_labels_nifti,
    write_labels_tiff,
)


def _write_dicom_series(folder, hu, spacing, slope=1.0, intercept=-1024.0, shuffle=True):
    """Write ``hu`` (Z, Y, X) as one CT series of single-slice DICOM files, stored as uint16."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    series_uid = generate_uid()
    order = np.random.default_rng(0).permutation(len(hu)) if shuffle else np.arange(len(hu))
    for k in order:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"slice{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Modality = "CT"
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = int(len(hu) - k)  # deliberately reversed: position must win
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, float(k * spacing[0])]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0] * 2  # differs from the true distance, which must win
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.round((hu[k] - intercept) / slope).astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"slice{k:03d}.dcm"), enforce_file_format=True)


def test_dicom_series_keeps_hu_order_and_spacing(tmp_path):
    rng = np.random.default_rng(1)
    hu = np.round(rng.uniform(-1000, 1000, (4, 12, 10))).astype(np.float32)
    _write_dicom_series(tmp_path, hu, spacing=(2.5, 0.7, 0.8), slope=1.0, intercept=-1024.0)
    (tmp_path / "notes.txt").write_text("not dicom")
    volume = read_volume(tmp_path)
    np.testing.assert_allclose(volume.hu, hu)
    assert volume.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert volume.metadata["modality"] == "CT"


def test_dicom_rescale_slope_applied(tmp_path):
    hu = np.array([[[-1000.0, 0.0], [500.0, 1000.0]]], dtype=np.float32)
    _write_dicom_series(tmp_path, hu, spacing=(1.0, 0.5, 0.5), slope=2.0, intercept=-2048.0)
    volume = read_volume(next(tmp_path.glob("*.dcm")))
    np.testing.assert_allclose(volume.hu, hu)


def test_real_pydicom_ct_slice_is_in_hu():
    from pydicom.data import get_testdata_file

    volume = read_volume(get_testdata_file("CT_small.dcm"))
    assert volume.shape == (1, 128, 128)
    assert volume.spacing[1:] == pytest.approx((0.661468, 0.661468))
    # air in the lungs and soft tissue: only right after slope/intercept are applied
    assert volume.hu.min() < -700 and -100 < np.median(volume.hu) < 150


def test_nifti_round_trip_keeps_spacing_and_values(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(2)
    hu_xyz = rng.uniform(-1000, 400, (10, 12, 5)).astype(np.float32)
    affine = np.diag([0.8, 0.7, 3.0, 1.0])
    nib.save(nib.Nifti1Image(hu_xyz, affine), str(tmp_path / "ct.nii.gz"))
    volume = read_volume(tmp_path / "ct.nii.gz")
    assert volume.shape == (5, 12, 10)
    assert volume.spacing == pytest.approx((3.0, 0.7, 0.8))
    np.testing.assert_allclose(volume.hu, hu_xyz.transpose(2, 1, 0))

    labels = (volume.hu > 0).astype(np.uint8)
    write_labels_nifti(tmp_path / "labels.nii.gz", labels, volume.spacing, volume.affine)
    back = read_volume(tmp_path / "labels.nii.gz")
    np.testing.assert_array_equal(back.hu.astype(np.uint8), labels)
    np.testing.assert_allclose(back.affine, affine)


def test_tiff_label_writer_keeps_voxel_size(tmp_path):
    import tifffile

    labels = np.zeros((3, 8, 9), np.uint8)
    labels[1, 2:5, 3:7] = 2
    path = write_labels_tiff(tmp_path / "labels.tif", labels, spacing=(2.0, 0.5, 0.25))
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), labels)
        assert tif.imagej_metadata["spacing"] == pytest.approx(2.0)
        x_res = tif.pages[0].tags["XResolution"].value
        assert x_res[1] / x_res[0] == pytest.approx(0.25)


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_volume(tmp_path / "missing.nii")
    (tmp_path / "junk.dcm").write_bytes(b"nothing")
    with pytest.raises(ValueError, match="neither NIfTI .* nor DICOM"):
        read_volume(tmp_path / "junk.dcm")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no DICOM"):
        read_volume(tmp_path / "notes")
    with pytest.raises(ValueError, match="spacing"):
        CTVolume(np.zeros((2, 3, 3)), spacing=(0, 1, 1))


def test_lung_window():
    hu = np.array([-1350.0, -600.0, 150.0, 3000.0])
    np.testing.assert_allclose(apply_window(hu, "lung"), [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(apply_window(hu, (0.0, 200.0)), [0.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        apply_window(hu, "elbow")


def test_crop_resize_round_trip():
    zz, yy, xx = np.meshgrid(np.arange(3), np.arange(60), np.arange(80), indexing="ij")
    volume = (np.sin(yy / 9.0) + np.cos(xx / 11.0) + zz).astype(np.float32)
    slices = to_network_slices(volume, size=32)
    assert slices.shape == (3, 32, 32)
    back = to_volume_slices(slices, volume.shape, fill=np.nan)
    # the centre square is restored (up to interpolation of a smooth image), the sides are never seen
    assert np.isnan(back[:, :, :10]).all() and np.isnan(back[:, :, 70:]).all()
    assert np.nanmax(np.abs(back - volume)) < 0.12
    labels = np.zeros((1, 64, 64), np.float32)
    labels[0, 16:48, 16:48] = 1
    small = to_network_slices(labels, size=32, mode="nearest")
    np.testing.assert_array_equal(to_volume_slices(small, labels.shape, mode="nearest"), labels)
