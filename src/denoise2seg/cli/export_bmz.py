"""``denoise2seg export-bmz``: a model folder as a bioimage.io model package (.zip), tested by bioimage.io's checker."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bioimageio.export import DEFAULT_LICENSE, export_bioimageio
from ..io.outputs import check_output_files
from ..io.tiff import read_tiffs

DESCRIPTION = """Write an N2V, 3-class U-Net or StarDist model folder as a bioimage.io model package
(format 0.5): PyTorch weights, the normalisation as preprocessing, test tensors, README,
cover, authors, licence and the papers. bioimage.io's own test (bioimageio.core) runs the
package on its test tensors before it is written; a package that fails is not written.

The test tensors are a crop of --test-image (one frame in the model's layout: YX, ZYX,
channels first for a multi-channel model), by default of the sample shipped here."""


def _export(args: argparse.Namespace) -> int:
    inputs = [args.model] + ([args.test_image] if args.test_image is not None else [])
    (out,) = check_output_files([args.out], overwrite=args.overwrite, inputs=inputs)
    test_image = read_tiffs([args.test_image])[0] if args.test_image is not None else None
    export_bioimageio(
        args.model,
        out,
        test_image=test_image,
        name=args.name,
        description=args.description,
        authors=args.author,
        license=args.license,
    )
    print(f"bioimage.io package written to {out} (bioimage.io's test passed)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-bmz",
        help="write a model folder as a bioimage.io model package (.zip)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", type=Path, help="model folder written by n2v train or seg train")
    parser.add_argument("--out", type=Path, required=True, help="the package to write (.zip)")
    parser.add_argument("--test-image", type=Path, default=None, help="TIFF whose centre crop makes the test tensors")
    parser.add_argument("--name", default=None, help="the model's name on bioimage.io: letters, digits, spaces and _+-() (default: its kind)")
    parser.add_argument("--description", default=None, help="one sentence on what the model does and was trained on")
    parser.add_argument(
        "--author", action="append", default=None, help="an author's name (repeat for several; default: your login name)"
    )
    parser.add_argument("--license", default=DEFAULT_LICENSE, help="SPDX licence of the model (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=_export)
