"""Noise2Void speed: training throughput (patches/s) and tiled prediction throughput (megapixels/s).

Training is timed through the real training path (``train_n2v``: patch sampling,
augmentation and blind-spot masking on the device, forward, backward, Adam step; bf16
autocast on CUDA and on a CPU with AMX, channels-last on a CPU), skipping warm-up steps.
Prediction is ``N2VModel.predict`` on a square image by overlapping tiles. Prints a markdown table (and writes it to ``--out``).

    python benchmarks/n2v_speed.py --device cpu
    python benchmarks/n2v_speed.py --device cuda --steps 50 --image-size 4096
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from denoise2seg.data.normalization import PercentileNormalizer
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.nets import UNet
from denoise2seg.training import choose_device


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(config: N2VConfig, device: torch.device, warmup: int) -> float:
    """Patches per second over the steps after ``warmup``, on a 1024x1024 noise image."""
    image = np.random.default_rng(0).normal(100, 20, (1024, 1024)).astype(np.float32)
    start = end = None
    for event in train_n2v(image, config, device=device):
        if event.kind != "step":
            continue
        if event.step == warmup:
            _synchronize(device)
            start = time.perf_counter()
        # The step event's loss.item() has already synchronised; the validation after
        # the last step is not counted.
        end = time.perf_counter()
    elapsed = end - start if start is not None else float("nan")
    measured = config.steps_per_epoch - warmup
    return measured * config.batch_size / elapsed


def prediction_throughput(config: N2VConfig, device: torch.device, image_size: int, tile: int, repeats: int) -> float:
    """Megapixels per second of tiled prediction (best of ``repeats`` after one warm-up)."""
    net = UNet(config.unet_spec()).to(device).eval()
    model = N2VModel(net, config, PercentileNormalizer(0.0, 255.0))
    image = np.random.default_rng(1).uniform(0, 255, (image_size, image_size)).astype(np.float32)
    tile_shape = (tile, tile)
    model.predict(image[:tile, :tile], tile_shape=tile_shape)
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        model.predict(image, tile_shape=tile_shape)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return image_size**2 / 1e6 / min(times)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128, help="VoidSeg's batch size (default %(default)s)")
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--n-filters", type=int, default=32)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12, help="training steps timed, plus warm-up (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=2048, help="edge of the predicted image (default %(default)s)")
    parser.add_argument("--tile", type=int, default=512, help="tile edge for prediction (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    config = N2VConfig(
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        n_filters=args.n_filters,
        depth=args.depth,
        epochs=1,
        steps_per_epoch=args.steps + args.warmup,
        seed=0,
    )
    patches_per_s = training_throughput(config, device, args.warmup)
    megapixels_per_s = prediction_throughput(config, device, args.image_size, args.tile, args.repeats)
    amp = config.schedule().precision_on(device)
    table = "\n".join(
        [
            "| device | U-Net | training | training patches/s | prediction | prediction MP/s |",
            "|---|---|---|---|---|---|",
            f"| {device_name(device)} | depth {args.depth}, {args.n_filters} filters | batch {args.batch_size} of "
            f"{args.patch_size}x{args.patch_size}, {amp}, {args.steps} steps | {patches_per_s:.1f} | "
            f"{args.image_size}x{args.image_size}, tiles {args.tile} | {megapixels_per_s:.2f} |",
        ]
    )
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
