"""The one training loop (an event generator), device choice and optimisation schedules."""

from .device import choose_device
from .events import TrainingEvent
from .loop import Schedule, TrainingTask, run_training

__all__ = ["Schedule", "TrainingEvent", "TrainingTask", "choose_device", "run_training"]
