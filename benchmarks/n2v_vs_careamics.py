r"""Noise2Void side by side with CAREamics: quality at equal steps and equal wall time, throughput, memory.

Both tools train N2V on the same noisy DSB2018 sample (sigma 40 by default) with the
same network (U-Net depth 2, 32 initial feature maps, batch norm), the same batch
(32 patches of 64x64), the same Adam learning rate and the same number of torch
threads; everything else is each tool's own default (blind spots: ours 0.198 % of the
pixels from a 5x5 neighbourhood, stratified; CAREamics 0.2 % from 11x11; both z-score
the data and augment with flips and 90-degree rotations). CAREamics loads its batches in
the training process (``num_workers=0``), so both use the same cores.

Every run is a fresh child process (so its peak RSS is its own); runs are interleaved
(seed 0: ours, CAREamics; seed 1: ...), so a change in machine load hits both. Each run
saves the network every ``--every`` steps; the parent denoises the whole image with
each saved state and scores it against the clean image (scikit-image, data range 255).
Training time counts the optimiser steps (with CAREamics' batch loading) and excludes
the snapshots and previews; set-up (data checks, normalisation statistics) is in the
total wall time. After training each run predicts a 1024x1024 image (the sample tiled
2x2): ours with its automatic tiling, CAREamics with tiles of 256 and overlap 48.

    OMP_NUM_THREADS=2 python benchmarks/n2v_vs_careamics.py --seeds 0 1 2 --threads 2 \
        --out results/n2v_vs_careamics.md

CAREamics is optional: when it does not import with ``--careamics-python`` (default:
this interpreter), only our rows are written. It installs beside the CPU torch in its
own environment (docs/performance.md says how).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOOLS = ("ours", "careamics")
TABLE_STEPS = (25, 50, 100, 200)
PREDICT_TILES = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sigma", type=float, default=40.0, help="Gaussian noise std (0-255 range)")
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per run")
    parser.add_argument("--every", type=int, default=5, help="snapshot the network every this many steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--our-lr", type=float, default=None, help="our Adam learning rate (default: --lr, the same as CAREamics')")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--n-filters", type=int, default=32)
    parser.add_argument(
        "--masked-fraction", type=float, default=None, help="our share of blind-spot pixels (default: our default)"
    )
    parser.add_argument("--radius", type=int, default=None, help="our blind-spot neighbourhood radius (default: our default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both tools)")
    parser.add_argument(
        "--careamics-precision", default="32-true",
        help="Lightning's precision for CAREamics (its default 32-true; bf16-mixed: bf16 autocast, as ours on CUDA and AMX CPUs)",
    )
    parser.add_argument("--careamics-python", default=sys.executable, help="interpreter in which CAREamics imports")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the tables")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---- child processes: train one tool with one seed, write snapshots and a JSON record ----


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _train_ours(args, noisy: np.ndarray, big: np.ndarray, workdir: Path) -> dict:
    from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v

    masking = {
        name: value
        for name, value in (("masked_fraction", args.masked_fraction), ("neighborhood_radius", args.radius))
        if value is not None
    }
    config = N2VConfig(
        batch_size=args.batch_size, epochs=1, steps_per_epoch=args.steps,
        learning_rate=args.our_lr if args.our_lr is not None else args.lr, depth=args.depth, n_filters=args.n_filters, seed=args.seed, **masking,
    )
    snapshots, times = {}, {}
    training = 0.0
    started = time.perf_counter()
    last = started
    folder = workdir / f"ours-{args.seed}-model"
    for event in train_n2v(noisy, config, out_dir=folder, device=args.device, preview_image=noisy, preview_every=args.every):
        now = time.perf_counter()
        if event.kind == "step":
            training += now - last
        elif event.kind == "preview":
            snapshots[event.step] = event.preview
            times[event.step] = training
        last = time.perf_counter()
    total = time.perf_counter() - started
    model = N2VModel.load(folder, device=args.device)
    predict_start = time.perf_counter()
    model.predict(big)
    predict_s = time.perf_counter() - predict_start
    return {"snapshots": snapshots, "times": times, "total_s": total, "predict_s": predict_s}


def _import_careamics():
    """``careamics``, importable where torchvision is not (a CPU torch beside CUDA torchvision wheels).

    CAREamics 0.3.5 imports ``torchvision.transforms.functional`` at import time for
    its LVAE models only (``center_crop``); N2V never calls it. When torchvision does
    not import, a placeholder module that raises on use takes its place, registered
    after torchmetrics has decided that torchvision is absent.
    """
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        import types

        import torchmetrics  # noqa: F401  (decides on torchvision before the placeholder exists)

        def center_crop(*args, **kwargs):
            raise NotImplementedError("torchvision does not import in this environment")

        functional = types.ModuleType("torchvision.transforms.functional")
        functional.center_crop = center_crop
        transforms = types.ModuleType("torchvision.transforms")
        transforms.functional = functional
        placeholder = types.ModuleType("torchvision")
        placeholder.transforms, placeholder.__version__ = transforms, "absent"
        sys.modules.update({"torchvision": placeholder, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional})
    import careamics

    return careamics


def _train_careamics(args, noisy: np.ndarray, big: np.ndarray, workdir: Path) -> dict:
    import torch

    _import_careamics()
    from careamics import CAREamist
    from careamics.config.factories.n2v_factory import create_advanced_n2v_config
    from lightning.pytorch.callbacks import Callback

    class Snapshots(Callback):
        """Saves a checkpoint every ``every`` steps and the training time to it (validation excluded)."""

        def __init__(self, every: int, folder: Path) -> None:
            self.every, self.folder, self.paths, self.times = every, folder, {}, {}
            self.started = self.excluded = self.validation_started = 0.0

        def on_train_start(self, trainer, pl_module) -> None:
            self.started = time.perf_counter()

        def on_validation_start(self, trainer, pl_module) -> None:
            self.validation_started = time.perf_counter()

        def on_validation_end(self, trainer, pl_module) -> None:
            self.excluded += time.perf_counter() - self.validation_started

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            step = trainer.global_step
            if step % self.every == 0 and step not in self.paths:
                now = time.perf_counter()
                self.times[step] = now - self.started - self.excluded
                self.paths[step] = self.folder / f"step{step}.ckpt"
                trainer.save_checkpoint(self.paths[step])
                self.excluded += time.perf_counter() - now

    config = create_advanced_n2v_config(
        experiment_name=f"careamics_seed{args.seed}", data_type="array", axes="YX", patch_size=[64, 64],
        # One CAREamics epoch is one pass over the image's patches (64 on the sample);
        # max_steps ends the run at the same step count as ours.
        batch_size=args.batch_size, num_epochs=args.steps, num_workers=0,
        model_params={"depth": args.depth, "num_channels_init": args.n_filters},
        optimizer_params={"lr": args.lr}, seed=args.seed + 1,  # CAREamics takes seeds > 0
        trainer_params={
            "accelerator": "gpu" if args.device == "cuda" else "cpu", "devices": 1, "max_steps": args.steps,
            "precision": args.careamics_precision,
        },
    )
    torch.manual_seed(args.seed)
    snapshots = Snapshots(args.every, workdir / f"careamics-{args.seed}-snapshots")
    careamist = CAREamist(config, work_dir=workdir / f"careamics-{args.seed}", callbacks=[snapshots], enable_progress_bar=False)
    started = time.perf_counter()
    careamist.train(train_data=noisy)
    total = time.perf_counter() - started
    predict_start = time.perf_counter()
    careamist.predict(big, axes="YX", tile_size=(256, 256), tile_overlap=(48, 48))
    predict_s = time.perf_counter() - predict_start
    images = {step: np.squeeze(careamist.predict(noisy, axes="YX", checkpoint=path)[0][0]) for step, path in snapshots.paths.items()}
    return {"snapshots": images, "times": snapshots.times, "total_s": total, "predict_s": predict_s}


def run_child(args) -> None:
    """Train one tool with one seed; write ``<tool>-<seed>.json`` and ``.npz`` of its snapshots."""
    import torch

    torch.set_num_threads(args.threads)
    noisy = np.load(args.workdir / "noisy.npy")
    big = np.tile(noisy, (PREDICT_TILES, PREDICT_TILES))
    train = _train_ours if args.child == "ours" else _train_careamics
    result = train(args, noisy, big, args.workdir)
    name = f"{args.child}-{args.seed}"
    np.savez(args.workdir / f"{name}.npz", **{str(step): image for step, image in result["snapshots"].items()})
    last = max(result["times"])
    record = {
        "times": {str(step): seconds for step, seconds in result["times"].items()},
        "total_s": result["total_s"],
        "patches_per_s": last * args.batch_size / result["times"][last],
        "predict_mp_per_s": big.size / 1e6 / result["predict_s"],
        "peak_rss_mb": _peak_rss_mb(),
    }
    (args.workdir / f"{name}.json").write_text(json.dumps(record))


# ---- parent: interleave the runs, score the snapshots, write the tables ----


def careamics_available(python: str) -> bool:
    """Whether CAREamics imports in ``python`` (with :func:`_import_careamics`)."""
    probe = subprocess.run([python, __file__, "--probe"], capture_output=True)
    return probe.returncode == 0


def score_run(workdir: Path, name: str, clean: np.ndarray) -> dict:
    """``{"steps": {step: (psnr, ssim, seconds)}, ...record}`` of one finished run."""
    from denoise2seg.cli.demo import DATA_RANGE
    from denoise2seg.n2v.evaluate import denoising_scores

    record = json.loads((workdir / f"{name}.json").read_text())
    snapshots = np.load(workdir / f"{name}.npz")
    steps = {}
    for key in snapshots.files:
        quality = denoising_scores(clean, snapshots[key], DATA_RANGE)
        steps[int(key)] = (quality["psnr"], quality["ssim"], record["times"][key])
    return {**record, "steps": dict(sorted(steps.items()))}


def psnr_at_time(run: dict, seconds: float) -> float:
    """PSNR of the last snapshot taken within ``seconds`` of training (NaN if none)."""
    within = [psnr for psnr, _, t in run["steps"].values() if t <= seconds]
    return within[-1] if within else float("nan")


def time_to_psnr(run: dict, target: float) -> float:
    """Training seconds to the first snapshot at or above ``target`` dB (NaN if never)."""
    reached = [t for psnr, _, t in run["steps"].values() if psnr >= target]
    return reached[0] if reached else float("nan")


def _median(values) -> float:
    values = [v for v in values if not np.isnan(v)]
    return statistics.median(values) if values else float("nan")


def tables(runs: dict[str, list[dict]], args, noisy_scores: dict) -> str:
    """Markdown: equal steps, equal wall time, time to CAREamics' 100-step PSNR, throughput."""
    from provenance import provenance_line

    tools = [tool for tool in TOOLS if runs.get(tool)]
    names = {"ours": "denoise2seg", "careamics": "CAREamics"}
    steps = [s for s in TABLE_STEPS if s <= args.steps and all(s in r["steps"] for tool in tools for r in runs[tool])]
    lines = ["### Quality at equal steps (median over seeds)", ""]
    header = "| step | " + " | ".join(f"{names[t]} PSNR (dB) / SSIM" for t in tools)
    lines += [header + (" | difference (dB) |" if len(tools) == 2 else " |"), "|---" * (len(tools) + 1 + (len(tools) == 2)) + "|"]
    for step in steps:
        medians = {t: (_median(r["steps"][step][0] for r in runs[t]), _median(r["steps"][step][1] for r in runs[t])) for t in tools}
        cells = [f"{medians[t][0]:.2f} / {medians[t][1]:.3f}" for t in tools]
        if len(tools) == 2:
            cells.append(f"{medians['ours'][0] - medians['careamics'][0]:+.2f}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    if len(tools) == 2:
        lines += ["", "### Quality at equal wall time (median over seeds)", ""]
        lines += ["| CAREamics step | its training time (s) | CAREamics PSNR (dB) | denoise2seg PSNR at that time (dB) |", "|---|---|---|---|"]
        for step in steps:
            seconds = _median(r["steps"][step][2] for r in runs["careamics"])
            theirs = _median(r["steps"][step][0] for r in runs["careamics"])
            ours = _median(psnr_at_time(r, seconds) for r in runs["ours"])
            lines.append(f"| {step} | {seconds:.1f} | {theirs:.2f} | {ours:.2f} |")
        if 100 in steps:
            target = _median(r["steps"][100][0] for r in runs["careamics"])
            theirs = _median(r["steps"][100][2] for r in runs["careamics"])
            ours = _median(time_to_psnr(r, target) for r in runs["ours"])
            lines += [
                "",
                f"Time to CAREamics' 100-step PSNR ({target:.2f} dB): CAREamics {theirs:.1f} s, denoise2seg {ours:.1f} s "
                f"(ratio {ours / theirs:.2f}).",
            ]
    lines += ["", "### Throughput and memory (median over seeds)", ""]
    lines += ["| tool | training patches/s | total run (s) | prediction MP/s (1024x1024) | peak RSS (MB) |", "|---|---|---|---|---|"]
    for tool in tools:
        values = [_median(r[key] for r in runs[tool]) for key in ("patches_per_s", "total_s", "predict_mp_per_s", "peak_rss_mb")]
        lines.append(f"| {names[tool]} | {values[0]:.1f} | {values[1]:.0f} | {values[2]:.2f} | {values[3]:.0f} |")
    if len(tools) == 2:
        ratio = {key: _median(r[key] for r in runs["ours"]) / _median(r[key] for r in runs["careamics"]) for key in ("patches_per_s", "predict_mp_per_s", "peak_rss_mb")}
        lines.append(f"| ratio denoise2seg / CAREamics | {ratio['patches_per_s']:.2f} | | {ratio['predict_mp_per_s']:.2f} | {ratio['peak_rss_mb']:.2f} |")
    lines += [
        "",
        f"DSB sample sigma {args.sigma:g} (noisy input {noisy_scores['psnr']:.2f} dB, SSIM {noisy_scores['ssim']:.3f}); "
        f"U-Net depth {args.depth}, {args.n_filters} filters, batch norm; batch {args.batch_size} of 64x64; Adam lr {args.lr:g}; "
        f"{args.steps} steps; {args.threads} torch threads; device {args.device}; seeds {args.seeds}"
        + (f"; our blind spots: {_our_masking(args)}" if args.masked_fraction is not None or args.radius is not None else "")
        + (f"; our Adam lr {args.our_lr:g}" if args.our_lr is not None else "")
        + f"; ours {_our_precision(args)}, CAREamics precision {args.careamics_precision}.",
        "",
        provenance_line(),
    ]
    return "\n".join(lines) + "\n"


def _our_precision(args) -> str:
    import torch

    from denoise2seg.n2v import N2VConfig

    return N2VConfig().schedule().precision_on(torch.device(args.device))


def _our_masking(args) -> str:
    from denoise2seg.n2v import N2VConfig

    default = N2VConfig()
    fraction = args.masked_fraction if args.masked_fraction is not None else default.masked_fraction
    radius = args.radius if args.radius is not None else default.neighborhood_radius
    return f"{100 * fraction:.3g} % of the pixels from a {2 * radius + 1}x{2 * radius + 1} neighbourhood"


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.probe:
        _import_careamics()
        return ""
    if args.child:
        run_child(args)
        return ""
    from denoise2seg.cli.demo import DATA_RANGE
    from denoise2seg.data.samples import noisy_nuclei_2d
    from denoise2seg.n2v.evaluate import denoising_scores

    noisy, clean, _ = noisy_nuclei_2d(args.sigma)
    pythons = {"ours": sys.executable}
    if careamics_available(args.careamics_python):
        pythons["careamics"] = args.careamics_python
    else:
        print(f"CAREamics does not import with {args.careamics_python}: only denoise2seg runs", flush=True)
    runs: dict[str, list[dict]] = {tool: [] for tool in pythons}
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        np.save(workdir / "noisy.npy", noisy.astype(np.float32))
        for seed in args.seeds:
            for tool, python in pythons.items():
                command = [python, __file__, "--child", tool, "--workdir", str(workdir), "--seed", str(seed)]
                for option in ("sigma", "steps", "every", "batch_size", "lr", "depth", "n_filters", "threads", "device",
                               "masked_fraction", "radius", "our_lr", "careamics_precision"):
                    if getattr(args, option) is not None:
                        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
                subprocess.run(command, check=True)
                run = score_run(workdir, f"{tool}-{seed}", clean)
                runs[tool].append(run)
                print(f"{tool} seed {seed}: " + ", ".join(f"{s}: {run['steps'][s][0]:.2f} dB ({run['steps'][s][2]:.0f} s)" for s in TABLE_STEPS if s in run["steps"]), flush=True)
    table = tables(runs, args, denoising_scores(clean, noisy, DATA_RANGE))
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
