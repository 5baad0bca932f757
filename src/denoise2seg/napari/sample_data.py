"""Sample data for napari: the noisy DSB nuclei of the VoidSeg paper and synthetic nuclei."""

from __future__ import annotations

from ..data.samples import noisy_nuclei_2d
from ..data.synthetic_nuclei import synthetic_nuclei as render_synthetic_nuclei
from .layer_choice import GROUND_TRUTH, ROLE_KEY


def _nuclei_layers(noisy, clean, labels, title: str) -> list[tuple]:
    # The clean image and the mask are the sample's ground truth, for comparing and scoring:
    # widgets never choose them by default.
    truth = {"metadata": {ROLE_KEY: GROUND_TRUTH}}
    return [
        (clean, {"name": f"{title} clean", "colormap": "gray", "visible": False, **truth}, "image"),
        (noisy, {"name": f"{title} noisy", "colormap": "gray"}, "image"),
        (labels, {"name": f"{title} mask", "opacity": 0.5, "visible": False, **truth}, "labels"),
    ]


def _noisy_dsb(sigma: int) -> list[tuple]:
    noisy, clean, mask = noisy_nuclei_2d(sigma)
    return _nuclei_layers(noisy, clean, mask, f"DSB sigma {sigma}")


def nuclei_sigma10() -> list[tuple]:
    """The DSB2018 nuclei image (stardist's test image) with Gaussian noise of sigma 10, its clean version and mask."""
    return _noisy_dsb(10)


def nuclei_sigma20() -> list[tuple]:
    """The DSB2018 nuclei image with Gaussian noise of sigma 20, its clean version and mask."""
    return _noisy_dsb(20)


def nuclei_sigma40() -> list[tuple]:
    """The DSB2018 nuclei image with Gaussian noise of sigma 40 (VoidSeg's hardest level), clean version and mask."""
    return _noisy_dsb(40)


def synthetic_nuclei() -> list[tuple]:
    """Rendered nuclei (256 x 256, 30 objects, noise sigma 40, seed 0) with their exact instance labels."""
    noisy, clean, labels = render_synthetic_nuclei((256, 256), 30, 40.0, 0)
    return _nuclei_layers(noisy, clean, labels, "synthetic nuclei")
