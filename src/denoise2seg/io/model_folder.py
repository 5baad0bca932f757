"""Model folders: ``config.json`` + safetensors weights, written atomically.

Layout of a folder::

    config.json          {"format_version": 1, "kind": "n2v", "network": {...}, ...}
    weights.safetensors  best weights (lowest validation loss); what prediction loads
    last.safetensors     weights after the most recent epoch (or at stop/crash)
    training_state.pt    step count, optimiser and random-stream states of those last
                         weights, to continue the training (denoise2seg.training.state)

Every file is written to a temporary name in the same folder (``.<name>.<random>.tmp``)
and moved into place with ``os.replace``, so a reader (or a crash) never sees a
half-written file. A process killed mid-write leaves its temporary file behind; the next
write of the folder removes such stale ones.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHT_FILES = {"best": "weights.safetensors", "last": "last.safetensors"}
# Written by the training loop beside the last weights (denoise2seg.training.state).
TRAINING_STATE_FILE = "training_state.pt"
# Read once at import: os.umask can only be read by setting it, which is not thread-safe
# while a training thread writes files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
# A temporary file that has not changed for this long belongs to a killed write; younger
# ones may be another writer's write in progress and are left alone.
STALE_TEMPORARY_SECONDS = 60.0


class ModelFolderError(ValueError):
    """A model folder is missing, corrupt, of another kind, or from a newer version."""


def atomic_write(path: Path, write) -> None:
    """Write ``path`` by calling ``write(temporary_name)`` and moving the result into place in one step."""
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


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files of interrupted writes of the model files in ``folder``.

    Only files named as :func:`atomic_write` names them (``.<model file>.*.tmp``) and
    unchanged for :data:`STALE_TEMPORARY_SECONDS` are removed.
    """
    now = time.time()
    for name in (CONFIG_NAME, *WEIGHT_FILES.values(), TRAINING_STATE_FILE):
        for tmp in folder.glob(f".{glob.escape(name)}.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                    tmp.unlink()
            except FileNotFoundError:
                continue


def saved_model_time(folder: str | Path) -> int | None:
    """When a model in ``folder`` or its sub-folders was last saved (newest ``config.json`` mtime in ns); None without one.

    A folder holds a saved model when it has ``config.json`` and the best weights; the
    sub-folders count for workflows that write several models (a pretext and a
    segmenter, ensemble members). Comparing the value before and after a run tells
    whether the run saved a model.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    times = []
    for config in [folder / CONFIG_NAME, *folder.glob(f"**/{CONFIG_NAME}")]:
        try:
            if (config.parent / WEIGHT_FILES["best"]).is_file():
                times.append(config.stat().st_mtime_ns)
        except FileNotFoundError:
            continue
    return max(times, default=None)


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
    _remove_stale_temporaries(folder)
    config = {"format_version": FORMAT_VERSION, "denoise2seg_version": __version__, **record}
    text = json.dumps(config, indent=2, default=_json_default)
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in state_dict.items()}
    atomic_write(folder / WEIGHT_FILES[which], lambda tmp: save_file(tensors, tmp))
    atomic_write(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text))
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
        wanted = " or ".join(kinds)
        carried = _subfolders_of_kind(folder, kinds)
        hint = f"use {carried[0]}, the {wanted} model it carries" if carried else f"pass a {wanted} model folder instead"
        raise ModelFolderError(f"{folder} holds a '{config['kind']}' model, expected {wanted}; {hint}")
    return config


def _subfolders_of_kind(folder: Path, kinds: tuple[str, ...]) -> list[Path]:
    """Subfolders of ``folder`` whose config.json names one of ``kinds`` (a model carried inside another)."""
    found = []
    for sub in sorted(p for p in folder.iterdir() if (p / CONFIG_NAME).is_file()):
        try:
            if json.loads((sub / CONFIG_NAME).read_text()).get("kind") in kinds:
                found.append(sub)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            continue
    return found


def load_weights(folder: str | Path, which: str = "best") -> dict[str, torch.Tensor]:
    """Load the ``which`` (``"best"`` or ``"last"``) weights of a model folder onto the CPU."""
    path = Path(folder) / WEIGHT_FILES[which]
    if not path.is_file():
        if which == "last":
            raise ModelFolderError(
                f"{Path(folder)} has no {path.name}, the last weights of a training run: it holds a saved model without "
                "its training state, which predicts but cannot be continued with --resume (Python: resume=); start a "
                "new training instead"
            )
        raise ModelFolderError(f"{Path(folder)} has no {path.name}: the model was never saved completely")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFolderError(f"{path} is corrupt and cannot be loaded ({err})") from err


def _mismatch_summary(expected: dict[str, torch.Tensor], stored: dict[str, torch.Tensor]) -> str:
    """Which tensors of ``stored`` do not fit ``expected``, in one line with one example."""
    missing = [name for name in expected if name not in stored]
    unexpected = [name for name in stored if name not in expected]
    reshaped = [name for name in expected if name in stored and stored[name].shape != expected[name].shape]
    parts = []
    if reshaped:
        name = reshaped[0]
        parts.append(
            f"{len(reshaped)} of other shapes (e.g. {name}: {tuple(stored[name].shape)} in the file, "
            f"{tuple(expected[name].shape)} expected)"
        )
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} not used by the network (e.g. {unexpected[0]})")
    return "; ".join(parts)


def load_into(model: torch.nn.Module, folder: str | Path, which: str = "best") -> None:
    """Load weights of a model folder into ``model`` (built from the folder's config).

    Weights that do not fit the network (a config.json and weights from different
    models) raise a one-line :class:`ModelFolderError` naming the folder, the kind its
    config describes and which tensors differ, instead of torch's list of every tensor.
    """
    folder = Path(folder)
    state = load_weights(folder, which)
    summary = _mismatch_summary(model.state_dict(), state)
    if summary:
        kind = read_model_config(folder).get("kind")
        raise ModelFolderError(
            f"{folder / WEIGHT_FILES[which]} does not fit the '{kind}' network that {folder / CONFIG_NAME} "
            f"describes: {len(state)} tensors in the file, {summary}. The config and weights come from "
            "different models; use the model folder exactly as training wrote it"
        )
    model.load_state_dict(state)
