"""Bad requests to the command line: refused with a message naming the path, and no file changed.

Each case of the table runs ``denoise2seg.cli.main.main`` in a fresh copy of a workspace
(noisy images, an N2V model, a segmentation model) and compares checksums of every file
and folder of it before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import tifffile

import denoise2seg.cli.ct as cli_ct
import denoise2seg.cli.demo as cli_demo
import denoise2seg.cli.ladp as cli_ladp
import denoise2seg.cli.n2v as cli_n2v
import denoise2seg.cli.pseudo_ct as cli_pseudo_ct
import denoise2seg.cli.seg as cli_seg
from denoise2seg.cli.main import main
from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.segmentation import SegmentationConfig, train_segmentation

N2V_TINY = ["--epochs", "1", "--steps", "2", "--batch-size", "4", "--patch-size", "16", "--depth", "1", "--n-filters", "4", "--seed", "0", "--device", "cpu"]
SEG_TINY = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "1", "--n-filters", "4", "--seed", "0", "--device", "cpu"]


@dataclass
class Workspace:
    """Paths of one copy of the workspace."""

    root: Path

    def __getattr__(self, name: str) -> Path:
        paths = {
            "img_a": "images/a/img.tif",
            "img_b": "images/b/img.tif",
            "seg_image": "nuclei/image.tif",
            "seg_mask": "nuclei/mask.tif",
            "n2v": "models/n2v",
            "seg": "models/seg",
            "notes": "notes.txt",
        }
        if name not in paths:
            raise AttributeError(name)
        return self.root / paths[name]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A workspace with two noisy images of the same name, nuclei with a mask, an N2V model and a
    sequential segmentation model (which carries a copy of the N2V model in ``n2v/``)."""
    root = tmp_path_factory.mktemp("workspace")
    ws = Workspace(root)
    rng = np.random.default_rng(0)
    for path in (ws.img_a, ws.img_b):
        path.parent.mkdir(parents=True)
        tifffile.imwrite(path, rng.normal(100, 20, (40, 44)).astype(np.float32))
    noisy, _, labels = synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=1)
    ws.seg_image.parent.mkdir()
    tifffile.imwrite(ws.seg_image, noisy)
    tifffile.imwrite(ws.seg_mask, labels)
    n2v_config = N2VConfig(patch_size=16, batch_size=4, epochs=1, steps_per_epoch=2, depth=1, n_filters=4, seed=0)
    for _ in train_n2v(tifffile.imread(ws.img_a), n2v_config, out_dir=ws.n2v, device="cpu"):
        pass
    seg_config = SegmentationConfig(
        scheme="sequential", patch_size=32, batch_size=2, epochs=1, steps_per_epoch=2, depth=1, n_filters=4, seed=0
    )
    for _ in train_segmentation(noisy, labels, seg_config, n2v_model=ws.n2v, out_dir=ws.seg, device="cpu"):
        pass
    ws.notes.write_text("not a folder")
    return root


