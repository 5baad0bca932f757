"""``denoise2seg seg train|predict|evaluate`` on TIFF files."""

import numpy as np
import tifffile

from denoise2seg.cli.main import main
from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.metrics import average_precision
from denoise2seg.segmentation import SegmentationModel


def test_train_predict_evaluate(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=1)
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    tiny = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4"]
    code = main(
        ["seg", "train", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"), "--out", str(tmp_path / "model"),
         "--device", "cpu", "--seed", "0", *tiny]
    )
    assert code == 0
    assert "prob_thresh" in capsys.readouterr().out
    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "image.tif"), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    predicted = tifffile.imread(tmp_path / "out" / "image_labels.tif")
    assert predicted.shape == noisy.shape and np.issubdtype(predicted.dtype, np.integer)
    (tmp_path / "copy").mkdir()
    tifffile.imwrite(tmp_path / "copy" / "image.tif", noisy[::-1])
    again = ["seg", "predict", str(tmp_path / "model"), str(tmp_path / "image.tif"), str(tmp_path / "copy" / "image.tif"),
             "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert main(again) == 2
    assert "image_labels.tif already exists" in capsys.readouterr().err
    assert main([*again, "--overwrite"]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "image_labels.tif"), predicted)
    model = SegmentationModel.load(tmp_path / "model", device="cpu")
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "image_labels-2.tif"), model.predict(noisy[::-1]))
    capsys.readouterr()
    assert main(["seg", "evaluate", str(tmp_path / "model"), str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith(f"| {tmp_path / 'image.tif'} |"))
    assert f"| {average_precision(labels, predicted):.4f} |" in row


def test_bad_requests_exit_with_a_message(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=4, noise_sigma=20, seed=2)
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    args = ["seg", "train", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"), "--out", str(tmp_path / "m")]
    assert main([*args, "--method", "stardist", "--scheme", "finetune"]) == 2
    assert "not available for StarDist" in capsys.readouterr().err
    assert main([*args, "--scheme", "sequential"]) == 2
    assert "needs a trained N2V model" in capsys.readouterr().err


def test_channels_are_not_taken_for_frames(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=2)
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    tiny = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4"]
    assert main(["seg", "train", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"),
                 "--out", str(tmp_path / "model"), "--device", "cpu", *tiny]) == 0
    tifffile.imwrite(tmp_path / "two.tif", np.stack([noisy, noisy[::-1]]))
    tifffile.imwrite(tmp_path / "rgb.tif", np.repeat(noisy[..., None], 3, axis=-1).astype(np.uint8))
    capsys.readouterr()
    for name, guess in [("two.tif", "CYX"), ("rgb.tif", "YXC")]:
        predict = ["seg", "predict", str(tmp_path / "model"), str(tmp_path / name), "--out", str(tmp_path / "out"), "--device", "cpu"]
        assert main(predict) == 2
        captured = capsys.readouterr()
        assert f"axes {guess} (guessed" in captured.out and "single-channel" in captured.err and "--axes TYX" in captured.err
        assert not (tmp_path / "out").exists()
    frames = ["seg", "predict", str(tmp_path / "model"), str(tmp_path / "two.tif"), "--axes", "TYX",
              "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert main(frames) == 0
    model = SegmentationModel.load(tmp_path / "model", device="cpu")
    written = tifffile.imread(tmp_path / "out" / "two_labels.tif")
    assert written.shape == (2, 64, 64) and np.array_equal(written[1], model.predict(noisy[::-1]))


def test_resume_continues_on_corrected_labels_into_a_new_folder(tmp_path, capsys):
    from denoise2seg.training.state import load_training_state

    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=3)
    first_labels = np.where(np.isin(labels, [1, 2, 3]), labels, 0)
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "first.tif", first_labels)
    tifffile.imwrite(tmp_path / "corrected.tif", labels)
    tiny = ["--epochs", "1", "--steps", "3", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4"]
    train = ["seg", "train", str(tmp_path / "image.tif"), "--device", "cpu"]
    assert main([*train, "--labels", str(tmp_path / "first.tif"), "--out", str(tmp_path / "first"), "--seed", "0", *tiny]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir() if p.is_file()}

    assert main([*train, "--labels", str(tmp_path / "corrected.tif"), "--resume", str(tmp_path / "first"), "--scheme", "baseline"]) == 2
    assert "--scheme cannot be given" in capsys.readouterr().err

    resumed = [*train, "--labels", str(tmp_path / "corrected.tif"), "--resume", str(tmp_path / "first"), "--epochs", "3"]
    assert main([*resumed, "--out", str(tmp_path / "second")]) == 0
    assert f"model written to {tmp_path / 'second'}" in capsys.readouterr().out
    assert load_training_state(tmp_path / "second").step == 9
    assert {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir() if p.is_file()} == before
    model = SegmentationModel.load(tmp_path / "second", device="cpu")
    assert model.config.epochs == 3 and model.predict(noisy).shape == noisy.shape


def test_a_3d_model_trains_on_a_volume_with_the_files_voxel_size_and_segments_volumes(tmp_path, capsys):
    from stardist import data as stardist_data

    from denoise2seg.io.pixel_size import PixelSize, read_pixel_size
    from denoise2seg.io.tiff import write_tiff
    from denoise2seg.metrics import score_image

    image, mask = stardist_data.test_image_nuclei_3d(return_mask=True)
    image, mask = image[:, :32, :32], mask[:, :32, :32].astype(np.int32)
    voxel = PixelSize(y=0.5, x=0.5, unit="um", z=1.0)
    write_tiff(tmp_path / "volume.tif", image, axes="ZYX", pixel_size=voxel)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    tiny = ["--epochs", "1", "--steps", "3", "--batch-size", "2", "--patch-size", "16", "--patch-depth", "8",
            "--depth", "1", "--n-filters", "4", "--margin", "2"]
    train = ["seg", "train", str(tmp_path / "volume.tif"), "--labels", str(tmp_path / "mask.tif"), "--ndim", "3",
             "--out", str(tmp_path / "model"), "--device", "cpu", "--seed", "0", *tiny]
    assert main(train) == 0
    printed = capsys.readouterr().out
    assert "axes ZYX (stored in the file" in printed and "anisotropy (2.0, 1.0, 1.0)" in printed
    model = SegmentationModel.load(tmp_path / "model", device="cpu")
    assert model.config.ndim == 3 and model.config.anisotropy == (2.0, 1.0, 1.0)

    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "volume.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    predicted = tifffile.imread(tmp_path / "out" / "volume_labels.tif")
    np.testing.assert_array_equal(predicted, model.predict(image))
    assert read_pixel_size(tmp_path / "out" / "volume_labels.tif") == voxel
    capsys.readouterr()
    assert main(["seg", "evaluate", str(tmp_path / "model"), str(tmp_path / "volume.tif"), "--labels", str(tmp_path / "mask.tif"),
                 "--device", "cpu"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {tmp_path / 'volume.tif'} |"))
    scores = score_image(mask, predicted, ndim=3)
    # The nuclei are counted once each, as volumes, not once per slice.
    assert row.split("|")[2].strip() == str(len(np.unique(mask)) - 1) == str(scores.n_true)
    assert f"| {scores.ap_50:.4f} |" in row


def test_a_two_channel_file_trains_a_two_channel_model_whose_labels_have_no_channel_axis(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=4)
    tifffile.imwrite(tmp_path / "two.tif", np.stack([noisy, noisy * 40 + 1000]).astype(np.float32))
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    tiny = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4"]
    assert main(["seg", "train", str(tmp_path / "two.tif"), "--labels", str(tmp_path / "mask.tif"),
                 "--out", str(tmp_path / "model"), "--device", "cpu", "--seed", "0", *tiny]) == 0
    assert "axes CYX (guessed" in capsys.readouterr().out
    assert SegmentationModel.load(tmp_path / "model", device="cpu").config.channels == 2
    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "two.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    assert tifffile.imread(tmp_path / "out" / "two_labels.tif").shape == (64, 64)
    tifffile.imwrite(tmp_path / "grey.tif", noisy)
    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "grey.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 2
    assert "has 1 channel, but the model takes 2" in capsys.readouterr().err


def test_3d_options_that_cannot_apply_are_refused_with_what_to_do(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=5)
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "mask.tif", labels)
    train = ["seg", "train", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"), "--out", str(tmp_path / "m"),
             "--device", "cpu"]
    assert main([*train, "--ndim", "3"]) == 2
    assert "is a 2D image (shape (64, 64)), but a 3D model takes volumes" in capsys.readouterr().err
    assert main([*train, "--anisotropy", "2,1,1"]) == 2
    assert "--anisotropy is the voxel size of volumes; it needs --ndim 3" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "volume.tif", np.stack([noisy] * 8))
    tifffile.imwrite(tmp_path / "volume_mask.tif", np.stack([labels] * 8))
    volume = ["seg", "train", str(tmp_path / "volume.tif"), "--labels", str(tmp_path / "volume_mask.tif"), "--ndim", "3",
              "--out", str(tmp_path / "m"), "--device", "cpu"]
    for text in ("nan,1,1", "inf,1,1", "2,1"):
        assert main([*volume, "--anisotropy", text]) == 2
        assert "--anisotropy takes the Z, Y and X voxel sizes" in capsys.readouterr().err
    assert main([*volume, "--rays", "16", "--epochs", "1", "--steps", "1", "--batch-size", "1", "--patch-size", "32",
                 "--patch-depth", "8", "--depth", "1", "--n-filters", "4", "--method", "stardist"]) == 0
    assert "isotropic voxels are assumed" in capsys.readouterr().out
    assert SegmentationModel.load(tmp_path / "m", device="cpu").config.n_rays == 16


def test_axes_stored_in_an_imagej_file_are_used_instead_of_a_guess(tmp_path, capsys):
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=6)
    frames = np.stack([noisy, noisy[::-1], noisy[:, ::-1]]).astype(np.float32)
    # Three frames look like three channels by their shape alone; Fiji's hyperstack says they are frames.
    tifffile.imwrite(tmp_path / "movie.tif", frames, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "movie_mask.tif", np.stack([labels, labels[::-1], labels[:, ::-1]]))
    tiny = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4"]
    assert main(["seg", "train", str(tmp_path / "movie.tif"), "--labels", str(tmp_path / "movie_mask.tif"),
                 "--out", str(tmp_path / "model"), "--device", "cpu", "--seed", "0", *tiny]) == 0
    assert "axes TYX (stored in the file" in capsys.readouterr().out
    assert SegmentationModel.load(tmp_path / "model", device="cpu").config.channels == 1
    tifffile.imwrite(tmp_path / "plain.tif", frames)
    assert main(["seg", "predict", str(tmp_path / "model"), str(tmp_path / "plain.tif"), "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 2
    assert "axes CYX (guessed" in capsys.readouterr().out
