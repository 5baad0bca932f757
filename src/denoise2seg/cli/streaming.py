"""Predicting many files one at a time: bounded memory, and a file that fails is reported and skipped, not fatal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence


def predict_files(paths: Sequence[Path], targets: Sequence[Path], predict_one: Callable[[int, Path, Path], str]) -> int:
    """Run ``predict_one(index, path, target)`` (it reads, predicts and writes one file and returns a line to print) for each file.

    Only one file is in memory at a time. A file that cannot be read or does not fit the
    model (``ValueError``, ``FileNotFoundError``) is reported on stderr and skipped, and
    the others go on. Returns 0 when every file was written and 1 when some were skipped;
    when none could be written the (first) error is raised, so nothing was done.
    """
    failures: list[tuple[Path, Exception]] = []
    for index, (path, target) in enumerate(zip(paths, targets)):
        try:
            print(predict_one(index, path, target))
        except (ValueError, FileNotFoundError) as err:
            if len(paths) == 1:
                raise
            failures.append((path, err))
            print(f"denoise2seg: skipped {path}: {err}", file=sys.stderr)
    if len(failures) == len(paths):
        raise ValueError(f"none of the {len(paths)} images could be predicted; the first: {failures[0][1]}")
    if failures:
        listed = ", ".join(str(path) for path, _ in failures)
        print(f"denoise2seg: {len(paths) - len(failures)} of {len(paths)} images written; skipped: {listed}", file=sys.stderr)
        return 1
    return 0
