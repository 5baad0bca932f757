"""Small form controls shared by the plugin's widgets: number boxes, the device choice, collapsible
advanced settings and a scrolling body, so that every widget fits a 1366x768 laptop screen."""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLayout,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

DEVICES = ("auto", "cuda", "mps", "cpu")


def spin_box(value: int, low: int, high: int, step: int = 1) -> QSpinBox:
    """An integer spin box limited to ``[low, high]`` showing ``value``."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def path_field(placeholder: str) -> QLineEdit:
    """A read-only one-line field for a folder path: it never wraps or clips in a narrow dock, and the path can be copied."""
    field = QLineEdit()
    field.setReadOnly(True)
    field.setPlaceholderText(placeholder)
    field.textChanged.connect(field.setToolTip)
    return field


def seed_box() -> QSpinBox:
    """A random-seed box: "random" (a fresh seed each run, the default) or a seed from 0 to 2**31 - 2, to repeat a run."""
    box = QSpinBox()
    box.setRange(-1, 2**31 - 2)
    box.setSpecialValueText("random")
    box.setValue(-1)
    box.setToolTip(
        "the same seed, data and settings repeat a training on the same device; 'random' draws a new seed, "
        "which the model folder records (config.json) so that run can be repeated too"
    )
    return box


def seed_of(box: QSpinBox) -> int | None:
    """The seed a :func:`seed_box` shows, ``None`` for "random"."""
    return None if box.value() < 0 else box.value()


def learning_rate_box(value: float) -> QDoubleSpinBox:
    """A learning-rate box: six decimals, from 1e-6 to 1, steps of 1e-4."""
    box = QDoubleSpinBox()
    box.setDecimals(6)
    box.setRange(1e-6, 1.0)
    box.setSingleStep(1e-4)
    box.setValue(value)
    return box


def device_combo() -> QComboBox:
    """A choice of compute device: ``auto`` (CUDA, then MPS, then CPU), ``cuda``, ``mps`` or ``cpu``."""
    combo = QComboBox()
    combo.addItems(DEVICES)
    return combo


def add_rows(form: QFormLayout, rows) -> QFormLayout:
    """Add ``rows`` to ``form``: ``(label, control)`` pairs, or a widget or layout spanning the row."""
    for row in rows:
        if isinstance(row, tuple):
            form.addRow(*row)
        else:
            form.addRow(row)
    return form


def dock_layout(widget: QWidget, rows, below=()) -> QVBoxLayout:
    """The body of a dock widget: a form of ``rows`` (see :func:`add_rows`), then the widgets ``below``, scrolling.

    Returns the body's layout.
    """
    layout = scrolling_layout(widget)
    layout.addLayout(add_rows(QFormLayout(), rows))
    for item in below:
        if isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    layout.addStretch()
    return layout


class Collapsible(QWidget):
    """A titled section whose form (:attr:`form`, holding ``rows``) is hidden until its title button is clicked."""

    def __init__(self, rows=(), title: str = "Advanced settings", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setText(title)
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self.set_expanded)
        self.body = QWidget()
        self.form = add_rows(QFormLayout(self.body), rows)
        self.form.setContentsMargins(12, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self.set_expanded(False)

    def set_expanded(self, expanded: bool) -> None:
        """Show or hide the section's settings."""
        self.body.setVisible(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)


class VerticalScrollArea(QScrollArea):
    """A scroll area that scrolls up and down only and is always as wide as its body needs.

    Its minimum width follows the body's (which grows when, say, a layer with a long name
    arrives, or when the body is first polished), so rows are never cut off at the right;
    its height can shrink to a few rows.
    """

    def setWidget(self, body: QWidget) -> None:  # noqa: N802 (Qt naming)
        super().setWidget(body)
        body.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.widget() and event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Show, QEvent.Type.Polish):
            needed = watched.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
            if needed != self.minimumWidth():
                self.setMinimumWidth(needed)
        return super().eventFilter(watched, event)


def scrolling_layout(widget: QWidget) -> QVBoxLayout:
    """Give ``widget`` a scroll area and return the layout of the scrolled body.

    A dock widget taller than the window is scrolled instead of forcing the viewer's
    window to be taller than the screen.
    """
    body = QWidget()
    scroll = VerticalScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    return QVBoxLayout(body)


def notice_missing_extra(layout: QVBoxLayout, message: str | None) -> QLabel | None:
    """Show ``message`` (what to install, see :mod:`denoise2seg.extras`) atop a dock body's ``layout`` and disable the rest.

    The settings stay readable; nothing can start that would fail on the missing
    package. Returns the notice, or ``None`` (and changes nothing) when ``message`` is ``None``.
    """
    if message is None:
        return None
    body = layout.parentWidget()
    for child in body.findChildren(QWidget):
        child.setEnabled(False)
    notice = QLabel(message)
    notice.setWordWrap(True)
    notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    layout.insertWidget(0, notice)
    return notice
