"""Ask before a widget's training replaces the model in its model folder, and refuse folders it cannot write."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QMessageBox, QWidget

from ..io.outputs import OutputLocationError, check_output_folder


def model_folder_ready(parent: QWidget, folder: Path, title: str) -> bool:
    """True when training may write into ``folder``; asks the user before replacing what it holds.

    A folder that is a file, lies in one that cannot be written, or cannot be created is
    refused with an error notification naming it; a folder that already holds files is
    used only when the user confirms.
    """
    try:
        check_output_folder(folder, overwrite=True)
    except OutputLocationError as err:
        show_error(f"{title}: {err}")
        return False
    try:
        check_output_folder(folder, overwrite=False)
        return True
    except OutputLocationError:
        answer = QMessageBox.question(
            parent,
            title,
            f"The model folder {folder} already holds files; training replaces the model in it.\n\nReplace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
