"""``denoise2seg seg evaluate``: per-image and pooled AP@0.5, AP 0.5-0.9 and SEG, and a JSON file that is never replaced unasked."""

import hashlib
import json

import numpy as np
import pytest
import tifffile

from denoise2seg.cli.main import main
from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.metrics import score_images
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny trained U-Net, a 2D image and a stack of two frames with their masks, as TIFF files."""
    root = tmp_path_factory.mktemp("evaluate")
    pairs = [synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=seed) for seed in (1, 2, 3)]
    image, _, mask = pairs[0]
    stack = np.stack([pairs[1][0], pairs[2][0]])
    stack_mask = np.stack([pairs[1][2], pairs[2][2]])
    config = SegmentationConfig(patch_size=32, batch_size=4, epochs=2, steps_per_epoch=15, learning_rate=0.01, depth=1, n_filters=8, seed=0)
    for _ in train_segmentation([image, stack], [mask, stack_mask], config, out_dir=root / "model", device="cpu"):
        pass
    for name, data in {"image.tif": image, "stack.tif": stack, "mask.tif": mask, "stack_mask.tif": stack_mask}.items():
        tifffile.imwrite(root / name, data)
    return root


def _evaluate_args(root, *extra):
    return ["seg", "evaluate", str(root / "model"), str(root / "image.tif"), str(root / "stack.tif"),
            "--labels", str(root / "mask.tif"), str(root / "stack_mask.tif"), "--axes", "YX,TYX", "--device", "cpu", *extra]


def _expected(root):
    """The core's scores of the model's predictions, the images named by their paths as the command names them."""
    model = SegmentationModel.load(root / "model", device="cpu")
    images = [tifffile.imread(root / "image.tif"), tifffile.imread(root / "stack.tif")]
    truths = [tifffile.imread(root / "mask.tif"), tifffile.imread(root / "stack_mask.tif")]
    return score_images(truths, [model.predict(image) for image in images], names=[str(root / "image.tif"), str(root / "stack.tif")])


def test_evaluate_prints_each_image_pooled_and_mean_rows_of_the_core_scores(workspace, capsys):
    assert main(_evaluate_args(workspace)) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = _expected(workspace)
    assert expected.pooled.n_predicted > 0, "the tiny model finds no object: the check would be vacuous"
    assert printed == expected.to_markdown().splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("|").split(" | ")[1:] for line in printed[2:]}
    assert list(rows) == [str(workspace / "image.tif"), str(workspace / "stack.tif"), "pooled", "mean per image"]
    summaries = [(str(workspace / "stack.tif"), expected.images[1]), ("pooled", expected.pooled), ("mean per image", expected.mean_per_image)]
    for name, scores in summaries:
        objects, predicted, ap_50, ap_mean, seg = rows[name]
        assert int(objects) == scores.n_true and int(predicted) == scores.n_predicted
        assert float(ap_50) == pytest.approx(scores.ap_50, abs=5e-5)
        assert float(ap_mean) == pytest.approx(scores.ap_mean, abs=5e-5)
        assert float(seg) == pytest.approx(scores.seg, abs=5e-5)
    # The stack holds 12 objects over its two frames, the 2D image 6.
    assert (expected.images[0].n_true, expected.images[1].n_true, expected.pooled.n_true) == (6, 12, 18)


def test_json_is_written_and_never_replaced_without_overwrite(workspace, tmp_path, capsys):
    target = tmp_path / "scores.json"
    assert main(_evaluate_args(workspace, "--json", str(target))) == 0
    capsys.readouterr()
    expected = _expected(workspace).to_dict()
    assert json.loads(target.read_text()) == expected

    target.write_text("earlier scores\n")
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    assert main(_evaluate_args(workspace, "--json", str(target))) == 2
    error = capsys.readouterr()
    assert "scores.json already exists; pass --overwrite to replace it" in error.err and error.out == ""
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before

    assert main(_evaluate_args(workspace, "--json", str(target), "--overwrite")) == 0
    assert json.loads(target.read_text()) == expected
    assert main(_evaluate_args(workspace, "--json", str(workspace / "mask.tif"), "--overwrite")) == 2
    assert "is also an input" in capsys.readouterr().err
