"""Layer pickers that follow the viewer's layer list, and the checks that turn chosen layers into arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QComboBox, QLineEdit, QListWidget, QListWidgetItem

from ..data.axes import (
    as_frames, check_axes, from_samples, guess_axes, parse_axes_list, segmentation_frames, without_channel,
)
from ..validation import check_varies

NO_LAYER = "(none)"
# Edge in pixels of the window a live preview predicts (the middle of the view).
PREVIEW_SIZE = 512
# Slices of a Z-stack a 3D model's live preview predicts, centred on the slider.
PREVIEW_DEPTH = 32
# Layer metadata key and value of a layer that came with the data as its ground truth.
ROLE_KEY = "denoise2seg_role"
GROUND_TRUTH = "ground truth"


def excluded(name: str, exclude: tuple[str, ...]) -> bool:
    """Whether a layer called ``name`` is one of ``exclude``, or a channel ``"<name> [k]"`` of one of them."""
    return name in exclude or any(name.startswith(f"{other} [") for other in exclude)


def is_ground_truth(layer) -> bool:
    """True for a layer that came with sample data as its ground truth (never offered as annotations by default)."""
    return layer.metadata.get(ROLE_KEY) == GROUND_TRUTH


class LayerList(QListWidget):
    """A multi-selection list of the viewer's layers of one type (``napari.layers.Image`` by default).

    The list follows layers being added, removed or renamed; the selection is kept by
    name. :meth:`chosen` returns the selected layers; when nothing is selected, the one
    listed layer that did not come with the data as its ground truth, if there is
    exactly one.
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
            if isinstance(layer, self.layer_type) and not excluded(layer.name, self.exclude):
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
        if not names:
            listed = [self.item(i).text() for i in range(self.count())]
            candidates = [n for n in listed if n in self.viewer.layers and not is_ground_truth(self.viewer.layers[n])]
            names = candidates if len(candidates) == 1 else []
        return [self.viewer.layers[name] for name in names if name in self.viewer.layers]


