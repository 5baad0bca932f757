"""Write a blockwise prediction into a zarr array block by block, so that a stopped run resumes where it was.

Each block is computed and written by the worker that runs it (the output must be on a
file system the workers share), then marked done by a small file in the output's
``.denoise2seg-progress`` folder, next to the settings that produced it. A resumed run with
the same settings skips the blocks marked done; other settings are refused, so that a
result is never a mix of two runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

PROGRESS_FOLDER = ".denoise2seg-progress"
SETTINGS_FILE = "settings.json"


def progress_folder(output: str | Path) -> Path:
    return Path(output) / PROGRESS_FOLDER


def _marker(folder: Path, index: tuple[int, ...]) -> Path:
    return folder / ("_".join(map(str, index)) + ".done")


def block_slices(result) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """Each block of the dask array ``result``: its index in the block grid and where it lies in the array."""
    starts = [np.cumsum((0,) + c[:-1]) for c in result.chunks]
    for index in np.ndindex(*result.numblocks):
        yield index, tuple(slice(int(s[i]), int(s[i]) + c[i]) for s, i, c in zip(starts, index, result.chunks))


def _write_block(values: np.ndarray, array_path: str, where: tuple[slice, ...], marker: str) -> int:
    """Write one block into the zarr array at ``array_path`` and mark it done; the number of pixels written."""
    import zarr

    zarr.open_array(array_path, mode="r+")[where] = values
    Path(marker).touch()
    return int(np.size(values))


def start_or_resume(output: str | Path, settings: dict, *, resume: bool) -> bool:
    """Check the progress of ``output``; ``True`` when its run is to be continued, ``False`` for a new one.

    A new run records ``settings``; ``resume`` continues an output whose recorded settings
    equal ``settings`` and raises ``ValueError`` for one made otherwise or never begun.
    """
    folder = progress_folder(output)
    recorded = folder / SETTINGS_FILE
    if not resume:
        return False
    if not recorded.is_file():
        raise ValueError(
            f"{output} holds no stopped run to continue (it is complete, or not an output of a blockwise prediction); "
            "use it as it is, or pass --overwrite to make it again"
        )
    before = json.loads(recorded.read_text())
    if before != settings:
        changed = sorted(key for key in set(before) | set(settings) if before.get(key) != settings.get(key))
        listed = ", ".join(f"{key} {before.get(key)!r}, now {settings.get(key)!r}" for key in changed)
        raise ValueError(f"{output} was made with other settings ({listed}); continue it with the same ones, or pass --overwrite")
    return True


def record_settings(output: str | Path, settings: dict) -> None:
    folder = progress_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True))


def store_blocks(result, array_path: str, output: str | Path, *, client=None, show_progress: bool = False) -> tuple[int, int]:
    """Compute ``result`` (a dask array whose chunks are the zarr array's) block by block into ``array_path``.

    Blocks marked done in ``output``'s progress folder are skipped. With a
    ``distributed`` ``client`` the blocks run on its workers (``show_progress``: the
    scheduler's progress bar); otherwise on this process's threads. Returns
    ``(blocks written, blocks skipped)``.
    """
    import dask

    folder = progress_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    write = dask.delayed(_write_block, pure=False)
    tasks, skipped = [], 0
    for index, where in block_slices(result):
        marker = _marker(folder, index)
        if marker.exists():
            skipped += 1
            continue
        tasks.append(write(result.blocks[index], array_path, where, str(marker)))
    if client is not None:
        futures = client.compute(tasks)
        if show_progress:
            from distributed import progress

            progress(futures)
        client.gather(futures)
    elif show_progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            dask.compute(*tasks)
    else:
        dask.compute(*tasks)
    return len(tasks), skipped


def blocks_into(result, path: str | Path) -> Iterator[int]:
    """Compute ``result`` block by block (on this process's threads) into a new zarr array at ``path``; yield the blocks done.

    For a caller that shows progress and may stop (closing the generator stops after
    the current block); the array's chunks are ``result``'s blocks.
    """
    import zarr

    array = zarr.open_array(
        str(path), mode="w", shape=result.shape, chunks=tuple(c[0] for c in result.chunks), dtype=result.dtype
    )
    for done, (index, where) in enumerate(block_slices(result), start=1):
        array[where] = np.asarray(result.blocks[index].compute(scheduler="threads"))
        yield done
