"""``denoise2seg ladp`` on NIfTI files: pretrain, finetune from it, predict, evaluate."""

import csv
import json

import nibabel as nib
import numpy as np

from denoise2seg.cli.main import main
from denoise2seg.lesion.cases import read_nifti_case
from test_lesion_training import blob_case


def write_case(folder, case):
    def save(array, name):
        # nibabel is (X, Y, Z); the cases are (Z, Y, X).
        nib.save(nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), np.diag([2.0, 2.0, 2.0, 1.0])), str(folder / name))
        return name

    channels = [save(case.image[c], f"{case.name}_c{c}.nii.gz") for c in range(case.channels)]
    return {"name": case.name, "images": ";".join(channels), "labels": save(case.labels.astype(np.uint8), f"{case.name}_lesion.nii.gz"), "brain": ""}


def test_ladp_cli_round_trip(tmp_path, capsys):
    cases = [blob_case(s) for s in range(3)]
    rows = [write_case(tmp_path, c) for c in cases]
    for name, chosen in (("train.csv", rows[:2]), ("val.csv", rows[2:])):
        with (tmp_path / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["name", "images", "labels", "brain"])
            writer.writeheader()
            writer.writerows(chosen)
    loaded = read_nifti_case([tmp_path / p for p in rows[0]["images"].split(";")], tmp_path / rows[0]["labels"])
    assert np.allclose(loaded.image, cases[0].image) and (loaded.labels == cases[0].labels).all()
    assert loaded.spacing == (2.0, 2.0, 2.0)

    small = ["--depth", "2", "--n-filters", "8", "--batch-size", "8", "--device", "cpu"]
    pre_dir, ens_dir = tmp_path / "pre", tmp_path / "ens"
    assert main(["ladp", "pretrain", str(tmp_path / "train.csv"), "--out", str(pre_dir), "--epochs", "1", "--steps", "3", *small]) == 0
    assert main([
        "ladp", "finetune", str(tmp_path / "train.csv"), "--val", str(tmp_path / "val.csv"), "--out", str(ens_dir),
        "--pretrained", str(pre_dir), "--ensemble", "1", "--epochs", "4", "--steps", "20", "--lr", "1e-2", *small,
    ]) == 0
    out = tmp_path / "pred.nii.gz"
    images = [str(tmp_path / p) for p in rows[2]["images"].split(";")]
    assert main(["ladp", "predict", str(ens_dir), *images, "--out", str(out), "--device", "cpu"]) == 0
    predicted = np.asarray(nib.load(str(out)).dataobj).transpose(2, 1, 0) > 0
    assert predicted.shape == cases[2].labels.shape
    dice = 2 * (predicted & cases[2].labels).sum() / (predicted.sum() + cases[2].labels.sum())
    assert dice > 0.5
    capsys.readouterr()
    assert main(["ladp", "evaluate", str(ens_dir), str(tmp_path / "val.csv"), "--device", "cpu"]) == 0
    report = capsys.readouterr().out
    assert "Dice overall" in report and cases[2].name in report
    scores = tmp_path / "scores.json"
    scores.write_text("earlier scores")
    evaluate = ["ladp", "evaluate", str(ens_dir), str(tmp_path / "val.csv"), "--device", "cpu", "--json", str(scores)]
    assert main(evaluate) == 2 and scores.read_text() == "earlier scores"
    assert main([*evaluate, "--overwrite"]) == 0
    assert json.loads(scores.read_text())["summary"]["dice"] >= 0
    # A missing case list is a clear error, not a traceback.
    assert main(["ladp", "finetune", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x")]) == 2
