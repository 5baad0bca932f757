"""Dock widget that trains Noise2Void on image layers, with a live loss plot and a live "denoised" layer."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import fields
from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from ..data.axes import parse_axes_list
from ..io.model_folder import ModelFolderError
from ..n2v import N2VConfig, N2VModel, train_n2v
from ..training import TrainingEvent
from ..training.state import has_training_state
from .background import start_worker
from .controls import Collapsible, device_combo, dock_layout, path_field, seed_box, seed_of, spin_box
from .layer_choice import AxesField, LayerList, images_of, preview_window, show_result, spatial_ndim_of
from .training_panel import TrainingPanel

DENOISED_LAYER = "denoised"
# Colours of the channel layers of a multi-channel result (napari's own for channel_axis).
CHANNEL_COLORMAPS = ("magenta", "green", "cyan", "yellow")


def channel_layer_name(channel: int) -> str:
    """The layer of channel ``channel`` of a multi-channel denoised result."""
    return f"{DENOISED_LAYER} [{channel}]"
_DEFAULTS = {f.name: f.default for f in fields(N2VConfig)}

# The N2V model folder last trained or loaded in each viewer, offered to the segmentation widget.
_N2V_FOLDERS: "weakref.WeakKeyDictionary[napari.Viewer, Path]" = weakref.WeakKeyDictionary()


def current_n2v_folder(viewer: napari.Viewer) -> Path | None:
    """The N2V model folder trained or loaded last by an N2V widget of ``viewer`` (``None`` when none)."""
    return _N2V_FOLDERS.get(viewer)


def n2v_folder_for(viewer: napari.Viewer, typed: str) -> Path | None:
    """The N2V model folder a widget uses: the ``typed`` one, else :func:`current_n2v_folder` (``None`` when neither)."""
    typed = typed.strip()
    return Path(typed) if typed else current_n2v_folder(viewer)


class N2VWidget(QWidget):
    """Train a 2D or 3D Noise2Void denoiser on one or several image layers, with their axes.

    "Axes" shows the axes guessed for the chosen layers whenever the choice changes
    (:func:`~denoise2seg.data.axes.guess_axes`: ``CYX`` for a short first axis, ``TYX``
    for a long one, ``YXC`` for an RGB layer...; one string for all layers, or one per
    layer in the order of the list, separated by commas) and may be edited: ``C`` is
    denoised as network channels, ``S`` and ``T`` as separate samples; axes with ``Z``
    (``ZYX``, ``TZYX``, written by the user: a stack is guessed ``TYX``) train a 3D model on
    the Z-stacks, and the patch size then starts at 32 (cubes). The
    settings start at the paper defaults (:class:`~denoise2seg.n2v.N2VConfig`); lower
    epochs/steps for a quick run on a CPU. Training writes the model folder shown in
    "Model folder" (a new folder when empty); "Save as..." copies it elsewhere, "Load..."
    picks an existing one and denoises the chosen layer with it. While training, the
    middle of the view (at most 512 x 512 pixels) of the frame under the sliders of the
    first chosen layer in the list, all its channels, is denoised every "Preview every"
    steps into the ``denoised`` layer, drawn on those pixels: a layer with the input's
    axes (the input's shape for an image that fits the window), one frame long on the
    sample axes; for a 3D model the preview is the 32 slices around the slider.

    "Continue training" goes on with the model in "Model folder" (trained here or loaded)
    for "Epochs" more epochs, on the chosen layers, into a new folder: its own settings,
    weights, optimiser state and step count carry on, and the loss curve continues. "Seed"
    (under Advanced) repeats a run; "random" draws a new seed each time.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model_folder: Path | None = None
        self._training_folder: Path | None = None
        # The layer and pixel offset of the running preview, to draw it on its source pixels.
        self._preview_at: tuple = (None, ())
        self.image_list = LayerList(napari_viewer, exclude=(DENOISED_LAYER,))
        self.axes_edit = AxesField(
            napari_viewer, self.image_list, self.chosen_layers,
            tip="Axes with Z train a 3D model on the Z-stacks (write ZYX; TYX denoises the stack as 2D frames)",
        )
        self.patch_spin = spin_box(_DEFAULTS["patch_size"] or 64, 16, 512, 8)
        self.axes_edit.textChanged.connect(self._default_patch_for_axes)
        self.epochs_spin = spin_box(_DEFAULTS["epochs"], 1, 10_000)
        self.steps_spin = spin_box(_DEFAULTS["steps_per_epoch"], 1, 100_000)
        self.batch_spin = spin_box(_DEFAULTS["batch_size"], 1, 1024)
        self.depth_spin = spin_box(_DEFAULTS["depth"], 1, 5)
        self.filters_spin = spin_box(_DEFAULTS["n_filters"], 4, 256, 4)
        self.preview_spin = spin_box(50, 1, 100_000)
        self.seed_spin = seed_box()
        self.n2v2_check = QCheckBox("N2V2 (no checkerboard artefacts)")
        self.n2v2_check.setToolTip(
            "blur-pool U-Net without the top skip connection and median blind-spot replacement (Hoeck et al. 2022); "
            "such a model denoises for the sequential scheme but cannot initialise the finetune schemes"
        )
        self.device_combo = device_combo()
        self.folder_label = path_field("(new folder when training starts)")
        self.save_button = QPushButton("Save as...")
        self.load_button = QPushButton("Load...")
        self.save_button.clicked.connect(self._on_save)
        self.load_button.clicked.connect(self._on_load)
        self.panel = TrainingPanel("Train", title="N2V training", continue_text="Continue training")
        self.panel.train_button.clicked.connect(self.train)
        self.panel.continue_button.clicked.connect(self.continue_training)
        self.panel.continue_button.setToolTip(
            "train the model under Model folder for 'Epochs' more epochs, counted after the epoch it stopped in, into a "
            "new folder; its settings, optimiser state and step count carry on"
        )

        self.advanced = Collapsible([
            ("Patch size", self.patch_spin),
            ("Batch size", self.batch_spin),
            ("U-Net depth", self.depth_spin),
            ("U-Net filters", self.filters_spin),
            ("Preview every (steps)", self.preview_spin),
            ("Seed", self.seed_spin),
            ("Network", self.n2v2_check),
        ])
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.save_button)
        folder_buttons.addWidget(self.load_button)
        rows = [
            ("Images", self.image_list),
            ("Axes", self.axes_edit),
            ("Epochs", self.epochs_spin),
            ("Steps per epoch", self.steps_spin),
            ("Device", self.device_combo),
            ("Model folder", self.folder_label),
        ]
        dock_layout(self, rows, [self.advanced, folder_buttons, self.panel])

    def chosen_layers(self) -> list:
        """The chosen image layers in the order of the list (the order of per-layer axes in "Axes")."""
        order = [layer.name for layer in self.viewer.layers]
        return sorted(self.image_list.chosen(), key=lambda layer: order.index(layer.name))

    def chosen_axes(self, count: int) -> list[str]:
        """The axes in "Axes" for ``count`` chosen layers (one string for all, or one per layer; none for no layer)."""
        return parse_axes_list(self.axes_edit.text(), count) if count else []

    def _default_patch_for_axes(self, text: str) -> None:
        """Put the patch size at the default of the model the axes ask for (64 in 2D, 32 in 3D) when it is the other's."""
        defaults = {2: N2VConfig(ndim=2).patch_size, 3: N2VConfig(ndim=3).patch_size}
        ndim = 3 if "Z" in text.upper() else 2
        if self.patch_spin.value() == defaults[5 - ndim]:
            self.patch_spin.setValue(defaults[ndim])

    def config(self, ndim: int = 2) -> N2VConfig:
        """The :class:`N2VConfig` of the current settings, for a 2D or 3D (``ndim``) model."""
        return N2VConfig(
            ndim=ndim,
            patch_size=self.patch_spin.value(),
            batch_size=self.batch_spin.value(),
            epochs=self.epochs_spin.value(),
            steps_per_epoch=self.steps_spin.value(),
            depth=self.depth_spin.value(),
            n_filters=self.filters_spin.value(),
            n2v2=self.n2v2_check.isChecked(),
            seed=seed_of(self.seed_spin),
        )

    def train(self) -> None:
        """Check the chosen layers and settings, then train in a worker thread (Train button)."""
        self._start(resume=None)

    def continue_training(self) -> None:
        """Continue the training of the model in "Model folder" for "Epochs" more epochs (Continue training button)."""
        if not has_training_state(self.model_folder):
            show_error("N2V: no training to continue: train a model here or load a model folder written by a training")
            return
        self._start(resume=self.model_folder)

    def _start(self, resume: Path | None) -> None:
        try:
            layers = self.chosen_layers()
            axes = self.chosen_axes(len(layers))
            images = images_of(layers, for_training=True, axes=axes)
            ndim = spatial_ndim_of(axes)
            config = self.config(ndim) if resume is None else None
        except ValueError as err:
            show_error(f"N2V: {err}")
            return
        more_epochs = self.epochs_spin.value() if resume is not None else None
        folder = Path(tempfile.mkdtemp(prefix="n2v-model-"))
        preview, offset = preview_window(self.viewer, layers[0], images[0], axes[0], spatial_ndim=ndim)
        self._preview_at = (layers[0], offset, axes[0])
        device = self.device_combo.currentText()
        preview_every = self.preview_spin.value()
        names = [f"layer {layer.name!r}" for layer in layers]
        self._training_folder = folder
        self.folder_label.setText(str(folder))
        self.panel.run(
            lambda: train_n2v(
                images, config, axes=axes, names=names, out_dir=folder, device=device,
                preview_image=preview, preview_axes=axes[0], preview_every=preview_every,
                resume=resume, more_epochs=more_epochs,
            ),
            on_event=self._on_event,
            on_finished=self._on_finished,
            disable=[self.image_list, self.save_button, self.load_button],
            keep_plot=resume is not None,
        )
        if resume is not None:
            self.panel.status.setText(f"continuing {resume} (its settings) for {more_epochs} more epochs")

    def _on_event(self, event: TrainingEvent) -> None:
        if event.kind == "preview" and event.preview is not None:
            self._show_denoised(event.preview)
        elif event.kind == "checkpoint" and self.model_folder != self._training_folder:
            self._set_model_folder(self._training_folder)

    def _show_denoised(self, denoised) -> None:
        """Show a denoised preview: one ``denoised`` layer (RGB as RGB), or one layer per channel with its own contrast.

        Channels of different brightness in one layer would share one contrast range, so a
        dim channel would look black; as napari's ``channel_axis`` does, each channel gets
        its own layer (``denoised [0]``, ``denoised [1]``...), colour and contrast, blended
        additively.
        """
        source, offset, axes = self._preview_at
        if getattr(source, "rgb", False) or "C" not in axes or denoised.shape[axes.index("C")] == 1:
            display = {"rgb": True} if getattr(source, "rgb", False) else {"colormap": "gray"}
            show_result(self.viewer, DENOISED_LAYER, denoised, source=source, offset=offset, **display)
            return
        axis = axes.index("C")
        spatial_offset = offset[:axis] + offset[axis + 1 :]
        for channel in range(denoised.shape[axis]):
            show_result(
                self.viewer, channel_layer_name(channel), np.take(denoised, channel, axis=axis), source=source,
                offset=spatial_offset, without_axis=axis, colormap=CHANNEL_COLORMAPS[channel % len(CHANNEL_COLORMAPS)],
                blending="additive",
            )

    def _on_finished(self) -> None:
        if self._training_folder is not None and (self._training_folder / "config.json").is_file():
            self._set_model_folder(self._training_folder)
        self.panel.continue_button.setEnabled(has_training_state(self.model_folder))

    def _set_model_folder(self, folder: Path) -> None:
        self.model_folder = Path(folder)
        _N2V_FOLDERS[self.viewer] = self.model_folder
        self.folder_label.setText(str(self.model_folder))
        self.panel.continue_button.setEnabled(not self.panel.running and has_training_state(self.model_folder))

    def save_model(self, destination: str | Path) -> Path:
        """Copy the current model folder to ``destination`` (a new folder) and use the copy from now on."""
        if self.model_folder is None:
            raise ValueError("no model yet: train one or load a model folder first")
        destination = Path(destination)
        if destination.exists() and any(destination.iterdir()):
            raise ValueError(f"{destination} exists and is not empty; choose a new folder")
        shutil.copytree(self.model_folder, destination, dirs_exist_ok=True)
        self._set_model_folder(destination)
        return destination

    def load_model(self, folder: str | Path) -> None:
        """Use the N2V model folder ``folder`` and denoise the middle of the view of the chosen layer into ``denoised``.

        The layer is read with the axes in "Axes"; ``ValueError`` when they do not fit it or
        it has another number of channels than the model.
        """
        model = N2VModel.load(folder, device=self.device_combo.currentText())
        self._set_model_folder(Path(folder))
        layers = self.chosen_layers()
        if not layers:
            return
        axes = self.chosen_axes(len(layers))[0]
        name = f"layer {layers[0].name!r}"
        image, axes = model.check_input(images_of(layers[:1], axes=[axes])[0], axes, name=name)
        crop, offset = preview_window(self.viewer, layers[0], image, axes, spatial_ndim=model.config.ndim)
        self._preview_at = (layers[0], offset, axes)
        start_worker(
            lambda: model.predict(crop, axes=axes, name=name),
            on_returned=self._show_denoised,
            title="N2V denoising",
            busy=self.load_button,
        )

    def _on_save(self) -> None:
        destination = QFileDialog.getExistingDirectory(self, "Save the N2V model folder into (an empty folder)")
        if not destination:
            return
        try:
            show_info(f"N2V model saved to {self.save_model(destination)}")
        except (ValueError, OSError) as err:
            show_error(f"N2V: {err}")

    def _on_load(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an N2V model folder")
        if not folder:
            return
        try:
            self.load_model(folder)
        except (ModelFolderError, ValueError) as err:
            show_error(f"N2V: {err}")
