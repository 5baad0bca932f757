"""The ``denoise2seg n2v train/predict`` and ``demo`` commands, driven through ``main``."""

import numpy as np
import pytest
import tifffile
import torch

import denoise2seg.cli.n2v as cli_n2v
from denoise2seg.cli.main import main
from denoise2seg.n2v import N2VModel, train_n2v

TINY = ["--epochs", "1", "--steps", "2", "--batch-size", "4", "--patch-size", "16", "--depth", "1", "--n-filters", "4", "--seed", "0", "--device", "cpu"]


@pytest.fixture
def noisy_tiffs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in [("a.tif", (40, 44)), ("b.tif", (5, 32, 36))]:
        path = tmp_path / name
        tifffile.imwrite(path, rng.normal(100, 20, shape).astype(np.float32))
        paths.append(path)
    return paths


def test_train_then_predict(tmp_path, noisy_tiffs, capsys):
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", *map(str, noisy_tiffs), "--out", str(model_dir), *TINY]) == 0
    assert "model written to" in capsys.readouterr().out
    model = N2VModel.load(model_dir, device="cpu")
    assert model.config.n_filters == 4 and model.config.steps_per_epoch == 2

    out = tmp_path / "denoised"
    assert main(["n2v", "predict", str(model_dir), *map(str, noisy_tiffs), "--out", str(out), "--tile", "16", "--device", "cpu"]) == 0
    for path in noisy_tiffs:
        image = tifffile.imread(path)
        denoised = tifffile.imread(out / f"{path.stem}_n2v.tif")
        assert denoised.shape == image.shape
        np.testing.assert_allclose(denoised, model.predict(image), rtol=1e-4, atol=1e-2)


def test_demo_prints_psnr_and_ssim_and_writes_model_and_image(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--sigma", "20", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "PSNR (dB)" in printed and "SSIM" in printed and "data_range 255" in printed
    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines() if line.startswith(("noisy", "denoised"))}
    assert float(rows["noisy"][0]) == pytest.approx(22.1, abs=0.3)  # sigma 20 on the 0-255 scale
    assert tifffile.imread(out / "denoised.tif").shape == (512, 512)
    config = N2VModel.load(out / "model", device="cpu").config
    assert config.ndim == 2 and config.ema_decay == 0.99


def test_errors_are_reported_without_a_traceback(tmp_path, noisy_tiffs, capsys):
    assert main(["n2v", "train", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "m"), *TINY]) == 2
    assert "does not exist" in capsys.readouterr().err

    not_tiff = tmp_path / "notes.tif"
    not_tiff.write_text("hello")
    assert main(["n2v", "train", str(not_tiff), "--out", str(tmp_path / "m"), *TINY]) == 2
    assert "not a readable TIFF" in capsys.readouterr().err

    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(tmp_path / "m"), *TINY[:-2], "--device", "cuda:99"]) == 2
    assert "cuda" in capsys.readouterr().err

    assert main(["n2v", "predict", str(tmp_path), str(noisy_tiffs[0]), "--out", str(tmp_path / "o")]) == 2
    assert "not a denoise2seg model folder" in capsys.readouterr().err

    volume = tmp_path / "volume.tif"
    tifffile.imwrite(volume, np.zeros((2, 2, 20, 20), dtype=np.float32))
    assert main(["n2v", "train", str(volume), "--out", str(tmp_path / "m"), "--axes", "YX", *TINY]) == 2
    err = capsys.readouterr().err
    assert str(volume) in err and "(2, 2, 20, 20)" in err and "does not fit axes 'YX'" in err


