"""The files a bioimage.io package of a denoise2seg model carries besides its weights: test tensors, README, cover, environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import __version__

# What the package's README and citations say about each kind of model.
CITATIONS = {
    "n2v": [
        ("Krull, Buchholz, Jug. Noise2Void - Learning Denoising from Single Noisy Images. CVPR 2019.", "https://arxiv.org/abs/1811.10980"),
    ],
    "n2v2": [
        (
            "Hoeck, Buchholz, Brachmann, Jug, Freytag. N2V2 - Fixing Noise2Void Checkerboard Artifacts with Modified "
            "Sampling Strategies and a Tweaked Network Architecture. ECCV Workshops 2022.",
            "https://arxiv.org/abs/2211.08512",
        ),
    ],
    "voidseg": [
        (
            "Prakash, Buchholz, Lalit, Tomancak, Jug, Krull. Leveraging Self-supervised Denoising for Image Segmentation. "
            "ISBI 2020.",
            "https://arxiv.org/abs/1911.12239",
        ),
    ],
    "stardist": [
        ("Schmidt, Weigert, Broaddus, Myers. Cell Detection with Star-convex Polygons. MICCAI 2018.", "https://arxiv.org/abs/1806.03535"),
    ],
    "stardist3d": [
        (
            "Weigert, Schmidt, Haase, Sugawara, Myers. Star-convex Polyhedra for 3D Object Detection and Segmentation in "
            "Microscopy. WACV 2020.",
            "https://arxiv.org/abs/1908.03636",
        ),
    ],
}


def citations_for(kind: str, method: str, ndim: int, n2v2: bool) -> list[tuple[str, str]]:
    """``(text, url)`` of the papers behind a model: N2V (or N2V2), and for a segmenter VoidSeg and StarDist."""
    keys = ["n2v2" if n2v2 else "n2v"]
    if kind != "n2v":
        keys.append("voidseg")
        if method == "stardist":
            keys.append("stardist3d" if ndim == 3 else "stardist")
    return [entry for key in keys for entry in CITATIONS[key]]


def write_test_tensors(folder: Path, network_input: np.ndarray, network_output: np.ndarray) -> tuple[Path, Path]:
    """Write the test input and expected output (``(1, C, *spatial)`` float32) as ``.npy`` files; their paths."""
    paths = folder / "test_input.npy", folder / "test_output.npy"
    for path, array in zip(paths, (network_input, network_output)):
        np.save(path, np.ascontiguousarray(array, dtype=np.float32))
    return paths


def _middle_plane(array: np.ndarray) -> np.ndarray:
    """The first channel of a ``(1, C, *spatial)`` array as a 2D image (the middle slice of a volume)."""
    plane = array[0, 0]
    return plane[plane.shape[0] // 2] if plane.ndim == 3 else plane


def write_cover(folder: Path, network_input: np.ndarray, shown_output: np.ndarray, output_title: str) -> Path:
    """A 2:1 PNG of the test input beside the output (first channel; the middle slice of a volume)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3), dpi=100)
    for index, (array, title) in enumerate([(network_input, "input"), (shown_output, output_title)]):
        axes = figure.add_subplot(1, 2, index + 1)
        plane = _middle_plane(array)
        low, high = np.percentile(plane, [1, 99.8])
        cmap = "magma" if index and output_title != "denoised" else "gray"
        axes.imshow(plane, cmap=cmap, vmin=low, vmax=high if high > low else low + 1)
        axes.set_title(title)
        axes.axis("off")
    figure.tight_layout()
    path = folder / "cover.png"
    figure.savefig(path)
    return path


def write_environment(folder: Path) -> Path:
    """A conda environment file with what runs the package's architecture: this package, from PyPI."""
    path = folder / "environment.yaml"
    path.write_text(
        "name: denoise2seg\nchannels:\n  - conda-forge\ndependencies:\n  - python>=3.10\n  - pip\n  - pip:\n"
        f"    - napari-denoise2seg>={__version__}\n"
    )
    return path


def write_readme(
    folder: Path, *, title: str, summary: str, output_text: str, record: dict, citations: list[tuple[str, str]], command: str
) -> Path:
    """The package's README: what the model does, its input and output, how it was trained, how to use it, the papers."""
    config = json.dumps(record.get("config", {}), indent=2, sort_keys=True)
    papers = "\n".join(f"- {text} {url}" for text, url in citations)
    text = f"""# {title}

{summary}

## Input and output

The input is one image with its channels, normalised as the package's preprocessing
states (the statistics of the training data, stored in the package). {output_text}

## Training settings

Written by napari-denoise2seg {__version__}:

```json
{config}
```

## Use

With napari-denoise2seg: `denoise2seg {command} predict PACKAGE.zip IMAGE.tif --out RESULTS/`,
or the *Package...* button of the *Predict / export* widget in napari. Any bioimage.io consumer with PyTorch runs it with the package
`napari-denoise2seg` installed (the architecture is `denoise2seg.bioimageio.network.PackagedNetwork`).

## Papers

{papers}
"""
    path = folder / "README.md"
    path.write_text(text)
    return path
