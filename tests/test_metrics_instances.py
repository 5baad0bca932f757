"""AP and SEG against values worked out by hand on small label images."""

import numpy as np
import pytest

from denoise2seg.metrics import average_precision, average_precision_dataset, average_precision_per_image, seg_score, seg_score_dataset


def _case():
    truth = np.zeros((12, 12), dtype=np.int32)
    truth[0:4, 0:4] = 1  # A, 16 px
    truth[0:4, 6:10] = 2  # B, 16 px
    truth[6:10, 0:4] = 3  # C, 16 px
    pred = np.zeros_like(truth)
    pred[0:4, 0:4] = 7  # A exactly: IoU 1
    pred[0:4, 6:9] = 3  # 12 px of B: IoU 0.75
    pred[6, 0:4] = 5  # 4 px of C: IoU 0.25 -> no match
    pred[10:12, 10:12] = 9  # nothing there: false positive
    return truth, pred


def test_average_precision_by_hand():
    truth, pred = _case()
    # TP = A, B; FP = the row in C and the stray square; FN = C: 2 / (2 + 2 + 1).
    assert average_precision(truth, pred) == pytest.approx(2 / 5)


def test_seg_by_hand():
    truth, pred = _case()
    # A: J = 1; B: 12 px > 16 / 2 covered, J = 12 / 16; C: 4 px is not more than half, 0.
    assert seg_score(truth, pred) == pytest.approx((1 + 0.75 + 0) / 3)


def test_seg_matches_where_ap_does_not():
    truth = np.zeros((10, 10), dtype=np.int32)
    truth[0:4, 0:4] = 1
    pred = np.zeros_like(truth)
    pred[0:4, 0:3] = 1  # 12 px inside the object ...
    pred[5:8, 0:4] = 1  # ... and 12 px outside (one label, two parts): IoU 12 / 28
    assert average_precision(truth, pred) == 0.0
    assert seg_score(truth, pred) == pytest.approx(12 / 28)


def test_exactly_half_is_no_seg_match():
    truth = np.zeros((4, 4), dtype=np.int32)
    truth[:, :2] = 1
    pred = np.zeros_like(truth)
    pred[:2, :2] = 1
    assert seg_score(truth, pred) == 0.0


def test_dataset_metrics_pool_objects_over_images():
    t1 = np.zeros((8, 8), dtype=np.int32)
    t1[1:4, 1:4] = 1
    p1 = t1.copy()
    t2 = np.zeros((8, 8), dtype=np.int32)
    t2[1:4, 1:4] = 1
    p2 = np.zeros_like(t2)
    p2[5:8, 5:8] = 1
    # Pooled: TP 1, FP 1, FN 1 -> 1/3 (the mean of per-image APs would be 1/2).
    assert average_precision_dataset([t1, t2], [p1, p2]) == pytest.approx(1 / 3)
    assert seg_score_dataset([t1, t2], [p1, p2]) == pytest.approx(0.5)


def test_empty_and_mismatched_inputs():
    empty = np.zeros((5, 5), dtype=np.int32)
    assert average_precision(empty, empty) == 1.0
    assert seg_score(empty, empty) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        average_precision(empty, np.zeros((5, 6), dtype=np.int32))


def test_per_image_average_differs_from_pooled_ap():
    """One crowded image scored 2/5 and one image with a single object found: per image (2/5 + 1) / 2, pooled 3/6."""
    truth, pred = _case()
    single = np.zeros((12, 12), np.int32)
    single[2:6, 2:6] = 1
    assert average_precision_per_image([truth, single], [pred, single]) == pytest.approx((2 / 5 + 1) / 2)
    assert average_precision_dataset([truth, single], [pred, single]) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="no images"):
        average_precision_per_image([], [])
