"""``--resume MODEL_DIR`` of the training commands: where a continued run writes and which options it refuses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable, Sequence

from ..io.outputs import check_output_folder

RESUME_HELP = (
    "continue the training of this model folder (stopped or finished) where it stopped: same settings, weights, "
    "optimiser state, learning rate and step count; --epochs sets the new total (default: the planned one). "
    "Written into MODEL_DIR itself unless --out names another folder"
)


def add_resume_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--resume MODEL_DIR`` to a training command."""
    parser.add_argument("--resume", type=Path, default=None, metavar="MODEL_DIR", help=RESUME_HELP)


def given_flags(argv: Sequence[str], flags: Iterable[str]) -> list[str]:
    """Those of ``flags`` that appear on the command line ``argv`` (also as ``--flag=value`` or an accepted abbreviation)."""
    names = [token.split("=", 1)[0] for token in argv if token.startswith("--")]
    flags = list(flags)
    given = []
    for flag in flags:
        for name in names:
            exact = name == flag
            abbreviated = name not in flags and len(name) > 2 and flag.startswith(name)
            if exact or abbreviated:
                given.append(flag)
                break
    return given


def training_folder(args: argparse.Namespace, settings: Iterable[str], inputs: Iterable[str | Path]) -> Path:
    """The model folder a training command writes, after checking ``--out``, ``--overwrite`` and ``--resume``.

    Without ``--resume``, ``--out`` is required and checked as any output folder. With
    it, the options in ``settings`` (the network, data and loss settings, which a
    continued run keeps) are refused when given, and the run writes into the resumed
    folder itself, or into ``--out`` when that names another (checked) folder.
    """
    if args.resume is None:
        if args.out is None:
            raise ValueError("give --out MODEL_DIR, the model folder to write (or --resume MODEL_DIR to continue a training)")
        return check_output_folder(args.out, overwrite=args.overwrite, inputs=inputs)
    refused = given_flags(args.argv, settings)
    if refused:
        raise ValueError(
            f"--resume continues with the settings and random streams of {args.resume}, so {', '.join(refused)} cannot "
            f"be given; drop {'it' if len(refused) == 1 else 'them'} (a continued run takes only --epochs, --device and "
            "--out), or leave out --resume to start a new training"
        )
    if not args.resume.is_dir():
        raise ValueError(f"--resume {args.resume}: no such model folder")
    if args.out is None or args.out.resolve() == args.resume.resolve():
        return args.resume
    return check_output_folder(args.out, overwrite=args.overwrite, inputs=[*inputs, args.resume])


def epochs_given(args: argparse.Namespace) -> bool:
    """Whether ``--epochs`` was given on the command line."""
    return bool(given_flags(args.argv, ["--epochs"]))
