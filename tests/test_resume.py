"""Continuing a training: a run stopped and resumed ends with the weights of an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

from denoise2seg.io.model_folder import ModelFolderError, load_weights
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.segmentation import SegmentationConfig, train_segmentation
from denoise2seg.training.state import TRAINING_STATE_FILE, load_training_state

N2V_CONFIG = N2VConfig(patch_size=16, batch_size=4, epochs=3, steps_per_epoch=5, depth=1, n_filters=4, seed=3)


def _run_until(events, stop_after: int) -> list[int]:
    """Consume ``events`` until the step ``stop_after`` (then close it, as Stop does); the steps seen."""
    steps = []
    for event in events:
        if event.kind == "step":
            steps.append(event.step)
            if event.step == stop_after:
                break
    events.close()
    return steps


def _largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[name].double() - b[name].double()).abs().max()) for name in a)


def _steps(events) -> list[int]:
    return [event.step for event in events if event.kind == "step"]


@pytest.mark.parametrize("stop_after", [7, 10])
def test_n2v_stopped_and_resumed_ends_as_an_uninterrupted_run(tmp_path, nuclei_crop, stop_after):
    image = nuclei_crop[0][:64, :64]
    for _ in train_n2v(image, N2V_CONFIG, out_dir=tmp_path / "full", device="cpu"):
        pass
    assert _run_until(train_n2v(image, N2V_CONFIG, out_dir=tmp_path / "stopped", device="cpu"), stop_after)[-1] == stop_after
    stopped_state = load_training_state(tmp_path / "stopped")
    assert stopped_state.step == stop_after

    steps = _steps(train_n2v(image, device="cpu", resume=tmp_path / "stopped"))

    assert steps == list(range(stop_after + 1, N2V_CONFIG.epochs * N2V_CONFIG.steps_per_epoch + 1))
    full, resumed = load_weights(tmp_path / "full", "last"), load_weights(tmp_path / "stopped", "last")
    assert _largest_difference(full, resumed) < 1e-6
    # The Adam moments went on too, not only the weights.
    full_adam = load_training_state(tmp_path / "full").optimizer["state"]
    resumed_adam = load_training_state(tmp_path / "stopped").optimizer["state"]
    assert all(torch.allclose(full_adam[k]["exp_avg_sq"], resumed_adam[k]["exp_avg_sq"]) for k in full_adam)


def test_n2v_with_weight_average_stopped_and_resumed_ends_as_an_uninterrupted_run(tmp_path, nuclei_crop):
    image = nuclei_crop[0][:64, :64]
    config = N2VConfig(**{**N2V_CONFIG.to_dict(), "ema_decay": 0.9})
    for _ in train_n2v(image, config, out_dir=tmp_path / "full", device="cpu"):
        pass
    _run_until(train_n2v(image, config, out_dir=tmp_path / "stopped", device="cpu"), 7)

    for _ in train_n2v(image, device="cpu", resume=tmp_path / "stopped"):
        pass

    for which in ("best", "last"):
        full, resumed = load_weights(tmp_path / "full", which), load_weights(tmp_path / "stopped", which)
        assert _largest_difference(full, resumed) < 1e-6
    assert _largest_difference(load_weights(tmp_path / "full", "best"), load_weights(tmp_path / "full", "last")) > 1e-4
    without = N2VConfig(**{**config.to_dict(), "ema_decay": None, "epochs": 4})
    with pytest.raises(ValueError, match="ema_decay 0.9 -> None"):
        next(train_n2v(image, without, device="cpu", resume=tmp_path / "stopped"))


def test_n2v_resume_into_another_folder_leaves_the_first_unchanged(tmp_path, nuclei_crop):
    image = nuclei_crop[0][:64, :64]
    _run_until(train_n2v(image, N2V_CONFIG, out_dir=tmp_path / "first", device="cpu"), 6)
    before = {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir()}

    longer = N2VConfig(**{**N2V_CONFIG.to_dict(), "epochs": 4})
    steps = _steps(train_n2v(image, longer, device="cpu", resume=tmp_path / "first", out_dir=tmp_path / "second"))

    assert steps == list(range(7, 21))
    assert {p.name: p.read_bytes() for p in (tmp_path / "first").iterdir()} == before
    assert load_training_state(tmp_path / "second").step == 20


def test_n2v_resume_refuses_other_settings_and_a_finished_run(tmp_path, nuclei_crop):
    image = nuclei_crop[0][:64, :64]
    for _ in train_n2v(image, N2V_CONFIG, out_dir=tmp_path / "done", device="cpu"):
        pass
    deeper = N2VConfig(**{**N2V_CONFIG.to_dict(), "depth": 2})
    with pytest.raises(ValueError, match="depth 1 -> 2"):
        next(train_n2v(image, deeper, device="cpu", resume=tmp_path / "done"))
    with pytest.raises(ValueError, match="already trained 15 steps"):
        next(train_n2v(image, device="cpu", resume=tmp_path / "done"))
    (tmp_path / "done" / TRAINING_STATE_FILE).unlink()
    with pytest.raises(ModelFolderError, match="cannot be continued"):
        next(train_n2v(image, device="cpu", resume=tmp_path / "done"))


def test_segmentation_stopped_and_resumed_ends_as_an_uninterrupted_run(tmp_path, nuclei_crop):
    noisy, _, mask = nuclei_crop
    config = SegmentationConfig(
        patch_size=32, batch_size=2, epochs=2, steps_per_epoch=4, learning_rate=0.01, depth=1, n_filters=4, seed=1
    )
    for _ in train_segmentation([noisy], [mask], config, out_dir=tmp_path / "full", device="cpu"):
        pass
    _run_until(train_segmentation([noisy], [mask], config, out_dir=tmp_path / "stopped", device="cpu"), 3)

    steps = _steps(train_segmentation([noisy], [mask], device="cpu", resume=tmp_path / "stopped"))

    assert steps == [4, 5, 6, 7, 8]
    full, resumed = load_weights(tmp_path / "full", "last"), load_weights(tmp_path / "stopped", "last")
    assert _largest_difference(full, resumed) < 1e-6