def test_ctrl_c_during_training_keeps_a_loadable_model(tmp_path, noisy_tiffs, monkeypatch, capsys):
    def interrupted_after_three_steps(*args, **kwargs):
        for event in train_n2v(*args, **kwargs):
            yield event
            if event.kind == "step" and event.step == 3:
                raise KeyboardInterrupt

    monkeypatch.setattr(cli_n2v, "train_n2v", interrupted_after_three_steps)
    args = ["n2v", "train", str(noisy_tiffs[0]), "--out", str(tmp_path / "m"), *TINY, "--epochs", "3", "--steps", "4"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"training stopped after 3 of 12 steps; the model is in {tmp_path / 'm'}" in err and "after 3 steps" in err
    image = tifffile.imread(noisy_tiffs[0])
    assert np.isfinite(N2VModel.load(tmp_path / "m", device="cpu", which="last").predict(image)).all()
    assert np.isfinite(N2VModel.load(tmp_path / "m", device="cpu").predict(image)).all()


def test_overwrite_replaces_an_existing_model_and_results(tmp_path, noisy_tiffs, capsys):
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY]) == 0
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY, "--n-filters", "8"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert N2VModel.load(model_dir, device="cpu").config.n_filters == 4
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY, "--n-filters", "8", "--overwrite"]) == 0
    model = N2VModel.load(model_dir, device="cpu")
    assert model.config.n_filters == 8

    out = tmp_path / "denoised"
    out.mkdir()
    tifffile.imwrite(out / "a_n2v.tif", np.zeros((2, 2), np.float32))
    predict = ["n2v", "predict", str(model_dir), str(noisy_tiffs[0]), "--out", str(out), "--device", "cpu"]
    assert main(predict) == 2
    assert tifffile.imread(out / "a_n2v.tif").shape == (2, 2)
    assert main([*predict, "--overwrite"]) == 0
    np.testing.assert_allclose(tifffile.imread(out / "a_n2v.tif"), model.predict(tifffile.imread(noisy_tiffs[0])), rtol=1e-5, atol=1e-3)


def test_ctrl_c_then_resume_continues_the_same_run(tmp_path, noisy_tiffs, monkeypatch, capsys):
    settings = [*TINY, "--epochs", "3", "--steps", "4"]
    full = tmp_path / "full"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(full), *settings]) == 0

    def interrupted_after_five_steps(*args, **kwargs):
        for event in train_n2v(*args, **kwargs):
            yield event
            if event.kind == "step" and event.step == 5:
                raise KeyboardInterrupt

    stopped = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        patch.setattr(cli_n2v, "train_n2v", interrupted_after_five_steps)
        assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(stopped), *settings]) == 130
    assert f"--resume {stopped}" in capsys.readouterr().err

    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(stopped), "--device", "cpu"]) == 0
    assert f"model written to {stopped}" in capsys.readouterr().out
    image = tifffile.imread(noisy_tiffs[0])
    resumed = N2VModel.load(stopped, device="cpu", which="last").predict(image)
    np.testing.assert_allclose(resumed, N2VModel.load(full, device="cpu", which="last").predict(image), rtol=1e-5, atol=1e-4)


def test_resume_refuses_changed_settings_and_a_finished_run(tmp_path, noisy_tiffs, capsys):
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY]) == 0
    before = (model_dir / "last.safetensors").read_bytes()

    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(model_dir), "--depth", "2"]) == 2
    assert "--depth cannot be given" in capsys.readouterr().err
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(model_dir), "--seed", "5"]) == 2
    assert "--seed cannot be given" in capsys.readouterr().err
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(model_dir), "--device", "cpu"]) == 2
    assert "already trained 2 steps" in capsys.readouterr().err
    assert (model_dir / "last.safetensors").read_bytes() == before

    more = tmp_path / "more"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(model_dir), "--epochs", "3", "--out", str(more), "--device", "cpu"]) == 0
    assert (model_dir / "last.safetensors").read_bytes() == before
    assert N2VModel.load(more, device="cpu").config.epochs == 3


def test_blind_spot_share_and_window_are_options(tmp_path, noisy_tiffs):
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY, "--masked-fraction", "0.00784", "--radius", "5"]) == 0
    config = N2VModel.load(model_dir, device="cpu").config
    assert (config.masked_fraction, config.neighborhood_radius) == (0.00784, 5)


