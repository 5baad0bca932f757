r"""Event-loop latency of the napari viewer while the plugin's widgets train and apply models in worker threads.

A QTimer asks to fire every ``--interval-ms``; the gaps between its firings measure how
long the Qt event loop was busy. The widgets are opened as the Plugins menu opens them.
The run is repeated idle (no training), while the N2V widget trains on the noisy DSB
sample with a live ``denoised`` preview layer and live loss plot, while the segmentation
widget trains StarDist on synthetic nuclei annotated in one corner (live ``segmentation``
preview of the view, thresholds tuned at the end, the saved model segmenting the view
once more), and while the Predict / export widget applies that StarDist model to the
whole image. Last, stardist's non-maximum suppression of seeded StarDist outputs of that
image (its true targets with noise) runs from a plain thread, once in the thread itself
and once handed to the post-processing process
(``denoise2seg.segmentation.postprocess_process``). The gap percentiles are written as a
Markdown table.

    xvfb-run -a python benchmarks/gui_latency.py --seed 0 --out results/gui_latency.md

A first, short training warms up lazy imports (a one-time cost, reported separately).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np

PLUGIN = "napari-denoise2seg"
N_RAYS = 32


def measure(app, interval_ms: float, start=None, is_done=None, seconds: float | None = None) -> np.ndarray:
    """Gaps (ms) between QTimer firings while ``start()`` runs until ``is_done()`` (or for ``seconds``)."""
    from qtpy.QtCore import QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(int(interval_ms))
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    if start is not None:
        start()
    t0 = time.perf_counter()
    while (is_done is not None and not is_done()) or (seconds is not None and time.perf_counter() - t0 < seconds):
        app.processEvents()
        time.sleep(0.001)
    # Deliver what a worker sent just before it ended (its result, shown on the GUI thread).
    app.processEvents()
    timer.stop()
    return np.diff(ticks) * 1000


def row(name: str, gaps: np.ndarray, interval_ms: float) -> str:
    p50, p95, p99 = np.percentile(gaps, [50, 95, 99])
    late = np.mean(gaps > 100) * 100
    return f"| {name} | {len(gaps)} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {gaps.max():.0f} | {late:.1f} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="auto, cuda or cpu")
    parser.add_argument("--seed", type=int, default=0, help="seeds the synthetic nuclei and the networks' initial weights (not the widgets' patch sampling)")
    parser.add_argument("--size", type=int, default=256, help="crop of the DSB sample for N2V (pixels per side)")
    parser.add_argument("--epochs", type=int, default=3, help="N2V epochs")
    parser.add_argument("--steps", type=int, default=50, help="N2V steps per epoch")
    parser.add_argument("--patch", type=int, default=64, help="N2V patch size (pixels)")
    parser.add_argument("--batch", type=int, default=16, help="N2V batch size")
    parser.add_argument("--filters", type=int, default=16, help="N2V U-Net filters")
    parser.add_argument("--preview-every", type=int, default=10, help="steps between live previews (both widgets)")
    parser.add_argument("--stardist-size", type=int, default=1024, help="synthetic nuclei image for StarDist (pixels per side)")
    parser.add_argument("--annotated", type=int, default=160, help="side of the annotated corner of that image (pixels)")
    parser.add_argument("--stardist-steps", type=int, default=60, help="StarDist training steps (one epoch)")
    parser.add_argument("--interval-ms", type=float, default=10)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    args = parser.parse_args(argv)

    import napari
    import torch
    from qtpy.QtCore import QThreadPool
    from qtpy.QtWidgets import QApplication

    from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
    from denoise2seg.napari.sample_data import nuclei_sigma40
    from denoise2seg.segmentation.postprocess_process import stardist_instances
    from denoise2seg.segmentation.star_convex import DIST, PROB, instances_from_stardist, stardist_targets

    torch.manual_seed(args.seed)
    viewer = napari.Viewer()
    for data, kwargs, layer_type in nuclei_sigma40():
        viewer._add_layer_from_data(data[: args.size, : args.size], kwargs, layer_type)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train denoiser (N2V)")
    app = QApplication.instance()
    widget.image_list.select("DSB sigma 40 noisy")
    widget.patch_spin.setValue(args.patch)
    widget.batch_spin.setValue(args.batch)
    widget.filters_spin.setValue(args.filters)
    widget.preview_spin.setValue(args.preview_every)
    widget.device_combo.setCurrentText(args.device)
    app.processEvents()

    def idle() -> bool:
        return QThreadPool.globalInstance().activeThreadCount() == 0

    def train(epochs: int, steps: int) -> None:
        widget.epochs_spin.setValue(epochs)
        widget.steps_spin.setValue(steps)
        widget.panel.train_button.click()

    def trained() -> bool:
        return not widget.panel.running and idle()

    rows = [row("idle viewer (3 s)", measure(app, args.interval_ms, seconds=3), args.interval_ms)]
    started = time.perf_counter()
    rows.append(row("first training of the session (2 steps)", measure(app, args.interval_ms, lambda: train(1, 2), trained), args.interval_ms))
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    gaps = measure(app, args.interval_ms, lambda: train(args.epochs, args.steps), trained)
    train_s = time.perf_counter() - started
    rows.append(row(f"N2V training, {args.epochs}x{args.steps} steps, preview every {args.preview_every}", gaps, args.interval_ms))

    side = args.stardist_size
    noisy, _, labels = synthetic_nuclei((side, side), n_objects=side * side // 1200, noise_sigma=20, seed=args.seed)
    annotations = np.zeros(labels.shape, dtype=np.int32)
    corner = (slice(0, args.annotated), slice(0, args.annotated))
    annotations[corner] = labels[corner]
    viewer.add_image(noisy, name="nuclei")
    viewer.add_labels(annotations, name="annotations")
    _, segmenter = viewer.window.add_plugin_dock_widget(PLUGIN, "Train segmentation")
    _, predictor = viewer.window.add_plugin_dock_widget(PLUGIN, "Predict / export")
    segmenter.image_list.select("nuclei")
    segmenter.labels_combo.setCurrentText("annotations")
    segmenter.method_combo.setCurrentText("StarDist")
    for spin, value in [
        (segmenter.patch_spin, 32),
        (segmenter.epochs_spin, 1),
        (segmenter.steps_spin, args.stardist_steps),
        (segmenter.batch_spin, 4),
        (segmenter.lr_spin, 5e-3),
        (segmenter.depth_spin, 1),
        (segmenter.filters_spin, 4),
        (segmenter.preview_spin, args.preview_every),
    ]:
        spin.setValue(value)
    segmenter.device_combo.setCurrentText(args.device)
    predictor.image_list.select("nuclei")
    predictor.device_combo.setCurrentText(args.device)
    app.processEvents()
    started = time.perf_counter()
    gaps = measure(app, args.interval_ms, segmenter.panel.train_button.click, lambda: not segmenter.panel.running and idle())
    stardist_train_s = time.perf_counter() - started
    rows.append(
        row(f"StarDist training, {args.stardist_steps} steps, preview every {args.preview_every}, tuning, final segmentation", gaps, args.interval_ms)
    )
    predictor.set_model_folder(segmenter.model_folder)
    started = time.perf_counter()
    gaps = measure(app, args.interval_ms, predictor.apply_button.click, lambda: predictor.apply_button.isEnabled() and idle())
    apply_s = time.perf_counter() - started
    rows.append(row(f"StarDist apply (Predict / export), {side}x{side}", gaps, args.interval_ms))

    # The same post-processing both ways, from a plain thread: stardist's NMS run in that
    # thread, and handed to the post-processing process. Its input stands for a well-trained
    # network, reproducibly: the true StarDist targets of the image with seeded noise.
    rng = np.random.default_rng(args.seed)
    targets = stardist_targets(labels, N_RAYS)
    prob = np.clip(targets[PROB] + rng.normal(0, 0.15, labels.shape), 0, 1).astype(np.float32)
    dist = (targets[DIST:] * rng.uniform(0.8, 1.3, targets[DIST:].shape)).astype(np.float32)
    for where, segment in [("in the thread", instances_from_stardist), ("in the post-processing process", stardist_instances)]:
        thread = threading.Thread(target=segment, args=(prob, dist, 0.5, 0.4))
        gaps = measure(app, args.interval_ms, thread.start, lambda: not thread.is_alive())
        rows.append(row(f"StarDist NMS of {side}x{side} noisy true outputs from a thread, run {where}", gaps, args.interval_ms))

    table = "\n".join(
        [
            f"QTimer interval {args.interval_ms:.0f} ms; gaps between firings in ms; device {args.device}, seed {args.seed}. "
            f"N2V: image {args.size}x{args.size}, patch {args.patch}, batch {args.batch}, {args.filters} filters; warm-up {warmup_s:.1f} s, "
            f"training {train_s:.1f} s. StarDist: synthetic nuclei {side}x{side} annotated in a {args.annotated}x{args.annotated} corner, "
            f"patch 32, batch 4, depth 1, 4 filters, learning rate 5e-3; training with tuning and final segmentation {stardist_train_s:.1f} s, apply {apply_s:.1f} s.",
            "",
            "| run | gaps | median | p95 | p99 | max | % gaps > 100 ms |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    viewer.close()


if __name__ == "__main__":
    main()
