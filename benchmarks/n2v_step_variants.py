r"""Noise2Void training step and prediction in float32, bf16 autocast, channels-last and torch.compile variants.

Each training variant times the real N2V step (``N2VTask.training_loss``: patch
sampling, flips/rotations and blind-spot masking on the device, the U-Net forward,
the masked MSE), its backward pass and the Adam update, on the noisy DSB sample at sigma
40, with a fresh seeded network per variant. The first ``--warmup`` steps are not timed
(for a compiled variant they include the compilation, reported as "first steps").
Rounds run the variants interleaved (float32, channels-last, ..., then again), so a
change in machine load hits all of them; the table has the median patches/s over rounds.

Prediction times ``N2VModel.predict`` of the whole sample tiled to ``--image-size``
(automatic tiles) in float32, channels-last, and bf16 autocast with channels-last; with
``--model`` (an N2V model folder, e.g. the demo's) it also reports how far each result
lies from the float32 one: the PSNR of the one against the other (data range 255) and
the largest difference (grey levels).

    OMP_NUM_THREADS=2 python benchmarks/n2v_step_variants.py --threads 2 --model denoise2seg-demo/model \
        --out results/n2v_step_variants_cpu.md
    python benchmarks/n2v_step_variants.py --device cuda --batch-size 128 --steps 50 --image-size 4096 \
        --out results/n2v_step_variants_cuda.md
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from provenance import provenance_line, write_report
from skimage.metrics import peak_signal_noise_ratio

from denoise2seg.data.normalization import fit_normalizer
from denoise2seg.data.samples import noisy_nuclei_2d
from denoise2seg.n2v import N2VConfig, N2VModel
from denoise2seg.n2v.task import N2VTask
from denoise2seg.nets import UNet
from denoise2seg.training import choose_device
from denoise2seg.training.fast_paths import LAYOUTS, cpu_has_bf16_matrix_units


@dataclass(frozen=True)
class Variant:
    """One way of running the same step: bf16 autocast, channels-last weights, torch.compile'd network."""

    bf16: bool = False
    channels_last: bool = False
    compiled: bool = False

    @property
    def name(self) -> str:
        parts = [label for label, on in (("compiled", self.compiled), ("bf16", self.bf16), ("channels-last", self.channels_last)) if on]
        return " + ".join(parts) or "float32"


TRAINING_VARIANTS = (
    Variant(),
    Variant(channels_last=True),
    Variant(bf16=True),
    Variant(bf16=True, channels_last=True),
    Variant(compiled=True),
    Variant(compiled=True, channels_last=True),
    Variant(compiled=True, bf16=True, channels_last=True),
)
PREDICTION_VARIANTS = (Variant(), Variant(channels_last=True), Variant(bf16=True, channels_last=True))
SIGMA = 40.0
DATA_RANGE = 255.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=32, help="training patches of 64x64 per step")
    parser.add_argument("--depth", type=int, default=2, help="U-Net depth of the trained network")
    parser.add_argument("--n-filters", type=int, default=32, help="initial feature maps of the trained network")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps (compilation included)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all variants, interleaved")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile variants")
    parser.add_argument("--image-size", type=int, default=1024, help="edge of the predicted image (the 512x512 sample tiled)")
    parser.add_argument(
        "--model", type=Path, default=None,
        help="N2V model folder to predict with, for the distances to float32 (default: an untrained network, no distances)",
    )
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the tables")
    return parser.parse_args(argv)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, variant: Variant):
    if not variant.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _network(config: N2VConfig, device: torch.device, variant: Variant) -> UNet:
    torch.manual_seed(0)
    net = UNet(config.unet_spec()).to(device)
    if variant.channels_last:
        net = net.to(memory_format=LAYOUTS[config.ndim])
    return net


def time_training(variant: Variant, config: N2VConfig, image: np.ndarray, device: torch.device, steps: int, warmup: int) -> tuple[float, float]:
    """``(patches per second over the timed steps, seconds of the untimed first steps)`` for ``variant``."""
    net = _network(config, device, variant)
    normalizer = fit_normalizer([image], "zscore")
    train = [normalizer.normalize(image)[None]]
    val = np.stack([train[0][:, :64, :64]] * 4)
    task = N2VTask(net, config, normalizer, train, val)
    if variant.compiled:
        task.model = torch.compile(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    net.train()
    start = time.perf_counter()
    first = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            _synchronize(device)
            first = time.perf_counter() - start
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, variant):
            loss = task.training_loss()
        loss.backward()
        optimizer.step()
        loss.item()
    _synchronize(device)
    return steps * config.batch_size / (time.perf_counter() - start), first


