"""The event-generator training loop: events, plateau schedule, and no model lost on stop or error."""

import math

import pytest
import torch
from safetensors.torch import load_file

from denoise2seg.io.model_folder import read_model_config
from denoise2seg.training import Schedule, TrainingTask, choose_device, run_training


class LinearTask(TrainingTask):
    """Fits y = 3x with one weight; optionally returns NaN from step ``nan_at`` or a constant validation loss."""

    def __init__(self, nan_at=None, fail_at=None, flat_validation=False):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(1, 1)
        self.x = torch.randn(64, 1)
        self.calls = 0
        self.nan_at = nan_at
        self.fail_at = fail_at
        self.flat_validation = flat_validation
        self.loss_dtypes = []

    def training_loss(self):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("data source failed")
        prediction = self.model(self.x)
        self.loss_dtypes.append(prediction.dtype)
        loss = ((prediction - 3 * self.x) ** 2).mean()
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * math.nan
        return loss

    def validation_loss(self):
        if self.flat_validation:
            return 1.0
        return float(((self.model(self.x) - 3 * self.x) ** 2).mean())

    def model_record(self):
        return {"kind": "linear"}


def _weights(folder, name):
    return load_file(str(folder / name))


def test_events_and_checkpoints(tmp_path):
    events = list(run_training(LinearTask(), Schedule(epochs=3, steps_per_epoch=5, learning_rate=0.05), out_dir=tmp_path))
    kinds = [e.kind for e in events]
    assert kinds.count("step") == 15 and kinds.count("epoch") == 3 and kinds.count("checkpoint") == 3
    assert kinds[-1] == "done"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 16)) and steps[-1].total_steps == 15
    assert steps[-1].train_loss < steps[0].train_loss
    epochs = [e for e in events if e.kind == "epoch"]
    assert epochs[0].is_best and epochs[-1].val_loss <= epochs[0].val_loss
    assert read_model_config(tmp_path, kind="linear")["kind"] == "linear"
    assert (tmp_path / "weights.safetensors").is_file() and (tmp_path / "last.safetensors").is_file()


def test_plateau_schedule_halves_learning_rate_after_patience():
    schedule = Schedule(epochs=6, steps_per_epoch=1, learning_rate=0.1, plateau_patience=2)
    rates = [e.learning_rate for e in run_training(LinearTask(flat_validation=True), schedule) if e.kind == "epoch"]
    # Epoch 1 sets the best; epochs 2-3 are the patience; epoch 4 halves; 5-6 patience again.
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_closing_the_generator_mid_epoch_saves_last_and_a_loadable_best(tmp_path):
    task = LinearTask()
    events = run_training(task, Schedule(epochs=2, steps_per_epoch=10, learning_rate=0.05), out_dir=tmp_path)
    for event in events:
        if event.kind == "step" and event.step == 4:
            break
    events.close()
    last = _weights(tmp_path, "last.safetensors")
    assert torch.equal(last["weight"], task.model.weight.detach())
    assert torch.equal(_weights(tmp_path, "weights.safetensors")["weight"], last["weight"])


def test_nan_loss_raises_and_keeps_the_last_good_model(tmp_path):
    task = LinearTask(nan_at=8)
    events = run_training(task, Schedule(epochs=3, steps_per_epoch=5, learning_rate=0.05), out_dir=tmp_path)
    seen = []
    with pytest.raises(FloatingPointError, match="training loss became nan at step 8"):
        for event in events:
            seen.append(event)
    best_after_epoch_1 = [e for e in seen if e.kind == "checkpoint"]
    assert len(best_after_epoch_1) == 1
    last = _weights(tmp_path, "last.safetensors")["weight"]
    assert torch.isfinite(last).all()
    # The last good weights are those after step 7, the state the NaN step started from.
    assert torch.equal(last, task.model.weight.detach())
    assert torch.isfinite(_weights(tmp_path, "weights.safetensors")["weight"]).all()


def test_an_error_in_the_first_epoch_still_leaves_a_loadable_model(tmp_path):
    events = run_training(LinearTask(fail_at=3), Schedule(epochs=2, steps_per_epoch=5), out_dir=tmp_path)
    with pytest.raises(RuntimeError, match="data source failed"):
        list(events)
    assert read_model_config(tmp_path)["kind"] == "linear"
    assert set(_weights(tmp_path, "weights.safetensors")) == {"weight", "bias"}


def test_mixed_precision_is_cuda_only():
    task = LinearTask()
    list(run_training(task, Schedule(epochs=1, steps_per_epoch=2, mixed_precision=True)))
    assert task.loss_dtypes == [torch.float32, torch.float32]


def test_device_choice():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type in ("cuda", "mps", "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        choose_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_precision_uses_bfloat16_on_cuda():
    task = LinearTask()
    task.model.cuda()
    task.x = task.x.cuda()
    list(run_training(task, Schedule(epochs=1, steps_per_epoch=2, mixed_precision=True)))
    assert task.loss_dtypes == [torch.bfloat16, torch.bfloat16]


def test_a_run_that_fails_before_its_first_step_writes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="data source failed"):
        list(run_training(LinearTask(fail_at=1), Schedule(epochs=2, steps_per_epoch=3), out_dir=tmp_path / "model"))
    assert not (tmp_path / "model").exists()


def test_weight_average_is_what_validation_and_the_best_weights_see(tmp_path):
    decay = 0.8
    task = LinearTask()
    events = run_training(task, Schedule(epochs=2, steps_per_epoch=5, learning_rate=0.05, ema_decay=decay), out_dir=tmp_path)
    average = None
    for event in events:
        if event.kind == "step":
            raw = {name: value.detach().clone() for name, value in task.model.named_parameters()}
            # The average starts at the weights after the first step.
            average = raw if average is None else {name: decay * average[name] + (1 - decay) * raw[name] for name in raw}
        if event.kind == "epoch":
            prediction = task.x * average["weight"][0, 0] + average["bias"][0]
            assert event.val_loss == pytest.approx(float(((prediction - 3 * task.x) ** 2).mean()), rel=1e-5)
            # Training goes on from the raw weights.
            assert torch.equal(task.model.weight.detach(), raw["weight"])
    best = _weights(tmp_path, "weights.safetensors")
    assert all(torch.allclose(best[name], average[name], atol=1e-6) for name in raw)
    assert not torch.allclose(best["weight"], raw["weight"])
    assert torch.equal(_weights(tmp_path, "last.safetensors")["weight"], raw["weight"])


def test_weight_average_decay_is_checked():
    with pytest.raises(ValueError, match="ema_decay must be in"):
        Schedule(ema_decay=1.0)
