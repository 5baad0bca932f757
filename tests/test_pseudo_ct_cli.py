"""``denoise2seg pseudo-ct simulate|train|adapt`` on a tiny simulated data set."""

import argparse

import numpy as np
import tifffile

from denoise2seg.cli import pseudo_ct
from denoise2seg.ct.lowdose import LowDoseDenoiser


def run(argv):
    parser = argparse.ArgumentParser()
    pseudo_ct.register(parser.add_subparsers(dest="group"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_simulate_train_adapt(tmp_path, capsys):
    data, models = tmp_path / "data", tmp_path / "models"
    assert run(["pseudo-ct", "simulate", str(data), "--scans", "neck", "neck", "--slices", "1", "--views", "60"]) == 0
    assert (data / "neck-0" / "low_dose.tif").is_file() and (data / "neck-1" / "low_dose_repeat.tif").is_file()
    small = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--device", "cpu", "--seed", "0"]
    assert run(["pseudo-ct", "train", str(data / "neck-0"), str(data / "neck-1"), "--out", str(models), "--filters", "4", "--unet-filters", "4", *small]) == 0
    assert sorted(p.name for p in (models / "noise_models").iterdir()) == ["neck-0", "neck-1"]
    out = tmp_path / "denoised.tif"
    argv = ["pseudo-ct", "adapt", str(data / "neck-1" / "low_dose.tif"), "--models", str(models), "--out", str(out)]
    argv += ["--steps", "2", "--update-period", "1", "--batch-size", "2", "--patch-size", "32", "--device", "cpu"]
    argv += ["--reference", str(data / "neck-1" / "normal_dose.tif"), "--save-model", str(tmp_path / "adapted")]
    assert run(argv) == 0
    denoised = tifffile.imread(out)
    low_dose = tifffile.imread(data / "neck-1" / "low_dose.tif")
    assert denoised.shape == low_dose.shape and np.isfinite(denoised).all()
    adapted = LowDoseDenoiser.load(tmp_path / "adapted", "cpu")
    np.testing.assert_allclose(adapted.predict(low_dose), denoised, atol=1e-2)
    assert "PSNR" in capsys.readouterr().out


def test_pseudo_ct_is_also_a_ct_command(tmp_path):
    from denoise2seg.cli.main import main

    out = tmp_path / "data"
    assert main(["ct", "pseudo-ct", "simulate", str(out), "--scans", "neck", "--slices", "1", "--views", "30", "--size", "64"]) == 0
    low, normal = tifffile.imread(out / "neck-0" / "low_dose.tif"), tifffile.imread(out / "neck-0" / "normal_dose.tif")
    assert low.shape == normal.shape and np.abs(low - normal).mean() > 0