def time_prediction(model: N2VModel, variant: Variant, image: np.ndarray, device: torch.device) -> tuple[float, np.ndarray]:
    """``(megapixels per second, result)`` of predicting ``image`` with ``model``'s network in ``variant`` (after one warm-up tile)."""
    model.net.to(memory_format=LAYOUTS[model.ndim] if variant.channels_last else torch.contiguous_format)
    with _autocast(device, variant):
        model.predict(image[:256, :256])
        _synchronize(device)
        start = time.perf_counter()
        result = model.predict(image)
        _synchronize(device)
    return image.size / 1e6 / (time.perf_counter() - start), result


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    units = "with" if cpu_has_bf16_matrix_units() else "without"
    return f"CPU {units} bf16 matrix units (AMX), {_count(torch.get_num_threads(), 'thread')}"


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    noisy, _, _ = noisy_nuclei_2d(SIGMA)
    config = N2VConfig(batch_size=args.batch_size, depth=args.depth, n_filters=args.n_filters, seed=0)
    variants = [v for v in TRAINING_VARIANTS if not (args.no_compile and v.compiled)]
    rates: dict[Variant, list[float]] = {v: [] for v in variants}
    firsts: dict[Variant, list[float]] = {v: [] for v in variants}
    for round_index in range(args.rounds):
        for variant in variants:
            rate, first = time_training(variant, config, noisy, device, args.steps, args.warmup)
            rates[variant].append(rate)
            firsts[variant].append(first)
            print(f"round {round_index + 1} {variant.name}: {rate:.1f} patches/s, first {args.warmup} steps {first:.1f} s", flush=True)
    base = statistics.median(rates[variants[0]])
    lines = [
        (
            f"Training, {device_name(device)}: U-Net depth {args.depth}, {args.n_filters} filters, batch norm; batch "
            f"{args.batch_size} of 64x64; median of {_count(args.rounds, 'round')} of {_count(args.steps, 'timed step')}."
        ),
        "",
        f"| variant | training patches/s | vs float32 | first {_count(args.warmup, 'step')} (s) |",
        "|---|---|---|---|",
    ]
    for variant in variants:
        rate = statistics.median(rates[variant])
        lines.append(f"| {variant.name} | {rate:.1f} | {rate / base:.2f}x | {statistics.median(firsts[variant]):.1f} |")

    tiles = -(-args.image_size // noisy.shape[0])
    image = np.tile(noisy, (tiles, tiles))[: args.image_size, : args.image_size]
    if args.model is not None:
        model = N2VModel.load(args.model, device=device)
    else:
        model = N2VModel(_network(config, device, Variant()).eval(), config, fit_normalizer([noisy], "zscore"))
    results = {}
    speeds = {}
    for variant in PREDICTION_VARIANTS:
        speeds[variant], results[variant] = time_prediction(model, variant, image, device)
    reference = results[PREDICTION_VARIANTS[0]]
    lines += [
        "",
        (
            f"Prediction of a {args.image_size}x{args.image_size} image (the 512x512 sample, tiled or cropped), automatic tiles"
            + (
                f", model {args.model} (depth {model.config.depth}, {model.config.n_filters} filters)"
                if args.model is not None
                else ", an untrained network (no distances: give --model)"
            )
            + ":"
        ),
        "",
        "| variant | prediction MP/s | vs float32 | PSNR against the float32 result (dB) | largest difference (grey levels) |",
        "|---|---|---|---|---|",
    ]
    for variant in PREDICTION_VARIANTS:
        if args.model is None or variant == PREDICTION_VARIANTS[0]:
            agreement = "- | -"
        else:
            psnr = peak_signal_noise_ratio(reference, results[variant], data_range=DATA_RANGE)
            agreement = f"{psnr:.1f} | {np.abs(results[variant] - reference).max():.3g}"
        lines.append(f"| {variant.name} | {speeds[variant]:.2f} | {speeds[variant] / speeds[PREDICTION_VARIANTS[0]]:.2f}x | {agreement} |")
    lines += ["", provenance_line()]
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)
    return text


if __name__ == "__main__":
    main()
