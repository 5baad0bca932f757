"""bioimage.io model packages: export denoise2seg models, and load packages (ours and other PyTorch denoisers)."""

from .errors import BioimageioError
from .export import export_bioimageio
from .load import PackagedDenoiser, is_bioimageio_source, load_bioimageio, load_model

__all__ = ["BioimageioError", "PackagedDenoiser", "export_bioimageio", "is_bioimageio_source", "load_bioimageio", "load_model"]
