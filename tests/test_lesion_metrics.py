"""Dice, MASD and NSD on cases computed by hand."""

import math

import numpy as np
import pytest

from denoise2seg.metrics import dice_score
from denoise2seg.metrics.lesion import (
    CaseScores,
    lesion_size_bin,
    masd_penalty,
    mean_average_surface_distance,
    normalized_surface_dice,
    score_case,
    summarize,
)


def square_and_centre():
    truth = np.zeros((7, 7), bool)
    truth[2:5, 2:5] = True
    pred = np.zeros((7, 7), bool)
    pred[3, 3] = True
    return truth, pred


def test_masd_of_a_centre_pixel_inside_a_square():
    truth, pred = square_and_centre()
    # Centre -> border: 1. Border -> centre: 4 edge pixels at 1, 4 corners at sqrt(2).
    expected = (1.0 + (4 * 1.0 + 4 * math.sqrt(2)) / 8) / 2
    assert mean_average_surface_distance(truth, pred) == pytest.approx(expected, abs=1e-6)
    assert mean_average_surface_distance(truth, pred) == pytest.approx(expected, abs=1e-6)


def test_masd_of_two_points_uses_the_spacing():
    a = np.zeros((9, 9), bool)
    b = np.zeros((9, 9), bool)
    a[2, 2] = b[2, 5] = True
    assert mean_average_surface_distance(a, b) == pytest.approx(3.0)
    assert mean_average_surface_distance(a, b, spacing=(1.0, 2.0)) == pytest.approx(6.0)
    assert mean_average_surface_distance(a, a) == 0.0


def test_nsd_counts_boundary_points_within_the_tolerance():
    truth, pred = square_and_centre()
    # Tolerance 1: the centre point and the 4 edge pixels count, the 4 corners (sqrt 2) do not.
    assert normalized_surface_dice(truth, pred, tolerance=1.0) == pytest.approx(5 / 9, abs=1e-6)
    assert normalized_surface_dice(truth, pred, tolerance=1.5) == pytest.approx(1.0)
    # 2 mm voxels: the same points at twice the distance.
    assert normalized_surface_dice(truth, pred, tolerance=2.0, spacing=2.0) == pytest.approx(5 / 9, abs=1e-6)
    assert normalized_surface_dice(truth, pred, tolerance=1.0, spacing=2.0) == pytest.approx(0.0)


def test_empty_masks():
    empty = np.zeros((5, 5), bool)
    full = np.zeros((5, 5), bool)
    full[1:3, 1:3] = True
    assert dice_score(empty, empty) == 1.0 and dice_score(full, empty) == 0.0
    assert mean_average_surface_distance(empty, empty) == 0.0
    assert math.isnan(mean_average_surface_distance(full, empty))
    assert normalized_surface_dice(full, empty) == 0.0 and normalized_surface_dice(empty, empty) == 1.0


def test_dice_and_size_bins():
    truth, pred = square_and_centre()
    assert dice_score(truth, pred) == pytest.approx(2 / 10)
    assert [lesion_size_bin(f) for f in (0.005, 0.01, 0.05, 0.2)] == ["<1%", "1-5%", "1-5%", ">5%"]
    brain = np.ones((7, 7), bool)
    scores = score_case(truth, pred, brain, name="c")
    assert scores.lesion_fraction == pytest.approx(9 / 49) and scores.size_bin == ">5%"
    with pytest.raises(ValueError):
        dice_score(truth[:3], pred)


def test_summary_averages_per_bin():
    rows = [
        CaseScores("a", 0.005, "<1%", 0.2, 3.0, 0.5),
        CaseScores("b", 0.003, "<1%", 0.4, 8.0, 0.7, masd_penalized=True),
        CaseScores("c", 0.02, "1-5%", 0.9, 1.0, 0.9),
    ]
    summary = summarize(rows)
    assert summary["dice"] == pytest.approx(0.5)
    assert summary["dice <1%"] == pytest.approx(0.3) and summary["n <1%"] == 2
    assert math.isnan(summary["dice >5%"]) and summary["n >5%"] == 0
    assert summary["masd"] == pytest.approx(4.0) and summary["n masd penalized"] == 1
    assert summary["nsd"] == pytest.approx(0.7)


def test_a_missed_lesion_is_penalised_not_dropped_from_masd():
    """A method that predicts nothing on a case must not look better than one that finds it roughly."""
    truth = np.zeros((4, 10, 10), bool)
    truth[1:3, 3:6, 3:6] = True
    brain = np.ones_like(truth)
    rough = np.roll(truth, 2, axis=2)
    found = score_case(truth, rough, brain, spacing=(2.0, 1.0, 1.0))
    missed = score_case(truth, np.zeros_like(truth), brain, spacing=(2.0, 1.0, 1.0))
    assert missed.masd_penalized and not found.masd_penalized
    assert missed.masd == pytest.approx(masd_penalty(truth.shape, (2.0, 1.0, 1.0))) == pytest.approx(np.sqrt(8**2 + 10**2 + 10**2))
    assert summarize([found, missed])["masd"] > summarize([found, found])["masd"]
    with pytest.raises(ValueError, match="no MASD"):
        summarize([CaseScores("x", 0.01, "1-5%", 0.0, math.nan, 0.0)])
