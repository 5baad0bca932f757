"""The single training loop of the project, written as a generator of progress events.

Every method (N2V, the VoidSeg segmenters, CT pretraining, Pseudo-CT, LADP) plugs a
:class:`TrainingTask` into :func:`run_training`; the napari widgets, the CLI progress bar
and the tests all consume the same :class:`~denoise2seg.training.events.TrainingEvent`
stream. A caller stops training by closing the generator (or simply no longer iterating
and letting it be closed); the ``finally`` block then writes the last good weights, so a
stop or a crash never loses the model trained so far.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Literal

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..io.model_folder import save_model_folder
from .events import TrainingEvent
from .fast_paths import channels_last_pays, use_channels_last, uses_bf16_autocast
from .state import TrainingState, save_training_state


@dataclass
class Schedule:
    """Optimisation settings shared by all methods.

    Defaults are VoidSeg's / Noise2Void's: Adam, lr 4e-4, 200 epochs of 400 steps,
    learning rate halved when the validation loss has not improved for 10 epochs
    (``"plateau"``). CT denoise-pretraining uses ``"cosine"`` annealing over all steps.
    ``mixed_precision`` uses bfloat16 autocast on CUDA, and with ``cpu_mixed_precision``
    also on a CPU with bf16 matrix units; ``channels_last`` trains a CPU network in the
    channels-last layout (:mod:`denoise2seg.training.fast_paths` says where each pays;
    both are off by default and turned on by the methods they were measured for). ``ema_decay`` (``None``:
    off) keeps an exponential moving average of the weights and batch-norm statistics
    (``torch.optim.swa_utils``), started at the weights after the first step and updated
    after every later one with this decay (0.99 averages over about the last 100 steps).
    Validation, previews and the best weights then use the averaged network, which
    smooths out the step-to-step noise of a high learning rate (docs/n2v.md); the last
    weights stay the raw ones, which a resumed run goes on from.
    """

    epochs: int = 200
    steps_per_epoch: int = 400
    learning_rate: float = 4e-4
    weight_decay: float = 0.0
    lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    min_learning_rate: float = 1e-7
    mixed_precision: bool = True
    cpu_mixed_precision: bool = False
    channels_last: bool = False
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if self.epochs < 1 or self.steps_per_epoch < 1:
            raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {self.epochs} and {self.steps_per_epoch}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.lr_schedule not in ("plateau", "cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'plateau', 'cosine' or 'constant', got {self.lr_schedule!r}")

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def uses_bf16_on(self, device: torch.device) -> bool:
        """Whether :func:`run_training` runs the training steps on ``device`` under bf16 autocast."""
        return uses_bf16_autocast(device, mixed_precision=self.mixed_precision, on_cpu=self.cpu_mixed_precision)

    def precision_on(self, device: torch.device) -> str:
        """How training runs on ``device``, for people: ``"bf16 autocast"`` or ``"float32"``, then the layout on a CPU."""
        layout = ", channels-last" if self.channels_last and channels_last_pays(device) else ""
        return ("bf16 autocast" if self.uses_bf16_on(device) else "float32") + layout


class TrainingTask:
    """What a method supplies to :func:`run_training`.

    Subclasses set ``self.model`` (already on the training device) and implement
    :meth:`training_loss` (draws its own batch, returns a scalar tensor) and
    :meth:`validation_loss`; :meth:`model_record` returns the JSON-able description
    (kind, network, config, normalisation, ...) written into the model folder.
    :meth:`generators` lists the random generators that draw batches, augmentations and
    masks, so that a resumed run continues their streams.
    """

    model: nn.Module

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return self.model.parameters()

    def train_mode(self) -> None:
        """Put the model into training mode (override to keep frozen parts in eval mode)."""
        self.model.train()

    def training_loss(self) -> torch.Tensor:
        raise NotImplementedError

    def validation_loss(self) -> float:
        raise NotImplementedError

    def preview(self) -> np.ndarray | None:
        """Current prediction on the task's preview image, or ``None`` when it has none."""
        return None

    def model_record(self) -> dict:
        raise NotImplementedError

    def generators(self) -> list[torch.Generator]:
        """The task's random generators, saved and restored with the training state (none by default)."""
        return []


