"""Pick the torch device: CUDA, then Apple MPS, then CPU, or the one the caller names."""

from __future__ import annotations

import gc

import torch


def choose_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return a usable :class:`torch.device`.

    ``"auto"`` (or ``None``) picks CUDA if present, then MPS, then CPU. An explicit
    ``"cuda"``/``"mps"`` that is not available raises a ``RuntimeError`` that says so
    instead of failing later inside torch; an unknown name is a ``ValueError``.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but no CUDA GPU is available to torch "
            f"(torch {torch.__version__}, built with CUDA: {torch.version.cuda}); "
            "use device='auto' or 'cpu', or install a CUDA build of torch"
        )
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {device!r} was requested but torch sees only {torch.cuda.device_count()} CUDA GPU(s)")
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' was requested but Apple MPS is not available; use 'auto' or 'cpu'")
    return chosen


def release_device_memory() -> None:
    """Give the GPU memory torch keeps cached back to the driver, once the run that used it has ended.

    Collects the objects of the finished run first (a network referenced from a cycle),
    then empties torch's CUDA (and MPS) caches, so that a napari session kept open after
    training or prediction does not hold the GPU. Without a GPU it returns at once: the
    garbage collection can take a second in a napari session, time a CPU user should not
    wait for nothing.
    """
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if not (cuda or mps):
        return
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    if mps:
        torch.mps.empty_cache()
