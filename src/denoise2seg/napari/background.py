"""One-off computations (apply a model, load a result) in a napari thread worker, so the viewer never waits."""

from __future__ import annotations

from typing import Any, Callable

from napari.qt.threading import FunctionWorker, thread_worker
from napari.utils.notifications import show_error

from ..training.device import release_device_memory
from qtpy.QtWidgets import QWidget


def start_worker(
    function: Callable[..., Any],
    *args,
    on_returned: Callable[[Any], None],
    title: str,
    busy: QWidget | None = None,
) -> FunctionWorker:
    """Run ``function(*args)`` in a worker thread; ``on_returned(result)`` runs on the GUI thread.

    An exception reaches the user as a napari error notification "<title> failed: <error>".
    ``busy`` (the button that started the work) is disabled until the worker ends. The
    worker stays referenced by napari's threading while it runs; when it ends, the GPU
    memory it used is released (:func:`~denoise2seg.training.device.release_device_memory`).
    """
    worker = thread_worker(function, start_thread=False, ignore_errors=True)(*args)
    worker.returned.connect(on_returned)
    worker.finished.connect(release_device_memory)
    worker.errored.connect(lambda error: show_error(f"{title} failed: {error}"))
    if busy is not None:
        busy.setEnabled(False)
        worker.finished.connect(lambda: _enable(busy))
    worker.start()
    return worker


def _enable(button: QWidget) -> None:
    try:
        button.setEnabled(True)
    except RuntimeError:
        # The widget was closed (its Qt object deleted) while the worker ran: nothing to enable.
        pass
