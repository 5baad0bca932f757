r"""Blockwise prediction of OME-Zarr images larger than memory on a dask cluster: throughput, speed-up, memory per worker.

A synthetic OME-Zarr mosaic is made of the noisy DSB nuclei sample (sigma 20), flipped
tile by tile up to the asked size (2D: ``--sizes`` pixels square; 3D: ``--volume`` Z Y X
of stardist's 3D nuclei sample, mirrored the same way). Small seeded models are trained
on the samples first (N2V and a 3-class U-Net, depth 2, 8 / 16 filters; their quality
is not what is measured). Each run is ``predict_zarr`` into a fresh OME-Zarr on a
LocalCluster with 1 or 2 worker processes (``--workers``), 1 dask thread each and the
machine's cores shared between them for torch. Reported per run: megapixels per second,
speed-up over one worker, and the peak resident memory of each worker process (its
``ru_maxrss``). Memory stays bounded when a 4x larger input needs about as much per
worker: blocks are read, predicted and written one at a time.

    OMP_NUM_THREADS=2 python benchmarks/scale_out.py --sizes 8192 16384 --workers 1 2 \
        --volume 64 1024 1024 --out results/scale_out.md
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import provenance_line, write_report

MB = 1024**2


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mosaic(tile: np.ndarray, shape: tuple[int, ...], chunks: int):
    """A lazy dask mosaic of ``shape`` made of ``tile`` flipped alternately along each axis (no seams of the tile's edge)."""
    import dask.array as da

    reps = [-(-s // t) for s, t in zip(shape, tile.shape)]
    flips = {}
    rows = []
    for index in np.ndindex(*reps):
        key = tuple(i % 2 for i in index)
        if key not in flips:
            flipped = tile[tuple(slice(None, None, -1) if k else slice(None) for k in key)]
            flips[key] = da.from_array(np.ascontiguousarray(flipped), chunks=chunks)
        rows.append(flips[key])
    blocks = np.empty(reps, dtype=object)
    for index, piece in zip(np.ndindex(*reps), rows):
        blocks[index] = piece
    return da.block(blocks.tolist())[tuple(slice(0, s) for s in shape)]


def write_input(path: Path, image, chunks: int, axes: str) -> None:
    import zarr
    from ome_zarr.writer import write_image

    write_image(image, zarr.open_group(str(path), mode="w"), axes=axes, scale_factors=[], storage_options={"chunks": (chunks,) * image.ndim})


def train_models(folder: Path, seed: int) -> dict[str, Path]:
    """Small seeded N2V (2D and 3D) and 3-class U-Net models of the samples."""
    from stardist.data import test_image_nuclei_3d

    from denoise2seg.data.samples import noisy_nuclei_2d
    from denoise2seg.n2v import N2VConfig, train_n2v
    from denoise2seg.segmentation import SegmentationConfig, train_segmentation

    noisy, _, mask = noisy_nuclei_2d(20, seed=0)
    paths = {"n2v": folder / "n2v", "n2v3d": folder / "n2v3d", "unet": folder / "unet"}
    for _ in train_n2v(noisy, N2VConfig(patch_size=64, batch_size=8, epochs=1, steps_per_epoch=30, n_filters=8, seed=seed), out_dir=paths["n2v"], device="cpu"):
        pass
    volume = test_image_nuclei_3d().astype(np.float32)
    config_3d = N2VConfig(ndim=3, patch_size=16, batch_size=2, epochs=1, steps_per_epoch=10, n_filters=8, seed=seed)
    for _ in train_n2v(volume, config_3d, out_dir=paths["n2v3d"], device="cpu"):
        pass
    seg = SegmentationConfig(patch_size=64, batch_size=4, epochs=2, steps_per_epoch=20, learning_rate=0.005, n_filters=16, seed=seed)
    for _ in train_segmentation([noisy], [mask], seg, out_dir=paths["unet"], device="cpu"):
        pass
    return paths


def run(model: Path, source: Path, output: Path, kind: str, workers: int, chunks: int) -> dict:
    """One blockwise prediction on a fresh LocalCluster of ``workers``: seconds and each worker's peak RSS (MB)."""
    from denoise2seg.blockwise.cluster import dask_client
    from denoise2seg.blockwise.zarr_prediction import predict_zarr

    with dask_client(workers=workers) as client:
        start = time.perf_counter()
        predict_zarr(model, source, output, output=kind, chunks=chunks, device="cpu", client=client, overwrite=True)
        seconds = time.perf_counter() - start
        peaks = sorted(client.run(_worker_peak_mb).values())
    shutil.rmtree(output)
    return {"seconds": seconds, "peaks": peaks}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384], help="edges of the square 2D mosaics (pixels)")
    parser.add_argument("--volume", type=int, nargs=3, default=[64, 1024, 1024], help="Z Y X of the 3D mosaic (0 0 0: none)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunks", type=int, default=1024, help="block edge in 2D (3D blocks: a quarter of it)")
    parser.add_argument("--segment-sizes", type=int, nargs="*", default=None, help="2D sizes also segmented (default: the smallest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from stardist.data import test_image_nuclei_3d

    from denoise2seg.data.samples import noisy_nuclei_2d

    rows = ["| input | prediction | workers | megapixels | seconds | MP/s | speed-up | peak RSS per worker (MB) |", "|---|---|---|---|---|---|---|---|"]
    segment_sizes = args.segment_sizes if args.segment_sizes is not None else [min(args.sizes)]
    with tempfile.TemporaryDirectory(prefix="scale-out-") as scratch:
        scratch = Path(scratch)
        models = train_models(scratch, args.seed)
        jobs = []
        tile = noisy_nuclei_2d(20, seed=0)[0]
        for size in args.sizes:
            source = scratch / f"mosaic_{size}.zarr"
            write_input(source, mosaic(tile, (size, size), 512), args.chunks, "yx")
            jobs.append((f"{size} x {size}", source, size * size, models["n2v"], "denoised", args.chunks))
            if size in segment_sizes:
                jobs.append((f"{size} x {size}", source, size * size, models["unet"], "labels", args.chunks))
        if min(args.volume) > 0:
            source = scratch / "mosaic_3d.zarr"
            volume = test_image_nuclei_3d().astype(np.float32)
            write_input(source, mosaic(volume, tuple(args.volume), 64), args.chunks // 4, "zyx")
            jobs.append((" x ".join(map(str, args.volume)), source, int(np.prod(args.volume)), models["n2v3d"], "denoised", args.chunks // 4))
        for name, source, pixels, model, kind, chunks in jobs:
            single = None
            for workers in args.workers:
                result = run(model, source, scratch / "out.zarr", kind, workers, chunks)
                if workers == 1:
                    single = result["seconds"]
                mp = pixels / 1e6
                peaks = ", ".join(f"{p:.0f}" for p in result["peaks"])
                speed_up = f"{single / result['seconds']:.2f}" if single else "n/a (no 1-worker run)"
                rows.append(
                    f"| {name} | {'N2V' if kind == 'denoised' else 'U-Net labels'} | {workers} | {mp:.0f} | {result['seconds']:.0f} | "
                    f"{mp / result['seconds']:.2f} | {speed_up} | {peaks} |"
                )
                print(rows[-1], flush=True)
    table = "\n".join(rows) + f"\n\nBlocks of {args.chunks} pixels (3D: {args.chunks // 4}); CPU; seed {args.seed}.\n\n{provenance_line()}"
    write_report(table, args.out)
    return table


if __name__ == "__main__":
    main()
