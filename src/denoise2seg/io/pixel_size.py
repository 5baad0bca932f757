"""The pixel size of a TIFF file: read from its resolution tags and metadata, written back onto results.

A result (a denoised image, a label mask) carries the pixel size of the image it was
computed from, so that objects measured in another program have the same lengths. TIFF
stores pixels per unit (``XResolution``, ``YResolution``) with ``ResolutionUnit`` (inch,
centimetre, or none); ImageJ keeps the unit's name (``um``) and the Z step (``spacing``)
in its metadata, and this package writes both into the file's JSON description.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tifffile

# TIFF ResolutionUnit values: 2 and 3 from TIFF 6.0, 4 and 5 as tifffile, OME and ImageJ read them.
_UNITS = {2: "inch", 3: "cm", 4: "mm", 5: "um"}
_UNIT_CODES = {name: code for code, name in _UNITS.items()}
_NO_UNIT = 1
_MICRON_NAMES = {"um", "µm", "μm", "micron", "microns", "micrometer", "micrometre"}


@dataclass(frozen=True)
class PixelSize:
    """Size of one pixel along Y and X, and the step between slices ``z`` when known, in ``unit``.

    ``unit`` is ``"um"``, ``"mm"``, ``"cm"``, ``"inch"``, another name a file gave, or ``""``
    when the sizes come without a unit.
    """

    y: float
    x: float
    unit: str = ""
    z: float | None = None

    def scale(self, ndim: int) -> tuple[float, ...]:
        """napari ``scale`` for a layer of ``ndim`` axes: ``(..., z, y, x)``, 1 on the axes of unknown size."""
        trailing = (self.y, self.x) if self.z is None else (self.z, self.y, self.x)
        trailing = trailing[-ndim:]
        return (1.0,) * (ndim - len(trailing)) + tuple(trailing)

    @classmethod
    def from_scale(cls, scale, unit: str = "") -> "PixelSize | None":
        """The pixel size of a napari layer's ``scale`` (last two axes; the Z step for 3 axes or more); ``None`` for all 1."""
        scale = [float(s) for s in scale]
        if len(scale) < 2 or all(s == 1.0 for s in scale[-3:]):
            return None
        return cls(y=scale[-2], x=scale[-1], unit=unit, z=scale[-3] if len(scale) >= 3 else None)

    def imwrite_arguments(self) -> tuple[dict, dict]:
        """``tifffile.imwrite`` keyword arguments and JSON-description entries that store this pixel size."""
        # A unit TIFF has no code for (none, "nm"...) is written as "no unit" with its name in the
        # description: left out, tifffile would write inches.
        arguments = {"resolution": (1 / self.x, 1 / self.y), "resolutionunit": _UNIT_CODES.get(self.unit, _NO_UNIT)}
        description = {"unit": self.unit} if self.unit else {}
        if self.z is not None:
            description["spacing"] = self.z
        return arguments, description


def read_pixel_size(path: str | Path) -> PixelSize | None:
    """The pixel size stored in the TIFF at ``path``; ``None`` when it stores none (1 pixel per unit, no unit, no spacing)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        if "XResolution" not in page.tags or "YResolution" not in page.tags:
            return None
        x_per_unit, y_per_unit = page.resolution
        described = dict(tif.imagej_metadata or {})
        for shaped in tif.shaped_metadata or ():
            described.update(shaped)
        unit = _UNITS.get(int(page.resolutionunit), "") or str(described.get("unit", "")).strip()
        unit = "um" if unit.lower() in _MICRON_NAMES else unit
        spacing = described.get("spacing")
    if not (x_per_unit > 0 and y_per_unit > 0):
        return None
    if x_per_unit == y_per_unit == 1 and not unit and spacing is None:
        return None
    return PixelSize(y=1 / y_per_unit, x=1 / x_per_unit, unit=unit, z=float(spacing) if spacing is not None else None)