def _make_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule):
    if schedule.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=schedule.plateau_factor,
            patience=schedule.plateau_patience,
            min_lr=schedule.min_learning_rate,
        )
    if schedule.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule.total_steps)
    return None


def _weight_average(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of ``model``'s parameters and buffers (``None`` when ``decay`` is)."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@contextmanager
def _evaluated_weights(model: nn.Module, averaged: AveragedModel | None) -> Iterator[None]:
    """Put the averaged weights into ``model`` for the ``with`` block (nothing without an average), then the raw ones back."""
    if averaged is None:
        yield
        return
    raw = {name: value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(averaged.module.state_dict())
    try:
        yield
    finally:
        model.load_state_dict(raw)


def run_training(
    task: TrainingTask,
    schedule: Schedule,
    *,
    out_dir: str | Path | None = None,
    preview_every: int = 0,
    resume: TrainingState | None = None,
) -> Iterator[TrainingEvent]:
    """Train ``task.model`` and yield :class:`TrainingEvent` objects as it goes.

    Parameters
    ----------
    task : TrainingTask
        Model, loss, data and validation of one method.
    schedule : Schedule
        Epochs, steps, learning rate and its schedule.
    out_dir : path, optional
        Model folder. After every epoch ``last.safetensors`` is written and, when the
        validation loss improved, ``weights.safetensors`` (the best model). On stop or
        error after the first step the last finite weights are written too, so the
        folder loads; a run stopped before its first step writes nothing. With
        ``schedule.ema_decay`` the best weights are the averaged network's.
    preview_every : int
        Yield a ``"preview"`` event every this many steps, and after the last step when
        that was not one of them, so the final network is always shown (0: at the end of
        each epoch only). Only when the task has a preview image.
    resume : TrainingState, optional
        Continue a run: ``task.model`` holds its last weights, and the step count,
        optimiser, learning-rate schedule, best validation loss and the task's random
        streams are restored, so the run goes on at the next step until
        ``schedule.total_steps`` (counted from the first run's start). A
        :class:`TrainingState` is written as ``training_state.pt`` with every
        ``last.safetensors``.
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    model = task.model
    device = next(model.parameters()).device
    if schedule.channels_last:
        use_channels_last(model)
    params = [p for p in task.trainable_parameters() if p.requires_grad]
    if not params:
        raise ValueError("the task has no trainable parameters")
    optimizer = torch.optim.Adam(params, lr=schedule.learning_rate, weight_decay=schedule.weight_decay)
    scheduler = _make_scheduler(optimizer, schedule)
    averaged = _weight_average(model, schedule.ema_decay)
    use_amp = schedule.uses_bf16_on(device)
    total = schedule.total_steps
    step = 0
    saved_step = -1
    best_val = math.inf
    has_best = False
    if resume is not None:
        _restore(resume, schedule, optimizer, scheduler, averaged, task, device)
        step, best_val, has_best = resume.step, resume.best_val, resume.has_best
    start_step = step

    def save(which: str) -> Path:
        weights = averaged.module.state_dict() if averaged is not None and which == "best" else model.state_dict()
        folder = save_model_folder(out_dir, task.model_record(), weights, which=which)
        if which == "last":
            state = TrainingState(
                step=step,
                steps_per_epoch=schedule.steps_per_epoch,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict() if scheduler is not None else None,
                best_val=best_val,
                has_best=has_best,
                generators=[g.get_state() for g in task.generators()],
                device_type=device.type,
                averaged=averaged.state_dict() if averaged is not None else None,
            )
            save_training_state(out_dir, state)
        return folder

    def preview_event(epoch: int) -> TrainingEvent | None:
        model.eval()
        with torch.no_grad(), _evaluated_weights(model, averaged):
            image = task.preview()
        task.train_mode()
        if image is None:
            return None
        return TrainingEvent("preview", step, total, epoch, preview=image)

    first_epoch = step // schedule.steps_per_epoch + 1
    done_in_first = step % schedule.steps_per_epoch
    epoch = first_epoch - 1
    try:
        for epoch in range(first_epoch, schedule.epochs + 1):
            task.train_mode()
            for _ in range(schedule.steps_per_epoch - (done_in_first if epoch == first_epoch else 0)):
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    loss = task.training_loss()
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at step {step + 1}; check the input "
                        "for NaN/inf values or lower the learning rate"
                    )
                loss.backward()
                optimizer.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                if schedule.lr_schedule == "cosine":
                    scheduler.step()
                step += 1
                lr = optimizer.param_groups[0]["lr"]
                yield TrainingEvent("step", step, total, epoch, train_loss=float(loss.item()), learning_rate=lr)
                if preview_every and step % preview_every == 0:
                    event = preview_event(epoch)
                    if event is not None:
                        yield event
            model.eval()
            with torch.no_grad(), _evaluated_weights(model, averaged):
                val_loss = float(task.validation_loss())
            if schedule.lr_schedule == "plateau":
                scheduler.step(val_loss)
            is_best = val_loss < best_val
            if is_best:
                best_val = val_loss
            if out_dir is not None:
                if is_best:
                    save("best")
                    has_best = True
                save("last")
                saved_step = step
                yield TrainingEvent("checkpoint", step, total, epoch, val_loss=val_loss, path=out_dir, is_best=is_best)
            yield TrainingEvent(
                "epoch", step, total, epoch, val_loss=val_loss, learning_rate=optimizer.param_groups[0]["lr"], is_best=is_best
            )
            if not preview_every:
                event = preview_event(epoch)
                if event is not None:
                    yield event
        if preview_every and step % preview_every:
            event = preview_event(epoch)
            if event is not None:
                yield event
        yield TrainingEvent("done", step, total, epoch, val_loss=best_val if has_best else None, path=out_dir)
    finally:
        # Stopped before the first step (of this run): nothing was trained, so nothing is written.
        if out_dir is not None and step != saved_step and step > start_step and _weights_finite(model):
            if not has_best:
                save("best")
                has_best = True
            save("last")


def _restore(
    state: TrainingState,
    schedule: Schedule,
    optimizer: torch.optim.Optimizer,
    scheduler,
    averaged: AveragedModel | None,
    task: TrainingTask,
    device: torch.device,
) -> None:
    """Put the optimiser, the learning-rate schedule, the weight average and the task's random streams where ``state`` left them."""
    if state.steps_per_epoch != schedule.steps_per_epoch:
        raise ValueError(
            f"the run to continue has {state.steps_per_epoch} steps per epoch, this one {schedule.steps_per_epoch}; "
            "keep the steps per epoch of the first run"
        )
    if state.step >= schedule.total_steps:
        raise ValueError(
            f"the run to continue has already trained {state.step} steps ({state.epochs_begun} epochs) of the "
            f"{schedule.total_steps} asked for; ask for more than {state.epochs_begun} epochs to train further"
        )
    if (state.scheduler is None) != (scheduler is None):
        raise ValueError("the run to continue used another learning-rate schedule; keep the schedule of the first run")
    if (state.averaged is None) != (averaged is None):
        raise ValueError("the run to continue averaged its weights differently; keep the ema_decay of the first run")
    optimizer.load_state_dict(state.optimizer)
    if averaged is not None:
        averaged.load_state_dict(state.averaged)
    if scheduler is not None:
        scheduler.load_state_dict(state.scheduler)
        if schedule.lr_schedule == "cosine":
            # A longer run anneals over its new length from where the first one was.
            scheduler.T_max = schedule.total_steps
    generators = task.generators()
    if state.device_type == device.type and len(state.generators) == len(generators):
        for generator, generator_state in zip(generators, state.generators):
            generator.set_state(generator_state)


def _weights_finite(model: nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())
