"""Reusable Qt pieces for training widgets: live loss plot, progress/Train/Stop panel, thread-worker runner.

Every training widget of the plugin follows the same pattern::

    panel = TrainingPanel("Train")
    panel.train_button.clicked.connect(self._on_train)
    ...
    def _on_train(self):
        try:
            images = ...                      # read and check the chosen layers here
        except ValueError as err:
            show_error(f"N2V: {err}")         # bad choice: say so, change nothing
            return
        panel.run(
            lambda: train_n2v(images, config, out_dir=folder, preview_image=images[0], preview_every=10),
            on_event=self._on_event,          # GUI thread, once per TrainingEvent
            on_finished=self._on_finished,    # GUI thread, after done, Stop or error
            title="N2V training",
            disable=[self.layer_combo],       # disabled while the run lasts
        )

The generator factory is called inside the worker thread, so that reading data,
normalisation and network construction never block the viewer. Each event is handed to
the GUI thread through napari's ``thread_worker`` ``yielded`` signal; the panel updates
its own progress bar and loss plot and then calls ``on_event``. Stop sets a
``threading.Event`` that the worker checks after every event; it then closes the
training generator, whose ``finally`` block (``denoise2seg.training.run_training``)
saves the last weights, so a stopped run ends within one optimiser step and its model
folder loads. Errors raised by the generator reach the user as a napari error
notification that names the run, and the buttons are enabled again.
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Iterable, Iterator

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, NullFormatter
from napari.qt.threading import GeneratorWorker, thread_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..training import TrainingEvent
from ..training.device import release_device_memory

EventFactory = Callable[[], Iterable[TrainingEvent]]

# Redrawing a matplotlib canvas takes ~10-30 ms; coalescing redraws keeps the event loop free.
REDRAW_INTERVAL_MS = 250


class LossPlot(QWidget):
    """Live loss curves: training loss per step (exponentially smoothed) and validation loss per epoch.

    Parameters
    ----------
    smoothing : float
        Weight of the running average for the training curve, in [0, 1); 0 plots the
        raw per-step losses. The raw values are kept in :attr:`train_steps` /
        :attr:`train_losses`.
    log_scale : bool
        Plot losses on a logarithmic axis (losses of different methods span decades).

    Feed it with :meth:`add_event` (``"step"`` events carry ``train_loss``, ``"epoch"``
    events ``val_loss``; other kinds are ignored) and reset it with :meth:`clear`.

    Redrawing a matplotlib figure costs 50-500 ms of GUI-thread time on a busy CPU,
    enough to make the viewer stutter, so updates are coalesced (at most one every
    ``REDRAW_INTERVAL_MS``) and blitted: the x axis spans the run's ``total_steps`` from
    the first event and the y axis is widened only when a loss leaves it, so most
    updates only redraw the two lines onto a cached background.
    """

    def __init__(self, parent: QWidget | None = None, *, smoothing: float = 0.9, log_scale: bool = True) -> None:
        super().__init__(parent)
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = smoothing
        self.log_scale = log_scale
        self.figure = Figure(figsize=(3.2, 2.0), dpi=80)
        self.figure.subplots_adjust(left=0.2, right=0.97, bottom=0.2, top=0.95)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(150)
        self.axes = self.figure.add_subplot(111)
        self.axes.set_xlabel("step", fontsize=8)
        self.axes.set_ylabel("loss", fontsize=8)
        self.axes.tick_params(labelsize=7)
        (self.train_line,) = self.axes.plot([], [], color="tab:blue", lw=1.2, label="train (smoothed)", animated=True)
        (self.val_line,) = self.axes.plot([], [], "o-", color="tab:orange", ms=3, lw=1.2, label="validation", animated=True)
        self.axes.legend(handles=[self.train_line, self.val_line], fontsize=7, loc="upper right")
        self._background = None
        self.canvas.mpl_connect("draw_event", self._on_draw)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw)
        self.clear()

    def clear(self) -> None:
        """Forget all losses and draw empty axes."""
        self.train_steps: list[int] = []
        self.train_losses: list[float] = []
        self.smoothed_losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.total_steps = 0
        self.axes.set_yscale("linear")
        self.axes.set_xlim(0, 1)
        self.axes.set_ylim(0, 1)
        self.train_line.set_data([], [])
        self.val_line.set_data([], [])
        self.canvas.draw_idle()

    def continue_run(self) -> None:
        """Keep the curves for a run that continues them; the x axis then spans that run's steps from its first event."""
        self.total_steps = 0
        self.axes.set_xlim(0, 1)

    def add_event(self, event: TrainingEvent) -> None:
        """Record the loss carried by ``event`` and schedule a redraw."""
        if event.kind == "step" and event.train_loss is not None:
            previous = self.smoothed_losses[-1] if self.smoothed_losses else event.train_loss
            self.train_steps.append(event.step)
            self.train_losses.append(event.train_loss)
            self.smoothed_losses.append(self.smoothing * previous + (1 - self.smoothing) * event.train_loss)
        elif event.kind == "epoch" and event.val_loss is not None:
            self.val_steps.append(event.step)
            self.val_losses.append(event.val_loss)
        else:
            return
        self.total_steps = max(self.total_steps, event.total_steps, event.step)
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        """Show the recorded losses now (called by the coalescing timer; call it to force an update)."""
        self._timer.stop()
        self.train_line.set_data(self.train_steps, self.smoothed_losses)
        self.val_line.set_data(self.val_steps, self.val_losses)
        if self._axes_need_rescale():
            self._rescale_axes()
            self.canvas.draw_idle()
        elif self._background is not None:
            self.canvas.restore_region(self._background)
            self.axes.draw_artist(self.train_line)
            self.axes.draw_artist(self.val_line)
            self.canvas.blit(self.axes.bbox)
        else:
            self.canvas.draw_idle()

    def _values(self) -> list[float]:
        return [v for v in self.smoothed_losses + self.val_losses if math.isfinite(v)]

    def _use_log(self) -> bool:
        values = self._values()
        return self.log_scale and bool(values) and min(values) > 0

    def _axes_need_rescale(self) -> bool:
        values = self._values()
        if not values:
            return False
        low, high = self.axes.get_ylim()
        wrong_scale = (self.axes.get_yscale() == "log") != self._use_log()
        return wrong_scale or self.axes.get_xlim()[1] < self.total_steps or min(values) < low or max(values) > high

    def _rescale_axes(self) -> None:
        values = self._values()
        low, high = min(values), max(values)
        self.axes.set_xlim(0, max(self.total_steps, 1))
        if self._use_log():
            # A decade of head room below: losses fall, and each rescale costs a full redraw.
            self.axes.set_yscale("log")
            # Plain tick labels: the default ones go through matplotlib's mathtext parser,
            # up to a second of GUI-thread time on a busy machine.
            self.axes.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            self.axes.yaxis.set_minor_formatter(NullFormatter())
            self.axes.set_ylim(low / 10, high * 1.5)
        else:
            self.axes.set_yscale("linear")
            span = max(high - low, abs(high) * 0.1, 1e-6)
            self.axes.set_ylim(low - span, high + 0.2 * span)

    def _on_draw(self, _event) -> None:
        # After each full draw: cache the background (axes without the animated lines), then draw the lines.
        self._background = self.canvas.copy_from_bbox(self.axes.bbox)
        self.axes.draw_artist(self.train_line)
        self.axes.draw_artist(self.val_line)


