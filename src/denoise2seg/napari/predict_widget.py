"""Dock widget that applies a saved model (folder or bioimage.io package) to layers, exports masks as TIFF and models as packages."""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from pathlib import Path

import napari
import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from ..bioimageio import BioimageioError, export_bioimageio, is_bioimageio_source, load_model
from ..bioimageio.load import source_kind
from ..blockwise.predict import blockwise_predict
from ..blockwise.store import blocks_into
from ..io.model_folder import ModelFolderError, read_model_config
from ..io.outputs import check_output_files
from ..metrics import InstanceScores, score_image
from ..segmentation.model import KIND as SEGMENTATION_KIND
from ..training.device import release_device_memory
from .layer_choice import (
    AxesField,
    LayerCombo,
    LayerList,
    frames_of_layers,
    full_resolution,
    images_of,
    is_ground_truth,
    is_lazy,
    show_result,
)
from .controls import device_combo, scrolling_layout, spin_box
from .writers import write_labels_tiff

RESULT_SUFFIX = {"n2v": "denoised", SEGMENTATION_KIND: "labels"}
# Tile edge (pixels) offered first: prediction memory then stays at the result plus one
# tile, whatever the image size; 0 in the spin box predicts whole frames.
DEFAULT_TILE = 512


def prediction_steps(image: np.ndarray, axes: str | None, sample_axes: str = "STZ", frame_ndim: int = 2) -> int:
    """How many predictions :func:`_predict_frames` makes for ``image``: one per frame of a leading sample axis, else one."""
    stacked = image.ndim > frame_ndim if axes is None else axes[0] in sample_axes
    return image.shape[0] if stacked else 1


def _predict_frames(
    model, images: list[np.ndarray], tile_shape, truths: list[np.ndarray | None], axes: list[str] | None = None,
    sample_axes: str = "STZ", frame_ndim: int = 2,
):
    """Yield ``(image index, frame index or None, result)`` for every prediction, so the GUI can show progress.

    Without ``axes`` (a segmentation model's input) each frame of an image (``frame_ndim``
    axes: a 2D image or a volume, channels first for a multi-channel model; a stack of
    frames has one more axis first) is one prediction, and scores match objects in the
    model's spatial dimensions. With ``axes`` (an N2V model's input, one string per
    image) an image whose first axis is one of ``sample_axes`` (the model's samples:
    ``STZ`` for a 2D model, ``ST`` for a 3D one) is predicted frame by frame, any other
    (``CYX``, ``ZYX`` for a 3D model...) whole; the frame index is ``None`` for a whole
    image. ``truths`` holds a ground-truth label array of the result's shape, or
    ``None``, per image. Returns ``{image index: InstanceScores}`` of each image's labels
    against its ground truth, scored here in the worker because matching thousands of
    objects takes seconds.
    """
    scores = {}
    for i, (image, truth) in enumerate(zip(images, truths)):
        image_axes = axes[i] if axes is not None else None
        stacked = image.ndim > frame_ndim if image_axes is None else image_axes[0] in sample_axes
        kwargs = {} if image_axes is None else {"axes": image_axes[1:] if stacked else image_axes}
        predicted_frames = []
        for t, frame in enumerate(image if stacked else [image]):
            predicted = model.predict(frame, tile_shape=tile_shape, **kwargs)
            if truth is not None:
                predicted_frames.append(predicted)
            yield i, t if stacked else None, predicted
        if truth is not None:
            scores[i] = score_image(truth, np.stack(predicted_frames).reshape(truth.shape), ndim=model.ndim)
    return scores


def ground_truth_for(
    truth_layer, layers: list, result_names: list[str], result_shapes: list[tuple[int, ...]] | None = None
) -> tuple[list[np.ndarray | None], dict[int, str]]:
    """The ground truth to score each layer's result against, and why a result is not scored.

    Returns the ground-truth array for each of ``layers`` (``None`` when not scored) and
    ``{layer index: reason}`` for a ground truth of another shape than the result
    (``result_shapes``, default the layers' shapes: a multi-channel layer's labels have
    no channel axis), or one that is the layer the result will be written to
    (``result_names``).
    """
    if truth_layer is None:
        return [None] * len(layers), {}
    truth = np.asarray(truth_layer.data)
    truths, refused = [], {}
    shapes = result_shapes if result_shapes is not None else [tuple(layer.data.shape) for layer in layers]
    for i, (layer, name, shape) in enumerate(zip(layers, result_names, shapes)):
        if truth_layer.name == name:
            refused[i] = f"the ground truth {name!r} is the layer this result replaces; choose the layer with the true objects"
        elif truth.shape != tuple(shape):
            refused[i] = (
                f"the ground truth {truth_layer.name!r} has shape {truth.shape} but the result {tuple(shape)}; "
                f"choose the ground truth of {layer.name!r}"
            )
        truths.append(None if i in refused else truth)
    return truths, refused


