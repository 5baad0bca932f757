"""CT denoise-pretrain: pretext on unlabelled volume layers, Dice finetuning on a labelled one, segment, export.

Thin GUI over the core workflow :func:`denoise2seg.ct.train_ct`: one training panel run
(thread worker, progress over both phases, loss plot, Stop) whose preview events update a
live segmentation layer drawn on the labelled volume.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QWidget

from ..ct import CTLesionModel, CTPretrainConfig, train_ct
from ..ct.workflow import SEGMENTATION_FOLDER
from ..extras import ct_extra_message
from ..nets.backbones import BACKBONES
from ..validation import check_varies
from .background import start_worker
from .controls import Collapsible, device_combo, dock_layout, notice_missing_extra, spin_box
from .layer_choice import LayerCombo, LayerList, show_result
from .lesion_export import LesionExport
from .output_folder import model_folder_ready
from .training_panel import TrainingPanel

LIVE_LAYER = "CT lesions (live)"
RESULT_LAYER = "CT lesions"
TITLE = "CT denoise-pretrain"


def as_volume(layer, *, for_training: bool = False) -> np.ndarray:
    """The float32 ``(Z, Y, X)`` data of an image layer holding a CT volume or one slice; ``ValueError`` otherwise.

    ``for_training`` also refuses a constant volume (nothing to learn from).
    """
    data = np.asarray(layer.data, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise ValueError(f"layer {layer.name!r} has shape {data.shape}; expected a CT volume (Z, Y, X) or a slice (Y, X)")
    if for_training:
        check_varies(data, name=f"layer {layer.name!r}")
    return data[None] if data.ndim == 2 else data


class CTPretrainWidget(QWidget):
    """Self-supervised pretext + Dice finetuning for CT lesion segmentation (Gao et al. 2021).

    The model folder receives ``pretext/`` and ``segmentation/``; Stop during the pretext
    keeps the pretext so far, Stop during finetuning keeps both.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        # The labelled volume layer of the running training: its live results are drawn on it.
        self._source = None
        defaults = CTPretrainConfig()

        self.unlabelled_list = LayerList(napari_viewer)
        self.unlabelled_list.setToolTip("unlabelled CT volumes (HU) for the pretext; the labelled volume is always used too")
        self.image_combo = LayerCombo(napari_viewer, napari.layers.Image)
        self.labels_combo = LayerCombo(napari_viewer, napari.layers.Labels, exclude=(LIVE_LAYER, RESULT_LAYER))
        self.only_labelled_check = QCheckBox("only slices with labels are annotated")
        self.only_labelled_check.setChecked(True)
        self.only_labelled_check.setToolTip("unchecked: every slice is annotated (empty slices teach 'no lesion')")
        self.pretext_combo = QComboBox()
        self.pretext_combo.addItems(["denoise", "reconstruct", "none"])
        self.pretext_epochs_spin = spin_box(defaults.pretext_epochs, 1, 10_000)
        self.finetune_epochs_spin = spin_box(defaults.finetune_epochs, 1, 10_000)
        self.device_combo = device_combo()
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "ct_pretrain"))

        self.backbone_combo = QComboBox()
        self.backbone_combo.addItems(list(BACKBONES))
        self.loss_combo = QComboBox()
        self.loss_combo.addItems(["perceptual", "mse"])
        self.loss_combo.setToolTip("perceptual: VGG-19 (ImageNet) features + TV, the paper's; mse: no VGG needed")
        self.vgg_edit = QLineEdit("")
        self.vgg_edit.setPlaceholderText("(torch cache: downloaded once)")
        self.size_spin = spin_box(defaults.image_size, 16, 1024)
        self.steps_spin = spin_box(0, 0, 100_000)
        self.steps_spin.setToolTip("0: one pass over the training slices per epoch")
        self.batch_spin = spin_box(defaults.batch_size, 1, 1024)
        self.depth_spin = spin_box(0, 0, 6)
        self.depth_spin.setToolTip("0: the backbone's default")
        self.filters_spin = spin_box(0, 0, 1024)
        self.filters_spin.setToolTip("0: the backbone's default")
        self.advanced = Collapsible([
            ("backbone", self.backbone_combo),
            ("pretext loss", self.loss_combo),
            ("VGG-19 weights file", self.vgg_edit),
            ("slice size", self.size_spin),
            ("steps per epoch", self.steps_spin),
            ("batch size", self.batch_spin),
            ("depth", self.depth_spin),
            ("filters", self.filters_spin),
        ])

        self.panel = TrainingPanel("Train", title=TITLE)
        self.segment_button = QPushButton("Segment labelled volume with model")
        self.export_button = LesionExport(napari_viewer, (RESULT_LAYER, LIVE_LAYER), TITLE)

        rows = [
            ("unlabelled volumes", self.unlabelled_list),
            ("labelled volume", self.image_combo),
            ("lesion labels", self.labels_combo),
            self.only_labelled_check,
            ("pretext", self.pretext_combo),
            ("pretext epochs", self.pretext_epochs_spin),
            ("finetuning epochs", self.finetune_epochs_spin),
            ("device", self.device_combo),
            ("model folder", self.model_dir_edit),
        ]
        body = dock_layout(self, rows, [self.advanced, self.panel, self.segment_button, self.export_button])
        # Without the ct extra the widget opens and says what to install, instead of failing to load.
        self.extra_notice = notice_missing_extra(body, ct_extra_message("CT denoise-pretraining in napari", in_napari=True))

        self.panel.train_button.clicked.connect(self.start_training)
        self.segment_button.clicked.connect(self.segment)
        self.pretext_combo.currentTextChanged.connect(self._pretext_changed)

    @property
    def running(self) -> bool:
        return self.panel.running

    def _pretext_changed(self, pretext: str) -> None:
        enabled = pretext != "none"
        for widget in (self.unlabelled_list, self.loss_combo, self.vgg_edit, self.pretext_epochs_spin):
            widget.setEnabled(enabled)

    def training_data(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[int] | None]:
        """Unlabelled volumes, the labelled volume, its labels and the annotated slice indices (validated)."""
        image_layer, labels_layer = self.image_combo.chosen(), self.labels_combo.chosen()
        if image_layer is None:
            raise ValueError("choose the labelled CT volume (an image layer in HU)")
        if labels_layer is None:
            raise ValueError("choose the Labels layer that holds the lesion annotation")
        volume = as_volume(image_layer, for_training=True)
        labels = np.asarray(labels_layer.data)
        labels = labels[None] if labels.ndim == 2 else labels
        if labels.shape != volume.shape:
            raise ValueError(f"the labels layer {labels_layer.name!r} has shape {labels.shape}, the labelled volume {volume.shape}")
        annotated = None
        if self.only_labelled_check.isChecked():
            annotated = [int(z) for z in np.flatnonzero((labels > 0).reshape(len(labels), -1).any(axis=1))]
            if not annotated:
                raise ValueError(f"the labels layer {labels_layer.name!r} is empty: paint lesions on some slices first")
        unlabelled = [as_volume(layer, for_training=True) for layer in self.unlabelled_list.chosen() if layer.name != image_layer.name]
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

    def start_training(self) -> None:
        """Check the chosen layers and settings, then run the pretext (unless "none") and the finetuning."""
        try:
            unlabelled, volume, labels, annotated = self.training_data()
            config = self.config()
            out_dir = Path(self.model_dir_edit.text()).expanduser()
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        if not model_folder_ready(self, out_dir, TITLE):
            return
        self._source, device = self.image_combo.chosen(), self.device_combo.currentText()
        self.panel.run(
            lambda: train_ct(
                unlabelled, [volume], [labels], config, out_dir=out_dir, annotated_slices=[annotated], device=device, preview_volume=volume
            ),
            on_event=self._on_event,
            disable=[self.unlabelled_list, self.image_combo, self.labels_combo, self.segment_button, self.export_button],
        )

    def _on_event(self, event) -> None:
        if event.kind == "preview":
            self._show(LIVE_LAYER, event.preview > 0.5, self._source)

    def _show(self, name: str, mask: np.ndarray, source) -> None:
        show_result(self.viewer, name, np.asarray(mask, np.uint8).reshape(source.data.shape), "labels", source=source)

    def segment(self) -> None:
        """Segment the labelled volume layer with the finetuned model of the model folder, in a worker thread."""
        source = self.image_combo.chosen()
        if source is None:
            show_error(f"{TITLE}: choose the CT volume to segment (labelled volume)")
            return
        folder = Path(self.model_dir_edit.text()).expanduser() / SEGMENTATION_FOLDER
        device, volume = self.device_combo.currentText(), as_volume(source)

        def shown(mask: np.ndarray) -> None:
            self._show(RESULT_LAYER, mask, source)
            show_info(f"{RESULT_LAYER}: {int(mask.sum())} lesion voxels")

        start_worker(
            lambda: CTLesionModel.load(folder, device=device).predict(volume),
            on_returned=shown,
            title=f"{TITLE} segmentation",
            busy=self.segment_button,
        )

    def export(self, path: str | Path, *, overwrite: bool = False) -> Path | None:
        """Write the segmentation (the result layer, else the live one) as NIfTI in the image's frame."""
        return self.export_button.export(path, overwrite=overwrite)
