"""StarDist post-processing (NMS, rasterisation, threshold tuning) in a worker process.

stardist's non-maximum suppression is one long C call that holds the GIL, and threshold
tuning runs it (and AP matching) many times; run in a thread of a GUI process, either
freezes the GUI's event loop for seconds. Here they run in one child Python process,
started on first use, reused, and stopped at interpreter exit or by :func:`shutdown`.

The child is a fresh interpreter (``python -c``): not a fork, which is unsafe in a
process running Qt and torch threads, and not multiprocessing's ``spawn``, which would
re-run the caller's script in the child unless its code sits under
``if __name__ == "__main__"``. Jobs and results travel as pickles over the child's
stdin and stdout; the child runs the very functions of :mod:`.star_convex` and
:mod:`.thresholds`, so results are identical to calling them in-process, and the
calling thread waits in a pipe read, without the GIL.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from .star_convex import instances_from_stardist
from .thresholds import optimise_stardist_thresholds

# What the child may run, by name: a job names one of these, never arbitrary code.
_JOBS = {"instances": instances_from_stardist, "thresholds": optimise_stardist_thresholds}
_CHILD_CODE = "from denoise2seg.segmentation.postprocess_process import serve; serve()"
# How long shutdown lets the child finish its current job before killing it, in seconds.
SHUTDOWN_TIMEOUT_S = 30.0


class PostprocessError(RuntimeError):
    """The post-processing process ended (killed, out of memory) before returning a result."""


class _Worker:
    """One child process and the two pipes to it."""

    def __init__(self) -> None:
        # The child imports this very copy of the package, wherever it was imported from.
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root, os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )

    def request(self, job: str, args: tuple) -> tuple[bool, object]:
        """Send one job and read its ``(ok, result or exception)`` reply."""
        try:
            pickle.dump((job, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
            return pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as err:
            raise PostprocessError(
                f"the StarDist post-processing process ended unexpectedly (exit code {self.process.poll()}); "
                "see the messages above, and free memory if it was killed"
            ) from err

    def close(self) -> None:
        """Let the child end after its current job (it exits when its stdin closes)."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process.stdout.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


_worker: _Worker | None = None
_lock = threading.Lock()


def _run(job: str, *args):
    global _worker
    with _lock:
        if _worker is None:
            _worker = _Worker()
        try:
            ok, value = _worker.request(job, args)
        except BaseException:
            # A reply left unread (child gone, or this thread interrupted) would answer the next job.
            _worker.kill()
            _worker = None
            raise
    if not ok:
        raise value
    return value


def shutdown() -> None:
    """Stop the worker process, once its current job is done; the next job starts a new one."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


atexit.register(shutdown)


def stardist_instances(
    prob: np.ndarray,
    dist: np.ndarray,
    prob_thresh: float,
    nms_thresh: float,
    anisotropy: tuple[float, ...] | None = None,
    max_candidates: int | None = None,
) -> np.ndarray:
    """:func:`~.star_convex.instances_from_stardist` in the worker process.

    ``prob`` is the ``(Y, X)`` or ``(Z, Y, X)`` object probability, ``dist`` ``(n_rays,
    *spatial)`` ray lengths in pixels (3D: along the rays of ``anisotropy``); at most
    ``max_candidates`` pixels enter NMS when given. Returns int32 instance labels of
    ``prob``'s shape.
    """
    return _run("instances", prob, dist, prob_thresh, nms_thresh, anisotropy, max_candidates)


def tune_stardist_thresholds(
    outputs: list[np.ndarray], labels: list[np.ndarray], valid: list[np.ndarray], anisotropy: tuple[float, ...] | None = None
) -> dict:
    """:func:`~.thresholds.optimise_stardist_thresholds` in the worker process.

    ``outputs`` are ``(1 + n_rays, *spatial)`` (probability, distances), ``labels`` the
    instance masks and ``valid`` the annotated-region masks. Returns ``{"prob_thresh",
    "nms_thresh", "val_ap"}``.
    """
    return _run("thresholds", outputs, labels, valid, anisotropy)


def serve() -> None:
    """The child's loop: run each ``(job, args)`` read from stdin and write ``(ok, value)`` to stdout.

    Ends when stdin closes. Ctrl+C in a terminal reaches the whole process group; the
    child ignores it and ends with its parent instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Whatever a job prints must not corrupt the replies: from here on stdout is stderr.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while True:
        try:
            job, args = pickle.load(jobs)
        except EOFError:
            return
        try:
            reply = (True, _JOBS[job](*args))
        except Exception as err:
            reply = (False, err)
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()
