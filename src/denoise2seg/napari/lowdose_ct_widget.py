"""Low-dose CT denoise (Pseudo-CT): train on paired layers or folders, adapt to a scan live.

Thin GUI over :mod:`denoise2seg.ct.lowdose`: every computation runs in the shared
:class:`~denoise2seg.napari.training_panel.TrainingPanel` worker (loss plot, progress,
Stop, error notifications) fed by the library's training-event generators.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..ct.lowdose import (
    AdaptationConfig,
    DenoiserConfig,
    LowDoseDenoiser,
    NoiseModelConfig,
    PseudoCTAdaptation,
    load_noise_models,
    load_subject,
    subject_from_arrays,
    train_denoiser,
    train_noise_model,
)
from ..ct.lowdose.config import NOISE_SOURCES, SCHEMES
from .controls import spin_box
from .training_panel import TrainingPanel

NONE = "(none)"


class LowDoseCTWidget(QWidget):
    """Train a RED-CNN denoiser and per-subject noise models, then adapt to a low-dose layer."""

    def __init__(self, viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.subjects: list = []
        self._phases: list = []
        self._adaptation = None
        self._live_layer = None
        self._preview_index = 0
        defaults, adaptation = DenoiserConfig(), AdaptationConfig()

        train_box = QGroupBox("1. Train on paired scans (HU)")
        form = QFormLayout(train_box)
        self.low_combo, self.normal_combo, self.repeat_combo = QComboBox(), QComboBox(), QComboBox()
        form.addRow("low dose", self.low_combo)
        form.addRow("normal dose", self.normal_combo)
        form.addRow("2nd low dose (N2N)", self.repeat_combo)
        buttons = QHBoxLayout()
        self.add_pair_button = QPushButton("Add layers as subject")
        self.add_folder_button = QPushButton("Add subject folder...")
        buttons.addWidget(self.add_pair_button)
        buttons.addWidget(self.add_folder_button)
        form.addRow(buttons)
        self.subject_list = QListWidget()
        self.subject_list.setMaximumHeight(80)
        form.addRow("subjects", self.subject_list)
        self.scheme_combo = QComboBox()
        self.scheme_combo.addItems(SCHEMES)
        form.addRow("denoiser scheme", self.scheme_combo)
        self.epochs_spin = spin_box(defaults.epochs, 1, 10_000)
        self.steps_spin = spin_box(defaults.steps_per_epoch, 1, 100_000)
        self.batch_spin = spin_box(defaults.batch_size, 1, 1024)
        self.patch_spin = spin_box(defaults.patch_size, 21, 1024)
        self.filters_spin = spin_box(defaults.n_filters, 1, 512)
        self.unet_filters_spin = spin_box(NoiseModelConfig().n_filters, 1, 512)
        form.addRow("epochs", self.epochs_spin)
        form.addRow("steps per epoch", self.steps_spin)
        form.addRow("batch size", self.batch_spin)
        form.addRow("patch size", self.patch_spin)
        form.addRow("RED-CNN filters", self.filters_spin)
        form.addRow("noise U-Net filters", self.unet_filters_spin)
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "pseudo_ct"))
        form.addRow("model folder", self.model_dir_edit)
        self.train_panel = TrainingPanel("Train denoiser + noise models", title="Pseudo-CT training")
        form.addRow(self.train_panel)

        adapt_box = QGroupBox("2. Adapt to a low-dose scan")
        adapt_form = QFormLayout(adapt_box)
        self.target_combo = QComboBox()
        adapt_form.addRow("low-dose scan", self.target_combo)
        self.noise_combo = QComboBox()
        self.noise_combo.addItems([n for n in NOISE_SOURCES if n != "model+hist"])
        adapt_form.addRow("pseudo-noise", self.noise_combo)
        self.adapt_steps_spin = spin_box(adaptation.steps, 1, 100_000)
        self.period_spin = spin_box(adaptation.update_period, 0, 100_000)
        self.period_spin.setToolTip("C: copy theta <- theta* every C steps; 0 never (ablation)")
        self.adapt_batch_spin = spin_box(adaptation.batch_size, 1, 1024)
        adapt_form.addRow("update steps", self.adapt_steps_spin)
        adapt_form.addRow("update period C", self.period_spin)
        adapt_form.addRow("batch size", self.adapt_batch_spin)
        self.adapt_panel = TrainingPanel("Adapt and denoise", title="Pseudo-CT adaptation")
        adapt_form.addRow(self.adapt_panel)

        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda", "mps"])
        layout = QVBoxLayout(self)
        device_row = QFormLayout()
        device_row.addRow("device", self.device_combo)
        layout.addLayout(device_row)
        layout.addWidget(train_box)
        layout.addWidget(adapt_box)
        layout.addStretch()

        self.add_pair_button.clicked.connect(self.add_layer_subject)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.train_panel.train_button.clicked.connect(self.start_training)
        self.adapt_panel.train_button.clicked.connect(self.start_adaptation)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self._refresh_layers)
        self._refresh_layers()

    # layers and subjects
    def _image_layers(self) -> list[str]:
        return [layer.name for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]

    def _refresh_layers(self, *_) -> None:
        names = self._image_layers()
        for combo, optional in ((self.low_combo, False), (self.normal_combo, False), (self.repeat_combo, True), (self.target_combo, False)):
            current = combo.currentText()
            combo.clear()
            combo.addItems(([NONE] if optional else []) + names)
            if current in names or current == NONE:
                combo.setCurrentText(current)
        if self.normal_combo.count() > 1 and self.normal_combo.currentText() == self.low_combo.currentText():
            self.normal_combo.setCurrentIndex(1)

    def add_layer_subject(self) -> None:
        """Add the chosen low-/normal-dose (and 2nd low-dose) layers as one training subject."""
        try:
            low, normal = self.low_combo.currentText(), self.normal_combo.currentText()
            if not low or not normal or low == normal:
                raise ValueError("choose two different image layers: a low-dose and a normal-dose scan of one subject")
            repeat = self.repeat_combo.currentText()
            repeat_data = None if repeat in ("", NONE) else self.viewer.layers[repeat].data
            name = f"subject{len(self.subjects) + 1}-{low}"
            subject = subject_from_arrays(name, self.viewer.layers[low].data, self.viewer.layers[normal].data, repeat_data)
        except ValueError as err:
            show_error(str(err))
            return
        self._add_subject(subject)

    def add_subject_folder(self, folder: str | Path) -> None:
        """Add a subject folder (low_dose / normal_dose scans as TIFF, NIfTI or DICOM)."""
        try:
            subject = load_subject(folder)
        except (ValueError, FileNotFoundError) as err:
            show_error(str(err))
            return
        self._add_subject(subject)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Subject folder with low_dose and normal_dose scans")
        if folder:
            self.add_subject_folder(folder)

    def _add_subject(self, subject) -> None:
        self.subjects.append(subject)
        self.subject_list.addItem(f"{subject.name}: {subject.n_slices} slice(s) {subject.low_dose.shape[1:]}")

    # running
    @property
    def running(self) -> bool:
        return self.train_panel.running or self.adapt_panel.running

    def _controls(self) -> list[QWidget]:
        return [self.add_pair_button, self.add_folder_button, self.adapt_panel.train_button, self.train_panel.train_button]

    def _device(self) -> str:
        return self.device_combo.currentText()

    def start_training(self) -> None:
        """Train the base denoiser on all subjects, then one noise model per subject, into the model folder."""
        if not self.subjects:
            show_error("add at least one training subject (paired layers or a subject folder) first")
            return
        folder = Path(self.model_dir_edit.text()).expanduser()
        common = dict(
            epochs=self.epochs_spin.value(),
            steps_per_epoch=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            patch_size=self.patch_spin.value(),
        )
        try:
            denoiser_config = DenoiserConfig(scheme=self.scheme_combo.currentText(), n_filters=self.filters_spin.value(), **common)
            noise_config = NoiseModelConfig(n_filters=self.unet_filters_spin.value(), **common)
        except ValueError as err:
            show_error(str(err))
            return
        subjects, device = list(self.subjects), self._device()
        preview = subjects[0].low_dose[0]
        phases = [
            ("Pseudo-CT denoiser", lambda: train_denoiser(subjects, denoiser_config, out_dir=folder / "denoiser", device=device, preview_slice=preview))
        ]
        for subject in subjects:
            out = folder / "noise_models" / subject.name
            phases.append((f"Pseudo-CT noise model {subject.name}", lambda s=subject, o=out: train_noise_model([s], noise_config, out_dir=o, device=device)))
        self._phases = phases
        self._model_folder = folder
        self._next_phase()

    def _next_phase(self) -> None:
        """Run the training phases one after the other, each with its own progress and loss plot."""
        runner = self.train_panel.runner
        if runner.error is not None or runner.stopped:
            self._phases = []
            return
        if not self._phases:
            show_info(f"Pseudo-CT models written to {self._model_folder}")
            return
        title, factory = self._phases.pop(0)
        self.train_panel.run(factory, on_finished=self._next_phase, title=title, disable=self._controls()[:3])

    def start_adaptation(self) -> None:
        """Adapt the trained denoiser to the chosen low-dose layer, showing the result live."""
        name = self.target_combo.currentText()
        if not name:
            show_error("choose the low-dose image layer to denoise")
            return
        folder = Path(self.model_dir_edit.text()).expanduser()
        layer = self.viewer.layers[name]
        period = self.period_spin.value()
        try:
            config = AdaptationConfig(
                noise=self.noise_combo.currentText(),
                update_period=period or None,
                steps=self.adapt_steps_spin.value(),
                batch_size=self.adapt_batch_spin.value(),
                patch_size=self.patch_spin.value(),
            )
            denoiser = LowDoseDenoiser.load(folder / "denoiser", self._device())
            models = load_noise_models(folder / "noise_models", self._device()) if config.noise == "ensemble" else []
            data = np.asarray(layer.data, dtype=np.float32)
            index = int(self.viewer.dims.current_step[0]) if data.ndim == 3 else 0
            index = min(max(index, 0), data.shape[0] - 1) if data.ndim == 3 else 0
            adaptation = PseudoCTAdaptation(denoiser, data, models, config, device=self._device(), preview_index=index)
        except (ValueError, FileNotFoundError) as err:
            show_error(str(err))
            return
        live_name = f"{name} denoised (Pseudo-CT)"
        if live_name in self.viewer.layers:
            self.viewer.layers.remove(live_name)
        self._live_layer = self.viewer.add_image(
            data.copy(), name=live_name, colormap="gray", contrast_limits=layer.contrast_limits, scale=layer.scale
        )
        self._preview_index = index
        self._adaptation = adaptation
        self.adapt_panel.run(adaptation.run, on_event=self._on_adaptation_event, on_finished=self._on_adapted, disable=self._controls()[:2] + self._controls()[3:])

    def _on_adaptation_event(self, event) -> None:
        if event.kind != "preview" or self._live_layer is None:
            return
        data = self._live_layer.data
        if data.ndim == 3:
            data[self._preview_index] = event.preview
        else:
            data[:] = event.preview
        self._live_layer.refresh()

    def _on_adapted(self) -> None:
        """Show f_theta(X) for the whole scan, also after Stop (the result so far)."""
        if self.adapt_panel.runner.error is None and self._live_layer is not None:
            self._live_layer.data = self._adaptation.denoised()
            show_info(f"{self._live_layer.name}: adaptation {'stopped' if self.adapt_panel.runner.stopped else 'finished'}")
