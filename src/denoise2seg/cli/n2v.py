"""``denoise2seg n2v train`` and ``denoise2seg n2v predict``: Noise2Void on TIFF files."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from ..io.model_folder import read_model_config, saved_model_time
from ..io.outputs import check_output_files, unique_output_paths
from ..io.pixel_size import read_pixel_size
from ..bioimageio import load_model
from ..data.axes import parse_axes_list
from .streaming import predict_files
from .zarr_inputs import add_blockwise_options, predict_stores_first
from ..io.tiff import read_tiff, read_tiffs, write_tiff
from ..n2v import N2VConfig, train_n2v
from ..n2v.config import LR_SCHEDULES
from ..training import choose_device
from .file_axes import file_axes
from .progress import train_into
from .resume import add_resume_option, epochs_given, training_folder

_DEFAULTS = N2VConfig()


def ema_decay(text: str) -> float | None:
    """``--ema-decay``: a decay in (0, 1), or 0 for no weight average (``None``)."""
    value = float(text)
    if value == 0:
        return None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the decay must be between 0 and 1 (0: no average), got {text}")
    return value


def add_training_options(parser: argparse.ArgumentParser, defaults: N2VConfig = _DEFAULTS) -> None:
    """Options shared by ``n2v train`` and ``demo``: schedule, network and device."""
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs (default %(default)s)")
    parser.add_argument("--steps", type=int, default=defaults.steps_per_epoch, help="steps per epoch (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="patches per step (default %(default)s)")
    parser.add_argument(
        "--patch-size", type=int, default=None, help="patch edge in pixels (default 64 in 2D, 32 in 3D)"
    )
    parser.add_argument("--depth", type=int, default=defaults.depth, help="U-Net depth (default %(default)s)")
    parser.add_argument("--n-filters", type=int, default=defaults.n_filters, help="initial feature maps (default %(default)s)")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="initial learning rate (default %(default)s)")
    parser.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default=defaults.lr_schedule,
        help="learning rate over training: halved when the validation loss stalls (plateau), annealed to 0 over "
        "all steps (cosine) or fixed (constant) (default %(default)s)",
    )
    parser.add_argument(
        "--masked-fraction", type=float, default=defaults.masked_fraction,
        help="share of the pixels of a patch that are blind spots (default %(default)s, N2V's 0.198 %%; "
        "VoidSeg's reference code uses 0.00784)",
    )
    parser.add_argument(
        "--radius", type=int, default=defaults.neighborhood_radius,
        help="blind spots take a pixel from the (2 radius + 1)^2 window around them (default %(default)s)",
    )
    parser.add_argument(
        "--n2v2", action="store_true", default=defaults.n2v2,
        help="train N2V2 (Hoeck et al. 2022): blur-pool U-Net without the full-resolution skip connection, "
        "blind spots replaced by the median of their neighbourhood",
    )
    parser.add_argument(
        "--ema-decay", type=ema_decay, default=defaults.ema_decay, metavar="DECAY",
        help="average the weights over training with this decay per step (0.99: about the last 100 steps), which "
        "keeps a high learning rate's step-to-step noise out of the result; 0 turns it off (default %(default)s)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cuda, cuda:N, mps or cpu (default %(default)s)")
    parser.add_argument(
        "--float32", action="store_true", default=not defaults.mixed_precision,
        help="train in float32 throughout (default: bf16 autocast on CUDA and on CPUs with AMX units, where the N2V "
        "step runs 2.3x faster)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: a fresh one)")


def training_device(config: N2VConfig, requested: str) -> torch.device:
    """The device that ``requested`` names (``"auto"``: the best one), after printing how ``config`` trains there."""
    device = choose_device(requested)
    print(f"training on {device}: {config.schedule().precision_on(device)}")
    return device


def config_from_args(args: argparse.Namespace, ndim: int = 2) -> N2VConfig:
    return N2VConfig(
        ndim=ndim,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        learning_rate=args.lr,
        depth=args.depth,
        n_filters=args.n_filters,
        seed=args.seed,
        n2v2=args.n2v2,
        lr_schedule=args.lr_schedule,
        masked_fraction=args.masked_fraction,
        neighborhood_radius=args.radius,
        ema_decay=args.ema_decay,
        mixed_precision=not args.float32,
    )


# Settings a continued training keeps from its model folder (refused beside --resume).
_RUN_SETTINGS = (
    "--steps", "--batch-size", "--patch-size", "--depth", "--n-filters", "--lr", "--lr-schedule", "--n2v2", "--ndim",
    "--masked-fraction", "--radius", "--seed", "--ema-decay", "--float32",
)


def _train(args: argparse.Namespace) -> int:
    out = training_folder(args, _RUN_SETTINGS, inputs=args.images)
    if args.resume is not None:
        saved = N2VConfig.from_dict(read_model_config(args.resume, kind="n2v")["config"])
        config = replace(saved, epochs=args.epochs) if epochs_given(args) else saved
    else:
        config = config_from_args(args, ndim=args.ndim)
    images = read_tiffs(args.images)
    axes = file_axes(args.images, images, args.axes, spatial_ndim=config.ndim)
    device = training_device(config, args.device)
    saved_before = saved_model_time(out)
    events = train_n2v(
        images, config, axes=axes, names=[str(p) for p in args.images], out_dir=out, device=device, resume=args.resume
    )
    return train_into(events, out, "N2V training", saved_before, resume_command="denoise2seg n2v train")


def _predict(args: argparse.Namespace) -> int:
    code = predict_stores_first(args, output="denoised", suffix="_n2v")
    if code is not None:
        return code
    targets = unique_output_paths(args.images, args.out, suffix="_n2v")
    check_output_files(targets, overwrite=args.overwrite, inputs=[args.model, *args.images])
    model = load_model(args.model, device=args.device, kinds=("n2v",))
    ndim = model.ndim
    given = parse_axes_list(args.axes, len(args.images)) if args.axes is not None else [None] * len(args.images)
    tile_shape = "auto" if args.tile is None else ((args.tile,) * ndim if args.tile else None)

    def denoise(index: int, path: Path, target: Path) -> str:
        image = read_tiff(path)
        (image_axes,) = file_axes([path], [image], given[index], spatial_ndim=ndim)
        denoised = model.predict(image, tile_shape=tile_shape, axes=image_axes, name=str(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_tiff(target, denoised, axes=image_axes, pixel_size=read_pixel_size(path))
        return f"{path} -> {target}"

    return predict_files(args.images, targets, denoise)


AXES_HELP = (
    "axes of the images, letters S, T, C, Z, Y, X: e.g. YX, CYX (channels), TYX (frames), ZYX, YXC (RGB), TCYX; "
    "one for all images or one per image, comma-separated (default: guessed per file from its shape and printed)"
)


def register(subparsers) -> None:
    group = subparsers.add_parser("n2v", help="train Noise2Void on noisy images, or denoise images with a trained model")
    commands = group.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train a Noise2Void model on noisy TIFF images",
        description="Train Noise2Void (Krull et al. 2019) on all given noisy images; defaults are the VoidSeg paper's.",
    )
    train.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGES",
        help="noisy TIFF images (2D, 3D, stacks, several channels; see --axes); channels are denoised together",
    )
    train.add_argument(
        "--out", type=Path, default=None, metavar="MODEL_DIR",
        help="model folder to write (required unless --resume is given); it must not exist yet or be empty, "
        "unless --overwrite is given",
    )
    train.add_argument(
        "--overwrite", action="store_true",
        help="replace the model in an existing MODEL_DIR (never an input image)",
    )
    add_resume_option(train)
    train.add_argument(
        "--ndim", type=int, choices=(2, 3), default=2,
        help="spatial axes of one sample: 2 (Y, X; Z is then a stack of slices) or 3 (Z, Y, X) (default %(default)s)",
    )
    train.add_argument("--axes", default=None, help=AXES_HELP)
    add_training_options(train)
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="denoise TIFF images with a trained Noise2Void model")
    predict.add_argument(
        "model", type=Path, metavar="MODEL",
        help="model folder written by 'n2v train', or a bioimage.io denoising package (.zip, rdf.yaml) with PyTorch weights",
    )
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGES", help="TIFF images or zarr / OME-Zarr stores to denoise")
    predict.add_argument(
        "--out", type=Path, required=True, metavar="DIR",
        help="folder for the results, <name>_n2v.tif; inputs of the same name get <name>_n2v-2.tif, -3, ... "
        "in the order given",
    )
    predict.add_argument(
        "--overwrite", action="store_true", help="replace existing result files (never an input image or the model)"
    )
    predict.add_argument("--axes", default=None, help=AXES_HELP + "; results are written in the same axes")
    predict.add_argument(
        "--tile", type=int, default=None, help="tile edge in pixels (default: 512 in 2D, 64 in 3D; 0: the whole image at once)"
    )
    predict.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default %(default)s)")
    add_blockwise_options(predict, labels=False)
    predict.set_defaults(func=_predict)
