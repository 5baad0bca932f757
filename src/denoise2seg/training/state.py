"""What a training run needs to continue where it stopped: step count, optimiser, schedule, random streams.

:func:`~denoise2seg.training.run_training` writes ``training_state.pt`` into the model
folder beside the last weights (after every epoch, and at stop or crash); a run given
that state (``resume=``) continues from the same step with the same Adam moments,
learning rate and patch/augmentation/mask random streams, so that stopping and resuming
ends with the weights of an uninterrupted run of the same seed (on the same device).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ..io.model_folder import CONFIG_NAME, TRAINING_STATE_FILE, WEIGHT_FILES, ModelFolderError, atomic_write


@dataclass
class TrainingState:
    """The resumable part of a run after ``step`` optimiser steps.

    ``optimizer`` and ``scheduler`` are the torch ``state_dict``s (``scheduler`` is
    ``None`` for a constant learning rate); ``best_val`` is the lowest validation loss so
    far (``inf`` before the first validation) and ``has_best`` whether best weights were
    written; ``generators`` are the states of the task's random generators, in the
    order of :meth:`TrainingTask.generators`, and ``device_type`` the device they ran on.
    ``steps_per_epoch`` is that of the run, so that an epoch is counted the same way.
    ``averaged`` is the ``state_dict`` of the run's weight average (``None`` without one).
    """

    step: int
    steps_per_epoch: int
    optimizer: dict
    scheduler: dict | None = None
    best_val: float = math.inf
    has_best: bool = False
    generators: list[torch.Tensor] = field(default_factory=list)
    device_type: str = "cpu"
    averaged: dict | None = None

    @property
    def epochs_begun(self) -> int:
        """Epochs the run has started (a partly trained epoch counts): where more epochs are added on."""
        return math.ceil(self.step / self.steps_per_epoch)

    def to_dict(self) -> dict:
        """The fields by name, as they are (no copies of the optimiser's tensors), for ``torch.save``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def save_training_state(folder: str | Path, state: TrainingState) -> Path:
    """Write ``state`` as ``training_state.pt`` of the model folder (atomically); returns the file."""
    path = Path(folder) / TRAINING_STATE_FILE
    atomic_write(path, lambda tmp: torch.save(state.to_dict(), tmp))
    return path


def load_training_state(folder: str | Path) -> TrainingState:
    """Read the training state of a model folder.

    Raises :class:`~denoise2seg.io.model_folder.ModelFolderError` naming the folder when
    it has none (a model written before resuming existed, or not by training) or the file
    is unreadable.
    """
    path = Path(folder) / TRAINING_STATE_FILE
    if not path.is_file():
        raise ModelFolderError(
            f"{Path(folder)} has no {TRAINING_STATE_FILE}, so its training cannot be continued (the folder was not written "
            "by a training of this version); start a new training instead"
        )
    try:
        values = torch.load(path, map_location="cpu", weights_only=True)
        return TrainingState(**values)
    except (RuntimeError, OSError, EOFError, TypeError, ValueError) as err:
        raise ModelFolderError(f"{path} is corrupt and cannot be loaded ({err})") from err


# Settings a continued run may change: the total length and the seed (the random streams come from the state).
CONTINUABLE_SETTINGS = ("epochs", "seed")


def continued_config(
    saved, state: TrainingState, given=None, *, more_epochs: int | None = None, folder: str | Path = "the model folder"
):
    """The settings of a continued run: ``saved`` (those of the run in ``folder``), with a new number of epochs.

    ``given`` (a config of the same class, or ``None`` to continue as planned) may differ
    from ``saved`` only in :data:`CONTINUABLE_SETTINGS`; any other difference raises
    ``ValueError`` naming the settings, since the network, data and loss must stay those
    the weights and optimiser state were trained with. Its ``epochs`` is the new total;
    ``more_epochs`` instead adds that many epochs to those ``state`` has begun (the
    "Continue training" of the widgets), and cannot be combined with ``given``.
    """
    if more_epochs is not None:
        if given is not None:
            raise ValueError("give either a config (its epochs the new total) or more_epochs, not both")
        if more_epochs < 1:
            raise ValueError(f"more_epochs must be >= 1, got {more_epochs}")
        return type(saved).from_dict({**saved.to_dict(), "epochs": state.epochs_begun + more_epochs})
    if given is None:
        return saved
    old, new = saved.to_dict(), given.to_dict()
    changed = [name for name in old if name not in CONTINUABLE_SETTINGS and old[name] != new.get(name)]
    if changed:
        listed = ", ".join(f"{name} {old[name]!r} -> {new.get(name)!r}" for name in changed)
        raise ValueError(
            f"continuing the training of {folder} keeps its settings, but these differ: {listed}; "
            "change only the number of epochs, or start a new training"
        )
    return type(saved).from_dict({**old, "epochs": new["epochs"]})


def continue_into(resume: str | Path, out_dir: str | Path | None) -> Path:
    """The folder a run continuing ``resume`` writes: ``resume`` itself when ``out_dir`` is ``None``.

    Into another folder the best weights and config of ``resume`` are copied first, so
    that the new folder loads even when the continued run never beats the best
    validation loss; ``resume`` itself is then left unchanged.
    """
    resume = Path(resume)
    if out_dir is None or Path(out_dir).resolve() == resume.resolve():
        return resume
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_NAME, WEIGHT_FILES["best"]):
        shutil.copy2(resume / name, out_dir / name)
    return out_dir


def has_training_state(folder: str | Path | None) -> bool:
    """Whether the model folder ``folder`` can be continued (it holds a training state)."""
    return folder is not None and (Path(folder) / TRAINING_STATE_FILE).is_file()
