"""Dock widget that compares the VoidSeg schemes on the user's labels and applies the best one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import napari
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..segmentation.compare import BUDGETS, Comparison, ComparisonEvent, compare_schemes
from .controls import Collapsible, device_combo, dock_layout, seed_box, seed_of
from .layer_choice import AxesField, LayerCombo, LayerList, frames_of_layers, placement
from .n2v_widget import DENOISED_LAYER, n2v_folder_for
from .segmentation_widget import annotations_of, chosen_annotations, offered_as_annotations
from .training_panel import TrainingPanel

COLUMNS = ("scheme", "AP@0.5", "SEG", "s")
COLUMN_TIPS = (
    "method and scheme",
    "average precision at IoU 0.5, mean ± standard error over the folds",
    "SEG (mean Jaccard index of the true objects with their match), mean over the folds; the tooltip of a cell has its standard error",
    "training and scoring time of all folds, seconds",
)
BEST_LAYER_SUFFIX = "best scheme"


class CompareWidget(QWidget):
    """Which scheme segments these images best: every method x scheme cross-validated on the painted labels.

    Choose the images (all of them train the N2V model when there is none), the Labels
    layer with the annotations, the methods and a budget. "N2V model" is a typed folder,
    else the model of this viewer's N2V widget, else one is trained on the images first.
    *Compare* trains every scheme on the same folds of the annotations (the split used is
    stated under the table), adds each scheme's row to the table when its folds end (AP
    at IoU 0.5 and SEG, mean ± standard error over folds, training time), then retrains
    the best scheme on all labels and adds its segmentation of each image as a
    ``<image> best scheme`` layer. The best row is bold only when its lead exceeds the fold
    spread; otherwise the verdict says which schemes are tied. Stop ends the training under
    way; the rows so far stay. The comparison is :func:`~denoise2seg.segmentation.compare.compare_schemes`.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.comparison: Comparison | None = None
        self.output_folder: Path | None = None
        self.best_folder: Path | None = None
        self._layers: list = []
        self.image_list = LayerList(napari_viewer, exclude=(DENOISED_LAYER,))
        self.axes_edit = AxesField(napari_viewer, self.image_list, self.image_list.chosen, tip="Segmentation takes YX or TYX")
        self.labels_combo = LayerCombo(
            napari_viewer, napari.layers.Labels, optional=True,
            prefer=offered_as_annotations,
        )
        self.unet_check = QCheckBox("U-Net (3-class)")
        self.stardist_check = QCheckBox("StarDist")
        for box in (self.unet_check, self.stardist_check):
            box.setChecked(True)
        methods = QHBoxLayout()
        methods.addWidget(self.unet_check)
        methods.addWidget(self.stardist_check)
        self.budget_combo = QComboBox()
        self.budget_combo.addItems(list(BUDGETS))
        self.budget_label = QLabel("")
        self.budget_label.setWordWrap(True)
        self.budget_combo.currentTextChanged.connect(self._show_budget)
        self.n2v_folder_edit = QLineEdit()
        self.n2v_folder_edit.setPlaceholderText("empty: the N2V widget's model, else trained here first")
        self.seed_spin = seed_box()
        self.seed_spin.setValue(0)
        self.device_combo = device_combo()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The scheme column takes what the numbers leave (names elided, in full in the tooltip): no sideways scrolling.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        # Room for the six schemes of both methods without scrolling.
        self.table.setFixedHeight(header.sizeHint().height() + 6 * self.table.verticalHeader().defaultSectionSize() + 4)
        self.verdict_label = QLabel("")
        self.verdict_label.setWordWrap(True)
        self.panel = TrainingPanel("Compare", title="Scheme comparison")
        self.panel.train_button.clicked.connect(self.compare)
        self.advanced = Collapsible([("Seed", self.seed_spin), ("N2V model", self.n2v_folder_edit)])
        rows = [
            ("Images", self.image_list),
            ("Axes", self.axes_edit),
            ("Annotations", self.labels_combo),
            ("Methods", methods),
            ("Budget", self.budget_combo),
            self.budget_label,
            ("Device", self.device_combo),
        ]
        dock_layout(self, rows, [self.advanced, self.table, self.verdict_label, self.panel])
        self._show_budget(self.budget_combo.currentText())

    def _show_budget(self, name: str) -> None:
        budget = BUDGETS[name]
        self.budget_label.setText(f"{budget.epochs} x {budget.steps_per_epoch} steps per training; {budget.expected}")

    def methods(self) -> list[str]:
        return [m for m, box in (("unet", self.unet_check), ("stardist", self.stardist_check)) if box.isChecked()]

    def n2v_folder(self) -> Path | None:
        """The N2V model folder to use: the typed folder, else the one of this viewer's N2V widget, else ``None`` (trained here)."""
        return n2v_folder_for(self.viewer, self.n2v_folder_edit.text())

    def compare(self) -> None:
        """Check the choice, then run the comparison in a worker thread (Compare button)."""
        try:
            layers = self.image_list.chosen()
            axes = self.axes_edit.axes(layers)
            images, _ = frames_of_layers(
                layers, axes, for_training=True, single_channel="the scheme comparison takes single-channel images"
            )
            labels_layer = chosen_annotations(self.viewer, self.labels_combo)
            labels = annotations_of(labels_layer.data, labels_layer.name, layers, axes, spatial_ndim=2)
            methods = self.methods()
            if not methods:
                raise ValueError("tick at least one method")
            n2v = self.n2v_folder()
            if n2v is not None and not (n2v / "config.json").is_file():
                raise ValueError(f"{n2v} is not a model folder (it has no config.json)")
        except ValueError as err:
            show_error(f"Scheme comparison: {err}")
            return
        self._layers = layers
        self.comparison = None
        self.best_folder = None
        self.table.setRowCount(0)
        self.verdict_label.setText("")
        self.output_folder = Path(tempfile.mkdtemp(prefix="scheme-comparison-"))
        budget, seed, device, out = self.budget_combo.currentText(), seed_of(self.seed_spin), self.device_combo.currentText(), self.output_folder
        self.panel.run(
            lambda: compare_schemes(images, labels, n2v_model=n2v, methods=methods, budget=budget, seed=seed, out_dir=out, device=device),
            on_event=self._on_event,
            on_finished=self._on_finished,
            disable=[self.image_list, self.labels_combo, self.unet_check, self.stardist_check, self.budget_combo],
        )

    def _on_finished(self) -> None:
        """After Stop: say what was kept (the finished rows) and that no scheme was retrained."""
        if not self.panel.runner.stopped or self.best_folder is not None:
            return
        done = len(self.comparison.results) if self.comparison is not None else 0
        if done:
            self.verdict_label.setText(
                f"stopped: the {done} scheme{'s' * (done != 1)} above finished; no scheme was retrained on all labels. "
                f"{self.verdict_label.text()}"
            )
        else:
            self.verdict_label.setText("stopped before any scheme finished: nothing was kept")

    def _on_event(self, event: ComparisonEvent) -> None:
        if event.kind == "result":
            self.comparison = event.comparison
            self._fill_table(event.comparison, final=False)
        elif event.kind == "done":
            self.comparison = event.comparison
            self.best_folder = event.path
            self._fill_table(event.comparison, final=True)
            self.verdict_label.setText(f"{self.verdict_label.text()} The best scheme retrained on all labels: {event.path}")
            name = event.comparison.best.name
            for layer, labels in zip(self._layers, event.labels):
                title = f"{layer.name} {BEST_LAYER_SUFFIX}"
                if title in self.viewer.layers:
                    self.viewer.layers.remove(title)
                self.viewer.add_labels(labels, name=title, metadata={"scheme": name}, **placement(layer, labels.ndim))

    def _fill_table(self, comparison: Comparison, *, final: bool) -> None:
        rows = comparison.rows()
        self.table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(rows):
            cells = (row["scheme"], f"{row['ap_50']:.3f}±{row['ap_50_se']:.3f}", f"{row['seg']:.3f}", f"{row['training_s']:.0f}")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 0:
                    item.setToolTip(row["scheme"])
                elif j == 2:
                    item.setToolTip(f"SEG {row['seg']:.3f} ± {row['seg_se']:.3f} over {row['folds']} folds")
                if final and row["best"]:
                    item.setFont(bold)
                self.table.setItem(i, j, item)
        folds = rows[0]["folds"] if rows else 0
        verdict = comparison.verdict() if final else f"{len(rows)} scheme{'s' * (len(rows) != 1)} done"
        self.verdict_label.setText(f"{verdict}. Validation ({folds} folds): {comparison.split}.")
