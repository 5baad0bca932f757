"""Where results may be written: checks of output folders and files, made before any work starts.

A command (or widget) calls these before it reads data or builds a network, so that a
read-only folder, a path that is a file, or an existing result shows up at once, with
the path and what to do, instead of as a traceback after the first epoch. The rules:

- an output never replaces an input: an output that is an input file or folder, and
  an output folder inside an input folder (a model written into the model it starts
  from), are refused even when overwriting is allowed;
- an existing output (a file, or a folder that holds anything) is refused unless
  overwriting is allowed;
- the output's folder, or the nearest part of it that exists, must be a folder that
  this process can write in.

Nothing here creates, changes or removes a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

# Image formats whose names end in two suffixes; their stem drops both.
DOUBLE_SUFFIXES = (".nii.gz", ".ome.tif", ".ome.tiff", ".ome.zarr")

OVERWRITE_HINT = "pass --overwrite to replace it"


class OutputLocationError(ValueError):
    """An output path cannot be written, or must not be (it exists, or it is an input)."""


def _check_not_an_input(path: Path, inputs: Iterable[str | Path], *, folder: bool) -> None:
    """Refuse ``path`` when it is one of ``inputs`` or, for an output ``folder``, lies inside an input folder."""
    resolved = path.resolve()
    for source in inputs:
        source = Path(source)
        source_resolved = source.resolve()
        if resolved == source_resolved or (path.exists() and source.exists() and os.path.samefile(path, source)):
            raise OutputLocationError(
                f"{path} is also an input; writing it would destroy that input. Choose another output location"
            )
        if folder and source.is_dir() and source_resolved in resolved.parents:
            raise OutputLocationError(
                f"{path} lies inside the input folder {source}; choose an output folder outside it"
            )


def _check_can_create_in(folder: Path, target: Path) -> None:
    """Refuse ``target`` when the nearest existing part of ``folder`` is a file or cannot be written in."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputLocationError(
            f"{existing} is a file, so {target} cannot be created inside it; choose another output location"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputLocationError(
            f"cannot write in {existing} (permission denied or read-only), so {target} cannot be written; "
            "choose a folder you can write to, or change the permissions of this one"
        )


def _describe_contents(folder: Path) -> str:
    names = sorted(entry.name for entry in folder.iterdir())
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} {'entry' if len(names) == 1 else 'entries'}: {shown}"


def check_output_folder(
    path: str | Path,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
    overwrite_hint: str = OVERWRITE_HINT,
) -> Path:
    """Check that ``path`` may be written as an output folder (a model folder, say).

    Parameters
    ----------
    path : path
        The folder a command will create or fill.
    overwrite : bool
        Allow a folder that already holds something; its files are replaced as the
        command writes them.
    inputs : paths
        Files and folders the command reads; ``path`` may not be one of them or lie
        inside one of the folders.
    overwrite_hint : str
        How the user allows overwriting, appended to the message for an existing folder.

    Returns ``Path(path)``. Raises :class:`OutputLocationError` naming the path and what
    to do when it is an input or inside one, is a file, already holds something (and
    ``overwrite`` is false), or lies where this process cannot write.
    """
    path = Path(path)
    inputs = list(inputs)
    _check_not_an_input(path, inputs, folder=True)
    if path.exists() and not path.is_dir():
        raise OutputLocationError(f"{path} is a file, not a folder; choose another output folder")
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise OutputLocationError(
            f"{path} already exists and is not empty ({_describe_contents(path)}); {overwrite_hint}, "
            "or choose another output folder"
        )
    _check_can_create_in(path, path)
    return path


def check_output_files(
    paths: Iterable[str | Path],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
    overwrite_hint: str = OVERWRITE_HINT,
) -> list[Path]:
    """Check that each of ``paths`` may be written as an output file.

    Parameters are those of :func:`check_output_folder`, for files: an existing file is
    refused unless ``overwrite`` is true, an existing folder always, and so is a path
    that is one of ``inputs`` (a file inside an input folder is allowed). Two of ``paths``
    naming the same file (also when they differ only in letter case, which is one file
    on macOS and Windows) are refused; :func:`unique_output_paths` gives distinct names.

    Returns the paths as ``Path`` objects, in order.
    """
    paths = [Path(p) for p in paths]
    inputs = list(inputs)
    seen: dict[str, Path] = {}
    for path in paths:
        key = os.path.normcase(str(path.resolve())).casefold()
        if key in seen:
            raise OutputLocationError(f"two results would be written to the same file {path} (also {seen[key]})")
        seen[key] = path
        _check_not_an_input(path, inputs, folder=False)
        if path.is_dir():
            raise OutputLocationError(f"{path} is a folder, not a file; choose another output file name")
        if path.exists() and not overwrite:
            raise OutputLocationError(f"{path} already exists; {overwrite_hint}, or choose another output location")
        _check_can_create_in(path.parent, path)
        if path.exists() and not os.access(path, os.W_OK):
            raise OutputLocationError(f"{path} exists and is read-only; make it writable or choose another output location")
    return paths


def file_stem(path: str | Path) -> str:
    """The name of ``path`` without its format suffix: ``scan.nii.gz`` -> ``scan``, ``img.tif`` -> ``img``."""
    name = Path(path).name
    for double in DOUBLE_SUFFIXES:
        if name.lower().endswith(double):
            return name[: -len(double)]
    return Path(name).stem


def unique_output_paths(
    sources: Iterable[str | Path], folder: str | Path, *, suffix: str, extension: str = ".tif"
) -> list[Path]:
    """Output file of each source: ``folder/<source stem><suffix><extension>``, made distinct.

    Sources that share a file name (``a/img.tif`` and ``b/img.tif``) would share an
    output; in the order given, the first keeps ``img<suffix>.tif`` and later ones get
    ``img<suffix>-2.tif``, ``img<suffix>-3.tif``, ... The stem drops the whole suffix
    of a two-part format (``scan.nii.gz`` -> ``scan``). Names are compared ignoring letter
    case, as file systems on macOS and Windows do. Only names are computed; existing
    files are left to :func:`check_output_files`.

    Examples
    --------
    >>> [p.name for p in unique_output_paths(["a/img.tif", "b/img.tif", "c.tif"], "out", suffix="_n2v")]
    ['img_n2v.tif', 'img_n2v-2.tif', 'c_n2v.tif']
    """
    folder = Path(folder)
    taken: set[str] = set()
    outputs = []
    for source in sources:
        base = f"{file_stem(source)}{suffix}"
        name, number = f"{base}{extension}", 1
        while name.casefold() in taken:
            number += 1
            name = f"{base}-{number}{extension}"
        taken.add(name.casefold())
        outputs.append(folder / name)
    return outputs
