"""Lesion segmentation (LADP): train an ensemble on annotated volume layers, segment, export.

Thin GUI over :func:`denoise2seg.lesion.train_ensemble`, one core generator for every
member and stage: one training panel run (thread worker, progress over the whole
ensemble, loss plot, Stop) whose preview events update a live segmentation layer drawn on
the training volume.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QWidget

from ..extras import ct_extra_message
from ..lesion.cases import LesionCase, brain_from_image
from ..lesion.config import FinetuneConfig, PretrainConfig
from ..lesion.model import LesionEnsemble
from ..lesion.train import train_ensemble
from .background import start_worker
from .controls import Collapsible, device_combo, dock_layout, learning_rate_box, notice_missing_extra, spin_box
from .layer_choice import LayerCombo, show_result
from .lesion_export import LesionExport
from .output_folder import model_folder_ready
from .training_panel import TrainingPanel

MODES = {"LADP": "ladp", "DDP": "ddp", "none": "none"}
LIVE_LAYER = "LADP segmentation (live)"
RESULT_LAYER = "LADP lesions"
TITLE = "LADP"


class LADPWidget(QWidget):
    """Train LADP/DDP-pretrained lesion segmenters on image layers (one or two channels) + a Labels layer.

    Stop keeps the ensemble members finished so far (or the first member as trained so far).
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        # The first channel layer of the running training: its live results are drawn on it.
        self._source = None
        pre, fine = PretrainConfig(), FinetuneConfig()
        results = (LIVE_LAYER, RESULT_LAYER)

        first = LayerCombo(napari_viewer, napari.layers.Image)
        self.channel_combos = [first, LayerCombo(napari_viewer, napari.layers.Image, optional=True, distinct_from=first)]
        self.labels_combo = LayerCombo(napari_viewer, napari.layers.Labels, exclude=results)
        self.brain_combo = LayerCombo(napari_viewer, napari.layers.Labels, optional=True, exclude=results)
        self.brain_combo.setToolTip("brain mask; (none): voxels non-zero in any channel (skull-stripped input)")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.decoder_only_check = QCheckBox("decoder only (encoder frozen)")
        self.decoder_only_check.setChecked(pre.decoder_only)
        self.ensemble_spin = spin_box(8, 1, 64)
        self.pretrain_epochs_spin = spin_box(pre.epochs, 1, 10_000)
        self.finetune_epochs_spin = spin_box(fine.epochs, 1, 10_000)
        self.device_combo = device_combo()
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "ladp"))

        self.steps_spin = spin_box(0, 0, 100_000)
        self.steps_spin.setToolTip("0: one pass over the training slices per epoch")
        self.batch_spin = spin_box(fine.batch_size, 1, 1024)
        self.lr_spin = learning_rate_box(fine.learning_rate)
        self.filters_spin = spin_box(fine.n_filters, 1, 512)
        self.depth_spin = spin_box(fine.depth, 1, 5)
        self.advanced = Collapsible([
            ("steps per epoch", self.steps_spin),
            ("batch size", self.batch_spin),
            ("learning rate", self.lr_spin),
            ("U-Net filters", self.filters_spin),
            ("U-Net depth", self.depth_spin),
        ])

        self.panel = TrainingPanel("Train", title="LADP training")
        self.segment_button = QPushButton("Segment with model")
        self.export_button = LesionExport(napari_viewer, (RESULT_LAYER, LIVE_LAYER), TITLE)

        rows = [
            ("channel 1", self.channel_combos[0]),
            ("channel 2", self.channel_combos[1]),
            ("lesion labels", self.labels_combo),
            ("brain mask", self.brain_combo),
            ("pretraining", self.mode_combo),
            self.decoder_only_check,
            ("ensemble size", self.ensemble_spin),
            ("pretraining epochs", self.pretrain_epochs_spin),
            ("finetuning epochs", self.finetune_epochs_spin),
            ("device", self.device_combo),
            ("model folder", self.model_dir_edit),
        ]
        body = dock_layout(self, rows, [self.advanced, self.panel, self.segment_button, self.export_button])
        # Without the ct extra the widget opens and says what to install, instead of failing to load.
        self.extra_notice = notice_missing_extra(body, ct_extra_message("LADP in napari", in_napari=True))

        self.panel.train_button.clicked.connect(self.start_training)
        self.segment_button.clicked.connect(self.segment)
        self.mode_combo.currentTextChanged.connect(lambda text: self.decoder_only_check.setEnabled(text != "none"))

    @property
    def running(self) -> bool:
        return self.panel.running

    def _selected_image(self) -> tuple[np.ndarray, np.ndarray, object]:
        """``(C, Z, Y, X)`` image, brain mask and first channel layer of the chosen layers (validated)."""
        layers = [combo.chosen() for combo in self.channel_combos if combo.chosen() is not None]
        if not layers:
            raise ValueError("choose at least one image layer (channel 1)")
        if len({layer.name for layer in layers}) != len(layers):
            raise ValueError("channel 1 and channel 2 are the same layer; choose two different images or (none)")
        volumes = [np.asarray(layer.data, dtype=np.float32) for layer in layers]
        if any(v.ndim != 3 for v in volumes):
            raise ValueError(f"LADP works on volumes (Z, Y, X); the chosen layers have shapes {[v.shape for v in volumes]}")
        if len({v.shape for v in volumes}) > 1:
            raise ValueError(f"the channels must have one shape, got {[v.shape for v in volumes]}")
        image = np.stack(volumes)
        brain_layer = self.brain_combo.chosen()
        brain = brain_from_image(image) if brain_layer is None else np.asarray(brain_layer.data) > 0
        if brain.shape != image.shape[1:]:
            raise ValueError(f"the brain mask {brain_layer.name!r} has shape {brain.shape}, the images {image.shape[1:]}")
        return image, brain, layers[0]

    def training_case(self) -> LesionCase:
        """The chosen layers as one annotated case (validated)."""
        image, brain, source = self._selected_image()
        labels_layer = self.labels_combo.chosen()
        if labels_layer is None:
            raise ValueError("choose the Labels layer that holds the lesion annotation")
        if labels_layer.name == self.brain_combo.currentText():
            raise ValueError(f"{labels_layer.name!r} is chosen as both the lesion labels and the brain mask")
        labels = np.asarray(labels_layer.data) > 0
        if labels.shape != image.shape[1:]:
            raise ValueError(f"the labels layer {labels_layer.name!r} has shape {labels.shape}, the images {image.shape[1:]}")
        if not labels.any():
            raise ValueError(f"the labels layer {labels_layer.name!r} is empty: paint some lesions first")
        return LesionCase(image, labels, brain, tuple(source.scale), name=labels_layer.name)

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

    def start_training(self) -> None:
        """Check the layers and settings, then train the ensemble in a worker thread (Train button)."""
        try:
            case = self.training_case()
            pre, fine = self.configs()
            out_dir = Path(self.model_dir_edit.text()).expanduser()
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        if not model_folder_ready(self, out_dir, TITLE):
            return
        self._source = self.channel_combos[0].chosen()
        mode, n_models, device = MODES[self.mode_combo.currentText()], self.ensemble_spin.value(), self.device_combo.currentText()
        self.panel.run(
            lambda: train_ensemble(
                [case], pretraining=mode, pretrain_config=pre, finetune_config=fine, n_models=n_models,
                out_dir=out_dir, device=device, preview_case=case,
            ),
            on_event=self._on_event,
            on_finished=lambda: self._on_finished(out_dir),
            disable=[*self.channel_combos, self.labels_combo, self.brain_combo, self.segment_button, self.export_button],
        )

    def _on_event(self, event) -> None:
        if event.kind == "preview":
            show_result(self.viewer, LIVE_LAYER, np.asarray(event.preview, np.uint8), "labels", source=self._source)

    def _on_finished(self, out_dir: Path) -> None:
        if self.panel.runner.error is not None:
            return
        if (out_dir / "config.json").is_file():
            self.panel.status.setText(f"{self.panel.status.text()}; model saved in {out_dir}")
        else:
            self.panel.status.setText(
                f"{self.panel.status.text()}; no model was saved: Stop came before the first model's finetuning"
            )

    def segment(self) -> None:
        """Segment the chosen image layers with the ensemble of the model folder, in a worker thread."""
        try:
            image, brain, source = self._selected_image()
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        folder, device = Path(self.model_dir_edit.text()).expanduser(), self.device_combo.currentText()

        def segmented():
            model = LesionEnsemble.load(folder, device=device)
            return model.predict(image, brain), len(model)

        def shown(result) -> None:
            mask, n_models = result
            show_result(self.viewer, RESULT_LAYER, np.asarray(mask, np.uint8), "labels", source=source)
            show_info(f"{RESULT_LAYER}: {int(mask.sum())} lesion voxels ({n_models} model(s) voting)")

        start_worker(segmented, on_returned=shown, title=f"{TITLE} segmentation", busy=self.segment_button)

    def export(self, path: str | Path, *, overwrite: bool = False) -> Path | None:
        """Write the segmentation (the result layer, else the live one) as NIfTI with the layer's voxel size."""
        return self.export_button.export(path, overwrite=overwrite)
