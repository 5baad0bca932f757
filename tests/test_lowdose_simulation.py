"""The physical low-dose simulation and the real-scan subjects."""

import numpy as np
import pytest

from denoise2seg.ct.lowdose.simulation import (
    DoseSimulation,
    attenuation_to_hu,
    forward_project,
    hu_to_attenuation,
    simulate_pair,
    simulate_scan,
)
from denoise2seg.ct.lowdose.subjects import (
    load_subject,
    read_bundled_scan,
    save_subject,
    simulated_subjects,
    subject_from_arrays,
)


@pytest.fixture(scope="module")
def neck():
    return read_bundled_scan("neck")


def test_bundled_scan_is_real_ct_in_hu(neck):
    assert neck.hu.shape == (128, 128)
    assert 0.5 < neck.pixel_size_mm < 1.0
    # Soft tissue around 0-100 HU, bone far above, air at the clip value.
    assert -1024 <= neck.hu.min() < -800 and neck.hu.max() > 1000


def test_attenuation_round_trip_and_air_clip():
    hu = np.array([[-3000.0, -1000.0, 0.0, 1000.0]])
    mu = hu_to_attenuation(hu)
    assert mu.min() >= 0
    np.testing.assert_allclose(attenuation_to_hu(mu)[0, 2:], [0.0, 1000.0], atol=1e-9)


def test_noise_grows_as_flux_falls(neck):
    line_integrals = forward_project(neck.hu, neck.pixel_size_mm, 180)
    reference = simulate_scan(neck.hu, neck.pixel_size_mm, 1e9, n_views=180, rng=0, line_integrals=line_integrals)
    noise_sd = [
        float(np.std(simulate_scan(neck.hu, neck.pixel_size_mm, photons, n_views=180, rng=1, line_integrals=line_integrals) - reference))
        for photons in (1e6, 1e5, 1e4)
    ]
    assert noise_sd[0] < noise_sd[1] < noise_sd[2]
    # Quantum noise: variance ~ 1 / I0, so a tenfold flux drop raises the sd about sqrt(10)-fold.
    assert 2.0 < noise_sd[2] / noise_sd[1] < 4.5


def test_electronic_noise_adds_noise(neck):
    line_integrals = forward_project(neck.hu, neck.pixel_size_mm, 90)
    kwargs = dict(n_views=90, line_integrals=line_integrals)
    reference = simulate_scan(neck.hu, neck.pixel_size_mm, 1e9, rng=0, **kwargs)
    quantum = simulate_scan(neck.hu, neck.pixel_size_mm, 1e4, rng=1, **kwargs)
    electronic = simulate_scan(neck.hu, neck.pixel_size_mm, 1e4, rng=1, electronic_noise_sd=30.0, **kwargs)
    assert np.std(electronic - reference) > np.std(quantum - reference)


def test_pair_shares_anatomy_and_repeats_differ(neck):
    low, normal = simulate_pair(neck.hu, neck.pixel_size_mm, DoseSimulation(n_views=90), rng=0, repeats=2)
    assert low.shape == (2, 128, 128) and normal.shape == (128, 128)
    body = neck.hu > -500
    assert np.abs(normal - neck.hu)[body].mean() < 40  # FBP reproduces the anatomy at normal dose
    assert not np.allclose(low[0], low[1])
    _, normal_again = simulate_pair(neck.hu, neck.pixel_size_mm, DoseSimulation(n_views=90), rng=5)
    # 100 times the photons: the normal dose is far less noisy than the low dose.
    assert np.std(low[0] - normal) > 3 * np.std(normal - normal_again)


def test_simulated_subjects_differ_and_round_trip(tmp_path):
    subjects = simulated_subjects(["neck", "neck"], n_slices=2, dose=DoseSimulation(n_views=60), seed=3)
    first, second = subjects
    assert first.low_dose.shape == (2, 128, 128) and first.low_dose_repeat.shape == (2, 128, 128)
    assert np.abs(first.normal_dose - second.normal_dose).mean() > 20  # different deformations
    loaded = load_subject(save_subject(first, tmp_path / "subject"))
    np.testing.assert_array_equal(loaded.low_dose, first.low_dose)
    np.testing.assert_array_equal(loaded.low_dose_repeat, first.low_dose_repeat)


def test_subject_from_arrays_checks_shapes():
    with pytest.raises(ValueError, match="one shape"):
        subject_from_arrays("s", np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(ValueError, match="NaN"):
        subject_from_arrays("s", np.full((8, 8), np.nan), np.zeros((8, 8)))
    assert subject_from_arrays("s", np.zeros((8, 8)), np.zeros((8, 8))).low_dose.shape == (1, 8, 8)