@pytest.fixture
def ws(template, tmp_path) -> Workspace:
    """A fresh copy of the workspace for one test."""
    shutil.copytree(template, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` and a marker for every folder, by relative path."""
    digest = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        digest[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array)


def _truncated_copy(source: Path, target: Path) -> None:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def _with_one_nan(image: np.ndarray) -> np.ndarray:
    image = image.copy()
    image[5, 5] = np.nan
    return image


def _seg_config_on_n2v_weights(ws: Workspace) -> None:
    shutil.copytree(ws.n2v, ws.root / "mixed")
    shutil.copy(ws.seg / "config.json", ws.root / "mixed" / "config.json")


def _float_mask(ws: Workspace, scale: float) -> None:
    _write(ws.root / "truth.tif", tifffile.imread(ws.seg_mask).astype(np.float32) * scale)


@dataclass
class Case:
    """One bad request: the command line, what the message must (and must not) say, and the setup."""

    name: str
    argv: Callable[[Workspace], list]
    expected: Callable[[Workspace], list]
    setup: Callable[[Workspace], None] = lambda ws: None
    absent: tuple[str, ...] = ()
    outputs_checked_first: bool = False


CASES = [
    Case(
        "n2v train into an existing model folder",
        lambda ws: ["n2v", "train", ws.img_a, "--out", ws.n2v, *N2V_TINY],
        lambda ws: [ws.n2v, "already exists and is not empty", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "seg train into an existing model folder",
        lambda ws: ["seg", "train", ws.seg_image, "--labels", ws.seg_mask, "--out", ws.seg, *SEG_TINY],
        lambda ws: [ws.seg, "already exists and is not empty", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "seg train into the N2V model it starts from, even with --overwrite",
        lambda ws: ["seg", "train", ws.seg_image, "--labels", ws.seg_mask, "--scheme", "sequential", "--n2v", ws.n2v,
                    "--out", ws.n2v, "--overwrite", *SEG_TINY],
        lambda ws: [ws.n2v, "is also an input"],
        outputs_checked_first=True,
    ),
    Case(
        "seg train into a folder inside the N2V model it starts from",
        lambda ws: ["seg", "train", ws.seg_image, "--labels", ws.seg_mask, "--scheme", "sequential", "--n2v", ws.n2v,
                    "--out", ws.n2v / "seg", *SEG_TINY],
        lambda ws: [ws.n2v / "seg", "inside the input folder"],
        outputs_checked_first=True,
    ),
    Case(
        "n2v train with --out a file",
        lambda ws: ["n2v", "train", ws.img_a, "--out", ws.notes, *N2V_TINY],
        lambda ws: [ws.notes, "is a file, not a folder"],
        outputs_checked_first=True,
    ),
    Case(
        "n2v train with --out inside a file",
        lambda ws: ["n2v", "train", ws.img_a, "--out", ws.notes / "model", *N2V_TINY],
        lambda ws: [ws.notes, "is a file, so", ws.notes / "model"],
        outputs_checked_first=True,
    ),
    Case(
        "seg train with --out a file",
        lambda ws: ["seg", "train", ws.seg_image, "--labels", ws.seg_mask, "--out", ws.notes, *SEG_TINY],
        lambda ws: [ws.notes, "is a file, not a folder"],
        outputs_checked_first=True,
    ),
    Case(
        "n2v predict with --out a file",
        lambda ws: ["n2v", "predict", ws.n2v, ws.img_a, "--out", ws.notes, "--device", "cpu"],
        lambda ws: [ws.notes, "is a file, so"],
        outputs_checked_first=True,
    ),
    Case(
        "n2v predict over an existing result",
        lambda ws: ["n2v", "predict", ws.n2v, ws.img_a, "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "out" / "img_n2v.tif", "already exists", "--overwrite"],
        setup=lambda ws: _write(ws.root / "out" / "img_n2v.tif", np.ones((3, 3), np.float32)),
        outputs_checked_first=True,
    ),
    Case(
        "n2v predict over one of its inputs, even with --overwrite",
        lambda ws: ["n2v", "predict", ws.n2v, ws.root / "d" / "img.tif", ws.root / "d" / "img_n2v.tif", "--out", ws.root / "d",
                    "--overwrite", "--device", "cpu"],
        lambda ws: [ws.root / "d" / "img_n2v.tif", "is also an input"],
        setup=lambda ws: [_write(ws.root / "d" / name, tifffile.imread(ws.img_a)) for name in ("img.tif", "img_n2v.tif")],
        outputs_checked_first=True,
    ),
    Case(
        "seg predict over an existing result",
        lambda ws: ["seg", "predict", ws.seg, ws.seg_image, "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "out" / "image_labels.tif", "already exists", "--overwrite"],
        setup=lambda ws: _write(ws.root / "out" / "image_labels.tif", np.ones((3, 3), np.int32)),
        outputs_checked_first=True,
    ),
    Case(
        "demo over an earlier demo's results",
        lambda ws: ["demo", "--out", ws.root / "demo", *N2V_TINY],
        lambda ws: [ws.root / "demo" / "model", "already exists and is not empty", "--overwrite"],
        setup=lambda ws: shutil.copytree(ws.n2v, ws.root / "demo" / "model"),
        outputs_checked_first=True,
    ),
    Case(
        "ct train into an existing model folder",
        lambda ws: ["ct", "train", "--images", ws.seg_image, "--labels", ws.seg_mask, "--out", ws.n2v, "--pretext-loss", "mse"],
        lambda ws: [ws.n2v, "already exists and is not empty", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "ct finetune into the pretext model it starts from, even with --overwrite",
        lambda ws: ["ct", "finetune", "--images", ws.seg_image, "--labels", ws.seg_mask, "--pretrained", ws.n2v,
                    "--out", ws.n2v, "--overwrite"],
        lambda ws: [ws.n2v, "is also an input"],
        outputs_checked_first=True,
    ),
    Case(
        "ct predict over an existing result",
        lambda ws: ["ct", "predict", ws.seg, ws.root / "scan.nii.gz", "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "out" / "scan_lesions.nii.gz", "already exists", "--overwrite"],
        setup=lambda ws: _write(ws.root / "out" / "scan_lesions.nii.gz", np.ones((3, 3), np.uint8)),
        outputs_checked_first=True,
    ),
    Case(
        "pseudo-ct train into an existing model folder",
        lambda ws: ["pseudo-ct", "train", ws.root / "images" / "a", "--out", ws.seg],
        lambda ws: [ws.seg, "already exists and is not empty", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "pseudo-ct adapt over an existing scan",
        lambda ws: ["pseudo-ct", "adapt", ws.img_b, "--models", ws.root / "models", "--out", ws.img_a],
        lambda ws: [ws.img_a, "already exists", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "pseudo-ct adapt over its own scan, even with --overwrite",
        lambda ws: ["pseudo-ct", "adapt", ws.img_a, "--models", ws.root / "models", "--out", ws.img_a, "--overwrite"],
        lambda ws: [ws.img_a, "is also an input"],
        outputs_checked_first=True,
    ),
    Case(
        "ladp finetune into an existing model folder",
        lambda ws: ["ladp", "finetune", "--synthetic", "2", "--out", ws.seg],
        lambda ws: [ws.seg, "already exists and is not empty", "--overwrite"],
        outputs_checked_first=True,
    ),
    Case(
        "ladp predict over one of its channels, even with --overwrite",
        lambda ws: ["ladp", "predict", ws.seg, ws.root / "t1.nii.gz", "--out", ws.root / "t1.nii.gz", "--overwrite"],
        lambda ws: [ws.root / "t1.nii.gz", "is also an input"],
        setup=lambda ws: _write(ws.root / "t1.nii.gz", np.ones((3, 3), np.float32)),
        outputs_checked_first=True,
    ),
    Case(
        "n2v train on an all-zero image",
        lambda ws: ["n2v", "train", ws.img_a, ws.root / "blank.tif", "--out", ws.root / "new", *N2V_TINY],
        lambda ws: [ws.root / "blank.tif", "is constant (every pixel is 0)", "nothing to learn"],
        setup=lambda ws: _write(ws.root / "blank.tif", np.zeros((40, 44), np.uint16)),
    ),
    Case(
        "seg train on a constant image",
        lambda ws: ["seg", "train", ws.root / "flat.tif", "--labels", ws.seg_mask, "--out", ws.root / "new", *SEG_TINY],
        lambda ws: [ws.root / "flat.tif", "is constant (every pixel is 7)"],
        setup=lambda ws: _write(ws.root / "flat.tif", np.full((64, 64), 7, np.float32)),
    ),
    Case(
        "n2v train on a truncated TIFF",
        lambda ws: ["n2v", "train", ws.root / "cut.tif", "--out", ws.root / "new", *N2V_TINY],
        lambda ws: [ws.root / "cut.tif", "truncated or corrupt"],
        setup=lambda ws: _truncated_copy(ws.img_a, ws.root / "cut.tif"),
    ),
    Case(
        "seg predict on a truncated TIFF",
        lambda ws: ["seg", "predict", ws.seg, ws.root / "cut.tif", "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "cut.tif", "truncated or corrupt"],
        setup=lambda ws: _truncated_copy(ws.seg_image, ws.root / "cut.tif"),
    ),
    Case(
        "n2v predict on an image with NaN",
        lambda ws: ["n2v", "predict", ws.n2v, ws.root / "holes.tif", "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "holes.tif", "1 NaN or infinite value (the first at index (5, 5));"],
        setup=lambda ws: _write(ws.root / "holes.tif", _with_one_nan(tifffile.imread(ws.img_a))),
        absent=("before training",),
    ),
    Case(
        "n2v predict with a segmentation model",
        lambda ws: ["n2v", "predict", ws.seg, ws.img_a, "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.seg, "holds a 'segmentation' model, expected n2v", f"use {ws.seg / 'n2v'}, the n2v model it carries"],
    ),
    Case(
        "seg predict with a segmentation config on N2V weights",
        lambda ws: ["seg", "predict", ws.root / "mixed", ws.seg_image, "--out", ws.root / "out", "--device", "cpu"],
        lambda ws: [ws.root / "mixed", "does not fit the 'segmentation' network", "different models"],
        setup=_seg_config_on_n2v_weights,
        absent=("size mismatch for", "\n"),
    ),
    Case(
        "seg evaluate against fractional label values",
        lambda ws: ["seg", "evaluate", ws.seg, ws.seg_image, "--labels", ws.root / "truth.tif", "--device", "cpu"],
        lambda ws: [ws.root / "truth.tif", "fractional values (e.g. 0.5)"],
        setup=lambda ws: _float_mask(ws, 0.5),
    ),
    Case(
        "seg evaluate against an all-zero ground truth",
        lambda ws: ["seg", "evaluate", ws.seg, ws.seg_image, "--labels", ws.root / "truth.tif", "--device", "cpu"],
        lambda ws: [ws.root / "truth.tif", "holds no object"],
        setup=lambda ws: _float_mask(ws, 0.0),
    ),
]


def _forbid_work(monkeypatch) -> None:
    """Make reading inputs or training fail the test: the outputs must have been refused before."""

    def forbidden(*args, **kwargs):
        raise AssertionError("inputs were read before the output location was checked")

    monkeypatch.setattr(cli_n2v, "read_tiffs", forbidden)
    monkeypatch.setattr(cli_seg, "read_tiffs", forbidden)
    monkeypatch.setattr(cli_demo, "denoise_sample", forbidden)
    for module, name in (
        (cli_ct, "read_volume"), (cli_ct, "CTLesionModel"), (cli_pseudo_ct, "load_subject"), (cli_pseudo_ct, "read_scan"),
        (cli_ladp, "synthetic_lesion_cases"), (cli_ladp, "LesionEnsemble"),
    ):
        monkeypatch.setattr(module, name, forbidden)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request_is_refused_and_changes_no_file(case, ws, monkeypatch, capsys):
    case.setup(ws)
    if case.outputs_checked_first:
        _forbid_work(monkeypatch)
    before = tree_digest(ws.root)
    code = main([str(a) for a in case.argv(ws)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("denoise2seg: error: ")
    message = err.removeprefix("denoise2seg: error: ").rstrip("\n")
    for part in case.expected(ws):
        assert str(part) in message
    for part in case.absent:
        assert part not in message
    assert tree_digest(ws.root) == before


def test_read_only_output_folder_is_refused_before_training(ws, monkeypatch, capsys):
    locked = ws.root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user may write in a read-only folder (root), so there is nothing to refuse")
        _forbid_work(monkeypatch)
        before = tree_digest(ws.root)
        assert main(["n2v", "train", str(ws.img_a), "--out", str(locked / "model"), *N2V_TINY]) == 2
        message = capsys.readouterr().err
        assert f"cannot write in {locked}" in message and "permission" in message
        assert tree_digest(ws.root) == before
    finally:
        locked.chmod(0o755)


def test_same_named_inputs_get_distinct_results(ws, capsys):
    before = tree_digest(ws.root)
    out = ws.root / "denoised"
    assert main(["n2v", "predict", str(ws.n2v), str(ws.img_a), str(ws.img_b), "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    model = N2VModel.load(ws.n2v, device="cpu")
    for source, name in ((ws.img_a, "img_n2v.tif"), (ws.img_b, "img_n2v-2.tif")):
        np.testing.assert_allclose(tifffile.imread(out / name), model.predict(tifffile.imread(source)), rtol=1e-5, atol=1e-3)
        assert f"{source} -> {out / name}" in printed
    after = tree_digest(ws.root)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["denoised", "denoised/img_n2v-2.tif", "denoised/img_n2v.tif"]


def test_ctrl_c_before_the_first_step_says_nothing_was_saved(ws, monkeypatch, capsys):
    def interrupted_while_preparing(*args, **kwargs):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(cli_n2v, "train_n2v", interrupted_while_preparing)
    before = tree_digest(ws.root)
    assert main(["n2v", "train", str(ws.img_a), "--out", str(ws.root / "new"), *N2V_TINY]) == 130
    err = capsys.readouterr().err
    assert "before the first step" in err and f"no model from this run is in {ws.root / 'new'}" in err
    assert "trained so far" not in err
    assert tree_digest(ws.root) == before


def test_ctrl_c_before_a_save_with_overwrite_says_the_old_model_is_still_there(ws, monkeypatch, capsys):
    def interrupted_while_preparing(*args, **kwargs):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(cli_n2v, "train_n2v", interrupted_while_preparing)
    before = tree_digest(ws.root)
    assert main(["n2v", "train", str(ws.img_a), "--out", str(ws.n2v), "--overwrite", *N2V_TINY]) == 130
    assert "still holds the model that was there before" in capsys.readouterr().err
    assert tree_digest(ws.root) == before


def test_training_removes_temporary_files_left_by_a_killed_write(ws, capsys):
    stale = ws.n2v / ".weights.safetensors.k1ll3d.tmp"
    stale.write_bytes(b"half a file")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    assert main(["n2v", "train", str(ws.img_a), "--out", str(ws.n2v), "--overwrite", *N2V_TINY]) == 0
    assert not stale.exists()
    assert sorted(p.name for p in ws.n2v.iterdir()) == ["config.json", "last.safetensors", "training_state.pt", "weights.safetensors"]
    assert json.loads((ws.n2v / "config.json").read_text())["kind"] == "n2v"


def test_ctrl_c_during_the_first_ladp_pretraining_says_no_ensemble_was_saved(tmp_path, monkeypatch, capsys):
    real_train = cli_ladp.train_ensemble

    def interrupted_in_pretraining(*args, **kwargs):
        for event in real_train(*args, **kwargs):
            yield event
            if event.kind == "step" and event.stage == "pretrain" and event.step == 3:
                raise KeyboardInterrupt

    monkeypatch.setattr(cli_ladp, "train_ensemble", interrupted_in_pretraining)
    out = tmp_path / "ladp"
    argv = ["ladp", "finetune", "--synthetic", "1", "--out", str(out), "--ensemble", "2", "--epochs", "1", "--pretrain-epochs", "2",
            "--steps", "4", "--batch-size", "2", "--depth", "2", "--n-filters", "4", "--device", "cpu"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    # the pretraining so far was saved, but no segmenter: the folder holds no ensemble to load
    assert (out / "member_00" / "pretrained" / "config.json").is_file() and not (out / "config.json").exists()
    assert f"no model from this run is in {out}" in err and "trained so far" not in err
