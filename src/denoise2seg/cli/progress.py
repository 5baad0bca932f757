"""A tqdm progress bar fed by training events."""

from __future__ import annotations

from typing import Iterable

from tqdm import tqdm

from ..training import TrainingEvent


def consume_with_progress(events: Iterable[TrainingEvent], description: str = "training") -> TrainingEvent | None:
    """Run a training generator to the end, showing steps, loss and validation loss.

    Returns the last event. Ctrl-C stops training; the generator is closed, which
    saves the last weights, and the interruption is re-raised.
    """
    bar = None
    last = None
    val = None
    try:
        for event in events:
            if bar is None:
                bar = tqdm(total=event.total_steps, desc=description, unit="step")
            if event.kind == "step":
                bar.update(event.step - bar.n)
                bar.set_postfix(loss=f"{event.train_loss:.4g}", val=f"{val:.4g}" if val is not None else "-")
            elif event.kind == "epoch":
                val = event.val_loss
            last = event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        if bar is not None:
            bar.close()
    return last
