"""Event-loop latency of the napari viewer while the N2V widget trains in its worker thread.

A QTimer asks to fire every ``--interval-ms``; the gaps between its firings measure how
long the Qt event loop was busy. The run is repeated idle (no training) and while the
N2V widget trains on the noisy DSB sample with a live ``denoised`` preview layer and
live loss plot, and the gap percentiles are written as a Markdown table.

    xvfb-run -a python benchmarks/gui_latency.py --out results/gui_latency.md

A first, short training warms up lazy imports (a one-time cost, reported separately).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


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
    timer.stop()
    return np.diff(ticks) * 1000


def row(name: str, gaps: np.ndarray, interval_ms: float) -> str:
    p50, p95, p99 = np.percentile(gaps, [50, 95, 99])
    late = np.mean(gaps > 100) * 100
    return f"| {name} | {len(gaps)} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {gaps.max():.0f} | {late:.1f} |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="auto, cuda or cpu")
    parser.add_argument("--size", type=int, default=256, help="crop of the DSB sample (pixels per side)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50, help="steps per epoch")
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--preview-every", type=int, default=10)
    parser.add_argument("--interval-ms", type=float, default=10)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file for the table")
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from denoise2seg.napari.n2v_widget import N2VWidget
    from denoise2seg.napari.sample_data import nuclei_sigma40

    viewer = napari.Viewer()
    for data, kwargs, layer_type in nuclei_sigma40():
        viewer._add_layer_from_data(data[: args.size, : args.size], kwargs, layer_type)
    widget = N2VWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train denoiser (N2V)")
    app = QApplication.instance()
    widget.image_list.select("DSB sigma 40 noisy")
    widget.patch_spin.setValue(args.patch)
    widget.batch_spin.setValue(args.batch)
    widget.filters_spin.setValue(args.filters)
    widget.preview_spin.setValue(args.preview_every)
    widget.device_combo.setCurrentText(args.device)
    app.processEvents()

    def train(epochs: int, steps: int) -> None:
        widget.epochs_spin.setValue(epochs)
        widget.steps_spin.setValue(steps)
        widget.panel.train_button.click()

    rows = [row("idle viewer (3 s)", measure(app, args.interval_ms, seconds=3), args.interval_ms)]
    started = time.perf_counter()
    rows.append(row("first training of the session (2 steps)", measure(app, args.interval_ms, lambda: train(1, 2), lambda: not widget.panel.running), args.interval_ms))
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    gaps = measure(app, args.interval_ms, lambda: train(args.epochs, args.steps), lambda: not widget.panel.running)
    train_s = time.perf_counter() - started
    rows.append(row(f"N2V training, {args.epochs}x{args.steps} steps, preview every {args.preview_every}", gaps, args.interval_ms))

    table = "\n".join(
        [
            f"QTimer interval {args.interval_ms:.0f} ms; gaps between firings in ms. Image {args.size}x{args.size}, patch {args.patch}, "
            f"batch {args.batch}, {args.filters} filters, device {args.device}; warm-up {warmup_s:.1f} s, training {train_s:.1f} s.",
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
