r"""Peak memory of tiled Noise2Void prediction on large square images.

Each image size runs in a fresh Python process, so that one size's peak resident set
size (``ru_maxrss``, the most memory the process ever held) does not carry into the
next. A process builds a small untrained U-Net (eval mode), makes a float32 uniform
noise image of the size with a fixed seed, and denoises it with ``N2VModel.predict``
by tiles. Prints a markdown table (and writes it to ``--out``):

- image MB / output MB: the float32 input and result (4 bytes per pixel);
- start RSS MB: resident memory after imports and building the network, before the image;
- peak RSS MB: the process's peak resident memory;
- RSS/output: peak RSS over output size;
- added/output: (peak RSS - start RSS) over output size, the prediction's own cost,
  input image included (at best about 2: the input plus the output).

    python benchmarks/predict_memory.py --sizes 2048 4096 8192 --tile 512 --threads 2 \
        --out predict_memory.md
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

MB = 1024**2


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kibibytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(size: int, tile: int, depth: int, n_filters: int, seed: int, threads: int | None) -> dict:
    """Predict one ``size`` x ``size`` image in this process; return sizes (MB) and RSS (MB)."""
    import numpy as np
    import torch

    from denoise2seg.data.normalization import PercentileNormalizer
    from denoise2seg.n2v import N2VConfig, N2VModel
    from denoise2seg.nets import UNet

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    config = N2VConfig(depth=depth, n_filters=n_filters, seed=seed)
    model = N2VModel(UNet(config.unet_spec()).eval(), config, PercentileNormalizer(0.0, 255.0))
    start_rss = _peak_rss_mb()
    # Drawn in float32 and scaled in place: a float64 draw would itself peak at twice the image.
    image = np.random.default_rng(seed).random((size, size), dtype=np.float32)
    image *= 255
    denoised = model.predict(image, tile_shape=(tile, tile))
    if denoised.shape != image.shape or denoised.dtype != np.float32:
        raise RuntimeError(f"prediction returned {denoised.dtype} {denoised.shape} for a float32 {image.shape} image")
    return {
        "size": size,
        "image_mb": image.nbytes / MB,
        "output_mb": denoised.nbytes / MB,
        "start_rss_mb": start_rss,
        "peak_rss_mb": _peak_rss_mb(),
    }


def table(rows: list[dict], tile: int, depth: int, n_filters: int) -> str:
    """The markdown table of :func:`measure` results."""
    lines = [
        f"| size (tiles {tile}, U-Net depth {depth}, {n_filters} filters) | image MB | output MB | start RSS MB "
        "| peak RSS MB | RSS/output | added/output |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        added = row["peak_rss_mb"] - row["start_rss_mb"]
        lines.append(
            f"| {row['size']}x{row['size']} | {row['image_mb']:.0f} | {row['output_mb']:.0f} | {row['start_rss_mb']:.0f} "
            f"| {row['peak_rss_mb']:.0f} | {row['peak_rss_mb'] / row['output_mb']:.2f} | {added / row['output_mb']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192], help="image edges in pixels (default %(default)s)")
    parser.add_argument("--tile", type=int, default=512, help="tile edge in pixels (default %(default)s)")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--n-filters", type=int, default=8, help="initial feature maps of the small U-Net (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--measure-one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = (args.tile, args.depth, args.n_filters, args.seed, args.threads)
    if args.measure_one is not None:
        print(json.dumps(measure(args.measure_one, *settings)))
        return ""
    rows = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--measure-one", str(size), "--tile", str(args.tile)]
        command += ["--depth", str(args.depth), "--n-filters", str(args.n_filters), "--seed", str(args.seed)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    report = table(rows, args.tile, args.depth, args.n_filters)
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")
    return report


if __name__ == "__main__":
    main()
