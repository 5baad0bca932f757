"""AP over the IoU sweep and SEG, per image and over images, against counts worked out by hand."""

import json

import numpy as np
import pytest

from denoise2seg.metrics import (
    IOU_THRESHOLDS,
    average_precision_dataset,
    average_precision_per_image,
    score_image,
    score_images,
    seg_score_dataset,
)


def _four_objects():
    """Truth: four objects; prediction: A and B exact, C missing, D (24 px) split into 16 px and 8 px (four objects)."""
    truth = np.zeros((12, 14), np.int32)
    truth[0:4, 0:4] = 1  # A
    truth[0:4, 6:10] = 2  # B
    truth[6:10, 0:4] = 3  # C
    truth[6:10, 6:12] = 4  # D, 4 x 6 = 24 px
    pred = np.zeros_like(truth)
    pred[0:4, 0:4] = 11
    pred[0:4, 6:10] = 12
    pred[6:10, 6:10] = 13  # 16 px of D: IoU 16 / 24 = 2/3
    pred[6:10, 10:12] = 14  # 8 px of D: IoU 1/3
    return truth, pred


def _ap(tp, fp, fn):
    return tp / (tp + fp + fn)


def test_perfect_prediction_scores_one_everywhere():
    truth, _ = _four_objects()
    relabelled = np.where(truth > 0, 10 - truth, 0)  # ids do not matter, only the pixels
    scores = score_image(truth, relabelled)
    assert scores.average_precision == (1.0,) * len(IOU_THRESHOLDS)
    assert scores.ap_50 == scores.ap_mean == scores.seg == 1.0
    assert (scores.n_true, scores.n_predicted) == (4, 4)


def test_a_missing_and_a_split_object_give_the_counts_worked_out_by_hand():
    truth, pred = _four_objects()
    scores = score_image(truth, pred)
    # IoU <= 2/3 (0.5 ... 0.65): A, B and D's larger part match; D's smaller part is FP, C is FN.
    # Above (0.7 ... 0.9): only A and B; both parts of D are FP, C and D are FN.
    counts = [(3, 1, 1) if t < 2 / 3 else (2, 2, 2) for t in IOU_THRESHOLDS]
    expected = [_ap(*c) for c in counts]
    assert scores.iou_thresholds == IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
    assert scores.average_precision == pytest.approx(expected)
    assert scores.ap_50 == pytest.approx(3 / 5)
    assert scores.ap_mean == pytest.approx((4 * 3 / 5 + 5 * 2 / 6) / 9)
    # SEG: A 1, B 1, C 0, D: its 16 px part covers more than half of it, Jaccard 16 / 24.
    assert scores.seg == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert (scores.n_true, scores.n_predicted) == (4, 4)


def test_pooled_and_per_image_scores_differ():
    crowded, crowded_pred = _four_objects()
    single = np.zeros_like(crowded)
    single[2:6, 2:6] = 1
    table = score_images([crowded, single], [crowded_pred, single], names=["crowded", "single"])

    assert [s.name for s in table.images] == ["crowded", "single"]
    # At IoU 0.5: crowded TP 3 FP 1 FN 1, single TP 1; pooled TP 4 FP 1 FN 1.
    assert table.pooled.ap_50 == pytest.approx(_ap(4, 1, 1))
    assert table.mean_per_image.ap_50 == pytest.approx((3 / 5 + 1) / 2)
    assert table.pooled.ap_50 != pytest.approx(table.mean_per_image.ap_50)
    assert table.pooled.seg == pytest.approx((1 + 1 + 0 + 2 / 3 + 1) / 5)
    assert table.mean_per_image.seg == pytest.approx(((2 + 2 / 3) / 4 + 1) / 2)
    assert (table.pooled.n_true, table.pooled.n_predicted) == (5, 5)
    for i, threshold in enumerate(IOU_THRESHOLDS):
        pair = [crowded, single], [crowded_pred, single]
        assert table.pooled.average_precision[i] == pytest.approx(average_precision_dataset(*pair, iou_threshold=threshold))
        assert table.mean_per_image.average_precision[i] == pytest.approx(average_precision_per_image(*pair, iou_threshold=threshold))
    assert table.pooled.seg == pytest.approx(seg_score_dataset([crowded, single], [crowded_pred, single]))


def test_a_stack_is_scored_frame_by_frame_and_pooled():
    crowded, crowded_pred = _four_objects()
    single = np.zeros_like(crowded)
    single[2:6, 2:6] = 1
    stack = score_image(np.stack([crowded, single]), np.stack([crowded_pred, single]), name="stack")
    pooled = score_images([crowded, single], [crowded_pred, single]).pooled
    assert stack.average_precision == pytest.approx(pooled.average_precision)
    assert (stack.seg, stack.n_true, stack.n_predicted) == (pytest.approx(pooled.seg), 5, 5)
    # As one 3D volume, object 1 of the second frame would join object 1 of the first (A): not so.
    assert stack.ap_50 == pytest.approx(_ap(4, 1, 1))


def test_empty_images_follow_the_conventions_of_ap_and_seg():
    empty = np.zeros((6, 6), np.int32)
    stray = empty.copy()
    stray[1:3, 1:3] = 5
    nothing = score_image(empty, empty)
    assert nothing.average_precision == (1.0,) * len(IOU_THRESHOLDS) and nothing.seg == 1.0
    false_alarm = score_image(empty, stray)
    assert false_alarm.ap_mean == 0.0 and false_alarm.seg == 0.0


def test_shape_mismatch_names_both_shapes():
    truth, pred = _four_objects()
    with pytest.raises(ValueError, match=r"shape \(12, 14\) but the prediction \(12, 10\)"):
        score_image(truth, pred[:, :10])
    with pytest.raises(ValueError, match=r"second: the ground truth has shape \(12, 14\) but the prediction \(14, 12\)"):
        score_images([truth, truth], [pred, pred.T], names=["first", "second"])
    with pytest.raises(ValueError, match="1 ground-truth and 2 predicted"):
        score_images([truth], [pred, pred])


def test_dictionary_and_markdown_carry_the_numbers():
    truth, pred = _four_objects()
    table = score_images([truth, truth], [pred, truth], names=["a.tif", "b.tif"])
    record = json.loads(json.dumps(table.to_dict()))
    assert [row["name"] for row in record["images"]] == ["a.tif", "b.tif"]
    assert record["images"][0]["average_precision"] == pytest.approx(list(table.images[0].average_precision))
    assert record["pooled"]["ap_50"] == pytest.approx(table.pooled.ap_50)
    assert record["mean_per_image"]["seg"] == pytest.approx(table.mean_per_image.seg)
    assert record["pooled"]["iou_thresholds"] == list(IOU_THRESHOLDS)

    lines = table.to_markdown().splitlines()
    assert lines[0] == "| image | objects | predicted | AP@0.5 | AP 0.5-0.9 | SEG |"
    a = table.images[0]
    assert lines[2] == f"| a.tif | 4 | 4 | {a.ap_50:.4f} | {a.ap_mean:.4f} | {a.seg:.4f} |"
    assert lines[4].startswith("| pooled | 8 | 8 | ") and lines[5].startswith("| mean per image | 8 | 8 | ")
    assert f"AP@0.5 {a.ap_50:.3f}" in a.summary() and f"SEG {a.seg:.3f}" in a.summary()
