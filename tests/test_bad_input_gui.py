"""Bad choices in the napari widgets: each is refused with a message naming what to change, starts no
worker, adds no layer and changes no file (checksums of the test's folder before and after).

Every widget is opened through napari's plugin API, as the Plugins menu does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from qtpy.QtWidgets import QMessageBox

from conftest import PLUGIN

pytestmark = pytest.mark.gui

N2V, SEGMENTATION, CT, LOW_DOSE, LADP = (
    "Train denoiser (N2V)", "Train segmentation", "CT denoise-pretrain", "Low-dose CT denoise", "Lesion segmentation (LADP)"
)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): "folder" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))}


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(100, 20, shape).astype(np.float32)


def an_earlier_model(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"kind": "an earlier model"}')


@dataclass
class Case:
    """One bad choice: the widget, the layers and files it meets, the button pressed, the message expected."""

    name: str
    widget: str
    setup: Callable  # (viewer, widget, tmp_path) -> None
    press: Callable  # widget -> the button the user presses
    expected: tuple[str, ...]


def _ct_layers(viewer, widget, tmp_path, *, labels=True):
    viewer.add_image(noise((2, 32, 32)), name="ct")
    if labels:
        mask = np.zeros((2, 32, 32), np.uint8)
        mask[0, 4:9, 4:9] = 1
        viewer.add_labels(mask, name="lesions")
    widget.model_dir_edit.setText(str(tmp_path / "model"))


def _ladp_layers(viewer, widget, tmp_path):
    viewer.add_image(noise((4, 16, 16)), name="t1")
    mask = np.zeros((4, 16, 16), np.uint8)
    mask[1, 4:8, 4:8] = 1
    viewer.add_labels(mask, name="lesions")
    widget.model_dir_edit.setText(str(tmp_path / "model"))


def _lowdose_subject(viewer, widget, tmp_path):
    viewer.add_image(noise((1, 64, 64)), name="low")
    viewer.add_image(noise((1, 64, 64), seed=1), name="normal")
    widget.add_pair_button.click()


CASES = [
    Case(
        "N2V on a constant layer",
        N2V,
        lambda viewer, widget, tmp_path: viewer.add_image(np.zeros((64, 64), np.uint16), name="blank"),
        lambda widget: widget.panel.train_button,
        ("layer 'blank' is constant (every pixel is 0)",),
    ),
    Case(
        "N2V on a 4D layer with axes of a 3D one",
        N2V,
        lambda viewer, widget, tmp_path: (viewer.add_image(noise((2, 3, 32, 32)), name="4d"), widget.axes_edit.setText("TYX")),
        lambda widget: widget.panel.train_button,
        ("'4d' of shape (2, 3, 32, 32) does not fit axes 'TYX'", "choose the axes of its shape, e.g. 'TCYX'"),
    ),
    Case(
        "segmentation with an empty Labels layer",
        SEGMENTATION,
        lambda viewer, widget, tmp_path: (
            viewer.add_image(noise((64, 64)), name="noisy"), viewer.add_labels(np.zeros((64, 64), np.int32), name="Labels")
        ),
        lambda widget: widget.panel.train_button,
        ("'Labels' is empty", "paint a few objects"),
    ),
    Case(
        "segmentation with only the sample's ground truth",
        SEGMENTATION,
        lambda viewer, widget, tmp_path: viewer.open_sample(PLUGIN, "synthetic_nuclei"),
        lambda widget: widget.panel.train_button,
        ("'synthetic nuclei mask' came with the data as ground truth",),
    ),
    Case(
        "CT with a constant volume",
        CT,
        lambda viewer, widget, tmp_path: (
            viewer.add_image(np.full((2, 32, 32), -1000, np.float32), name="air"),
            viewer.add_labels(np.ones((2, 32, 32), np.uint8), name="lesions"),
        ),
        lambda widget: widget.panel.train_button,
        ("layer 'air' is constant",),
    ),
    Case(
        "CT model folder that is a file",
        CT,
        lambda viewer, widget, tmp_path: (
            _ct_layers(viewer, widget, tmp_path), (tmp_path / "model").write_text("notes"),
        ),
        lambda widget: widget.panel.train_button,
        ("model", "is a file, not a folder"),
    ),
    Case(
        "CT into an earlier model, replacing it declined",
        CT,
        lambda viewer, widget, tmp_path: (_ct_layers(viewer, widget, tmp_path), an_earlier_model(tmp_path / "model")),
        lambda widget: widget.panel.train_button,
        (),
    ),
    Case(
        "LADP into an earlier model, replacing it declined",
        LADP,
        lambda viewer, widget, tmp_path: (_ladp_layers(viewer, widget, tmp_path), an_earlier_model(tmp_path / "model")),
        lambda widget: widget.panel.train_button,
        (),
    ),
    Case(
        "LADP with the lesions as brain mask",
        LADP,
        lambda viewer, widget, tmp_path: (_ladp_layers(viewer, widget, tmp_path), widget.brain_combo.setCurrentText("lesions")),
        lambda widget: widget.panel.train_button,
        ("'lesions' is chosen as both the lesion labels and the brain mask",),
    ),
    Case(
        "Pseudo-CT into a folder inside a file",
        LOW_DOSE,
        lambda viewer, widget, tmp_path: (
            _lowdose_subject(viewer, widget, tmp_path), (tmp_path / "notes").write_text("notes"),
            widget.model_dir_edit.setText(str(tmp_path / "notes" / "model")),
        ),
        lambda widget: widget.train_panel.train_button,
        ("notes is a file, so",),
    ),
    Case(
        "Pseudo-CT into an earlier model, replacing it declined",
        LOW_DOSE,
        lambda viewer, widget, tmp_path: (
            _lowdose_subject(viewer, widget, tmp_path), an_earlier_model(tmp_path / "model"),
            widget.model_dir_edit.setText(str(tmp_path / "model")),
        ),
        lambda widget: widget.train_panel.train_button,
        (),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_choice_is_refused_and_changes_nothing(case, make_napari_viewer, tmp_path, error_messages, monkeypatch):
    questions = []

    def decline(*args, **kwargs):
        questions.append(args[2])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", decline)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, case.widget)
    case.setup(viewer, widget, tmp_path)
    layers_before = [layer.name for layer in viewer.layers]
    files_before = tree_digest(tmp_path)

    case.press(widget).click()

    assert case.press(widget).isEnabled(), "a worker started"
    messages = error_messages()
    for part in case.expected:
        assert any(part in m for m in messages), f"{part!r} not in {messages}"
    if not case.expected:
        # nothing wrong but an existing model: the user was asked, said no, and no error was shown
        assert len(questions) == 1 and "already holds files" in questions[0] and not messages
    assert [layer.name for layer in viewer.layers] == layers_before
    assert tree_digest(tmp_path) == files_before
