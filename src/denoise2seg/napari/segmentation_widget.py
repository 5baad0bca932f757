"""Dock widget that trains a VoidSeg segmenter (3-class U-Net or StarDist) from a few painted labels."""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from ..metrics import InstanceScores, score_image
from ..segmentation import SCHEMES, SegmentationConfig, SegmentationModel, train_segmentation
from ..data.axes import as_frames, without_channel
from ..segmentation.config import FINETUNE_SCHEMES, anisotropy_of
from ..training import TrainingEvent
from ..training.state import has_training_state
from .background import start_worker
from .controls import Collapsible, device_combo, dock_layout, path_field, learning_rate_box, seed_box, seed_of, spin_box
from .layer_choice import (
    AxesField, FrameWindow, LayerCombo, LayerList, frame_window, frames_of_layers, is_ground_truth, placement, show_result,
    spatial_ndim_of, window_on_image,
)
from .n2v_widget import DENOISED_LAYER, n2v_folder_for
from .training_panel import TrainingPanel

SEGMENTATION_LAYER = "segmentation"
# The image-sized copy of a corrected segmentation layer that a training starts from.
CORRECTED_LAYER = "corrected segmentation"
METHOD_NAMES = {"U-Net (3-class)": "unet", "StarDist": "stardist"}
_DEFAULTS = {f.name: f.default for f in fields(SegmentationConfig)}
# The settings whose defaults differ between 2D and 3D models, with the widget's spin box for each.
_BY_NDIM = {ndim: SegmentationConfig(ndim=ndim) for ndim in (2, 3)}


def layer_labels_shape(layer, axes: str) -> tuple[int, ...]:
    """The shape of a label image of ``layer`` with ``axes``: the layer's shape without its channel axis."""
    return without_channel(np.shape(layer.data), axes)


def annotations_of(labels, name: str, layers: list, axes: list[str], spatial_ndim: int) -> list[np.ndarray]:
    """The labels (the data of the Labels layer ``name``) for each image layer, as frames; ``ValueError`` naming the shapes.

    One Labels layer annotates all chosen layers, so it must have the shape of each
    (without its channel axis: a label image of a ``CYX`` layer is ``YX``). A Labels
    layer made on a multi-channel layer (napari gives it the channel axis too) is
    accepted: what is painted on any channel's plane counts, the planes merged.
    """
    labels = np.asarray(labels)
    merged = []
    for layer, layer_axes in zip(layers, axes):
        wanted = layer_labels_shape(layer, layer_axes)
        if "C" in layer_axes and labels.shape == tuple(np.shape(layer.data)):
            layer_labels = labels.max(axis=layer_axes.index("C"))
        elif labels.shape == wanted:
            layer_labels = labels
        else:
            raise ValueError(
                f"the Labels layer {name!r} has shape {labels.shape} but the image {layer.name!r} has shape "
                f"{tuple(np.shape(layer.data))} (labels: {wanted}); paint the labels on a layer of the image's shape "
                "(Layer > New Labels layer while the image is selected)"
            )
        merged.append(as_frames(layer_labels.astype(np.int32, copy=False), layer_axes.replace("C", ""), spatial_ndim=spatial_ndim))
    if not labels.any():
        raise ValueError(f"the Labels layer {name!r} is empty: paint a few objects first")
    return merged


def ground_truth_window(truth_layer, window: FrameWindow) -> np.ndarray:
    """The pixels of the Labels layer ``truth_layer`` under a segmented ``window`` of an image layer, as a frame.

    Returns a copy, so that painting on the layer while the window is scored changes
    nothing. Raises ``ValueError`` naming both shapes when the ground truth is not of the
    image's shape.
    """
    source = window.source
    truth = np.asarray(truth_layer.data)
    wanted = layer_labels_shape(source, window.axes)
    if truth.shape != wanted:
        raise ValueError(
            f"the ground truth {truth_layer.name!r} has shape {truth.shape} but the segmented image {source.name!r} "
            f"{tuple(source.data.shape)} (labels: {wanted}); choose the ground truth of {source.name!r}"
        )
    return window.labels_frame(truth).copy()


