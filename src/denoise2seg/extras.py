"""Optional dependencies: the CT/MRI stack is an extra, and what needs it says how to install it.

The microscopy workflows (N2V, the segmenters, their widgets and commands) need only the
default dependencies. The CT and MRI methods (CT denoise-pretraining, Pseudo-CT, LADP)
also need the ``ct`` extra: NIfTI and DICOM readers, MONAI's losses and metrics,
segmentation-models-pytorch's backbones, nilearn's MRI template and torchvision.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

CT_EXTRA = "ct"
# The modules of the ct extra, by import name, with the distribution pip installs.
CT_MODULES = {
    "torchvision": "torchvision",
    "nibabel": "nibabel",
    "pydicom": "pydicom",
    "monai": "monai",
    "nilearn": "nilearn",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
}
INSTALL_CT = "pip install 'napari-denoise2seg[ct]'"


class MissingExtraError(ImportError):
    """An optional dependency of a feature is not installed; the message names it and the extra to install."""


def _missing_message(module: str, feature: str) -> str:
    distribution = CT_MODULES.get(module, module)
    return (
        f"{feature} needs {distribution}, which is not installed; it comes with the {CT_EXTRA!r} extra: {INSTALL_CT} "
        "(or 'napari-denoise2seg[all]' for everything)"
    )


def import_ct(module: str, feature: str = "the CT and MRI methods") -> ModuleType:
    """Import ``module`` (one of the ct extra's, a submodule allowed) or raise :class:`MissingExtraError` naming the extra.

    Only a missing module becomes :class:`MissingExtraError`; a module that is installed
    but fails for another reason raises its own error.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        if err.name is not None and err.name.split(".")[0] != top:
            raise
        raise MissingExtraError(_missing_message(top, feature)) from err


def missing_ct_modules() -> list[str]:
    """The distributions of the ct extra that cannot be imported here (empty when the extra is installed)."""
    missing = []
    for module, distribution in CT_MODULES.items():
        if importlib.util.find_spec(module) is None:
            missing.append(distribution)
    return missing


def ct_extra_message(feature: str, *, in_napari: bool = False) -> str | None:
    """What to install for ``feature`` when the ct extra is incomplete, else ``None`` (``in_napari``: and restart it)."""
    missing = missing_ct_modules()
    if not missing:
        return None
    return (
        f"{feature} needs the {CT_EXTRA!r} extra, which is not installed (missing: {', '.join(missing)}): {INSTALL_CT} "
        f"(or 'napari-denoise2seg[all]' for everything){', then restart napari' if in_napari else ''}"
    )
