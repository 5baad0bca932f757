"""A tqdm progress bar fed by training events, and what to tell the user when Ctrl-C stops it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from ..io.model_folder import saved_model_time
from ..training import TrainingEvent


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a training; ``last`` is the last event seen (``None`` before the first)."""

    def __init__(self, last: TrainingEvent | None) -> None:
        super().__init__()
        self.last = last


def consume_with_progress(events: Iterable[TrainingEvent], description: str = "training") -> TrainingEvent | None:
    """Run a training generator to the end, showing steps, loss and validation loss.

    Returns the last event. The bar names the phase of a multi-phase workflow. Ctrl-C stops training; the generator is closed, which
    saves the last weights, and :class:`TrainingInterrupted` (a ``KeyboardInterrupt``)
    is raised with the last event seen.
    """
    bar = None
    last = None
    loss = val = None
    try:
        for event in events:
            if bar is None:
                # A continued training starts at its next step, not at 0.
                initial = event.step - 1 if event.kind == "step" else event.step
                bar = tqdm(total=event.total_steps, initial=max(initial, 0), desc=description, unit="step")
            if event.phase and bar.desc != f"{description} ({event.phase})":
                bar.set_description(f"{description} ({event.phase})")
            if event.kind == "step":
                bar.update(event.step - bar.n)
                loss = event.train_loss
            elif event.kind == "epoch":
                val = event.val_loss
            if event.kind in ("step", "epoch") and loss is not None:
                bar.set_postfix(loss=f"{loss:.4g}", val=f"{val:.4g}" if val is not None else "-")
            last = event
    except KeyboardInterrupt as interrupt:
        raise TrainingInterrupted(last) from interrupt
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        if bar is not None:
            bar.close()
    return last


def stop_report(
    last: TrainingEvent | None,
    out_dir: Path,
    saved_before: int | None,
    saved_time: Callable[[Path], int | None] = saved_model_time,
    *,
    resume_command: str | None = None,
) -> str:
    """One true sentence on what a training stopped by Ctrl-C left in ``out_dir``.

    ``last`` is the last event seen; ``saved_before`` is ``saved_time(out_dir)`` taken
    before the training started, so a model left from an earlier run is not taken for
    this one's. ``saved_time`` says when the model a user loads from ``out_dir`` was saved
    (default :func:`~denoise2seg.io.model_folder.saved_model_time`). ``resume_command``
    (``"denoise2seg n2v train"``, say) is named with ``--resume`` when a model was saved.
    """
    steps = last.step if last is not None else 0
    done = f"after {steps} of {last.total_steps} steps" if steps else "before the first step"
    saved_now = saved_time(out_dir)
    if saved_now is not None and saved_now != saved_before:
        return (
            f"training stopped {done}; the model is in {out_dir}: the weights it loads by default are those "
            f"of the best validation loss so far (the last ones if it stopped before the first validation), "
            f"and the last weights, after {steps} steps, are kept beside them"
            + (f"; '{resume_command} ... --resume {out_dir}' continues the training from there" if resume_command else "")
        )
    previous = " (it still holds the model that was there before)" if saved_before is not None else ""
    return f"training stopped {done}, before a model was saved: no model from this run is in {out_dir}{previous}"


def train_into(
    events: Iterable[TrainingEvent],
    out_dir: Path,
    description: str,
    saved_before: int | None,
    saved_time: Callable[[Path], int | None] = saved_model_time,
    *,
    resume_command: str | None = None,
) -> int:
    """Run a training command's events with a progress bar; the exit code (0, or 130 after Ctrl-C).

    Prints where the model went and its best validation loss, or, after Ctrl-C, what was
    really saved (:func:`stop_report`; ``saved_before`` and ``resume_command`` as there).
    """
    try:
        last = consume_with_progress(events, description=description)
    except TrainingInterrupted as stop:
        print(stop_report(stop.last, out_dir, saved_before, saved_time, resume_command=resume_command), file=sys.stderr)
        return 130
    best = f"{last.val_loss:.4g}" if last is not None and last.val_loss is not None else "n/a"
    print(f"model written to {out_dir} (best validation loss {best})")
    return 0
