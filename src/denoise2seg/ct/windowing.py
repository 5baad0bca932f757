"""CT display windows: map Hounsfield units to [0, 1] for display and network input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A CT window: HU ``level - width/2`` maps to 0 and ``level + width/2`` to 1.

    The lung window (level -600 HU, width 1500 HU) is the usual reading window for
    COVID-19 pneumonia lesions (ground-glass opacity and consolidation lie between the
    aerated lung near -850 HU and soft tissue near +50 HU).
    """

    level: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"window width must be > 0 HU, got {self.width}")

    @property
    def low(self) -> float:
        return self.level - self.width / 2

    @property
    def high(self) -> float:
        return self.level + self.width / 2

    def to_dict(self) -> dict:
        return {"level": self.level, "width": self.width}


LUNG = Window(level=-600.0, width=1500.0)
MEDIASTINUM = Window(level=40.0, width=400.0)
BRAIN = Window(level=40.0, width=80.0)
BONE = Window(level=400.0, width=1800.0)
WINDOWS = {"lung": LUNG, "mediastinum": MEDIASTINUM, "brain": BRAIN, "bone": BONE}


def get_window(window: str | Window | tuple[float, float]) -> Window:
    """A :class:`Window` from a name in :data:`WINDOWS`, a ``(level, width)`` pair or a Window."""
    if isinstance(window, Window):
        return window
    if isinstance(window, str):
        try:
            return WINDOWS[window.lower()]
        except KeyError:
            raise ValueError(f"unknown CT window {window!r}; use one of {sorted(WINDOWS)} or (level, width) in HU") from None
    level, width = window
    return Window(float(level), float(width))


def apply_window(hu: np.ndarray, window: str | Window | tuple[float, float] = LUNG) -> np.ndarray:
    """Map HU to ``[0, 1]`` through ``window`` (values outside the window are clipped); float32, same shape."""
    window = get_window(window)
    scaled = (np.asarray(hu, dtype=np.float32) - np.float32(window.low)) / np.float32(window.width)
    return np.clip(scaled, 0.0, 1.0)


def contrast_limits(window: str | Window | tuple[float, float] = LUNG) -> tuple[float, float]:
    """``(low, high)`` HU of ``window``, for a napari image layer's ``contrast_limits``."""
    window = get_window(window)
    return (window.low, window.high)