def test_weight_average_is_an_option_and_zero_turns_it_off(tmp_path, noisy_tiffs, capsys):
    averaged, plain = tmp_path / "averaged", tmp_path / "plain"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(averaged), *TINY, "--ema-decay", "0.9"]) == 0
    assert N2VModel.load(averaged, device="cpu").config.ema_decay == 0.9
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(plain), *TINY, "--ema-decay", "0"]) == 0
    assert N2VModel.load(plain, device="cpu").config.ema_decay is None
    with pytest.raises(SystemExit):
        main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(tmp_path / "bad"), *TINY, "--ema-decay", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_float32_turns_bf16_autocast_off(tmp_path, noisy_tiffs, monkeypatch, capsys):
    import denoise2seg.n2v.task as n2v_task
    from denoise2seg.training import fast_paths

    monkeypatch.setattr(fast_paths, "cpu_has_bf16_matrix_units", lambda: True)
    dtypes = []

    def recording_loss(prediction, target, mask):
        dtypes.append(prediction.dtype)
        return masked_mse(prediction, target, mask)

    masked_mse = n2v_task.masked_mse
    monkeypatch.setattr(n2v_task, "masked_mse", recording_loss)
    for name, option, expected in (("mixed", [], torch.bfloat16), ("float32", ["--float32"], torch.float32)):
        dtypes.clear()
        assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(tmp_path / name), *TINY, *option]) == 0
        assert dtypes == [expected] * 2
        said = "bf16 autocast" if expected == torch.bfloat16 else "float32"
        assert f"training on cpu: {said}, channels-last" in capsys.readouterr().out
        assert N2VModel.load(tmp_path / name, device="cpu").config.mixed_precision is (expected == torch.bfloat16)
    # A continued run keeps the precision of the first, as it keeps its other settings.
    more = ["--epochs", "2", "--out", str(tmp_path / "resumed"), "--device", "cpu", "--float32"]
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--resume", str(tmp_path / "mixed"), *more]) == 2
    assert "--float32" in capsys.readouterr().err and not (tmp_path / "resumed").exists()


def test_a_corrupt_file_among_many_is_skipped_and_the_others_are_denoised(tmp_path, noisy_tiffs, capsys):
    model_dir = tmp_path / "model"
    assert main(["n2v", "train", str(noisy_tiffs[0]), "--out", str(model_dir), *TINY]) == 0
    broken = tmp_path / "broken.tif"
    broken.write_bytes(noisy_tiffs[0].read_bytes()[:300])
    capsys.readouterr()
    inputs = [noisy_tiffs[0], broken, noisy_tiffs[1]]
    assert main(["n2v", "predict", str(model_dir), *map(str, inputs), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"skipped {broken}" in err and "2 of 3 images written" in err
    model = N2VModel.load(model_dir, device="cpu")
    for path in (noisy_tiffs[0], noisy_tiffs[1]):
        np.testing.assert_allclose(tifffile.imread(tmp_path / "out" / f"{path.stem}_n2v.tif"), model.predict(tifffile.imread(path)), rtol=1e-4, atol=1e-2)
    assert not (tmp_path / "out" / "broken_n2v.tif").exists()


def test_the_progress_bar_shows_the_last_validation_loss(capsys):
    from denoise2seg.cli.progress import consume_with_progress
    from denoise2seg.training import TrainingEvent

    def events():
        for epoch, val in ((1, 0.5), (2, 0.25)):
            yield TrainingEvent("step", epoch, 2, epoch, train_loss=1.0 / epoch)
            yield TrainingEvent("epoch", epoch, 2, epoch, val_loss=val)
        yield TrainingEvent("done", 2, 2, 2, val_loss=0.25)

    consume_with_progress(events(), description="N2V training")
    bar = capsys.readouterr().err
    assert "val=0.5" in bar and bar.rstrip().endswith("loss=0.5, val=0.25]")
