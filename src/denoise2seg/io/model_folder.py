"""Model folders: ``config.json`` + safetensors weights, written atomically.

Layout of a folder::

    config.json          {"format_version": 1, "kind": "n2v", "network": {...}, ...}
    weights.safetensors  best weights (lowest validation loss); what prediction loads
    last.safetensors     weights after the most recent epoch (or at stop/crash)

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a reader (or a crash) never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHT_FILES = {"best": "weights.safetensors", "last": "last.safetensors"}
# Read once at import: os.umask can only be read by setting it, which is not thread-safe
# while a training thread writes files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class ModelFolderError(ValueError):
    """A model folder is missing, corrupt, of another kind, or from a newer version."""


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates owner-only files; give the model the permissions of any new file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model_folder(folder: str | Path, record: dict, state_dict: dict[str, torch.Tensor], *, which: str = "best") -> Path:
    """Write ``record`` as ``config.json`` and ``state_dict`` as the ``which`` weights.

    ``record`` must hold ``"kind"`` and be JSON-serialisable; ``format_version`` and the
    package version are added. Returns the folder path.
    """
    if which not in WEIGHT_FILES:
        raise ValueError(f"which must be one of {sorted(WEIGHT_FILES)}, got {which!r}")
    if "kind" not in record:
        raise ValueError("model record needs a 'kind'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format_version": FORMAT_VERSION, "denoise2seg_version": __version__, **record}
    text = json.dumps(config, indent=2, default=_json_default)
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in state_dict.items()}
    _atomic_write(folder / WEIGHT_FILES[which], lambda tmp: save_file(tensors, tmp))
    _atomic_write(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text))
    return folder


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model config")


def read_model_config(folder: str | Path, kind: str | tuple[str, ...] | None = None) -> dict:
    """Read and check ``config.json`` of a model folder.

    Raises :class:`ModelFolderError` with a readable message when the folder or file is
    missing, not JSON, from a newer format, or (when ``kind`` is given) of another kind.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist or is not a folder")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not a denoise2seg model folder: it has no {CONFIG_NAME}")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{path} is corrupt (not valid JSON: {err})") from err
    if not isinstance(config, dict) or "format_version" not in config or "kind" not in config:
        raise ModelFolderError(f"{path} is not a denoise2seg model config (no format_version/kind)")
    if not isinstance(config["format_version"], int) or isinstance(config["format_version"], bool):
        raise ModelFolderError(f"{path} is not a denoise2seg model config (format_version {config['format_version']!r})")
    if config["format_version"] > FORMAT_VERSION:
        raise ModelFolderError(
            f"{folder} was written by a newer denoise2seg (format {config['format_version']}, "
            f"this version reads up to {FORMAT_VERSION}); upgrade napari-denoise2seg"
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and config["kind"] not in kinds:
        raise ModelFolderError(f"{folder} holds a '{config['kind']}' model, expected {' or '.join(kinds)}")
    return config


def load_weights(folder: str | Path, which: str = "best") -> dict[str, torch.Tensor]:
    """Load the ``which`` (``"best"`` or ``"last"``) weights of a model folder onto the CPU."""
    path = Path(folder) / WEIGHT_FILES[which]
    if not path.is_file():
        raise ModelFolderError(f"{Path(folder)} has no {path.name}: the model was never saved completely")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFolderError(f"{path} is corrupt and cannot be loaded ({err})") from err


def load_into(model: torch.nn.Module, folder: str | Path, which: str = "best") -> None:
    """Load weights of a model folder into ``model``; a shape mismatch is a ModelFolderError."""
    state = load_weights(folder, which)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelFolderError(f"weights in {folder} do not fit the network described by its config: {err}") from err
