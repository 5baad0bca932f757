"""OME-Zarr in and out: blockwise prediction on a dask cluster, resumable, with the input's pixel size."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from ome_zarr.writer import write_image

from denoise2seg.blockwise.store import progress_folder
from denoise2seg.blockwise.zarr_prediction import predict_zarr
from denoise2seg.cli.main import main
from denoise2seg.io.ome_zarr import read_zarr_image
from denoise2seg.metrics import score_image
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation


@pytest.fixture
def ome_zarr(tmp_path, nuclei_256):
    """The sample as an OME-Zarr with two levels, chunks of 50 pixels and a pixel size of 0.5 x 0.25 um."""
    path = tmp_path / "sample.zarr"
    group = zarr.open_group(str(path), mode="w")
    write_image(nuclei_256[0], group, axes="yx", scale_factors=[2], scale={"y": 0.5, "x": 0.25}, storage_options={"chunks": (50, 50)})
    return path


def test_denoising_an_ome_zarr_on_two_workers_writes_what_one_process_writes(tmp_path, ome_zarr, depth2_n2v_folder, nuclei_256, capsys):
    args = ["n2v", "predict", str(depth2_n2v_folder), str(ome_zarr), "--out", str(tmp_path / "out"), "--chunks", "64", "--workers", "2", "--device", "cpu"]
    assert main(args) == 0
    assert "blocks written" in capsys.readouterr().out
    distributed = read_zarr_image(tmp_path / "out" / "sample_n2v.zarr")
    assert distributed.axes == "YX" and distributed.scale == (0.5, 0.25)
    written, skipped = predict_zarr(depth2_n2v_folder, ome_zarr, tmp_path / "single.zarr", output="denoised", chunks=64, device="cpu")
    assert (written, skipped) == (4 * 4, 0)
    single = np.asarray(read_zarr_image(tmp_path / "single.zarr").data)
    np.testing.assert_allclose(np.asarray(distributed.data), single, atol=1e-5)
    whole = N2VModel.load(depth2_n2v_folder, device="cpu").predict(nuclei_256[0], tile_shape=None)
    np.testing.assert_allclose(single, whole, atol=1e-4)

    before = (tmp_path / "out" / "sample_n2v.zarr" / "zarr.json").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "sample_n2v.zarr" / "zarr.json").read_bytes() == before


def test_a_stopped_run_resumes_and_skips_the_finished_blocks(tmp_path, ome_zarr, depth2_n2v_folder, monkeypatch):
    import denoise2seg.blockwise.store as store

    predict_zarr(depth2_n2v_folder, ome_zarr, tmp_path / "complete.zarr", output="denoised", chunks=64, device="cpu")
    complete = np.asarray(read_zarr_image(tmp_path / "complete.zarr").data)
    assert not progress_folder(tmp_path / "complete.zarr").exists()

    write = store._write_block

    def fails_on_the_last_row(values, array_path, where, marker):
        if where[0].start >= 192:
            raise RuntimeError("the machine went down")
        return write(values, array_path, where, marker)

    output = tmp_path / "out.zarr"
    monkeypatch.setattr(store, "_write_block", fails_on_the_last_row)
    with pytest.raises(RuntimeError, match="went down"):
        predict_zarr(depth2_n2v_folder, ome_zarr, output, output="denoised", chunks=64, device="cpu")
    monkeypatch.setattr(store, "_write_block", write)
    done = len(list(progress_folder(output).glob("*.done")))
    assert done <= 12

    with pytest.raises(ValueError, match="other settings \\(chunks \\[\\[64\\], \\[64\\]\\], now \\[\\[96\\], \\[96\\]\\]\\)"):
        predict_zarr(depth2_n2v_folder, ome_zarr, output, output="denoised", chunks=96, device="cpu", resume=True)
    assert predict_zarr(depth2_n2v_folder, ome_zarr, output, output="denoised", chunks=64, device="cpu", resume=True) == (16 - done, done)
    np.testing.assert_array_equal(np.asarray(read_zarr_image(output).data), complete)
    assert not progress_folder(output).exists()
    with pytest.raises(ValueError, match="holds no stopped run to continue"):
        predict_zarr(depth2_n2v_folder, ome_zarr, output, output="denoised", chunks=64, device="cpu", resume=True)


def test_a_retrained_model_does_not_resume_another_models_output(tmp_path, ome_zarr, nuclei_256, monkeypatch):
    import denoise2seg.blockwise.store as store

    config = N2VConfig(patch_size=32, batch_size=4, epochs=1, steps_per_epoch=3, depth=2, n_filters=8, seed=1)
    for _ in train_n2v(nuclei_256[0], config, out_dir=tmp_path / "model", device="cpu"):
        pass
    monkeypatch.setattr(store, "_write_block", lambda *args: (_ for _ in ()).throw(RuntimeError("stopped")))
    with pytest.raises(RuntimeError):
        predict_zarr(tmp_path / "model", ome_zarr, tmp_path / "out.zarr", output="denoised", chunks=64, device="cpu")
    monkeypatch.undo()
    retrained = N2VConfig(**{**config.to_dict(), "seed": 2})
    for _ in train_n2v(nuclei_256[0], retrained, out_dir=tmp_path / "model", device="cpu"):
        pass
    with pytest.raises(ValueError, match="other settings \\(model_digest"):
        predict_zarr(tmp_path / "model", ome_zarr, tmp_path / "out.zarr", output="denoised", chunks=64, device="cpu", resume=True)


def test_another_level_is_read_when_asked(tmp_path, ome_zarr, depth2_n2v_folder, nuclei_256):
    predict_zarr(depth2_n2v_folder, ome_zarr, tmp_path / "level1.zarr", output="denoised", level=1, chunks=64, device="cpu")
    result = read_zarr_image(tmp_path / "level1.zarr")
    assert result.data.shape == read_zarr_image(ome_zarr, level=1).data.shape and result.scale == (1.0, 0.5)
    with pytest.raises(ValueError, match="resolution levels 0-1"):
        read_zarr_image(ome_zarr, level=2)


def test_segmenting_an_ome_zarr_writes_a_labels_group_matching_whole_image_labels(tmp_path, ome_zarr, nuclei_256):
    noisy, mask = nuclei_256
    config = SegmentationConfig(patch_size=64, batch_size=4, epochs=2, steps_per_epoch=20, learning_rate=0.005, depth=2, n_filters=16, seed=0)
    for _ in train_segmentation([noisy], [mask], config, out_dir=tmp_path / "seg", device="cpu"):
        pass
    out = tmp_path / "labels"
    assert main(["seg", "predict", str(tmp_path / "seg"), str(ome_zarr), "--out", str(out), "--chunks", "96", "--workers", "1", "--device", "cpu"]) == 0
    labels = read_zarr_image(out / "sample_labels.zarr" / "labels" / "labels")
    assert labels.axes == "YX" and labels.scale == (0.5, 0.25)
    whole = SegmentationModel.load(tmp_path / "seg", device="cpu").predict(noisy, tile_shape=None)
    assert whole.max() > 10 and score_image(whole, np.asarray(labels.data)).ap_50 >= 0.99


def test_ctrl_c_keeps_the_finished_blocks_and_says_how_to_continue(tmp_path, ome_zarr, depth2_n2v_folder, monkeypatch, capsys):
    import denoise2seg.cli.zarr_inputs as zarr_inputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zarr_inputs, "predict_zarr", interrupted)
    code = main(["n2v", "predict", str(depth2_n2v_folder), str(ome_zarr), "--out", str(tmp_path / "out"), "--workers", "1", "--device", "cpu"])
    assert code == 130
    assert "run the same command with --resume" in capsys.readouterr().err


def test_zarr_inputs_of_one_name_get_distinct_outputs_and_a_bad_one_is_skipped(tmp_path, ome_zarr, depth2_n2v_folder, capsys):
    import shutil

    (tmp_path / "b").mkdir()
    shutil.copytree(ome_zarr, tmp_path / "b" / ome_zarr.name)
    bad = tmp_path / "bad.zarr"
    zarr.open_array(str(bad), mode="w", shape=(3, 64, 64), dtype="float32")
    args = ["n2v", "predict", str(depth2_n2v_folder), str(ome_zarr), str(bad), str(tmp_path / "b" / ome_zarr.name), "--out", str(tmp_path / "out")]
    assert main([*args, "--workers", "1", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"skipped {bad}" in err and "without axes" in err
    assert (tmp_path / "out" / "sample_n2v.zarr").is_dir() and (tmp_path / "out" / "sample_n2v-2.zarr").is_dir()
    with pytest.raises(SystemExit):
        main([*args, "--workers", "0"])
    assert "at least 1 worker" in capsys.readouterr().err