class LayerCombo(QComboBox):
    """A single-choice box of the viewer's layers of one type, with an optional ``(none)`` entry.

    The box follows layers being added, removed or reordered. A layer the user picked
    stays chosen while it exists; otherwise the box shows its default: the first layer
    for which ``prefer(layer)`` is true and that is not chosen in ``distinct_from``, or
    ``(none)`` when ``optional`` and no layer fits (without ``prefer``/``distinct_from``
    an optional box defaults to ``(none)``; a required one to its first layer).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        layer_type=napari.layers.Labels,
        *,
        optional: bool = False,
        exclude: tuple[str, ...] = (),
        prefer: Callable[[napari.layers.Layer], bool] | None = None,
        distinct_from: "LayerCombo | None" = None,
    ) -> None:
        super().__init__()
        self.viewer = viewer
        self.layer_type = layer_type
        self.optional = optional
        self.exclude = exclude
        self.prefer = prefer
        self.distinct_from = distinct_from
        self._user_choice: str | None = None
        # Long layer names are elided instead of widening the dock beyond the screen.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.textActivated.connect(self._on_user_choice)
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.reordered):
            emitter.connect(self.refresh)
        self.refresh()

    def _on_user_choice(self, name: str) -> None:
        self._user_choice = name

    def names(self) -> list[str]:
        """The names of the layers this box offers."""
        return [
            layer.name for layer in self.viewer.layers if isinstance(layer, self.layer_type) and not excluded(layer.name, self.exclude)
        ]

    def _default(self, names: list[str]) -> str:
        taken = self.distinct_from.currentText() if self.distinct_from is not None else None
        fitting = [n for n in names if n != taken and (self.prefer is None or self.prefer(self.viewer.layers[n]))]
        if fitting and (not self.optional or self.prefer is not None or self.distinct_from is not None):
            return fitting[0]
        if self.optional or not names:
            return NO_LAYER
        return names[0]

    def refresh(self, *_args) -> None:
        names = self.names()
        chosen = self._user_choice
        wanted = chosen if chosen in names or (chosen == NO_LAYER and self.optional) else self._default(names)
        self.blockSignals(True)
        self.clear()
        if self.optional:
            self.addItem(NO_LAYER)
        self.addItems(names)
        self.setCurrentIndex(max(self.findText(wanted, Qt.MatchFlag.MatchExactly), 0))
        self.blockSignals(False)

    def setCurrentText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        """Choose the layer ``text`` and keep it while it exists."""
        self._user_choice = text
        super().setCurrentText(text)

    def chosen(self):
        name = self.currentText()
        return self.viewer.layers[name] if name and name != NO_LAYER and name in self.viewer.layers else None


def layer_axes_guess(layer) -> str:
    """The axes guessed for ``layer`` from its shape (:func:`denoise2seg.data.axes.guess_axes`); ``YXC`` and the like for an RGB layer."""
    return guess_axes(np.shape(layer.data), rgb=bool(getattr(layer, "rgb", False)))


def axes_guess_text(layers) -> str:
    """The axes guessed for ``layers`` as an "Axes" field shows them: one string when all agree, else one per layer.

    Per-layer guesses are separated by commas, in the order of ``layers``; a layer whose
    shape gives no guess shows ``?``.
    """
    guesses = []
    for layer in layers:
        try:
            guesses.append(layer_axes_guess(layer))
        except ValueError:
            guesses.append("?")
    return ", ".join(guesses) if len(set(guesses)) > 1 else "".join(guesses[:1])


AXES_TIP = (
    "axes of the chosen layers, letters S, T, C, Z, Y, X: e.g. YX, CYX (channels), TYX (frames), ZYX, YXC (RGB), "
    "TCYX; one for all layers, or one per layer in the order of the list, separated by commas"
)


class AxesField(QLineEdit):
    """An "Axes" field that shows the axes guessed for the chosen layers whenever that choice changes.

    ``chosen`` returns the chosen layers (in the order the axes refer to). When the choice
    changes, the field shows what was last typed for that choice, else the guess
    (:func:`axes_guess_text`); adding or removing other layers (a result, say) keeps
    what the user typed. ``tip`` adds to the tooltip what the widget does with the axes.
    """

    def __init__(self, viewer: napari.Viewer, layer_list: "LayerList", chosen: Callable[[], list], tip: str = "") -> None:
        super().__init__()
        self.chosen = chosen
        self.setToolTip(AXES_TIP + (f". {tip}" if tip else ""))
        self._guessed_for: tuple[str, ...] | None = None
        self._typed: dict[tuple[str, ...], str] = {}
        self._showing_guess = False
        self.textChanged.connect(self._remember)
        layer_list.itemSelectionChanged.connect(self.guess)
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed):
            emitter.connect(self.guess)
        self.guess()

    def _remember(self, text: str) -> None:
        if not self._showing_guess and self._guessed_for:
            self._typed[self._guessed_for] = text

    def guess(self, *_args) -> None:
        """Show the axes for the chosen layers (typed before for this choice, else guessed) when the choice changed."""
        layers = self.chosen()
        names = tuple(layer.name for layer in layers)
        if not names or names == self._guessed_for:
            return
        self._guessed_for = names
        self._showing_guess = True
        try:
            self.setText(self._typed.get(names, axes_guess_text(layers)))
        finally:
            self._showing_guess = False

    def axes(self, layers: list) -> list[str]:
        """The axes in the field for ``layers`` (one string for all, or one per layer; the guess when empty)."""
        if not layers:
            return []
        return parse_axes_list(self.text().strip() or axes_guess_text(layers), len(layers))


def spatial_ndim_of(axes: list[str]) -> int:
    """3 when the axes of the chosen layers hold Z (a 3D model), 2 otherwise; ``ValueError`` when they disagree."""
    with_z = {"Z" in a for a in axes}
    if len(with_z) > 1:
        raise ValueError(
            f"the axes {', '.join(axes)} mix Z-stacks and 2D images: a 3D model (axes with Z) and a 2D one cannot "
            "be used together; give Z to all layers, or T to read their stacks as 2D frames"
        )
    return 3 if with_z == {True} else 2


def frames_of_layers(
    layers: list,
    axes: list[str],
    *,
    for_training: bool = False,
    spatial_ndim: int = 2,
    channels: int | None = 1,
    single_channel: str = "segmentation with this model takes single-channel images",
) -> tuple[list[np.ndarray], int]:
    """Image layers read with ``axes`` as frames or stacks of frames, for the segmenters, and their channel count.

    Frames are 2D images (``YX``, stacks ``TYX``) or, for a 3D model (``spatial_ndim``
    3), volumes (``ZYX``, stacks ``TZYX``), channels first when the axes hold ``C``
    (``CYX``, RGB ``YXC``), returned in that axis order. ``channels`` is the channel
    count needed (``None``: any, the same for every layer). With 1, axes with channels
    are refused naming the layer, its shape, ``single_channel`` and that ``TYX`` in
    "Axes" reads the axis as frames (:func:`~denoise2seg.data.axes.segmentation_frames`),
    so channels are never segmented as frames. ``for_training`` as in :func:`images_of`.
    """
    arrays = images_of(layers, for_training=for_training, axes=axes)
    return segmentation_frames(
        arrays, axes, [f"layer {layer.name!r}" for layer in layers], spatial_ndim=spatial_ndim, channels=channels,
        single_channel=single_channel, choose='write TYX in "Axes"' if spatial_ndim == 2 else 'write TZYX in "Axes"',
    )


@dataclass(frozen=True)
class FrameWindow:
    """The window of one frame of ``source`` (a layer with frames ``axes``) that a live preview segments.

    ``shape`` is the window's shape in the layer's axes (1 on the sample axis) and
    ``offset`` its origin in the layer's pixels (for :func:`show_result`).
    """

    source: object
    axes: str
    spatial_ndim: int
    window: tuple[slice, ...]
    offset: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(w.stop - w.start for w in self.window)

    def frame(self, data) -> np.ndarray:
        """The window of ``data`` (an array of the layer's shape) as one frame, spatial axes in the model's order, channels first."""
        return self._one_frame(data[self.window], self.axes)

    def _one_frame(self, window_data, axes: str) -> np.ndarray:
        """``window_data`` (1 on its sample axis, if any) with ``axes`` as one frame."""
        frames = as_frames(np.asarray(window_data), axes, spatial_ndim=self.spatial_ndim)
        return frames[0] if frames.ndim > self.spatial_ndim + ("C" in axes) else frames

    @property
    def labels_axes(self) -> str:
        """The axes of a label image of this window: the layer's without ``C``."""
        return self.axes.replace("C", "")

    @property
    def labels_offset(self) -> tuple[int, ...]:
        """:attr:`offset` without the channel axis: where labels of this window lie."""
        return without_channel(self.offset, self.axes)

    def labels_to_layer(self, labels: np.ndarray) -> np.ndarray:
        """Labels of :meth:`frame`'s spatial shape back in the layer's axes without ``C`` (1 on the sample axis)."""
        shape = without_channel(self.shape, self.axes)
        return from_samples(np.asarray(labels)[None, None], self.labels_axes, shape, spatial_ndim=self.spatial_ndim)

    def labels_frame(self, labels) -> np.ndarray:
        """The window of a label image of the layer's shape without ``C`` (the image's annotations, its ground truth)."""
        return self._one_frame(labels[without_channel(self.window, self.axes)], self.labels_axes)


def frame_window(viewer: napari.Viewer, layer, axes: str, *, spatial_ndim: int = 2) -> FrameWindow:
    """The :func:`preview_window` of ``layer`` (frames ``axes``) as a :class:`FrameWindow`: the frame under the slider, middle of the view."""
    crop, offset = preview_window(viewer, layer, full_resolution(layer), axes, spatial_ndim=spatial_ndim)
    window = tuple(slice(o, o + n) for o, n in zip(offset, crop.shape))
    return FrameWindow(layer, axes, spatial_ndim, window, offset)


def _check_layer_axes(layer, axes: str) -> None:
    """Check ``axes`` against ``layer``'s shape (``ValueError`` naming the layer); an RGB layer's colours must be ``C``, last."""
    name = f"layer {layer.name!r}"
    axes = check_axes(axes, np.shape(layer.data), name=name)
    if getattr(layer, "rgb", False) and not axes.endswith("C"):
        raise ValueError(
            f"{name} of shape {np.shape(layer.data)} is RGB, so its last axis holds the colours: choose axes ending in C, "
            f"e.g. {layer_axes_guess(layer)!r}"
        )


def full_resolution(layer):
    """The layer's data at full resolution: level 0 of a multiscale layer (``np.asarray`` of one gives its coarsest level)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def is_lazy(layer) -> bool:
    """Whether the layer's data is read on demand (a multiscale pyramid, a dask or zarr array) rather than held in memory."""
    return bool(getattr(layer, "multiscale", False)) or not isinstance(layer.data, np.ndarray)


def images_of(
    layers: list, *, what: str = "image", for_training: bool = False, axes: list[str] | None = None
) -> list[np.ndarray]:
    """Float32 arrays of image layers; ``ValueError`` naming the layer for one that does not fit.

    Without ``axes``: 2D image layers or stacks of 2D frames ``(T, Y, X)``; RGB layers and
    layers with more than 3 axes are refused. With ``axes`` (one string per layer, see
    :mod:`denoise2seg.data.axes`) each layer must fit its axes, an RGB layer with ``C``
    last. ``for_training`` also refuses a constant layer (nothing to learn from). A
    multiscale layer gives its full-resolution level, a dask layer is read whole.
    """
    if not layers:
        raise ValueError(f"choose at least one {what} layer")
    if axes is not None and len(axes) != len(layers):
        raise ValueError(f"got {len(axes)} axes for {len(layers)} layers; give one axes string for all of them or one per layer")
    arrays = []
    for i, layer in enumerate(layers):
        if axes is not None:
            _check_layer_axes(layer, axes[i])
        elif getattr(layer, "rgb", False):
            raise ValueError(f"layer {layer.name!r} is RGB; convert it to a single-channel image first")
        data = np.asarray(full_resolution(layer))
        if axes is None and data.ndim not in (2, 3):
            raise ValueError(
                f"layer {layer.name!r} has shape {data.shape}: expected a 2D image (Y, X) or a stack of 2D frames (T, Y, X)"
            )
        array = data.astype(np.float32, copy=False)
        if for_training:
            check_varies(array, name=f"layer {layer.name!r}")
        arrays.append(array)
    return arrays


def frame_index(viewer: napari.Viewer, layer) -> int:
    """The index along the first axis of a stack layer ``(T, Y, X)`` under the viewer's slider (0 for a 2D layer)."""
    if layer.ndim < 3:
        return 0
    point = layer.world_to_data(viewer.dims.point[-layer.ndim :])
    return int(np.clip(np.round(point[0]), 0, layer.data.shape[0] - 1))


def visible_window(viewer: napari.Viewer, layer, shape: tuple[int, int], size: int = PREVIEW_SIZE) -> tuple[slice, slice]:
    """At most ``size`` x ``size`` pixels of a 2D frame of ``shape``, centred on the middle of the view.

    Live previews predict this window only, so their cost does not grow with the image.
    """
    centre = np.asarray(viewer.dims.point[-layer.ndim :], dtype=float)
    centre[-2:] = viewer.camera.center[-2:]
    y, x = layer.world_to_data(centre)[-2:]
    window = []
    for middle, extent in zip((y, x), shape):
        length = min(size, extent)
        start = int(np.clip(round(middle - length / 2), 0, extent - length))
        window.append(slice(start, start + length))
    return tuple(window)


def preview_window(
    viewer: napari.Viewer, layer, image: np.ndarray, axes: str, *, spatial_ndim: int = 2, depth: int = PREVIEW_DEPTH
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The part of ``image`` (the data of ``layer``, with checked ``axes``) a live preview predicts, and where it lies.

    Sample axes (``S``, ``T``, and ``Z`` for a 2D model) are cut to the index under the
    viewer's sliders, ``Y`` and ``X`` to the middle of the view (:func:`visible_window`),
    channels are kept whole; for a 3D model (``spatial_ndim`` 3) ``Z`` is cut to ``depth``
    slices centred on the slider (fewer where the stack ends). Returns the crop, in
    ``axes`` with length 1 on the sample axes, and its pixel offset along each axis of
    ``layer`` (for :func:`show_result`'s ``offset``; an RGB layer's colour axis is not
    one of them).
    """
    point = layer.world_to_data(viewer.dims.point[-layer.ndim :])
    rows, cols = visible_window(viewer, layer, (image.shape[axes.index("Y")], image.shape[axes.index("X")]))
    window, offset = [], []
    for i, letter in enumerate(axes):
        if letter == "C":
            window.append(slice(None))
            offset.append(0)
        elif letter in "YX":
            cut = rows if letter == "Y" else cols
            window.append(cut)
            offset.append(cut.start)
        elif letter == "Z" and spatial_ndim == 3:
            index = int(np.clip(np.round(point[i]), 0, image.shape[i] - 1))
            start = int(np.clip(index - depth // 2, 0, max(image.shape[i] - depth, 0)))
            window.append(slice(start, start + depth))
            offset.append(start)
        else:
            index = int(np.clip(np.round(point[i]), 0, image.shape[i] - 1))
            window.append(slice(index, index + 1))
            offset.append(index)
    return image[tuple(window)], tuple(offset[: layer.ndim])


def placement(source, ndim: int, offset: tuple[int, ...] = (), without_axis: int | None = None) -> dict:
    """``scale``, ``translate`` (and the scanner ``affine`` metadata) for a result of ``ndim`` axes drawn on ``source``.

    The result takes the scale of the source's last ``ndim`` axes and its translate,
    moved by ``offset`` pixels on the last ``len(offset)`` axes (a frame index, a crop's
    origin), so that it lies exactly on the pixels it was computed from.
    ``without_axis`` is an axis of the source the result lacks (one channel of a
    ``TCYX`` layer is ``TYX``): the other axes keep their own scale.
    """
    source_scale = np.asarray(source.scale, dtype=float)
    source_translate = np.asarray(source.translate, dtype=float)
    if without_axis is not None:
        source_scale, source_translate = np.delete(source_scale, without_axis), np.delete(source_translate, without_axis)
    scale = np.ones(ndim)
    translate = np.zeros(ndim)
    common = min(ndim, source_scale.size)
    scale[ndim - common :] = source_scale[source_scale.size - common :]
    translate[ndim - common :] = source_translate[source_translate.size - common :]
    if offset:
        translate[ndim - len(offset) :] += np.asarray(offset, dtype=float) * scale[ndim - len(offset) :]
    extra = {"metadata": {"affine": source.metadata["affine"]}} if "affine" in source.metadata else {}
    return {"scale": tuple(scale), "translate": tuple(translate), **extra}


def show_result(
    viewer: napari.Viewer,
    name: str,
    data: np.ndarray,
    layer_type: str = "image",
    *,
    source=None,
    offset: tuple[int, ...] = (),
    without_axis: int | None = None,
    **kwargs,
):
    """Put ``data`` into the layer called ``name`` (replaced when its shape or type changes), or add it; return the layer.

    With ``source`` (the layer the result was computed from) the result is drawn on it:
    same scale and translate, moved by ``offset`` pixels (see :func:`placement`, also for
    ``without_axis``). A 2D result of one frame of a stack is given as ``data[None]`` with
    the frame index as the first ``offset``, so that it shows on that frame only. With
    ``rgb=True`` the last axis of ``data`` holds colours.
    """
    if source is not None:
        # An RGB layer's colour axis is not one of the layer's axes.
        kwargs = {**placement(source, data.ndim - bool(kwargs.get("rgb")), offset, without_axis), **kwargs}
    wanted = napari.layers.Labels if layer_type == "labels" else napari.layers.Image
    if name in viewer.layers:
        layer = viewer.layers[name]
        # isinstance, not type(): widgets opened through napari see proxies of the layers.
        if layer.data.shape == data.shape and isinstance(layer, wanted):
            layer.data = data
            for key in ("scale", "translate"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            if layer_type == "image":
                # Early previews span another range than later ones, so rescale the display each time.
                layer.contrast_limits = display_range(data)
            return layer
        viewer.layers.remove(name)
    if layer_type == "labels":
        return viewer.add_labels(data, name=name, **kwargs)
    return viewer.add_image(data, name=name, **{"contrast_limits": display_range(data), **kwargs})


def window_on_image(window_layer, source, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The Labels layer ``window_layer`` (a result drawn on part of ``source``, see :func:`show_result`) as labels of ``source``'s shape.

    The window is put where it is drawn (its translate against ``source``'s, in pixels)
    into zeros of ``shape`` (default: that of ``source.data``; the shape without the
    channel axis for labels of a multi-channel image), so that objects painted or
    corrected in it annotate those pixels of the image. Raises ``ValueError`` naming both
    layers when the window is not drawn on whole pixels of ``source`` inside it.
    """
    window = np.asarray(window_layer.data)
    shape = tuple(np.shape(source.data)) if shape is None else tuple(shape)
    scale = np.asarray(source.scale, dtype=float)[-window.ndim :]
    position = (np.asarray(window_layer.translate, dtype=float) - np.asarray(source.translate, dtype=float)[-window.ndim :]) / scale
    offset = np.round(position).astype(int)
    fits = (
        window.ndim == len(shape)
        and np.allclose(np.asarray(window_layer.scale, dtype=float), scale)
        and np.allclose(position, offset, atol=1e-3)
        and all(0 <= o and o + n <= s for o, n, s in zip(offset, window.shape, shape))
    )
    if not fits:
        raise ValueError(
            f"the Labels layer {window_layer.name!r} (shape {window.shape}) does not lie on whole pixels of the image "
            f"{source.name!r} (shape {shape}); paint the labels on a layer of the image's shape"
        )
    labels = np.zeros(shape, dtype=np.int32)
    labels[tuple(slice(o, o + n) for o, n in zip(offset, window.shape))] = window
    return labels


def display_range(image: np.ndarray) -> tuple[float, float]:
    """Contrast limits from the 0.5 and 99.5 percentiles, so that a few extreme border pixels do not darken the view."""
    # A strided subset read into memory first: a lazy (dask, zarr) result stays lazy.
    sample = np.asarray(image[:: max(1, image.shape[0] // 512)])
    low, high = (float(v) for v in np.percentile(sample, (0.5, 99.5)))
    return (low, high) if high > low else (low, low + 1.0)
