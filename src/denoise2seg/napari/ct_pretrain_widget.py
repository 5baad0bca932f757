"""CT denoise-pretrain: pretext on unlabelled volume layers, Dice finetuning on a labelled one, segment, export.

Thin GUI over :func:`denoise2seg.ct.pretrain_ct` and :func:`denoise2seg.ct.finetune_ct`:
each phase runs in the shared :class:`~denoise2seg.napari.training_panel.TrainingPanel`
(thread worker, progress, loss plot, Stop); the finetuning starts when the pretext ended
normally, and its preview events update a live segmentation layer of the labelled volume.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..ct import CTLesionModel, CTPretrainConfig, finetune_ct, pretrain_ct
from ..ct.volumes import write_labels_nifti
from ..nets.backbones import BACKBONES
from .controls import spin_box
from .training_panel import TrainingPanel

LIVE_LAYER = "CT lesions (live)"
RESULT_LAYER = "CT lesions"
PRETEXT_FOLDER = "pretext"
SEGMENTATION_FOLDER = "segmentation"


class CTPretrainWidget(QWidget):
    """Self-supervised pretext + Dice finetuning for CT lesion segmentation (Gao et al. 2021)."""

    def __init__(self, viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self._scale: tuple | None = None
        self.phase: str | None = None
        self.steps_done: dict[str, int] = {}
        defaults = CTPretrainConfig()

        form = QFormLayout()
        self.unlabelled_list = QListWidget()
        self.unlabelled_list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.unlabelled_list.setMaximumHeight(90)
        self.unlabelled_list.setToolTip("unlabelled CT volumes (HU) for the pretext; the labelled volume is always used too")
        form.addRow("unlabelled volumes", self.unlabelled_list)
        self.image_combo = QComboBox()
        form.addRow("labelled volume", self.image_combo)
        self.labels_combo = QComboBox()
        form.addRow("lesion labels", self.labels_combo)
        self.only_labelled_check = QCheckBox("only slices with labels are annotated")
        self.only_labelled_check.setChecked(True)
        self.only_labelled_check.setToolTip("unchecked: every slice is annotated (empty slices teach 'no lesion')")
        form.addRow(self.only_labelled_check)
        self.backbone_combo = QComboBox()
        self.backbone_combo.addItems(list(BACKBONES))
        form.addRow("backbone", self.backbone_combo)
        self.pretext_combo = QComboBox()
        self.pretext_combo.addItems(["denoise", "reconstruct", "none"])
        form.addRow("pretext", self.pretext_combo)
        self.loss_combo = QComboBox()
        self.loss_combo.addItems(["perceptual", "mse"])
        self.loss_combo.setToolTip("perceptual: VGG-19 (ImageNet) features + TV, the paper's; mse: no VGG needed")
        form.addRow("pretext loss", self.loss_combo)
        self.vgg_edit = QLineEdit("")
        self.vgg_edit.setPlaceholderText("(torch cache: downloaded once)")
        form.addRow("VGG-19 weights file", self.vgg_edit)
        self.size_spin = spin_box(defaults.image_size, 16, 1024)
        self.pretext_epochs_spin = spin_box(defaults.pretext_epochs, 1, 10_000)
        self.finetune_epochs_spin = spin_box(defaults.finetune_epochs, 1, 10_000)
        self.steps_spin = spin_box(0, 0, 100_000)
        self.steps_spin.setToolTip("0: one pass over the training slices per epoch")
        self.batch_spin = spin_box(defaults.batch_size, 1, 1024)
        self.depth_spin = spin_box(0, 0, 6)
        self.depth_spin.setToolTip("0: the backbone's default")
        self.filters_spin = spin_box(0, 0, 1024)
        self.filters_spin.setToolTip("0: the backbone's default")
        form.addRow("slice size", self.size_spin)
        form.addRow("pretext epochs", self.pretext_epochs_spin)
        form.addRow("finetuning epochs", self.finetune_epochs_spin)
        form.addRow("steps per epoch", self.steps_spin)
        form.addRow("batch size", self.batch_spin)
        form.addRow("depth", self.depth_spin)
        form.addRow("filters", self.filters_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        form.addRow("device", self.device_combo)
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "ct_pretrain"))
        form.addRow("model folder", self.model_dir_edit)

        self.panel = TrainingPanel("Train", title="CT denoise-pretrain")
        self.phase_label = QLabel("")
        self.segment_button = QPushButton("Segment labelled volume with model")
        self.export_button = QPushButton("Export lesions (NIfTI)...")
        self._controls = [self.unlabelled_list, self.image_combo, self.labels_combo, self.segment_button, self.export_button]

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.phase_label, self.panel, self.segment_button, self.export_button):
            layout.addWidget(widget)
        layout.addStretch()

        self.panel.train_button.clicked.connect(self.start_training)
        self.segment_button.clicked.connect(self.segment)
        self.export_button.clicked.connect(self._choose_export)
        self.pretext_combo.currentTextChanged.connect(self._pretext_changed)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._refresh_layers)
        self._refresh_layers()

    # layers
    def _refresh_layers(self, *_) -> None:
        images = [layer.name for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]
        labels = [
            layer.name
            for layer in self.viewer.layers
            if isinstance(layer, napari.layers.Labels) and layer.name not in (LIVE_LAYER, RESULT_LAYER)
        ]
        for combo, names in ((self.image_combo, images), (self.labels_combo, labels)):
            current = combo.currentText()
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
        selected = {item.text() for item in self.unlabelled_list.selectedItems()}
        self.unlabelled_list.clear()
        self.unlabelled_list.addItems(images)
        for row in range(self.unlabelled_list.count()):
            item = self.unlabelled_list.item(row)
            item.setSelected(item.text() in selected)

    @property
    def running(self) -> bool:
        return self.panel.running

    def _pretext_changed(self, pretext: str) -> None:
        enabled = pretext != "none"
        for widget in (self.unlabelled_list, self.loss_combo, self.vgg_edit, self.pretext_epochs_spin):
            widget.setEnabled(enabled)

    def _volume(self, name: str) -> np.ndarray:
        data = np.asarray(self.viewer.layers[name].data, dtype=np.float32)
        if data.ndim not in (2, 3):
            raise ValueError(f"layer '{name}' has shape {data.shape}; expected a CT volume (Z, Y, X) or a slice")
        return data[None] if data.ndim == 2 else data

    def training_data(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[int] | None]:
        """Unlabelled volumes, the labelled volume, its labels and the annotated slice indices (validated)."""
        image_name, labels_name = self.image_combo.currentText(), self.labels_combo.currentText()
        if not image_name:
            raise ValueError("choose the labelled CT volume (an image layer in HU)")
        if not labels_name:
            raise ValueError("choose the Labels layer that holds the lesion annotation")
        volume = self._volume(image_name)
        labels = np.asarray(self.viewer.layers[labels_name].data)
        labels = labels[None] if labels.ndim == 2 else labels
        if labels.shape != volume.shape:
            raise ValueError(f"the labels layer has shape {labels.shape}, the labelled volume {volume.shape}")
        annotated = None
        if self.only_labelled_check.isChecked():
            annotated = [int(z) for z in np.flatnonzero((labels > 0).reshape(len(labels), -1).any(axis=1))]
            if not annotated:
                raise ValueError("the labels layer is empty: paint lesions on some slices first")
        unlabelled = [self._volume(item.text()) for item in self.unlabelled_list.selectedItems() if item.text() != image_name]
        return unlabelled, volume, labels, annotated

    def config(self) -> CTPretrainConfig:
        return CTPretrainConfig(
            backbone=self.backbone_combo.currentText(),
            depth=self.depth_spin.value() or None,
            n_filters=self.filters_spin.value() or None,
            image_size=self.size_spin.value(),
            pretext=self.pretext_combo.currentText(),
            pretext_loss=self.loss_combo.currentText(),
            vgg_weights=self.vgg_edit.text().strip() or None,
            pretext_epochs=self.pretext_epochs_spin.value(),
            finetune_epochs=self.finetune_epochs_spin.value(),
            steps_per_epoch=self.steps_spin.value() or None,
            batch_size=self.batch_spin.value(),
        )

    # training
    def start_training(self) -> None:
        """Check the chosen layers and settings, then run the pretext (unless "none") and the finetuning."""
        if self.panel.running:
            show_info("training is already running; press Stop first")
            return
        try:
            unlabelled, volume, labels, annotated = self.training_data()
            config = self.config()
            out_dir = Path(self.model_dir_edit.text()).expanduser()
        except ValueError as err:
            show_error(f"CT denoise-pretrain: {err}")
            return
        self._scale = tuple(self.viewer.layers[self.image_combo.currentText()].scale)
        self.steps_done = {}
        device = self.device_combo.currentText()

        def finetune(pretrained: Path | None) -> None:
            self._start_phase(
                "finetune",
                lambda: finetune_ct(
                    [volume], [labels], config, annotated_slices=[annotated], pretrained=pretrained,
                    out_dir=out_dir / SEGMENTATION_FOLDER, device=device, preview_volume=volume,
                ),
                on_finished=None,
            )

        if config.pretext == "none":
            finetune(None)
            return

        def pretext_finished() -> None:
            # Finetune only after a complete pretext: a stopped or failed one ends the run.
            if self.panel.runner.error is None and not self.panel.runner.stopped:
                finetune(out_dir / PRETEXT_FOLDER)

        # All images serve the self-supervised task, the labelled one included (Eq. 1).
        self._start_phase(
            "pretext",
            lambda: pretrain_ct(unlabelled + [volume], config, out_dir=out_dir / PRETEXT_FOLDER, device=device),
            on_finished=pretext_finished,
        )

    def _start_phase(self, phase: str, factory, on_finished) -> None:
        self.phase = phase
        self.steps_done[phase] = 0
        self.phase_label.setText(f"phase: {'pretext' if phase == 'pretext' else 'Dice finetuning'}")
        self.panel.run(
            factory, on_event=self._on_event, on_finished=on_finished,
            title=f"CT {phase}", disable=self._controls,
        )

    def _on_event(self, event) -> None:
        if event.kind == "step":
            self.steps_done[self.phase] += 1
        elif event.kind == "preview":
            self._show_labels(LIVE_LAYER, event.preview > 0.5)

    def _show_labels(self, name: str, mask: np.ndarray) -> None:
        data = np.asarray(mask).astype(np.uint8)
        if name in self.viewer.layers:
            self.viewer.layers[name].data = data
        else:
            self.viewer.add_labels(data, name=name, scale=self._scale or (1.0,) * data.ndim)

    # prediction and export
    def segment(self) -> None:
        """Segment the labelled volume layer with the finetuned model in the model folder."""
        try:
            folder = Path(self.model_dir_edit.text()).expanduser() / SEGMENTATION_FOLDER
            model = CTLesionModel.load(folder, device=self.device_combo.currentText())
            name = self.image_combo.currentText()
            if not name:
                raise ValueError("choose the CT volume to segment (labelled volume)")
            mask = model.predict(self._volume(name))
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            show_error(f"CT denoise-pretrain: {err}")
            return
        self._scale = tuple(self.viewer.layers[name].scale)
        self._show_labels(RESULT_LAYER, mask)
        show_info(f"{int(mask.sum())} lesion voxels")

    def export(self, path: str | Path) -> Path | None:
        """Write the segmentation (the result layer, else the live one) as NIfTI, in the image's frame when known."""
        name = RESULT_LAYER if RESULT_LAYER in self.viewer.layers else LIVE_LAYER
        if name not in self.viewer.layers:
            show_error("CT denoise-pretrain: nothing to export yet; train or segment first")
            return None
        layer = self.viewer.layers[name]
        image_name = self.image_combo.currentText()
        affine = None
        if image_name in self.viewer.layers:
            affine = self.viewer.layers[image_name].metadata.get("affine")
        spacing = (1.0,) * (3 - layer.data.ndim) + tuple(float(s) for s in layer.scale)
        try:
            return write_labels_nifti(path, layer.data, spacing=spacing, affine=np.asarray(affine) if affine is not None else None)
        except (ValueError, OSError) as err:
            show_error(f"CT denoise-pretrain: {err}")
            return None

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export lesion mask", "lesions.nii.gz", "NIfTI (*.nii.gz *.nii)")
        if path:
            self.export(path)
