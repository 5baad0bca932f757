"""Real CT slices that Python packages ship: pydicom's chest slice and, optionally, pydicom-data's head slice."""

from __future__ import annotations

from ..extras import import_ct
from .volumes import CTVolume, read_dicom_series

CHEST = "CT_small.dcm"
HEAD = "693_UNCR.dcm"


def chest_ct_slice() -> CTVolume:
    """pydicom's ``CT_small.dcm``: a 128x128 axial chest CT slice (0.66 mm pixels) in HU, as ``(1, Y, X)``.

    It shows the spine, aorta and the top of both lungs; it ships inside pydicom, so it
    needs no download.
    """
    get_testdata_file = import_ct("pydicom.data", "Opening the CT sample").get_testdata_file

    path = get_testdata_file(CHEST)
    if path is None:
        raise FileNotFoundError(f"pydicom's test file {CHEST} is missing from this pydicom installation")
    return read_dicom_series([path])


def head_ct_slice() -> CTVolume:
    """pydicom-data's ``693_UNCR.dcm``: a 512x512 axial head CT slice (0.48 mm pixels) in HU.

    Needs the optional package ``pydicom-data`` (``pip install pydicom-data``), whose wheel
    holds the file; nothing is downloaded at run time.
    """
    # pydicom-data installs the module ``data_store``; asking it directly (rather than
    # pydicom.data.get_testdata_file) never falls back to a download.
    try:
        from data_store import DataStore
    except ImportError as err:
        raise FileNotFoundError(f"{HEAD} comes with the optional package pydicom-data: pip install pydicom-data") from err
    try:
        path = DataStore().get_path(HEAD)
    except ValueError as err:
        raise FileNotFoundError(f"{HEAD} is missing from the pydicom-data installation ({err})") from err
    return read_dicom_series([path])
