"""bf16 autocast only where the CPU computes bf16 natively, and the channels-last layout that changes no result."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.nets import UNet, UNetSpec
from denoise2seg.training import Schedule, TrainingTask, fast_paths, run_training


class DenoiseTask(TrainingTask):
    """A small U-Net fitting clean from noisy random images; records the dtype of its output."""

    def __init__(self, ndim=2):
        torch.manual_seed(0)
        self.model = UNet(UNetSpec(ndim=ndim, in_channels=2, out_channels=2, depth=1, n_filters=4))
        shape = (4, 2) + (16,) * ndim
        self.clean = torch.rand(shape, generator=torch.Generator().manual_seed(1))
        self.noisy = self.clean + 0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(2))
        self.outputs = []

    def training_loss(self):
        output = self.model(self.noisy)
        self.outputs.append(output.dtype)
        return ((output.float() - self.clean) ** 2).mean()

    def validation_loss(self):
        return float(((self.model(self.noisy) - self.clean) ** 2).mean())

    def model_record(self):
        return {"kind": "denoise-test", "network": self.model.spec.to_dict()}


def _wide_weights(net):
    """The weights of ``net``'s 3x3(x3) convolutions with several input channels (those whose layout shows)."""
    return [
        m.weight
        for m in net.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and m.in_channels > 1 and set(m.kernel_size) == {3}
    ]


@pytest.mark.parametrize("matrix_units", [True, False])
def test_cpu_bf16_autocast_only_with_bf16_matrix_units(monkeypatch, matrix_units):
    monkeypatch.setattr(fast_paths, "cpu_has_bf16_matrix_units", lambda: matrix_units)
    task = DenoiseTask()
    list(run_training(task, Schedule(epochs=1, steps_per_epoch=2, cpu_mixed_precision=True)))
    assert task.outputs == [torch.bfloat16 if matrix_units else torch.float32] * 2
    for schedule in (Schedule(epochs=1, steps_per_epoch=2), Schedule(epochs=1, steps_per_epoch=2, mixed_precision=False, cpu_mixed_precision=True)):
        task = DenoiseTask()
        list(run_training(task, schedule))
        assert task.outputs == [torch.float32] * 2


@pytest.mark.parametrize("ndim", [2, 3])
def test_channels_last_training_gives_the_same_losses_and_weights(tmp_path, ndim):
    runs = {}
    for layout in (False, True):
        task = DenoiseTask(ndim)
        schedule = Schedule(epochs=2, steps_per_epoch=3, learning_rate=1e-2, channels_last=layout, mixed_precision=False)
        losses = [e.train_loss for e in run_training(task, schedule, out_dir=tmp_path / str(layout)) if e.kind == "step"]
        runs[layout] = (losses, task)
    (plain, plain_task), (fast, fast_task) = runs[False], runs[True]
    assert fast[-1] < fast[0]
    # The first update is the same to float32 rounding; Adam then amplifies the rounding of
    # gradients near zero a little (3e-4 of the loss after six steps of a 3D U-Net).
    np.testing.assert_allclose(fast[:2], plain[:2], rtol=1e-5)
    np.testing.assert_allclose(fast, plain, rtol=2e-3)
    # The loop trained the network in the channels-last layout, and the weights written load into a plain network.
    layout = fast_paths.LAYOUTS[ndim]
    assert all(w.is_contiguous(memory_format=layout) and not w.is_contiguous() for w in _wide_weights(fast_task.model))
    assert _wide_weights(plain_task.model) and all(w.is_contiguous() for w in _wide_weights(plain_task.model))
    written = load_file(str(tmp_path / "True" / "weights.safetensors"))
    fresh = UNet(fast_task.model.spec)
    fresh.load_state_dict(written)
    fresh.eval(), fast_task.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(fast_task.noisy), fast_task.model(fast_task.noisy), rtol=1e-5, atol=1e-5)


def test_layout_follows_the_network():
    flat = UNet(UNetSpec(ndim=2, in_channels=1, out_channels=1, depth=1, n_filters=4))
    volume = UNet(UNetSpec(ndim=3, in_channels=1, out_channels=1, depth=1, n_filters=4))
    fast_paths.use_channels_last(flat)
    fast_paths.use_channels_last(volume)
    for net, layout in ((flat, torch.channels_last), (volume, torch.channels_last_3d)):
        wide = _wide_weights(net)
        assert wide and all(w.is_contiguous(memory_format=layout) and not w.is_contiguous() for w in wide)
    linear = torch.nn.Linear(3, 3)
    assert fast_paths.use_channels_last(linear) is linear and linear.weight.is_contiguous()


def test_n2v_trains_in_the_fast_paths_and_loads_in_channels_last(tmp_path):
    schedule = N2VConfig().schedule()
    assert schedule.channels_last and schedule.mixed_precision and schedule.cpu_mixed_precision
    assert not N2VConfig(mixed_precision=False).schedule().cpu_mixed_precision
    image = np.random.default_rng(0).normal(100, 20, (64, 64)).astype(np.float32)
    config = N2VConfig(patch_size=32, batch_size=4, epochs=1, steps_per_epoch=2, depth=1, n_filters=8, seed=0)
    list(train_n2v(image, config, out_dir=tmp_path / "n2v", device="cpu"))
    model = N2VModel.load(tmp_path / "n2v", device="cpu")
    wide = _wide_weights(model.net)
    assert wide and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in wide)
    plain = UNet(model.net.spec)
    plain.load_state_dict(model.net.state_dict())
    reference = N2VModel(plain.eval(), model.config, model.normalizer)
    np.testing.assert_allclose(model.predict(image), reference.predict(image), rtol=1e-5, atol=1e-3)
