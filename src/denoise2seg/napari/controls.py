"""Small form controls shared by the plugin's widgets."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox, QSpinBox

DEVICES = ("auto", "cuda", "cpu")


def spin_box(value: int, low: int, high: int, step: int = 1) -> QSpinBox:
    """An integer spin box limited to ``[low, high]`` showing ``value``."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def device_combo() -> QComboBox:
    """A choice of compute device: ``auto`` (CUDA, then MPS, then CPU), ``cuda`` or ``cpu``."""
    combo = QComboBox()
    combo.addItems(DEVICES)
    return combo
