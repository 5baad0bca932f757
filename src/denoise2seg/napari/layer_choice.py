"""Layer pickers that follow the viewer's layer list, and the checks that turn chosen layers into arrays."""

from __future__ import annotations

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QComboBox, QListWidget, QListWidgetItem

NO_LAYER = "(none)"


class LayerList(QListWidget):
    """A multi-selection list of the viewer's layers of one type (``napari.layers.Image`` by default).

    The list follows layers being added, removed or renamed; the selection is kept by
    name. :meth:`chosen` returns the selected layers (all listed layers when only one
    exists and nothing is selected).
    """

    def __init__(self, viewer: napari.Viewer, layer_type=napari.layers.Image, *, exclude: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.viewer = viewer
        self.layer_type = layer_type
        self.exclude = exclude
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMaximumHeight(90)
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.reordered):
            emitter.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        selected = set(self.selected_names())
        self.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, self.layer_type) and layer.name not in self.exclude:
                item = QListWidgetItem(layer.name)
                self.addItem(item)
                item.setSelected(layer.name in selected)

    def selected_names(self) -> list[str]:
        return [item.text() for item in self.selectedItems()]

    def select(self, *names: str) -> None:
        """Select exactly the layers called ``names``."""
        for i in range(self.count()):
            self.item(i).setSelected(self.item(i).text() in names)

    def chosen(self) -> list:
        names = self.selected_names()
        if not names and self.count() == 1:
            names = [self.item(0).text()]
        return [self.viewer.layers[name] for name in names if name in self.viewer.layers]


class LayerCombo(QComboBox):
    """A single-choice box of the viewer's layers of one type, with an optional ``(none)`` entry."""

    def __init__(self, viewer: napari.Viewer, layer_type=napari.layers.Labels, *, optional: bool = False, exclude: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.viewer = viewer
        self.layer_type = layer_type
        self.optional = optional
        self.exclude = exclude
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.reordered):
            emitter.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        if self.optional:
            self.addItem(NO_LAYER)
        for layer in self.viewer.layers:
            if isinstance(layer, self.layer_type) and layer.name not in self.exclude:
                self.addItem(layer.name)
        index = self.findText(current, Qt.MatchFlag.MatchExactly)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

    def chosen(self):
        name = self.currentText()
        return self.viewer.layers[name] if name and name != NO_LAYER and name in self.viewer.layers else None


def images_of(layers: list, *, what: str = "image") -> list[np.ndarray]:
    """Float32 arrays of 2D image layers or stacks of 2D frames ``(T, Y, X)``; ``ValueError`` otherwise.

    RGB layers and layers with more than 3 axes are refused with a message naming the layer.
    """
    if not layers:
        raise ValueError(f"choose at least one {what} layer")
    arrays = []
    for layer in layers:
        if getattr(layer, "rgb", False):
            raise ValueError(f"layer {layer.name!r} is RGB; convert it to a single-channel image first")
        data = np.asarray(layer.data)
        if data.ndim not in (2, 3):
            raise ValueError(
                f"layer {layer.name!r} has shape {data.shape}: expected a 2D image (Y, X) or a stack of 2D frames (T, Y, X)"
            )
        arrays.append(data.astype(np.float32, copy=False))
    return arrays


def current_frame(viewer: napari.Viewer, image: np.ndarray) -> np.ndarray:
    """The 2D frame of ``image`` shown in the viewer (the frame under the time/z slider for a stack)."""
    if image.ndim == 2:
        return image
    step = viewer.dims.current_step
    index = step[-3] if len(step) >= 3 else 0
    return image[int(np.clip(index, 0, image.shape[0] - 1))]


def show_result(viewer: napari.Viewer, name: str, data: np.ndarray, layer_type: str = "image", **kwargs):
    """Put ``data`` into the layer called ``name`` (replaced when its shape changes), or add it; return the layer."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        wanted = napari.layers.Labels if layer_type == "labels" else napari.layers.Image
        if layer.data.shape == data.shape and type(layer) is wanted:
            layer.data = data
            if layer_type == "image":
                # Early previews span another range than later ones, so rescale the display each time.
                layer.contrast_limits = display_range(data)
            return layer
        viewer.layers.remove(name)
    if layer_type == "labels":
        return viewer.add_labels(data, name=name, **kwargs)
    return viewer.add_image(data, name=name, contrast_limits=display_range(data), **kwargs)


def display_range(image: np.ndarray) -> tuple[float, float]:
    """Contrast limits from the 0.5 and 99.5 percentiles, so that a few extreme border pixels do not darken the view."""
    low, high = (float(v) for v in np.percentile(image[:: max(1, image.shape[0] // 512)], (0.5, 99.5)))
    return (low, high) if high > low else (low, low + 1.0)
