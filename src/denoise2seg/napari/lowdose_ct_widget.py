"""Low-dose CT denoise (Pseudo-CT): train on paired layers or folders, adapt to a scan live.

Thin GUI over :mod:`denoise2seg.ct.lowdose`: training is one run of the core workflow
:func:`~denoise2seg.ct.lowdose.train_pseudo_ct` (the denoiser, then one noise model per
subject) and adaptation one run of :class:`~denoise2seg.ct.lowdose.PseudoCTAdaptation`,
each in its own training panel (worker thread, progress, loss plot, Stop).
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit, QListWidget, QPushButton, QWidget

from ..ct.lowdose import (
    AdaptationConfig,
    DenoiserConfig,
    NoiseModelConfig,
    PseudoCTAdaptation,
    PseudoCTFolder,
    load_subject,
    subject_from_arrays,
    train_pseudo_ct,
)
from ..ct.lowdose.config import NOISE_SOURCES, SCHEMES
from ..extras import ct_extra_message
from .background import start_worker
from .controls import add_rows, Collapsible, device_combo, dock_layout, notice_missing_extra, spin_box
from .layer_choice import LayerCombo, frame_index, show_result
from .output_folder import model_folder_ready
from .training_panel import TrainingPanel

TITLE = "Pseudo-CT"
RESULT_SUFFIX = " denoised (Pseudo-CT)"


def _not_a_result(layer) -> bool:
    return not layer.name.endswith(RESULT_SUFFIX)


class LowDoseCTWidget(QWidget):
    """Train a RED-CNN denoiser and per-subject noise models, then adapt to a low-dose layer.

    Stop during training keeps the networks finished so far; Stop during adaptation shows
    the scan denoised by the network adapted so far.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.subjects: list = []
        self._adaptation: PseudoCTAdaptation | None = None
        self._target = None
        self._preview_index = 0
        defaults, adaptation = DenoiserConfig(), AdaptationConfig()
        image = napari.layers.Image

        self.low_combo = LayerCombo(napari_viewer, image, prefer=_not_a_result)
        self.normal_combo = LayerCombo(napari_viewer, image, prefer=_not_a_result, distinct_from=self.low_combo)
        self.repeat_combo = LayerCombo(napari_viewer, image, optional=True)
        self.add_pair_button = QPushButton("Add layers as subject")
        self.add_folder_button = QPushButton("Add subject folder...")
        self.subject_list = QListWidget()
        self.subject_list.setMaximumHeight(80)
        self.scheme_combo = QComboBox()
        self.scheme_combo.addItems(SCHEMES)
        self.epochs_spin = spin_box(defaults.epochs, 1, 10_000)
        self.steps_spin = spin_box(defaults.steps_per_epoch, 1, 100_000)
        self.batch_spin = spin_box(defaults.batch_size, 1, 1024)
        self.patch_spin = spin_box(defaults.patch_size, 21, 1024)
        self.filters_spin = spin_box(defaults.n_filters, 1, 512)
        self.unet_filters_spin = spin_box(NoiseModelConfig().n_filters, 1, 512)
        self.model_dir_edit = QLineEdit(str(Path.home() / "denoise2seg_models" / "pseudo_ct"))
        self.train_panel = TrainingPanel("Train denoiser + noise models", title="Pseudo-CT training")
        advanced = Collapsible([
            ("batch size", self.batch_spin),
            ("patch size", self.patch_spin),
            ("RED-CNN filters", self.filters_spin),
            ("noise U-Net filters", self.unet_filters_spin),
        ])

        self.target_combo = LayerCombo(napari_viewer, image, prefer=_not_a_result)
        self.noise_combo = QComboBox()
        self.noise_combo.addItems([n for n in NOISE_SOURCES if n != "model+hist"])
        self.adapt_steps_spin = spin_box(adaptation.steps, 1, 100_000)
        self.period_spin = spin_box(adaptation.update_period, 0, 100_000)
        self.period_spin.setToolTip("C: copy theta <- theta* every C steps; 0 never (ablation)")
        self.adapt_batch_spin = spin_box(adaptation.batch_size, 1, 1024)
        self.adapt_panel = TrainingPanel("Adapt and denoise", title="Pseudo-CT adaptation")
        self.device_combo = device_combo()

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_pair_button)
        buttons.addWidget(self.add_folder_button)
        train_box = QGroupBox("1. Train on paired scans (HU)")
        add_rows(QFormLayout(train_box), [
            ("low dose", self.low_combo),
            ("normal dose", self.normal_combo),
            ("2nd low dose (N2N)", self.repeat_combo),
            buttons,
            ("subjects", self.subject_list),
            ("denoiser scheme", self.scheme_combo),
            ("epochs", self.epochs_spin),
            ("steps per epoch", self.steps_spin),
            ("model folder", self.model_dir_edit),
            advanced,
            self.train_panel,
        ])
        adapt_box = QGroupBox("2. Adapt to a low-dose scan")
        add_rows(QFormLayout(adapt_box), [
            ("low-dose scan", self.target_combo),
            ("pseudo-noise", self.noise_combo),
            ("update steps", self.adapt_steps_spin),
            ("update period C", self.period_spin),
            ("batch size", self.adapt_batch_spin),
            self.adapt_panel,
        ])
        body = dock_layout(self, [("device", self.device_combo)], [train_box, adapt_box])
        # Without the ct extra the widget opens and says what to install, instead of failing to load.
        self.extra_notice = notice_missing_extra(body, ct_extra_message("Pseudo-CT in napari", in_napari=True))

        self.add_pair_button.clicked.connect(self.add_layer_subject)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.train_panel.train_button.clicked.connect(self.start_training)
        self.adapt_panel.train_button.clicked.connect(self.start_adaptation)

    def add_layer_subject(self) -> None:
        """Add the chosen low-/normal-dose (and 2nd low-dose) layers as one training subject."""
        low, normal, repeat = self.low_combo.chosen(), self.normal_combo.chosen(), self.repeat_combo.chosen()
        try:
            if low is None or normal is None or low.name == normal.name:
                raise ValueError("choose two different image layers: a low-dose and a normal-dose scan of one subject")
            name = f"subject{len(self.subjects) + 1}-{low.name}"
            subject = subject_from_arrays(name, low.data, normal.data, None if repeat is None else repeat.data)
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        self._add_subject(subject)

    def add_subject_folder(self, folder: str | Path) -> None:
        """Add a subject folder (low_dose / normal_dose scans as TIFF, NIfTI or DICOM)."""
        try:
            subject = load_subject(folder)
        except (ValueError, FileNotFoundError) as err:
            show_error(f"{TITLE}: {err}")
            return
        self._add_subject(subject)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Subject folder with low_dose and normal_dose scans")
        if folder:
            self.add_subject_folder(folder)

    def _add_subject(self, subject) -> None:
        self.subjects.append(subject)
        self.subject_list.addItem(f"{subject.name}: {subject.n_slices} slice(s) {subject.low_dose.shape[1:]}")

    @property
    def running(self) -> bool:
        return self.train_panel.running or self.adapt_panel.running

    def _folder(self) -> PseudoCTFolder:
        return PseudoCTFolder(Path(self.model_dir_edit.text()).expanduser())

    def start_training(self) -> None:
        """Train the base denoiser on all subjects, then one noise model per subject, into the model folder."""
        common = dict(
            epochs=self.epochs_spin.value(),
            steps_per_epoch=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            patch_size=self.patch_spin.value(),
        )
        try:
            if not self.subjects:
                raise ValueError("add at least one training subject (paired layers or a subject folder) first")
            denoiser_config = DenoiserConfig(scheme=self.scheme_combo.currentText(), n_filters=self.filters_spin.value(), **common)
            noise_config = NoiseModelConfig(n_filters=self.unet_filters_spin.value(), **common)
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        subjects, folder, device = list(self.subjects), self._folder(), self.device_combo.currentText()
        if not model_folder_ready(self, folder.root, TITLE):
            return
        self.train_panel.run(
            lambda: train_pseudo_ct(subjects, denoiser_config, noise_config, out_dir=folder.root, device=device),
            on_finished=lambda: self._on_trained(folder),
            disable=[self.add_pair_button, self.add_folder_button, self.adapt_panel.train_button],
        )

    def _on_trained(self, folder: PseudoCTFolder) -> None:
        if self.train_panel.runner.error is None:
            show_info(f"Pseudo-CT models written to {folder.root}")

    def start_adaptation(self) -> None:
        """Adapt the trained denoiser to the chosen low-dose layer, showing the slice under the slider live."""
        target = self.target_combo.chosen()
        try:
            if target is None:
                raise ValueError("choose the low-dose image layer to denoise")
            config = AdaptationConfig(
                noise=self.noise_combo.currentText(),
                update_period=self.period_spin.value() or None,
                steps=self.adapt_steps_spin.value(),
                batch_size=self.adapt_batch_spin.value(),
                patch_size=self.patch_spin.value(),
            )
        except ValueError as err:
            show_error(f"{TITLE}: {err}")
            return
        folder, device = self._folder(), self.device_combo.currentText()
        scan = np.asarray(target.data, dtype=np.float32)
        index = frame_index(self.viewer, target)
        self._target, self._preview_index = target, index

        def adaptation_events():
            # Loading the models and predicting the noise maps of the scan take a while: worker thread.
            self._adaptation = folder.adaptation(scan, config, device, preview_index=index)
            return self._adaptation.run()

        self._adaptation = None
        self.adapt_panel.run(
            adaptation_events,
            on_event=self._on_adaptation_event,
            on_finished=self._on_adapted,
            disable=[self.add_pair_button, self.add_folder_button, self.train_panel.train_button],
        )

    def _result_name(self) -> str:
        return f"{self._target.name}{RESULT_SUFFIX}"

    def _on_adaptation_event(self, event) -> None:
        if event.kind != "preview":
            return
        if self._target.ndim == 2:
            show_result(self.viewer, self._result_name(), event.preview, source=self._target, colormap="gray")
            return
        # The result layer holds the whole scan from the start (its slices not yet shown are the
        # low dose), so the final result replaces its data instead of a layer of another shape:
        # removing a layer makes napari collect garbage on the GUI thread for seconds.
        name = self._result_name()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        if layer is None or layer.data.shape != self._target.data.shape:
            layer = show_result(self.viewer, name, np.array(self._target.data, dtype=np.float32), source=self._target, colormap="gray")
        layer.data[self._preview_index] = event.preview
        layer.refresh()

    def _on_adapted(self) -> None:
        """Show f_theta(X) for the whole scan, also after Stop (the result so far)."""
        if self.adapt_panel.runner.error is not None or self._adaptation is None:
            return
        stopped = self.adapt_panel.runner.stopped

        def shown(denoised: np.ndarray) -> None:
            show_result(self.viewer, self._result_name(), denoised, source=self._target, colormap="gray")
            show_info(f"{self._result_name()}: adaptation {'stopped' if stopped else 'finished'}")

        start_worker(self._adaptation.denoised, on_returned=shown, title=f"{TITLE} denoising", busy=self.adapt_panel.train_button)
