"""``denoise2seg ct ...`` from synthetic-lesion NIfTI files to predicted label volumes."""

from __future__ import annotations

import numpy as np

from denoise2seg.cli.main import main
from denoise2seg.ct import read_volume

TINY = ["--image-size", "32", "--depth", "2", "--n-filters", "8", "--batch-size", "4", "--device", "cpu", "--seed", "0"]


def test_ct_cli_workflow(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    data = tmp_path / "data"
    assert main(["ct", "synthetic-lesion", "--out", str(data), "--cases", "3", "--slices", "3"]) == 0
    images = sorted(str(p) for p in data.glob("*_synthetic-lesion.nii.gz"))
    labels = sorted(str(p) for p in data.glob("*_labels.nii.gz"))
    assert len(images) == len(labels) == 3

    # no VGG weights anywhere and no download: exit code 2 and a message saying what to do
    assert main(["ct", "pretrain", *images, "--out", str(tmp_path / "p"), "--epochs", "1", "--no-download", *TINY]) == 2
    assert "--vgg-weights" in capsys.readouterr().err

    assert main(["ct", "pretrain", *images, "--out", str(tmp_path / "p"), "--epochs", "1", "--pretext-loss", "mse", *TINY]) == 0
    assert main(["ct", "finetune", "--images", *images[:2], "--labels", *labels[:2], "--pretrained", str(tmp_path / "p"),
                 "--out", str(tmp_path / "s"), "--epochs", "2", *TINY]) == 0
    assert main(["ct", "predict", str(tmp_path / "s"), images[2], "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    predicted = read_volume(next((tmp_path / "pred").glob("*_lesions.nii.gz")))
    source = read_volume(images[2])
    assert predicted.shape == source.shape
    assert predicted.spacing == source.spacing
    assert set(np.unique(predicted.hu)) <= {0.0, 1.0}


def test_ct_train_runs_pretext_and_finetuning_in_one_command(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["ct", "synthetic-lesion", "--out", str(data), "--cases", "2", "--slices", "2"]) == 0
    images = sorted(str(p) for p in data.glob("*_synthetic-lesion.nii.gz"))
    labels = sorted(str(p) for p in data.glob("*_labels.nii.gz"))
    argv = ["ct", "train", "--unlabelled", images[1], "--images", images[0], "--labels", labels[0], "--out", str(tmp_path / "m")]
    argv += ["--pretext-loss", "mse", "--pretext-epochs", "1", "--finetune-epochs", "2", *TINY]
    assert main(argv) == 0
    assert "segmentation" in capsys.readouterr().out
    assert main(["ct", "predict", str(tmp_path / "m" / "segmentation"), images[1], "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    assert read_volume(next((tmp_path / "pred").glob("*_lesions.nii.gz"))).shape == read_volume(images[1]).shape
