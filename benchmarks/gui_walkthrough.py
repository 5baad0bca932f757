"""The napari walkthrough of docs/gui.md, driven through the widgets, with its screenshots and AP.

Opens the noisy DSB sample (sigma 40) from the plugin's sample menu, docks the three
VoidSeg widgets by their manifest names and uses them as a user would: train N2V,
"paint" the true nuclei that touch the top-left square (a stand-in for a user's
painting; objects are cut at the square's edge), train sequential StarDist, apply the
saved model to the whole image and export the mask. Screenshots of the whole window go
to ``--images``; the exported mask's average precision (IoU 0.5) against the sample's
true mask is printed, on the rows below the painted square (never seen labelled) and on
the whole image.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_walkthrough.py --images docs/images
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PLUGIN = "napari-denoise2seg"
SAMPLE_NOISY = "DSB sigma 40 noisy"
SAMPLE_MASK = "DSB sigma 40 mask"


def wait_until(app, condition, timeout_s: float, on_tick=None) -> None:
    """Process Qt events until ``condition()`` holds; ``on_tick()`` is called on every pass."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"not done after {timeout_s:.0f} s")
        app.processEvents()
        if on_tick is not None:
            on_tick()
        time.sleep(0.01)


def painted_labels(mask: np.ndarray, square: int) -> np.ndarray:
    """The true objects inside the top-left ``square`` x ``square`` pixels, relabelled 1..n."""
    from skimage.segmentation import relabel_sequential

    painted = np.zeros_like(mask, dtype=np.int32)
    painted[:square, :square] = mask[:square, :square]
    return relabel_sequential(painted)[0]


def set_schedule(widget, epochs: int, steps: int, batch: int, filters: int, device: str) -> None:
    """Type the schedule, network width and device into a training widget's controls."""
    widget.epochs_spin.setValue(epochs)
    widget.steps_spin.setValue(steps)
    widget.batch_spin.setValue(batch)
    widget.filters_spin.setValue(filters)
    widget.device_combo.setCurrentText(device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="auto, cuda or cpu")
    parser.add_argument("--images", type=Path, default=None, help="folder for the five screenshots (none: no screenshots)")
    parser.add_argument("--out", type=Path, default=Path("walkthrough"), help="folder for the exported mask")
    parser.add_argument("--square", type=int, default=160, help="edge of the painted top-left square (pixels)")
    parser.add_argument("--n2v-epochs", type=int, default=8)
    parser.add_argument("--n2v-steps", type=int, default=50)
    parser.add_argument("--n2v-batch", type=int, default=16)
    parser.add_argument("--seg-epochs", type=int, default=8)
    parser.add_argument("--seg-steps", type=int, default=40)
    parser.add_argument("--seg-batch", type=int, default=8)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per training")
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from denoise2seg.metrics import average_precision

    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1500, 950)
    app = QApplication.instance()

    def shot(name: str) -> None:
        app.processEvents()
        if args.images is not None:
            args.images.mkdir(parents=True, exist_ok=True)
            viewer.screenshot(str(args.images / name), canvas_only=False)

    viewer.open_sample(PLUGIN, "nuclei_sigma40")
    true_mask = np.asarray(viewer.layers[SAMPLE_MASK].data)
    _, n2v = viewer.window.add_plugin_dock_widget(PLUGIN, "Train denoiser (N2V)")
    n2v.image_list.select(SAMPLE_NOISY)
    set_schedule(n2v, args.n2v_epochs, args.n2v_steps, args.n2v_batch, args.filters, args.device)
    shot("01_sample_and_n2v_widget.png")

    started = time.perf_counter()
    n2v.panel.train_button.click()
    progress = n2v.panel.progress
    shot_taken = []

    def training_shot() -> None:
        if not shot_taken and progress.maximum() > 1 and progress.value() >= 0.4 * progress.maximum():
            shot_taken.append(True)
            shot("02_n2v_training.png")

    wait_until(app, lambda: not n2v.panel.running, args.timeout, training_shot)
    n2v_s = time.perf_counter() - started

    viewer.add_labels(painted_labels(true_mask, args.square), name="my labels")
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Train segmentation")
    seg.image_list.select(SAMPLE_NOISY)
    seg.labels_combo.setCurrentText("my labels")
    seg.method_combo.setCurrentText("StarDist")
    seg.scheme_combo.setCurrentText("sequential")
    set_schedule(seg, args.seg_epochs, args.seg_steps, args.seg_batch, args.filters, args.device)
    shot("03_painted_labels.png")

    started = time.perf_counter()
    seg.panel.train_button.click()
    wait_until(app, lambda: not seg.panel.running and seg.panel.train_button.isEnabled(), args.timeout)
    seg_s = time.perf_counter() - started
    if seg.model_folder is None:
        raise RuntimeError("segmentation training ended without a model")
    shot("04_stardist_sequential.png")

    _, predict = viewer.window.add_plugin_dock_widget(PLUGIN, "Predict / export")
    predict.set_model_folder(seg.model_folder)
    predict.image_list.select(SAMPLE_NOISY)
    predict.device_combo.setCurrentText(args.device)
    predict.apply_button.click()
    wait_until(app, lambda: predict.worker is None, args.timeout)
    viewer.layers["my labels"].visible = False
    shot("05_predict_export.png")
    written = predict.export_masks(args.out, overwrite=True)

    import tifffile

    predicted = tifffile.imread(written[0])
    square = args.square
    n_painted = int(viewer.layers["my labels"].data.max())
    print(f"N2V {args.n2v_epochs}x{args.n2v_steps} steps (batch {args.n2v_batch}, {args.filters} filters): {n2v_s:.0f} s")
    print(f"StarDist sequential {args.seg_epochs}x{args.seg_steps} steps (batch {args.seg_batch}): {seg_s:.0f} s")
    print(f"painted objects: {n_painted} in the top-left {square}x{square} pixels")
    print(f"exported {written[0]}: {len(np.unique(predicted)) - 1} objects (true mask: {len(np.unique(true_mask)) - 1})")
    print(f"AP@0.5 below the painted square: {average_precision(true_mask[square:], predicted[square:]):.3f}")
    print(f"AP@0.5 on the whole image: {average_precision(true_mask, predicted):.3f}")
    viewer.close()


if __name__ == "__main__":
    main()