def offered_as_annotations(layer) -> bool:
    """Whether a Labels layer is chosen as annotations by default: not a sample's ground truth, not the live ``segmentation``."""
    return not is_ground_truth(layer) and layer.name != SEGMENTATION_LAYER


def chosen_annotations(viewer: napari.Viewer, combo: LayerCombo):
    """The Labels layer chosen in ``combo`` as annotations; ``ValueError`` saying how to make one when there is none.

    The message names a layer that came with the data as its ground truth, which is never
    chosen by default.
    """
    layer = combo.chosen()
    if layer is None:
        truth = [layer.name for layer in viewer.layers if is_ground_truth(layer)]
        hint = f"; {', '.join(map(repr, truth))} came with the data as ground truth and is not chosen unless you pick it" if truth else ""
        raise ValueError(f"choose the Labels layer with your annotations (Layer > New Labels layer, then paint){hint}")
    return layer


class SegmentationWidget(QWidget):
    """Train a segmentation model on image layers from the objects painted in a Labels layer.

    Only annotated regions count (the segmentation core's convention): a frame whose
    labels are all 0 is unannotated, and inside an annotated frame the bounding box of
    the painted objects grown by "Annotation margin" pixels. Schemes other than
    ``baseline`` use an N2V model: the one trained or loaded last in this viewer's N2V
    widget, or a folder. The ``finetune`` schemes start from the N2V weights and exist
    for the U-Net only. Settings start at the paper defaults
    (:class:`~denoise2seg.segmentation.SegmentationConfig`). A Labels layer that came
    with sample data as its ground truth is never chosen as annotations by default. While
    training, the middle of the view (at most 512 x 512 pixels) of the frame under the
    slider of the first image is segmented into the ``segmentation`` layer, drawn on
    those pixels; Stop keeps the best model saved so far. Axes with Z (``ZYX``, a stack
    of volumes ``TZYX``) train a 3D U-Net or StarDist 3D on whole volumes, with the
    voxel anisotropy of the first layer's scale and the 3D patch defaults; the live
    preview then segments the 32 slices around the slider. Axes with C (``CYX``, RGB
    ``YXC``) train on all channels as the network's input channels, normalised each on
    its own; the annotations are a label image of the layer's shape without C (or with
    it, as napari makes a Labels layer on a multi-channel image: any channel's plane
    counts). When training ends, the saved
    model (best weights, tuned thresholds) segments that region once more; with a "Ground
    truth" Labels layer of the first image's shape chosen (one that came with the data as
    its ground truth is offered first), that segmentation is scored against the ground
    truth's pixels of the region (AP at IoU 0.5, AP over IoU 0.5-0.9, SEG), shown below
    the settings and kept in :attr:`scores`.

    Correct and retrain: after correcting the ``segmentation`` layer with napari's label
    tools, choose it as "Annotations"; training then starts from an image-sized copy of
    it, the ``corrected segmentation`` layer (kept, and chosen from then on), while the
    new previews go to ``segmentation``. "Continue training" goes on with the model in
    "Model folder" for "Epochs" more epochs with the current annotations, into a new
    folder (its settings, weights, optimiser state and step count carry on, and the loss
    curve continues); "Train" starts afresh. "Seed" (under Advanced) repeats a run.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model_folder: Path | None = None
        self.scores: InstanceScores | None = None
        self._training_folder: Path | None = None
        # The region segmented live: a window of one frame of the first image layer.
        self._preview: FrameWindow | None = None
        self.image_list = LayerList(napari_viewer, exclude=(DENOISED_LAYER,))
        self.axes_edit = AxesField(
            napari_viewer, self.image_list, self.image_list.chosen,
            tip="Segmentation takes YX or TYX (frames), ZYX / TZYX for a 3D model, and C for channels (CYX, RGB YXC)",
        )
        self.axes_edit.textChanged.connect(self._defaults_for_axes)
        self.labels_combo = LayerCombo(
            napari_viewer, napari.layers.Labels, optional=True,
            prefer=offered_as_annotations,
        )
        self.truth_combo = LayerCombo(
            napari_viewer, napari.layers.Labels, optional=True, exclude=(SEGMENTATION_LAYER,), prefer=is_ground_truth,
            distinct_from=self.labels_combo,
        )
        self.scores_label = QLabel("")
        self.scores_label.setWordWrap(True)
        self.method_combo = QComboBox()
        self.method_combo.addItems(METHOD_NAMES)
        self.scheme_combo = QComboBox()
        self.scheme_combo.addItems(SCHEMES)
        self.method_combo.currentTextChanged.connect(self._on_method_changed)
        self.n2v_folder_edit = QLineEdit()
        self.n2v_folder_edit.setPlaceholderText("empty: the model of the N2V widget")
        self.n2v_browse = QPushButton("...")
        self.n2v_browse.clicked.connect(self._on_browse_n2v)
        self.patch_spin = spin_box(_BY_NDIM[2].patch_size, 16, 1024, 16)
        self.patch_depth_spin = spin_box(_BY_NDIM[3].patch_depth, 4, 512, 4)
        self.epochs_spin = spin_box(_DEFAULTS["epochs"], 1, 10_000)
        self.steps_spin = spin_box(_DEFAULTS["steps_per_epoch"], 1, 100_000)
        self.batch_spin = spin_box(_BY_NDIM[2].batch_size, 1, 1024)
        self.rays_spin = spin_box(_BY_NDIM[2].n_rays, 4, 256, 4)
        self.lr_spin = learning_rate_box(_DEFAULTS["learning_rate"])
        self.depth_spin = spin_box(_DEFAULTS["depth"], 1, 5)
        self.filters_spin = spin_box(_DEFAULTS["n_filters"], 4, 256, 4)
        self.margin_spin = spin_box(_DEFAULTS["annotation_margin"], 0, 1000)
        self.preview_spin = spin_box(50, 1, 100_000)
        self.seed_spin = seed_box()
        self.device_combo = device_combo()
        self.folder_label = path_field("(new folder when training starts)")
        self.panel = TrainingPanel("Train", title="Segmentation training", continue_text="Continue training")
        self.panel.train_button.clicked.connect(self.train)
        self.panel.continue_button.clicked.connect(self.continue_training)
        self.panel.continue_button.setToolTip(
            "train the model under Model folder for 'Epochs' more epochs, counted after the epoch it stopped in, into a "
            "new folder; its settings, optimiser state and step count carry on"
        )

        n2v_row = QHBoxLayout()
        n2v_row.addWidget(self.n2v_folder_edit)
        n2v_row.addWidget(self.n2v_browse)
        self.advanced = Collapsible([
            ("Patch size", self.patch_spin),
            ("Patch depth (Z, 3D)", self.patch_depth_spin),
            ("Batch size", self.batch_spin),
            ("StarDist rays", self.rays_spin),
            ("Learning rate", self.lr_spin),
            ("U-Net depth", self.depth_spin),
            ("U-Net filters", self.filters_spin),
            ("Annotation margin (px)", self.margin_spin),
            ("Preview every (steps)", self.preview_spin),
            ("Seed", self.seed_spin),
        ])
        rows = [
            ("Images", self.image_list),
            ("Axes", self.axes_edit),
            ("Annotations", self.labels_combo),
            ("Ground truth", self.truth_combo),
            ("Method", self.method_combo),
            ("Scheme", self.scheme_combo),
            ("N2V model", n2v_row),
            ("Epochs", self.epochs_spin),
            ("Steps per epoch", self.steps_spin),
            ("Device", self.device_combo),
            ("Model folder", self.folder_label),
        ]
        # Below the form, across the dock: a wrapped label inside a form row gets too little height and is cut.
        dock_layout(self, rows, [self.scores_label, self.advanced, self.panel])

    @property
    def method(self) -> str:
        return METHOD_NAMES[self.method_combo.currentText()]

    def _on_method_changed(self, _text: str) -> None:
        # StarDist's network is not the N2V U-Net, so it cannot start from N2V weights (VoidSeg Sec. 2).
        model = self.scheme_combo.model()
        for index, scheme in enumerate(SCHEMES):
            model.item(index).setEnabled(not (self.method == "stardist" and scheme in FINETUNE_SCHEMES))
        if self.method == "stardist" and self.scheme_combo.currentText() in FINETUNE_SCHEMES:
            without_finetune = {"finetune": "baseline", "finetune-sequential": "sequential"}
            self.scheme_combo.setCurrentText(without_finetune[self.scheme_combo.currentText()])

    def _on_browse_n2v(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an N2V model folder")
        if folder:
            self.n2v_folder_edit.setText(folder)

    def n2v_folder(self) -> Path | None:
        """The N2V model folder to use: the typed folder, else the one of this viewer's N2V widget."""
        return n2v_folder_for(self.viewer, self.n2v_folder_edit.text())

    def _defaults_for_axes(self, text: str) -> None:
        """Put patch size and batch at the defaults of the model the axes ask for (2D or 3D) where they hold the other's."""
        ndim = 3 if "Z" in text.upper() else 2
        for spin, name in ((self.patch_spin, "patch_size"), (self.batch_spin, "batch_size"), (self.rays_spin, "n_rays")):
            if spin.value() == getattr(_BY_NDIM[5 - ndim], name):
                spin.setValue(getattr(_BY_NDIM[ndim], name))

    def config(self, ndim: int = 2, anisotropy: tuple[float, float, float] | None = None, channels: int = 1) -> SegmentationConfig:
        """The :class:`SegmentationConfig` of the current settings, for a 2D or 3D (``ndim``) model of ``channels`` channels."""
        return SegmentationConfig(
            method=self.method,
            scheme=self.scheme_combo.currentText(),
            ndim=ndim,
            channels=channels,
            anisotropy=anisotropy if ndim == 3 else None,
            patch_size=self.patch_spin.value(),
            patch_depth=self.patch_depth_spin.value() if ndim == 3 else None,
            batch_size=self.batch_spin.value(),
            n_rays=self.rays_spin.value(),
            epochs=self.epochs_spin.value(),
            steps_per_epoch=self.steps_spin.value(),
            learning_rate=self.lr_spin.value(),
            depth=self.depth_spin.value(),
            n_filters=self.filters_spin.value(),
            annotation_margin=self.margin_spin.value(),
            seed=seed_of(self.seed_spin),
        )

    def train(self) -> None:
        """Check the layers, labels, scheme and N2V model, then train in a worker thread (Train button)."""
        self._start(resume=None)

    def continue_training(self) -> None:
        """Continue the training of the model in "Model folder" for "Epochs" more epochs on the current annotations."""
        if not has_training_state(self.model_folder):
            show_error("Segmentation: no training to continue: train a model here first")
            return
        self._start(resume=self.model_folder)

    def _annotations(self, layers: list, axes: list[str], spatial_ndim: int):
        """The chosen annotation layer and its labels per image; a corrected ``segmentation`` window becomes an image-sized layer."""
        labels_layer = chosen_annotations(self.viewer, self.labels_combo)
        if labels_layer.name != SEGMENTATION_LAYER:
            return labels_layer, annotations_of(labels_layer.data, labels_layer.name, layers, axes, spatial_ndim)
        corrected = window_on_image(labels_layer, layers[0], layer_labels_shape(layers[0], axes[0]))
        labels = annotations_of(corrected, SEGMENTATION_LAYER, layers, axes, spatial_ndim)
        if CORRECTED_LAYER in self.viewer.layers:
            self.viewer.layers.remove(CORRECTED_LAYER)
        labels_layer = self.viewer.add_labels(corrected, name=CORRECTED_LAYER, **placement(layers[0], corrected.ndim))
        self.labels_combo.setCurrentText(CORRECTED_LAYER)
        return labels_layer, labels

    def _start(self, resume: Path | None) -> None:
        try:
            layers = self.image_list.chosen()
            axes = self.axes_edit.axes(layers)
            ndim = spatial_ndim_of(axes)
            images, channels = frames_of_layers(layers, axes, for_training=True, spatial_ndim=ndim, channels=None)
            spatial_scale = tuple(s for s, letter in zip(layers[0].scale, axes[0]) if letter in "ZYX")
            anisotropy = anisotropy_of(spatial_scale) if ndim == 3 else None
            config = self.config(ndim, anisotropy, channels)
            n2v = self.n2v_folder() if config.uses_n2v and resume is None else None
            if resume is None and config.uses_n2v and n2v is None:
                raise ValueError(f"scheme {config.scheme!r} needs an N2V model: train one in the N2V widget or choose its folder")
            if n2v is not None and not (Path(n2v) / "config.json").is_file():
                raise ValueError(f"{n2v} is not a model folder (it has no config.json)")
            labels_layer, labels = self._annotations(layers, axes, ndim)
        except ValueError as err:
            show_error(f"Segmentation: {err}")
            return
        more_epochs = self.epochs_spin.value() if resume is not None else None
        if resume is not None:
            config = None
        folder = Path(tempfile.mkdtemp(prefix="segmentation-model-"))
        window = frame_window(self.viewer, layers[0], axes[0], spatial_ndim=ndim)
        preview = window.frame(layers[0].data).astype(np.float32)
        self._preview = window
        device = self.device_combo.currentText()
        preview_every = self.preview_spin.value()
        self._training_folder = folder
        self.folder_label.setText(str(folder))
        self.scores = None
        self.scores_label.setText("")
        self.panel.run(
            lambda: train_segmentation(
                images, labels, config, n2v_model=n2v, out_dir=folder, device=device, preview_image=preview,
                preview_every=preview_every, resume=resume, more_epochs=more_epochs,
            ),
            on_event=self._on_event,
            on_finished=self._on_finished,
            disable=[self.image_list, self.labels_combo, self.method_combo, self.scheme_combo],
            keep_plot=resume is not None,
        )
        if resume is not None:
            self.panel.status.setText(
                f"continuing {resume} (its settings) for {more_epochs} more epochs: annotations from {labels_layer.name!r}"
            )
        else:
            self.panel.status.setText(f"starting: annotations from {labels_layer.name!r}")

    def _on_event(self, event: TrainingEvent) -> None:
        if event.kind == "preview" and event.preview is not None:
            self._show_segmentation(event.preview)

    def _show_segmentation(self, labels: np.ndarray) -> None:
        window = self._preview
        data = window.labels_to_layer(np.asarray(labels, dtype=np.int32))
        show_result(self.viewer, SEGMENTATION_LAYER, data, "labels", source=window.source, offset=window.labels_offset, opacity=0.6)

    def _on_finished(self) -> None:
        if self._training_folder is None or not (self._training_folder / "config.json").is_file():
            self.panel.continue_button.setEnabled(has_training_state(self.model_folder))
            return
        self.model_folder = self._training_folder
        self.folder_label.setText(str(self.model_folder))
        self.panel.continue_button.setEnabled(has_training_state(self.model_folder))
        window = self._preview
        truth = None
        truth_layer = self.truth_combo.chosen()
        if truth_layer is not None:
            try:
                truth = ground_truth_window(truth_layer, window)
            except ValueError as err:
                self.scores_label.setText(f"not scored: {err}")
                show_warning(f"Segmentation not scored: {err}")
        # The live previews use the network's current weights with default thresholds; the
        # saved model is the best one with thresholds tuned on the annotations, so show that.
        start_worker(
            _segment_frame,
            self.model_folder,
            window.frame(window.source.data).astype(np.float32),
            self.device_combo.currentText(),
            truth,
            on_returned=self._show_final,
            title="Segmentation with the trained model",
            busy=self.panel.train_button,
        )

    def _show_final(self, result: tuple[np.ndarray, InstanceScores | None]) -> None:
        """Show the trained model's segmentation and, when it was scored, its scores."""
        labels, scores = result
        self._show_segmentation(labels)
        if scores is not None:
            self.scores = scores
            size = " x ".join(str(n) for n in labels.shape)
            unit = "voxel" if labels.ndim == 3 else "px"
            self.scores_label.setText(f"{scores.summary()}, on the {size} {unit} region segmented")


def _segment_frame(folder: Path, frame: np.ndarray, device: str, truth: np.ndarray | None) -> tuple[np.ndarray, InstanceScores | None]:
    """The saved model's labels of ``frame``, and their scores against ``truth`` (the same window) when given."""
    model = SegmentationModel.load(folder, device=device)
    labels = model.predict(frame)
    return labels, None if truth is None else score_image(truth, labels, name=SEGMENTATION_LAYER, ndim=model.ndim)