class PredictWidget(QWidget):
    """Apply a saved model to image layers (2D images or time/z stacks) and export the masks.

    The model kind is read from the folder's ``config.json``: an N2V model adds
    ``<layer> denoised`` Image layers, a segmentation model ``<layer> labels`` Labels
    layers, each with the scale and translate of its source layer. An N2V model reads each
    layer with the axes in "Axes" (guessed from the chosen layers, editable as in the N2V
    widget): ``CYX`` for a multi-channel model, ``ZYX`` for a 3D one, ``TYX`` for frames
    of a 2D one; a layer whose channels do not match the model is refused with both counts.
    A segmentation model takes 2D layers or ``(T, Y, X)`` stacks. Frames are predicted
    one by one in a worker thread (the progress bar counts them), by tiles of "Tile size"
    pixels (512 unless changed; 0 predicts whole frames), so that large images fit in
    memory. With a "Ground truth" Labels layer chosen (one that came with the data as its
    ground truth is offered first), each segmentation result of its shape is scored
    against it (AP at IoU 0.5, AP over IoU 0.5-0.9, SEG; a stack frame by frame) and the
    scores are shown below the progress bar and kept in :attr:`scores`; a result of another
    shape is not scored and the message says why. "Export masks..." writes each result
    Labels layer as a TIFF label image: one file for a single result, or one file per
    layer into a folder; existing files are replaced only after the user confirms. "Stop"
    ends a running prediction after the current frame and adds no partial result.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.results: list[str] = []
        self.scores: dict[str, InstanceScores] = {}
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("model folder or bioimage.io package (.zip)")
        self.folder_edit.editingFinished.connect(self._describe_folder)
        self.browse_button = QPushButton("...")
        self.browse_button.setToolTip("choose a model folder")
        self.browse_button.clicked.connect(self._on_browse)
        self.package_button = QPushButton("Package...")
        self.package_button.setToolTip("choose a bioimage.io model package (.zip or rdf.yaml)")
        self.package_button.clicked.connect(self._on_browse_package)
        self.export_worker = None
        self.kind_label = QLabel("")
        self.kind_label.setWordWrap(True)
        self.image_list = LayerList(napari_viewer)
        self.axes_edit = AxesField(
            napari_viewer, self.image_list, self.image_list.chosen,
            tip="An N2V model takes the axes it was trained for (CYX for channels, ZYX for a 3D model); a segmentation "
            "model YX or TYX",
        )
        self.truth_combo = LayerCombo(napari_viewer, napari.layers.Labels, optional=True, prefer=is_ground_truth)
        self.tile_spin = spin_box(DEFAULT_TILE, 0, 8192, 64)
        self.tile_spin.setSpecialValueText("whole image")
        self.device_combo = device_combo()
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self.apply)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.export_button = QPushButton("Export masks...")
        self.export_button.clicked.connect(self._on_export)
        self.export_package_button = QPushButton("Export bioimage.io package...")
        self.export_package_button.setToolTip("write the model folder as a bioimage.io package, tested by bioimage.io's checker")
        self.export_package_button.clicked.connect(self._on_export_package)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.scores_label = QLabel("")
        self.scores_label.setWordWrap(True)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit)
        folder_row.addWidget(self.browse_button)
        folder_row.addWidget(self.package_button)
        form = QFormLayout()
        form.addRow("Model", folder_row)
        form.addRow("", self.kind_label)
        form.addRow("Images", self.image_list)
        form.addRow("Axes", self.axes_edit)
        form.addRow("Ground truth", self.truth_combo)
        form.addRow("Tile size (px)", self.tile_spin)
        form.addRow("Device", self.device_combo)
        layout = scrolling_layout(self)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.scores_label)
        layout.addWidget(self.export_button)
        layout.addWidget(self.export_package_button)
        layout.addStretch()

    def set_model_folder(self, folder: str | Path) -> None:
        self.folder_edit.setText(str(folder))
        self._describe_folder()

    def _describe_folder(self) -> None:
        text = self.folder_edit.text().strip()
        if not text:
            self.kind_label.setText("")
            return
        try:
            if is_bioimageio_source(text):
                kind = source_kind(text)
                self.kind_label.setToolTip("")
                self.kind_label.setText(f"bioimage.io package: {'denoiser' if kind == 'n2v' else 'segmentation model'}")
                return
            record = read_model_config(text, kind=("n2v", SEGMENTATION_KIND))
        except (ModelFolderError, BioimageioError) as err:
            # The first line only (a package's validation report is long); all of it in the tooltip.
            message = str(err)
            first = message.splitlines()[0] if message else ""
            self.kind_label.setText(first if len(first) <= 200 else first[:200] + "...")
            self.kind_label.setToolTip(message)
            return
        self.kind_label.setToolTip("")
        if record["kind"] == "n2v":
            self.kind_label.setText("Noise2Void denoiser")
        else:
            self.kind_label.setText(f"segmentation: {record.get('method')}, scheme {record.get('scheme')}")

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.set_model_folder(folder)

    def _on_browse_package(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a bioimage.io package", "", "bioimage.io package (*.zip *.yaml)")
        if path:
            self.set_model_folder(path)

    def export_package(self, destination: str | Path, *, overwrite: bool = False):
        """Write the chosen model folder as the bioimage.io package ``destination`` in a worker thread; the worker.

        The output is checked first (an existing file only with ``overwrite``); bioimage.io's
        test of the package runs in the worker, and its result is shown as a notification.
        Raises ``ValueError`` for a missing model folder, a package given as the model, or
        an existing ``destination``.
        """
        folder = self.folder_edit.text().strip()
        if not folder:
            raise ValueError("choose a model folder first")
        if is_bioimageio_source(folder):
            raise ValueError(f"{folder} is a bioimage.io package already; choose the model folder it was made from")
        if self.export_worker is not None:
            raise ValueError("a package is being written; wait until it is done")
        source_kind(folder)
        (target,) = check_output_files(
            [destination], overwrite=overwrite, inputs=[folder], overwrite_hint="confirm replacing it (overwrite=True)"
        )
        self.export_package_button.setEnabled(False)

        def on_done() -> None:
            self.export_package_button.setEnabled(True)
            self.export_worker = None

        self.export_worker = thread_worker(export_bioimageio, start_thread=False, ignore_errors=True)(folder, target)
        self.export_worker.returned.connect(lambda path: show_info(f"bioimage.io package written to {path} (its test passed)"))
        self.export_worker.errored.connect(lambda err: show_error(f"Export of the package failed: {err}"))
        self.export_worker.finished.connect(on_done)
        self.export_worker.start()
        return self.export_worker

    def _on_export_package(self) -> None:
        folder = self.folder_edit.text().strip()
        suggested = f"{Path(folder).name or 'model'}.zip" if folder else "model.zip"
        destination, _ = QFileDialog.getSaveFileName(self, "Export bioimage.io package", suggested, "bioimage.io package (*.zip)")
        if not destination:
            return
        try:
            # The save dialog has asked before replacing a file.
            self.export_package(destination, overwrite=True)
        except (ValueError, OSError) as err:
            show_error(f"Export: {err}")

    def apply(self) -> None:
        """Load the model and predict every frame of the chosen layers in a worker thread (Apply button)."""
        try:
            folder = self.folder_edit.text().strip()
            if not folder:
                raise ValueError("choose a model folder or package first")
            kind = source_kind(folder)
            layers = self.image_list.chosen()
            if layers and all(is_lazy(layer) for layer in layers):
                self._apply_blockwise(folder, kind, layers)
                return
            model = load_model(folder, device=self.device_combo.currentText())
            axes, sample_axes, frame_ndim = None, "STZ", 2
            if kind == "n2v":
                axes = self.axes_edit.axes(layers)
                images = images_of(layers, axes=axes)
                axes = [model.check_input(image, a, name=f"layer {layer.name!r}")[1] for image, a, layer in zip(images, axes, layers)]
                sample_axes = "STZ" if model.ndim == 2 else "ST"
            else:
                frame_ndim = model.config.frame_ndim
                images, _ = frames_of_layers(
                    layers, self.axes_edit.axes(layers), spatial_ndim=model.ndim, channels=model.channels
                )
        except (ValueError, ModelFolderError) as err:
            show_error(f"Predict: {err}")
            return
        tile = self.tile_spin.value()
        tile_shape = (tile, tile) if tile else None
        if model.ndim == 3:
            # A 512^3 tile would not fit in memory: 3D models take their default tiles.
            tile_shape = "auto" if tile else None
        if kind == SEGMENTATION_KIND:
            # Labels have the frames' spatial shape: a multi-channel image's labels have no channel axis.
            outputs = [np.zeros(model.labels_shape(image.shape), np.int32) for image in images]
        else:
            outputs = [np.zeros(image.shape, np.float32) for image in images]
        names = [f"{layer.name} {RESULT_SUFFIX[kind]}" for layer in layers]
        if kind == SEGMENTATION_KIND:
            truths, refused = ground_truth_for(self.truth_combo.chosen(), layers, names, [o.shape for o in outputs])
        else:
            truths, refused = [None] * len(layers), {}
        scores: dict[int, InstanceScores] = {}
        self.scores = {}
        self.scores_label.setText("")
        total = sum(prediction_steps(image, a, sample_axes, frame_ndim) for image, a in zip(images, axes or [None] * len(images)))

        def on_frame(result) -> None:
            i, t, predicted = result
            if t is None:
                outputs[i][...] = predicted
            else:
                outputs[i][t] = predicted

        def add_layers() -> None:
            layer_type = "labels" if kind == SEGMENTATION_KIND else "image"
            for name, output, layer in zip(names, outputs, layers):
                if kind == SEGMENTATION_KIND:
                    # Drawn on the layer's spatial axes (labels of a multi-channel layer have no channel axis).
                    show_result(self.viewer, name, output, layer_type, source=layer)
                else:
                    result = show_result(self.viewer, name, output, layer_type)
                    result.scale, result.translate = layer.scale, layer.translate
            self.results = names if kind == SEGMENTATION_KIND else []
            self._show_scores({names[i]: s for i, s in scores.items()}, {names[i]: reason for i, reason in refused.items()})

        worker = thread_worker(_predict_frames, start_thread=False, ignore_errors=True)(
            model, images, tile_shape, truths, axes, sample_axes, frame_ndim
        )
        worker.returned.connect(scores.update)
        self._run(worker, total, "frames", add_layers, on_frame)

    def _run(self, worker, total: int, unit: str, add_layers, on_yielded=None) -> None:
        """Start the prediction ``worker``: the progress bar counts its ``total`` yields (``unit``), Stop ends it.

        ``on_yielded`` takes each yielded value; ``add_layers()`` runs once all ``total``
        came in, so a stopped or failed run adds no layer.
        """
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.apply_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        stopped = []

        def on_yield(value) -> None:
            if on_yielded is not None:
                on_yielded(value)
            self.progress.setValue(self.progress.value() + 1)

        def on_done() -> None:
            self.apply_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.worker = None
            release_device_memory()
            if self.progress.value() < total:
                if stopped:
                    show_info(f"Prediction stopped after {self.progress.value()} of {total} {unit}; no layer was added")
                return
            add_layers()

        self.worker = worker
        worker.yielded.connect(on_yield)
        worker.errored.connect(lambda err: show_error(f"Prediction failed: {err}"))
        worker.finished.connect(on_done)
        worker.aborted.connect(lambda: stopped.append(True))
        worker.start()

    def _apply_blockwise(self, folder: str, kind: str, layers: list) -> None:
        """Predict dask or multiscale layers (full resolution) block by block into zarr arrays on disk; add them as lazy layers.

        Memory holds a few blocks, whatever the layer's size. The results live in a
        temporary folder until napari closes (save the layers to keep them).
        """
        output = "denoised" if kind == "n2v" else "labels"
        device = self.device_combo.currentText()
        results = [blockwise_predict(folder, full_resolution(layer), output=output, device=device) for layer in layers]
        scratch = Path(tempfile.mkdtemp(prefix="denoise2seg-results-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        paths = [scratch / f"result-{i}.zarr" for i in range(len(layers))]
        total = sum(math.prod(result.numblocks) for result in results)
        names = [f"{layer.name} {RESULT_SUFFIX[kind]}" for layer in layers]

        def blocks():
            for result, path in zip(results, paths):
                yield from blocks_into(result, path)

        def add_layers() -> None:
            import dask.array as da

            for name, path, layer in zip(names, paths, layers):
                show_result(self.viewer, name, da.from_zarr(str(path)), "labels" if kind == SEGMENTATION_KIND else "image", source=layer)
            self.results = names if kind == SEGMENTATION_KIND else []
            show_info(f"{len(names)} result(s) of full-resolution blocks, read from {scratch} until napari closes")

        self._run(thread_worker(blocks, start_thread=False, ignore_errors=True)(), total, "blocks", add_layers)

    def _show_scores(self, scores: dict[str, InstanceScores], refused: dict[str, str]) -> None:
        """Show each result's scores (and why a result was not scored) below the progress bar and as notifications."""
        self.scores = scores
        lines = [f"{name}: {s.summary()}" for name, s in scores.items()]
        lines += [f"{name}: not scored: {reason}" for name, reason in refused.items()]
        self.scores_label.setText("\n".join(lines))
        if scores:
            show_info("Scores against the ground truth: " + "; ".join(lines[: len(scores)]))
        if refused:
            show_warning("Not scored: " + "; ".join(refused.values()))

    def stop(self) -> None:
        """Stop the running prediction after the current frame (Stop button); no result layer is added.

        The worker's ``aborted`` signal marks the run as stopped, so a failed run reports
        only its error, not a stop.
        """
        if self.worker is not None:
            self.worker.quit()

    def export_targets(self, destination: str | Path) -> list[tuple[Path, napari.layers.Labels]]:
        """The TIFF path of each result Labels layer: ``destination`` (a ``.tif`` path) for one result, else files in the folder ``destination``."""
        layers = [self.viewer.layers[name] for name in self.results if name in self.viewer.layers]
        if not layers:
            raise ValueError("nothing to export: apply a segmentation model first")
        destination = Path(destination)
        if destination.suffix.lower() in (".tif", ".tiff"):
            if len(layers) > 1:
                raise ValueError(f"{len(layers)} masks to export: choose a folder, not a single file")
            return [(destination, layers[0])]
        return [(destination / f"{layer.name.replace(' ', '_')}.tif", layer) for layer in layers]

    def export_masks(self, destination: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write the result Labels layers as TIFF label images (see :meth:`export_targets`); return the paths.

        Every target is checked before any is written: an existing file is refused unless
        ``overwrite`` is true (:class:`~denoise2seg.io.outputs.OutputLocationError`, a
        ``ValueError`` naming the file), and then nothing is written.
        """
        targets = self.export_targets(destination)
        check_output_files([path for path, _ in targets], overwrite=overwrite, overwrite_hint="confirm replacing it (overwrite=True)")
        written = []
        for path, layer in targets:
            written += write_labels_tiff(str(path), layer.data, {"name": layer.name})
        return [Path(p) for p in written]

    def _confirm_replace(self, existing: list[Path]) -> bool:
        names = "\n".join(path.name for path in existing)
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"These files exist in {existing[0].parent} and would be replaced:\n{names}",
            QMessageBox.Yes | QMessageBox.No,
            QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def _on_export(self) -> None:
        if len(self.results) == 1:
            # Replacing is asked below, once for a file as for a folder of files.
            destination, _ = QFileDialog.getSaveFileName(
                self,
                "Export mask as TIFF",
                f"{self.results[0].replace(' ', '_')}.tif",
                "TIFF (*.tif *.tiff)",
                options=QFileDialog.DontConfirmOverwrite,
            )
        else:
            destination = QFileDialog.getExistingDirectory(self, "Export masks into folder")
        if not destination:
            return
        try:
            existing = [path for path, _ in self.export_targets(destination) if path.exists()]
            if existing and not self._confirm_replace(existing):
                show_info(f"Export cancelled: {len(existing)} existing file(s) left unchanged")
                return
            written = self.export_masks(destination, overwrite=bool(existing))
        except (ValueError, OSError) as err:
            show_error(f"Export: {err}")
            return
        show_info(f"exported {len(written)} mask(s) to {Path(written[0]).parent}")
