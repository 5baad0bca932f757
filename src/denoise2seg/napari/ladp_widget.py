"""Lesion segmentation (LADP): train an ensemble on annotated volume layers, segment, export.

Thin GUI over :mod:`denoise2seg.lesion`: the training generator runs in the shared
:class:`~denoise2seg.napari.training_panel.TrainingPanel` (thread worker, progress, live
loss plot, Stop); its preview events update a live segmentation layer of the training
volume.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..lesion.cases import LesionCase, brain_from_image
from ..lesion.config import FinetuneConfig, PretrainConfig
from ..lesion.model import LesionEnsemble
from ..lesion.train import train_ensemble
from .controls import spin_box
from .training_panel import TrainingPanel

NONE = "(none)"
MODES = {"LADP": "ladp", "DDP": "ddp", "none": "none"}
LIVE_LAYER = "LADP segmentation (live)"
RESULT_LAYER = "LADP lesions"


class LADPWidget(QWidget):
    """Train LADP/DDP-pretrained lesion segmenters on image layers + a Labels layer."""

    def __init__(self, viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.model_dir: Path | None = None
        # Voxel size of the layers last trained on or segmented, given to result layers.
        self._scale: tuple | None = None
        self.losses: list[float] = []
        self.phases: list[str] = []
        pre, fine = PretrainConfig(), FinetuneConfig()

        form = QFormLayout()
        self.channel_combos = [QComboBox(), QComboBox()]
        form.addRow("channel 1", self.channel_combos[0])
        form.addRow("channel 2", self.channel_combos[1])
        self.labels_combo = QComboBox()
        form.addRow("lesion labels", self.labels_combo)
        self.brain_combo = QComboBox()
        self.brain_combo.setToolTip("brain mask; (none): voxels non-zero in any channel (skull-stripped input)")
        form.addRow("brain mask", self.brain_combo)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        form.addRow("pretraining", self.mode_combo)
        self.decoder_only_check = QCheckBox("decoder only (encoder frozen)")
        self.decoder_only_check.setChecked(pre.decoder_only)
        form.addRow(self.decoder_only_check)
        self.ensemble_spin = spin_box(8, 1, 64)
        form.addRow("ensemble size", self.ensemble_spin)
        self.pretrain_epochs_spin = spin_box(pre.epochs, 1, 10_000)
        self.finetune_epochs_spin = spin_box(fine.epochs, 1, 10_000)
        self.steps_spin = spin_box(0, 0, 100_000)
        self.steps_spin.setToolTip("0: one pass over the training slices per epoch")
        self.batch_spin = spin_box(fine.batch_size, 1, 1024)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(fine.learning_rate)
        self.filters_spin = spin_box(fine.n_filters, 1, 512)
        self.depth_spin = spin_box(fine.depth, 1, 5)
        form.addRow("pretraining epochs", self.pretrain_epochs_spin)
        form.addRow("finetuning epochs", self.finetune_epochs_spin)
        form.addRow("steps per epoch", self.steps_spin)
        form.addRow("batch size", self.batch_spin)
        form.addRow("learning rate", self.lr_spin)
        form.addRow("U-Net filters", self.filters_spin)
        form.addRow("U-Net depth", self.depth_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        form.addRow("device", self.device_combo)
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "ladp"))
        form.addRow("model folder", self.model_dir_edit)

        self.panel = TrainingPanel("Train", title="LADP training")
        self.train_button, self.stop_button = self.panel.train_button, self.panel.stop_button
        self.segment_button = QPushButton("Segment with model")
        self.export_button = QPushButton("Export lesions (NIfTI)...")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.panel, self.segment_button, self.export_button):
            layout.addWidget(widget)
        layout.addStretch()

        self.train_button.clicked.connect(self.start_training)
        self.segment_button.clicked.connect(self.segment)
        self.export_button.clicked.connect(self._choose_export)
        self.mode_combo.currentTextChanged.connect(lambda text: self.decoder_only_check.setEnabled(text != "none"))
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._refresh_layers)
        self._refresh_layers()

    # layers
    def _refresh_layers(self, *_) -> None:
        images = [layer.name for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]
        labels = [layer.name for layer in self.viewer.layers if isinstance(layer, napari.layers.Labels) and layer.name not in (LIVE_LAYER, RESULT_LAYER)]
        choices = (
            (self.channel_combos[0], images, False),
            (self.channel_combos[1], images, True),
            (self.labels_combo, labels, False),
            (self.brain_combo, labels, True),
        )
        for combo, names, optional in choices:
            current = combo.currentText()
            combo.clear()
            combo.addItems(([NONE] if optional else []) + names)
            if current in names or current == NONE:
                combo.setCurrentText(current)
        if self.channel_combos[1].currentText() == NONE and len(images) > 1:
            self.channel_combos[1].setCurrentText(next(n for n in images if n != self.channel_combos[0].currentText()))
        if self.labels_combo.currentText() == self.brain_combo.currentText():
            self.brain_combo.setCurrentText(NONE)

    def _selected_image(self) -> tuple[np.ndarray, np.ndarray, tuple]:
        """``(C, Z, Y, X)`` image, brain mask and voxel scale of the chosen layers."""
        names = [c.currentText() for c in self.channel_combos if c.currentText() not in ("", NONE)]
        if not names:
            raise ValueError("choose at least one image layer (channel 1)")
        if len(set(names)) != len(names):
            raise ValueError("channel 1 and channel 2 are the same layer; choose two different images or (none)")
        layers = [self.viewer.layers[n] for n in names]
        volumes = [np.asarray(layer.data, dtype=np.float32) for layer in layers]
        if any(v.ndim != 3 for v in volumes):
            raise ValueError(f"LADP works on volumes (Z, Y, X); the chosen layers have shapes {[v.shape for v in volumes]}")
        if len({v.shape for v in volumes}) > 1:
            raise ValueError(f"the channels must have one shape, got {[v.shape for v in volumes]}")
        image = np.stack(volumes)
        brain_name = self.brain_combo.currentText()
        brain = brain_from_image(image) if brain_name in ("", NONE) else np.asarray(self.viewer.layers[brain_name].data) > 0
        return image, brain, tuple(layers[0].scale)

    def training_case(self) -> LesionCase:
        """The chosen layers as one annotated case (validated)."""
        image, brain, scale = self._selected_image()
        labels_name = self.labels_combo.currentText()
        if not labels_name:
            raise ValueError("choose the Labels layer that holds the lesion annotation")
        labels = np.asarray(self.viewer.layers[labels_name].data) > 0
        if labels.shape != image.shape[1:]:
            raise ValueError(f"the labels layer has shape {labels.shape}, the images {image.shape[1:]}")
        if not labels.any():
            raise ValueError("the labels layer is empty: paint some lesions first")
        return LesionCase(image, labels, brain, scale, name=labels_name)

    def configs(self) -> tuple[PretrainConfig, FinetuneConfig]:
        common = {
            "batch_size": self.batch_spin.value(),
            "learning_rate": self.lr_spin.value(),
            "steps_per_epoch": self.steps_spin.value() or None,
            "depth": self.depth_spin.value(),
            "n_filters": self.filters_spin.value(),
        }
        pre = PretrainConfig(decoder_only=self.decoder_only_check.isChecked(), epochs=self.pretrain_epochs_spin.value(), **common)
        return pre, FinetuneConfig(epochs=self.finetune_epochs_spin.value(), **common)

    # training
    @property
    def running(self) -> bool:
        return self.panel.running

    def start_training(self) -> None:
        if self.panel.running:
            show_info("training is already running; press Stop first")
            return
        try:
            case = self.training_case()
            pre, fine = self.configs()
            out_dir = Path(self.model_dir_edit.text()).expanduser()
        except ValueError as err:
            show_error(f"LADP: {err}")
            return
        self.model_dir = out_dir
        self.losses, self.phases = [], []
        self._scale = case.spacing
        mode, n_models, device = MODES[self.mode_combo.currentText()], self.ensemble_spin.value(), self.device_combo.currentText()
        self.panel.run(
            lambda: train_ensemble(
                [case], pretraining=mode, pretrain_config=pre, finetune_config=fine, n_models=n_models,
                out_dir=out_dir, device=device, preview_case=case,
            ),
            on_event=self._on_event,
            on_finished=self._on_finished,
            disable=[self.segment_button],
        )

    def stop(self) -> None:
        """Stop after the current step; the models trained so far are kept."""
        self.panel.stop()

    def _on_event(self, event) -> None:
        if event.kind == "step":
            self.losses.append(event.train_loss)
            self.phases.append(event.phase)
        if event.kind in ("step", "epoch"):
            self.panel.status.setText(f"model {event.member + 1}/{event.n_members}, {event.phase}: {self.panel.status.text()}")
        elif event.kind == "preview":
            self._show_labels(LIVE_LAYER, event.preview)

    def _on_finished(self) -> None:
        if self.panel.runner.error is None and self.model_dir is not None and (self.model_dir / "config.json").is_file():
            self.panel.status.setText(f"{self.panel.status.text()}; model saved in {self.model_dir}")

    def _show_labels(self, name: str, mask: np.ndarray) -> None:
        data = np.asarray(mask).astype(np.uint8)
        if name in self.viewer.layers:
            self.viewer.layers[name].data = data
        else:
            self.viewer.add_labels(data, name=name, scale=self._scale or (1.0,) * data.ndim)

    # prediction and export
    def segment(self) -> None:
        """Segment the chosen image layers with the ensemble in the model folder."""
        try:
            folder = Path(self.model_dir_edit.text()).expanduser()
            model = LesionEnsemble.load(folder, device=self.device_combo.currentText())
            image, brain, scale = self._selected_image()
            mask = model.predict(image, brain)
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            show_error(f"LADP: {err}")
            return
        self._scale = scale
        self._show_labels(RESULT_LAYER, mask)
        show_info(f"{int(mask.sum())} lesion voxels ({len(model)} model(s) voting)")

    def export(self, path: str | Path) -> Path | None:
        """Write the segmentation (the result layer, else the live one) as NIfTI with the layer's voxel size."""
        from ..ct.volumes import write_labels_nifti

        name = RESULT_LAYER if RESULT_LAYER in self.viewer.layers else LIVE_LAYER
        if name not in self.viewer.layers:
            show_error("LADP: nothing to export yet; train or segment first")
            return None
        layer = self.viewer.layers[name]
        try:
            return write_labels_nifti(path, layer.data, spacing=tuple(layer.scale))
        except (ValueError, OSError) as err:
            show_error(f"LADP: {err}")
            return None

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export lesion mask", "lesions.nii.gz", "NIfTI (*.nii.gz *.nii)")
        if path:
            self.export(path)
