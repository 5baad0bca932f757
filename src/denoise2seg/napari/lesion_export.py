"""The "Export lesions (NIfTI)..." button shared by the CT and LADP widgets."""

from __future__ import annotations

from pathlib import Path

import napari
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QPushButton

from .volume_writers import export_labels_layer


class LesionExport(QPushButton):
    """Exports the first existing of ``layer_names`` (the applied result, then the live one) as NIfTI.

    ``title`` starts the error messages ("CT denoise-pretrain: ...").
    """

    def __init__(self, viewer: napari.Viewer, layer_names: tuple[str, ...], title: str) -> None:
        super().__init__("Export lesions (NIfTI)...")
        self.viewer = viewer
        self.layer_names = layer_names
        self.title = title
        self.clicked.connect(self._choose)

    def export(self, path: str | Path, *, overwrite: bool = False) -> Path | None:
        """Write the lesion layer to ``path``; return the file, or ``None`` after an error notification."""
        name = next((n for n in self.layer_names if n in self.viewer.layers), None)
        if name is None:
            show_error(f"{self.title}: nothing to export yet; train or segment first")
            return None
        try:
            written = export_labels_layer(self.viewer.layers[name], path, overwrite=overwrite)
        except (ValueError, OSError) as err:
            show_error(f"{self.title}: {err}")
            return None
        show_info(f"{name} written to {written}")
        return written

    def _choose(self) -> None:
        # The save dialog asks before replacing an existing file.
        path, _ = QFileDialog.getSaveFileName(self, "Export lesion mask", "lesions.nii.gz", "NIfTI (*.nii.gz *.nii)")
        if path:
            self.export(path, overwrite=True)
