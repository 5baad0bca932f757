"""VGG-19 feature extractor for the perceptual loss, with torchvision's ImageNet weights.

The layers are those of torchvision's ``vgg19().features`` with the same indices, so the
state dict of torchvision's ``VGG19_Weights.IMAGENET1K_V1`` file (``vgg19-dcbb9e9d.pth``)
loads as it is. The file is fetched the way torchvision fetches it: once, with
``torch.hub.load_state_dict_from_url``, into ``<torch hub dir>/checkpoints/``; later runs
read the cached copy.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

VGG19_IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# torchvision's configuration "E" (VGG-19): 16 convolutions, "M" is a 2x2 max pooling.
_VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsUnavailable(FileNotFoundError):
    """The ImageNet VGG-19 weights could not be found or downloaded."""


def vgg19_layers(last_layer: int = 16) -> nn.Sequential:
    """torchvision's ``vgg19().features[: last_layer + 1]`` (random weights), same layer indices."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    if not 0 <= last_layer < len(layers):
        raise ValueError(f"VGG-19 features have layers 0..{len(layers) - 1}, got last_layer={last_layer}")
    return nn.Sequential(*layers[: last_layer + 1])


def default_weights_path() -> Path:
    """Where torch (and torchvision) cache the ImageNet VGG-19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_IMAGENET_URL.rsplit("/", 1)[-1]


def missing_weights_message(reason: str) -> str:
    """What to do when the ImageNet VGG-19 weights cannot be had."""
    return (
        "The perceptual loss of the denoising pretext (Gao et al. 2021) needs the ImageNet VGG-19 weights, "
        f"which could not be loaded: {reason}. Provide them in one of these ways: "
        f"(1) download {VGG19_IMAGENET_URL} (on any machine with internet) and put it at {default_weights_path()} "
        "(the torch hub cache, where torchvision.models.vgg19(weights='IMAGENET1K_V1') also stores it); "
        "(2) pass the file's path with vgg_weights=... (command line: --vgg-weights FILE; napari: "
        "'VGG-19 weights file' under Advanced settings); "
        "(3) choose the MSE pretext loss (pretext_loss='mse', command line: --pretext-loss mse; napari: "
        "'pretext loss' mse), which needs no VGG."
    )


def _load_state(weights: str | Path | None, download: bool) -> dict[str, torch.Tensor]:
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise VGGWeightsUnavailable(missing_weights_message(f"the file {path} does not exist"))
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for a file that is not a state dict
            raise VGGWeightsUnavailable(missing_weights_message(f"{path} is not a readable torch state dict ({err})")) from err
    cached = default_weights_path()
    if cached.is_file():
        return _load_state(cached, download=False)
    if not download:
        raise VGGWeightsUnavailable(missing_weights_message(f"{cached} does not exist and downloading is switched off"))
    try:
        return torch.hub.load_state_dict_from_url(VGG19_IMAGENET_URL, map_location="cpu", progress=False, check_hash=True)
    except Exception as err:  # no network, a proxy refusing, a truncated file ...
        raise VGGWeightsUnavailable(missing_weights_message(f"the download failed ({type(err).__name__}: {err})")) from err


def load_vgg19_features(weights: str | Path | None = None, last_layer: int = 16, *, download: bool = True) -> nn.Sequential:
    """VGG-19 features up to ``last_layer`` with ImageNet weights, frozen and in eval mode.

    Parameters
    ----------
    weights : path, optional
        A state dict file of torchvision's ``vgg19`` (keys ``features.N.weight`` or
        ``N.weight``). ``None``: torchvision's ImageNet file from the torch hub cache,
        downloaded once if missing and ``download`` is true.
    last_layer : int
        Index into torchvision's ``vgg19().features``; 16 (conv3_4, before its ReLU)
        is "the 16th layer" of Gao et al. (2021, Eq. 2).

    Raises
    ------
    VGGWeightsUnavailable
        With :func:`missing_weights_message` saying how to provide the file.
    """
    state = _load_state(weights, download)
    features = vgg19_layers(last_layer)
    wanted = features.state_dict().keys()
    picked = {}
    for key in wanted:
        for candidate in (f"features.{key}", key):
            if candidate in state:
                picked[key] = state[candidate]
                break
    missing = [key for key in wanted if key not in picked]
    if missing:
        raise VGGWeightsUnavailable(missing_weights_message(f"the weights file lacks VGG-19 layers {missing[:4]}"))
    try:
        features.load_state_dict(picked)
    except RuntimeError as err:
        raise VGGWeightsUnavailable(missing_weights_message(f"the weights file is not a VGG-19 ({err})")) from err
    features.eval()
    for parameter in features.parameters():
        parameter.requires_grad_(False)
    return features
