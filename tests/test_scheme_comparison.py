"""Comparing the VoidSeg schemes on the user's labels: leak-free folds, verdicts, a real tiny comparison."""

from __future__ import annotations

import numpy as np
import pytest

from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.segmentation import SegmentationModel
from denoise2seg.segmentation.annotations import collect_annotated_frames
from denoise2seg.segmentation.compare import Comparison, SchemeResult, compare_schemes, schemes_compared
from denoise2seg.segmentation.folds import annotation_units, make_folds

def _units_of(images, labels):
    frames = collect_annotated_frames(images, labels, margin=4, patch_shape=(32, 32))
    return annotation_units(frames)


def _assert_no_pixel_in_two_parts(groups):
    owners = {}
    for k, group in enumerate(groups):
        for unit in group:
            key = (unit.source, id(unit.frame))
            count = owners.setdefault(key, np.zeros(unit.frame.shape, int))
            count += unit.valid
            assert not (unit.labels > 0)[~unit.valid].any(), "a unit holds labels outside its pixels"
    for count in owners.values():
        assert count.max() <= 1, "a pixel belongs to two parts of the annotations"


def test_strips_of_one_region_share_no_pixel_and_split_no_object():
    _, _, labels = synthetic_nuclei((96, 128), n_objects=12, noise_sigma=10, seed=4)
    image = labels.astype(np.float32) + np.random.default_rng(0).normal(size=labels.shape).astype(np.float32)
    groups, split = _units_of([image], [labels])
    assert len(groups) == 3 and "3 strips" in split
    _assert_no_pixel_in_two_parts(groups)
    objects = [set(np.unique(u.labels)) - {0} for g in groups for u in g]
    assert set().union(*objects) == set(np.unique(labels)) - {0}
    assert sum(len(o) for o in objects) == len(set(np.unique(labels)) - {0}), "an object is in two strips"
    for unit in (u for g in groups for u in g):
        for object_id in set(np.unique(unit.labels)) - {0}:
            assert (unit.labels == object_id).sum() == (labels == object_id).sum(), "an object was cut"


def test_three_annotated_frames_are_left_out_one_at_a_time():
    stack = np.stack([synthetic_nuclei((64, 64), n_objects=5, noise_sigma=10, seed=s)[2] for s in range(4)])
    stack[3] = 0  # an unannotated frame is in no part
    groups, split = _units_of([stack.astype(np.float32) + 1], [stack])
    assert len(groups) == 3 and "leave-one-out over the 3 annotated frames" in split
    _assert_no_pixel_in_two_parts(groups)
    for fold in make_folds(groups):
        parts = [fold.train, fold.tune, fold.test]
        sources = [{u.source for u in part} for part in parts]
        assert all(not (a & b) for i, a in enumerate(sources) for b in sources[i + 1 :]), "a frame is in two parts of a fold"


def _result(name: str, aps: tuple[float, ...]) -> SchemeResult:
    return SchemeResult("unet", name, aps, aps, 1.0)


def test_a_lead_within_the_fold_spread_is_a_tie_and_beyond_it_a_winner():
    tied = Comparison([_result("baseline", (0.5, 0.7, 0.6)), _result("sequential", (0.55, 0.75, 0.62))], "split", "tiny")
    assert not tied.decisive and tied.verdict().startswith("tied: U-Net sequential, U-Net baseline")
    assert not any(row["best"] for row in tied.rows())

    clear = Comparison([_result("baseline", (0.30, 0.32, 0.31)), _result("sequential", (0.60, 0.62, 0.61))], "split", "tiny")
    assert clear.decisive and clear.verdict().startswith("U-Net sequential is best")
    assert [row["best"] for row in clear.rows()] == [True, False]
    assert "U-Net sequential (best)" in clear.to_markdown()


def test_finetune_schemes_exist_for_the_unet_only():
    assert schemes_compared(["unet", "stardist"]) == [
        ("unet", "baseline"), ("unet", "sequential"), ("unet", "finetune"), ("unet", "finetune-sequential"),
        ("stardist", "baseline"), ("stardist", "sequential"),
    ]
    assert ("unet", "finetune") not in schemes_compared(["unet"], finetune=False)
    with pytest.raises(ValueError, match="methods must be among"):
        schemes_compared(["cellpose"])


def test_a_tiny_comparison_ranks_by_the_measured_ap_and_retrains_the_best(tmp_path, nuclei_crop, tiny_budget):
    noisy, _, mask = nuclei_crop
    events = list(compare_schemes(noisy, mask, methods=["unet"], budget=tiny_budget, out_dir=tmp_path, device="cpu", seed=0))

    results = [e.result for e in events if e.kind == "result"]
    assert [r.scheme for r in results] == ["baseline", "sequential", "finetune", "finetune-sequential"]
    assert all(len(r.fold_ap) == 3 for r in results)
    assert max(r.ap for r in results) > 0, "no scheme found an object: the trainings did not learn"
    steps = [e.step for e in events if e.kind == "step"]
    assert steps == sorted(steps) and steps[-1] == events[-1].total_steps

    done = events[-1]
    assert done.kind == "done" and done.comparison.results == results
    ranked = [row["scheme"] for row in done.comparison.rows()]
    assert ranked == [r.name for r in sorted(results, key=lambda r: np.mean(r.fold_ap), reverse=True)]
    best = SegmentationModel.load(done.path, device="cpu")
    assert (best.config.method, best.config.scheme) == (done.comparison.best.method, done.comparison.best.scheme)
    np.testing.assert_array_equal(done.labels[0], best.predict(noisy))
    assert (tmp_path / "n2v" / "config.json").is_file()


def test_seg_compare_writes_the_table_the_best_model_and_labels(tmp_path, nuclei_crop, tiny_budget, monkeypatch, capsys):
    import tifffile

    from denoise2seg.cli.main import main
    from denoise2seg.segmentation import compare

    monkeypatch.setitem(compare.BUDGETS, "quick", tiny_budget)
    noisy, _, mask = nuclei_crop
    tifffile.imwrite(tmp_path / "image.tif", noisy)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    out = tmp_path / "comparison"
    args = ["seg", "compare", str(tmp_path / "image.tif"), "--labels", str(tmp_path / "mask.tif"), "--methods", "stardist",
            "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "StarDist baseline: AP" in printed and "StarDist sequential: AP" in printed
    table = (out / "comparison.csv").read_text().splitlines()
    assert table[0].startswith("scheme,method,ap_50") and len(table) == 3
    assert "leave one strip out" in (out / "comparison.md").read_text()
    labels = tifffile.imread(out / "labels" / "image_labels.tif")
    np.testing.assert_array_equal(labels, SegmentationModel.load(out / "best", device="cpu").predict(noisy))

    before = (out / "comparison.csv").read_bytes()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "comparison.csv").read_bytes() == before

    # --overwrite replaces the whole earlier comparison: no labels of the first image stay beside the new ones.
    tifffile.imwrite(tmp_path / "other.tif", noisy[::-1])
    tifffile.imwrite(tmp_path / "other_mask.tif", mask[::-1])
    again = ["seg", "compare", str(tmp_path / "other.tif"), "--labels", str(tmp_path / "other_mask.tif"), "--methods", "stardist",
             "--out", str(out), "--device", "cpu", "--overwrite"]
    assert main(again) == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["other_labels.tif"]
