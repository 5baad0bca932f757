"""Entry point of the ``denoise2seg`` command.

Each command group lives in its own module with a ``register(subparsers)`` function that
adds its sub-commands; a sub-command's ``func(args)`` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..extras import MissingExtraError, ct_extra_message

COMMAND_GROUPS = ["n2v", "demo", "pseudo_ct", "seg", "ct", "ladp", "export_bmz"]
# The command groups of the CT/MRI methods, which need the ct extra.
CT_GROUPS = ("pseudo-ct", "ct", "ladp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="denoise2seg",
        description="Self-supervised denoising for segmentation from few labels.",
    )
    parser.add_argument("--version", action="version", version=f"denoise2seg {__version__}")
    subparsers = parser.add_subparsers(dest="group", required=True)
    for name in COMMAND_GROUPS:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as typed, for the options that must not be combined with --resume.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.group in CT_GROUPS:
        # Said before anything runs, not after a training when a result is written.
        missing = ct_extra_message(f"denoise2seg {args.group}")
        if missing is not None:
            print(f"denoise2seg: error: {missing}", file=sys.stderr)
            return 2
    # OSError covers what no check beforehand can foresee (a full disk, a folder removed
    # mid-run); its message names the file.
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError, FloatingPointError, MissingExtraError) as err:
        print(f"denoise2seg: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
