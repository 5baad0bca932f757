"""The one training loop (an event generator), workflows of several trainings, device choice and schedules."""

from . import fast_paths
from .device import choose_device
from .events import TrainingEvent
from .loop import Schedule, TrainingTask, run_training
from .phases import Phase, relay, run_phases

__all__ = ["Phase", "Schedule", "TrainingEvent", "TrainingTask", "choose_device", "fast_paths", "relay", "run_phases", "run_training"]
