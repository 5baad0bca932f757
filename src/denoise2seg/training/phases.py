"""Workflows of several trainings as one event generator: phases run in turn, steps counted over the run.

A phase is a training generator made only when the phases before it have finished (it
may read their model folders). Closing the workflow generator closes the running
phase's generator, whose loop saves that phase's last weights; the folders of the
phases that finished before stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from .events import TrainingEvent


@dataclass
class Phase:
    """One training of a workflow.

    ``label`` is shown to the user ("pretext", "Dice finetuning", ...); ``total_steps``
    is the number of optimiser steps the phase plans (known before it starts, so that
    progress spans the whole run); ``start()`` returns its training-event generator.
    """

    label: str
    total_steps: int
    start: Callable[[], Iterable[TrainingEvent]]


def relay(
    events: Iterable[TrainingEvent],
    *,
    offset: int,
    total: int,
    phase: str,
    event_type: type[TrainingEvent] = TrainingEvent,
    **fields,
) -> Iterator[TrainingEvent]:
    """Re-emit one phase's events as ``event_type`` with run-wide ``step``/``total_steps`` and its ``phase`` label.

    The phase's own ``"done"`` event is left out (the workflow has one at its end);
    ``fields`` are further attributes of ``event_type``. Closing this generator closes
    ``events``, so a stop reaches the phase's training loop.
    """
    events = iter(events)
    try:
        for event in events:
            if event.kind != "done":
                yield event_type(**{**vars(event), "step": offset + event.step, "total_steps": total, "phase": phase, **fields})
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def run_phases(phases: Sequence[Phase]) -> Iterator[TrainingEvent]:
    """Run ``phases`` one after the other as one stream of events, then yield one ``"done"`` event.

    Steps count over all phases (phase ``k`` starts at the sum of the planned steps of the
    phases before it), so one progress bar covers the run.
    """
    if not phases:
        raise ValueError("a workflow needs at least one phase")
    total = sum(phase.total_steps for phase in phases)
    offset = 0
    last: TrainingEvent | None = None
    for phase in phases:
        for event in relay(phase.start(), offset=offset, total=total, phase=phase.label):
            last = event
            yield event
        offset += phase.total_steps
    yield TrainingEvent("done", total, total, last.epoch if last else 0, phase=phases[-1].label)