def _consume(factory: EventFactory, stop: threading.Event) -> Iterator[TrainingEvent]:
    """Yield the events of ``factory()`` until it ends or ``stop`` is set, then close it.

    Closing the training generator runs its ``finally`` block, which saves the last
    weights; this happens in the worker thread, before ``finished`` is emitted.
    """
    events = iter(factory())
    try:
        for event in events:
            yield event
            if stop.is_set():
                break
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


class TrainingRunner:
    """Run a training-event generator in a napari thread worker and route its events to the GUI thread.

    Parameters
    ----------
    on_event : callable, optional
        Called on the GUI thread with every :class:`TrainingEvent`.
    on_finished : callable, optional
        Called on the GUI thread without arguments once the worker ended (done,
        stopped or failed).
    title : str
        Name of the run used in error messages ("<title> failed: <error>").

    :attr:`last_event` is the most recent event, :attr:`error` the exception that
    ended the last run (``None`` when it ended normally), :attr:`stopped` whether Stop
    was pressed.
    """

    def __init__(
        self,
        on_event: Callable[[TrainingEvent], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        *,
        title: str = "Training",
    ) -> None:
        self.on_event = on_event
        self.on_finished = on_finished
        self.title = title
        self.worker: GeneratorWorker | None = None
        self.last_event: TrainingEvent | None = None
        self.error: BaseException | None = None
        self.stopped = False
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the worker has finished."""
        return self.worker is not None

    def start(self, factory: EventFactory) -> GeneratorWorker:
        """Start a worker thread that iterates ``factory()``; refuse when one is running."""
        if self.running:
            raise RuntimeError(f"{self.title} is already running; stop it first")
        self._stop = threading.Event()
        self.stopped = False
        self.error = None
        self.last_event = None
        # ignore_errors: our errored handler shows the error; the default would re-raise it in the event loop.
        worker = thread_worker(_consume, start_thread=False, ignore_errors=True)(factory, self._stop)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        return worker

    def stop(self) -> None:
        """Ask the worker to end after the current event (within one training step)."""
        if self.running:
            self.stopped = True
            self._stop.set()

    def _on_yielded(self, event: TrainingEvent) -> None:
        self.last_event = event
        if self.on_event is not None:
            self.on_event(event)

    def _on_errored(self, error: BaseException) -> None:
        self.error = error
        show_error(f"{self.title} failed: {error}")

    def _on_finished(self) -> None:
        self.worker = None
        # The run's network and batches are unreferenced now; hand their GPU memory back.
        release_device_memory()
        if self.on_finished is not None:
            self.on_finished()


class TrainingPanel(QWidget):
    """Train / Stop buttons, a progress bar, a status line and a :class:`LossPlot`, driving a :class:`TrainingRunner`.

    The owning widget connects :attr:`train_button` to its own handler, which checks
    its inputs and calls :meth:`run`. While a run lasts the Train button and the
    widgets passed as ``disable`` are disabled and Stop is enabled; all are restored
    when the worker finishes, whatever the outcome.

    With ``continue_text`` the panel has a :attr:`continue_button` too, beside Train,
    which the owner connects and enables (when there is a run to continue); a continued
    run is started with ``run(..., keep_plot=True)`` so that its losses extend the curve.

    Attributes
    ----------
    train_button, stop_button : QPushButton
    continue_button : QPushButton or None
    progress : QProgressBar
        Steps done out of ``total_steps``.
    status : QLabel
        Epoch, step, last losses; "stopped", "failed" or "done" at the end.
    plot : LossPlot
    runner : TrainingRunner
    """

    def __init__(
        self, train_text: str = "Train", parent: QWidget | None = None, *, title: str = "Training", continue_text: str | None = None
    ) -> None:
        super().__init__(parent)
        self.train_button = QPushButton(train_text)
        self.continue_button = QPushButton(continue_text) if continue_text else None
        if self.continue_button is not None:
            self.continue_button.setEnabled(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.runner = TrainingRunner(self._on_event, self._on_finished, title=title)
        self._on_event_callback: Callable[[TrainingEvent], None] | None = None
        self._on_finished_callback: Callable[[], None] | None = None
        self._disabled: list[QWidget] = []
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        if self.continue_button is not None:
            buttons.addWidget(self.continue_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)

    @property
    def running(self) -> bool:
        return self.runner.running

    def run(
        self,
        factory: EventFactory,
        *,
        on_event: Callable[[TrainingEvent], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        title: str | None = None,
        disable: Iterable[QWidget] = (),
        keep_plot: bool = False,
    ) -> GeneratorWorker:
        """Clear the plot (unless ``keep_plot``) and progress, disable the controls and start ``factory()`` in a worker.

        ``on_event`` runs on the GUI thread for every event, after the panel's own
        progress/plot update; ``on_finished`` after the worker ended (check
        :attr:`runner.error <TrainingRunner.error>` and
        :attr:`runner.stopped <TrainingRunner.stopped>` for the outcome).
        """
        if title is not None:
            self.runner.title = title
        self._on_event_callback = on_event
        self._on_finished_callback = on_finished
        if keep_plot:
            self.plot.continue_run()
        else:
            self.plot.clear()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("starting...")
        self._disabled = [self.train_button, *([self.continue_button] if self.continue_button is not None else []), *disable]
        for widget in self._disabled:
            widget.setEnabled(False)
        self.stop_button.setEnabled(True)
        return self.runner.start(factory)

    def stop(self) -> None:
        """Stop the running training after its current step; the model folder keeps the weights."""
        if self.runner.running:
            self.status.setText("stopping after this step...")
            self.stop_button.setEnabled(False)
            self.runner.stop()

    def _on_event(self, event: TrainingEvent) -> None:
        if event.total_steps > 0:
            self.progress.setRange(0, event.total_steps)
            self.progress.setValue(min(event.step, event.total_steps))
        self.plot.add_event(event)
        if event.kind in ("step", "epoch"):
            self.status.setText(self._describe(event))
        if self._on_event_callback is not None:
            self._on_event_callback(event)

    def _describe(self, event: TrainingEvent) -> str:
        text = f"{event.phase}: " if event.phase else ""
        text += f"epoch {event.epoch}, step {event.step}/{event.total_steps}"
        if self.plot.smoothed_losses:
            text += f", train loss {self.plot.smoothed_losses[-1]:.4g}"
        if self.plot.val_losses:
            text += f", val loss {self.plot.val_losses[-1]:.4g}"
        return text

    def _on_finished(self) -> None:
        for widget in self._disabled:
            widget.setEnabled(True)
        self._disabled = []
        self.stop_button.setEnabled(False)
        self.plot.redraw()
        if self.runner.error is not None:
            self.status.setText(f"failed: {self.runner.error}")
        elif self.runner.stopped:
            self.status.setText(f"stopped at step {self.runner.last_event.step if self.runner.last_event else 0}")
        else:
            self.status.setText("done")
        if self._on_finished_callback is not None:
            self._on_finished_callback()
