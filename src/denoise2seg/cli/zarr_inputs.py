"""Zarr / OME-Zarr inputs of ``n2v predict`` and ``seg predict``: blockwise, on a dask cluster, into OME-Zarr outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..blockwise.cluster import dask_client
from ..blockwise.predict import DEFAULT_MARGIN
from ..blockwise.zarr_prediction import predict_zarr
from ..io.ome_zarr import is_zarr
from ..io.outputs import unique_output_paths


def positive_count(text: str) -> int:
    """``--workers``: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"the local cluster needs at least 1 worker, got {text}")
    return value


def split_inputs(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """``(zarr stores, other files)`` among ``paths``, in their order."""
    return [p for p in paths if is_zarr(p)], [p for p in paths if not is_zarr(p)]


def predict_stores_first(args: argparse.Namespace, *, output: str, suffix: str) -> int | None:
    """Predict the zarr inputs among ``args.images`` and leave only the files there.

    Returns the exit code to end the command with (no files left, some stores skipped, or
    Ctrl-C), or ``None`` when the files are to be predicted next.
    """
    stores, files = split_inputs(args.images)
    args.images = files
    code = predict_zarr_inputs(args, stores, output=output, suffix=suffix) if stores else 0
    return code if code or not files else None


def add_blockwise_options(parser: argparse.ArgumentParser, *, labels: bool) -> None:
    """The options of zarr inputs: level, block size, cluster, resume (and the labels' margin)."""
    group = parser.add_argument_group(
        "zarr and OME-Zarr inputs",
        "A .zarr input is predicted block by block on a dask cluster and written as OME-Zarr "
        "(<name>_n2v.zarr, or the labels group of <name>_labels.zarr) with the input's pixel size.",
    )
    group.add_argument("--level", type=int, default=0, help="resolution level of an OME-Zarr input (default 0: full resolution)")
    group.add_argument("--chunks", type=int, default=None, help="block edge in pixels (default 1024 in 2D, 128 in 3D)")
    group.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="address of a running dask scheduler (a Slurm or Kubernetes cluster, say); default: a local cluster",
    )
    group.add_argument(
        "--workers", type=positive_count, default=None, help="workers of the local cluster (default: one per GPU, else one per 4 cores)"
    )
    group.add_argument("--resume", action="store_true", help="continue a stopped run into the same output, skipping finished blocks")
    if labels:
        group.add_argument(
            "--margin", type=int, default=DEFAULT_MARGIN,
            help="context in pixels around each block for instance labels; larger than the objects (default %(default)s)",
        )


def predict_zarr_inputs(args: argparse.Namespace, paths: list[Path], *, output: str, suffix: str) -> int:
    """Predict each zarr input of ``paths`` into ``args.out/<name><suffix>.zarr``, after checking every output first.

    An input that cannot be read or does not fit the model is reported and skipped (as
    files are, :mod:`.streaming`). Returns 0, 1 when some were skipped, or 130 after
    Ctrl-C, saying which output to continue with ``--resume``.
    """
    targets = unique_output_paths(paths, args.out, suffix=suffix, extension=".zarr")
    for target in targets:
        if target.exists() and not (args.overwrite or args.resume):
            raise ValueError(f"{target} already exists; pass --overwrite to replace it, or --resume to continue it")
    args.out.mkdir(parents=True, exist_ok=True)
    current = targets[0]
    failures = []
    try:
        with dask_client(args.scheduler, args.workers) as client:
            for path, target in zip(paths, targets):
                current = target
                try:
                    written, skipped = predict_zarr(
                        args.model, path, target, output=output, level=args.level, chunks=args.chunks,
                        margin=getattr(args, "margin", DEFAULT_MARGIN), device=args.device, client=client,
                        resume=args.resume and target.exists(), overwrite=args.overwrite, show_progress=True,
                    )
                except ValueError as err:
                    if len(paths) == 1:
                        raise
                    failures.append(path)
                    print(f"denoise2seg: skipped {path}: {err}", file=sys.stderr)
                    continue
                blocks = f"{written} block{'s' * (written != 1)} written"
                print(f"\n{path} -> {target} ({blocks}" + (f", {skipped} done before)" if skipped else ")"))
    except KeyboardInterrupt:
        print(
            f"\ndenoise2seg: stopped; the blocks finished so far are kept in {current}: run the same command with --resume "
            "to continue it",
            file=sys.stderr,
        )
        return 130
    if len(failures) == len(paths):
        raise ValueError(f"none of the {len(paths)} zarr inputs could be predicted")
    return 1 if failures else 0
