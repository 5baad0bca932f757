"""``denoise2seg seg train|predict|evaluate``: VoidSeg segmentation on TIFF files."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..io.model_folder import read_model_config, saved_model_time
from ..io.outputs import check_output_files, unique_output_paths
from ..io.pixel_size import read_pixel_size
from ..bioimageio import load_model
from ..data.axes import parse_axes_list
from .streaming import predict_files
from .zarr_inputs import add_blockwise_options, predict_stores_first
from ..io.tiff import read_tiffs, write_labels_tiff
from ..metrics import score_images
from ..segmentation import METHODS, SCHEMES, SegmentationConfig, SegmentationModel, train_segmentation
from ..segmentation.config import anisotropy_of
from ..segmentation.model import KIND as MODEL_KIND
from ..validation import check_label_mask
from . import seg_compare
from .progress import TrainingInterrupted, consume_with_progress, stop_report
from .resume import add_resume_option, epochs_given, training_folder
from .seg_inputs import check_pairs, read_frames, read_masks

_DEFAULTS = SegmentationConfig()
SEG_AXES_HELP = (
    "axes of the images, YX or a stack of frames TYX (3D models: ZYX or TZYX), with C for channels (CYX, TCYX, RGB "
    "YXC: the network's input channels); one for all files, or one per file separated by commas; default: guessed "
    "per file and printed"
)


# Settings a continued training keeps from its model folder (refused beside --resume).
_RUN_SETTINGS = (
    "--method", "--scheme", "--n2v", "--steps", "--batch-size", "--patch-size", "--depth", "--n-filters", "--lr",
    "--margin", "--border", "--seed", "--ndim", "--patch-depth", "--anisotropy", "--rays",
)


def _train(args: argparse.Namespace) -> int:
    check_pairs(args.images, args.labels)
    inputs = [*args.images, *args.labels, *([args.n2v] if args.n2v is not None else [])]
    out = training_folder(args, _RUN_SETTINGS, inputs=inputs)
    config = _config(args)
    images, channels = read_frames(
        args.images, args.axes, for_training=True, ndim=config.ndim, channels=config.channels if args.resume else None
    )
    config = replace(config, channels=channels)
    masks = read_masks(args.labels)
    saved_before = saved_model_time(out)
    events = train_segmentation(
        images, masks, config, n2v_model=args.n2v, out_dir=out, device=args.device, resume=args.resume
    )
    try:
        consume_with_progress(events, description=f"{config.method} {config.scheme}")
    except TrainingInterrupted as stop:
        print(stop_report(stop.last, out, saved_before, resume_command="denoise2seg seg train"), file=sys.stderr)
        return 130
    model = SegmentationModel.load(out, device="cpu")
    thresholds = ", ".join(f"{k} {v:.3g}" for k, v in model.thresholds.items())
    print(f"model written to {out} ({thresholds})")
    return 0


def _config(args: argparse.Namespace) -> SegmentationConfig:
    """The settings of ``seg train``: from the options, or those of the ``--resume`` folder with ``--epochs``."""
    if args.resume is not None:
        saved = SegmentationConfig.from_dict(read_model_config(args.resume, kind=MODEL_KIND)["config"])
        return replace(saved, epochs=args.epochs) if epochs_given(args) else saved
    return SegmentationConfig(
        method=args.method,
        scheme=args.scheme,
        ndim=args.ndim,
        anisotropy=_anisotropy(args),
        n_rays=args.rays,
        patch_size=args.patch_size,
        patch_depth=args.patch_depth,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        learning_rate=args.lr,
        depth=args.depth,
        n_filters=args.n_filters,
        annotation_margin=args.margin,
        border=args.border,
        seed=args.seed,
    )


def _anisotropy(args: argparse.Namespace) -> tuple[float, float, float] | None:
    """``--anisotropy Z,Y,X``, else that of the first image's voxel size when its file stores a Z step, else isotropic (said)."""
    if args.ndim != 3:
        if args.anisotropy is not None:
            raise ValueError("--anisotropy is the voxel size of volumes; it needs --ndim 3")
        return None
    if args.anisotropy is not None:
        try:
            spacing = tuple(float(v) for v in args.anisotropy.split(","))
            return anisotropy_of(spacing)
        except ValueError as err:
            raise ValueError(f"--anisotropy takes the Z, Y and X voxel sizes separated by commas, e.g. 2,1,1 ({err})") from err
    size = read_pixel_size(args.images[0])
    if size is None or size.z is None:
        print(f"{args.images[0]}: no Z step stored, so isotropic voxels are assumed (give --anisotropy Z,Y,X, e.g. 2,1,1)")
        return None
    anisotropy = anisotropy_of((size.z, size.y, size.x))
    print(f"{args.images[0]}: voxel size {size.z:g} x {size.y:g} x {size.x:g} {size.unit}, anisotropy {anisotropy} (give --anisotropy to choose another)")
    return anisotropy


def _predict(args: argparse.Namespace) -> int:
    code = predict_stores_first(args, output="labels", suffix="_labels")
    if code is not None:
        return code
    targets = unique_output_paths(args.images, args.out, suffix="_labels")
    check_output_files(targets, overwrite=args.overwrite, inputs=[args.model, *args.images])
    model = load_model(args.model, device=args.device, kinds=(MODEL_KIND,))
    given = parse_axes_list(args.axes, len(args.images)) if args.axes is not None else [None] * len(args.images)
    tile_shape = "auto" if args.tile is None else ((args.tile,) * model.ndim if args.tile else None)

    def segment(index: int, path: Path, target: Path) -> str:
        (image,), _ = read_frames([path], given[index], ndim=model.ndim, channels=model.channels)
        labels = model.predict(image, tile_shape=tile_shape)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_labels_tiff(target, labels, pixel_size=read_pixel_size(path))
        count = int(labels.max())
        return f"{path} -> {target} ({count} object{'' if count == 1 else 's'})"

    return predict_files(args.images, targets, segment)


def _ground_truth(path: Path, mask) -> np.ndarray:
    """A ground-truth mask checked for scoring: whole-number ids and at least one object."""
    truth = check_label_mask(mask, name=f"ground truth {path}")
    if not truth.any():
        raise ValueError(
            f"ground truth {path} holds no object (every pixel is 0); AP and SEG need labelled objects. "
            "Check that it is the mask of this image, or leave the pair out"
        )
    return truth


def _evaluate(args: argparse.Namespace) -> int:
    check_pairs(args.images, args.labels)
    if args.json is not None:
        check_output_files([args.json], overwrite=args.overwrite, inputs=[args.model, *args.images, *args.labels])
    masks = [_ground_truth(path, mask) for path, mask in zip(args.labels, read_tiffs(args.labels))]
    model = load_model(args.model, device=args.device, kinds=(MODEL_KIND,))
    images, _ = read_frames(args.images, args.axes, ndim=model.ndim, channels=model.channels)
    for path, image, mask in zip(args.images, images, masks):
        spatial = model.labels_shape(image.shape)
        if mask.shape != spatial:
            needs = f"a mask of {spatial}" + (" (its shape without the channel axis)" if model.channels > 1 else "")
            raise ValueError(f"the label mask for {path} has shape {mask.shape}; the image of shape {image.shape} needs {needs}")
    # A stack is a set of frames scored frame by frame; a 3D model's frames are volumes, matched in 3D.
    predictions = [model.predict(image) for image in images]
    table = score_images(masks, predictions, names=[str(p) for p in args.images], ndim=model.ndim)
    print(table.to_markdown())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table.to_dict(), indent=2) + "\n")
        print(f"scores written to {args.json}")
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("seg", help="VoidSeg segmentation (3-class U-Net or StarDist, four schemes)")
    commands = group.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a segmentation model on images and instance masks (TIFF)")
    train.add_argument("images", nargs="+", type=Path, help="noisy images (2D or stacks of 2D frames; volumes with --ndim 3)")
    train.add_argument("--axes", default=None, help=SEG_AXES_HELP)
    train.add_argument(
        "--labels", nargs="+", type=Path, required=True,
        help="instance masks, one per image, of the image's shape without its channel axis",
    )
    train.add_argument("--method", choices=METHODS, default=_DEFAULTS.method, help="default %(default)s")
    train.add_argument("--scheme", choices=SCHEMES, default=_DEFAULTS.scheme, help="default %(default)s")
    train.add_argument("--n2v", type=Path, default=None, help="N2V model folder (needed by every scheme but baseline)")
    train.add_argument(
        "--out", type=Path, default=None,
        help="model folder to write (required unless --resume is given); it must not exist yet or be empty, "
        "unless --overwrite is given",
    )
    train.add_argument(
        "--overwrite", action="store_true",
        help="replace the model in an existing --out folder (never an input, nor the --n2v model)",
    )
    add_resume_option(train)
    train.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="default %(default)s")
    train.add_argument("--steps", type=int, default=_DEFAULTS.steps_per_epoch, help="steps per epoch (default %(default)s)")
    train.add_argument(
        "--ndim", type=int, choices=(2, 3), default=2,
        help="2: segment 2D images (a stack is a set of frames); 3: volumes ZYX with a 3D U-Net or StarDist 3D "
        "(default %(default)s)",
    )
    train.add_argument("--batch-size", type=int, default=None, help="default: 128 (2D), 4 (3D)")
    train.add_argument("--patch-size", type=int, default=None, help="patch edge along Y and X (default: 128 in 2D, 64 in 3D)")
    train.add_argument("--patch-depth", type=int, default=None, help="patch size along Z, 3D only (default 16)")
    train.add_argument(
        "--rays", type=int, default=None,
        help="StarDist's rays (default: 32 in 2D, a multiple of 4; 96 in 3D, where fewer are faster)",
    )
    train.add_argument(
        "--anisotropy", default=None, metavar="Z,Y,X",
        help="3D: voxel size along Z, Y, X (any unit, e.g. 2,1,1), for StarDist's rays; default: from the first "
        "image's voxel size when its file stores one, else isotropic",
    )
    train.add_argument("--depth", type=int, default=_DEFAULTS.depth, help="U-Net depth (default %(default)s)")
    train.add_argument("--n-filters", type=int, default=_DEFAULTS.n_filters, help="default %(default)s")
    train.add_argument("--lr", type=float, default=_DEFAULTS.learning_rate, help="default %(default)s")
    train.add_argument(
        "--margin", type=int, default=_DEFAULTS.annotation_margin, help="pixels around labelled objects that count (default %(default)s)"
    )
    train.add_argument(
        "--border", choices=("inner", "outer"), default=_DEFAULTS.border,
        help="3-class U-Net border: object pixels on the boundary, regrown by watershed, or the ring outside "
        "each object with connected components, as VoidSeg's reference code (default %(default)s)",
    )
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="segment images with a trained model; writes <name>_labels.tif")
    predict.add_argument("model", type=Path, help="segmentation model folder, or its bioimage.io package (.zip)")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--axes", default=None, help=SEG_AXES_HELP)
    predict.add_argument(
        "--out", type=Path, required=True,
        help="folder for the label images, <name>_labels.tif; inputs of the same name get <name>_labels-2.tif, "
        "-3, ... in the order given",
    )
    predict.add_argument(
        "--overwrite", action="store_true", help="replace existing label images (never an input image or the model)"
    )
    predict.add_argument("--tile", type=int, default=None, help="tile edge in pixels (default: 512; 0: the whole image at once)")
    predict.add_argument("--device", default="auto")
    add_blockwise_options(predict, labels=True)
    predict.set_defaults(func=_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="print AP at IoU 0.5, AP averaged over IoU 0.5-0.9 and SEG of a model against instance masks, "
        "per image, pooled over images and averaged over images",
    )
    evaluate.add_argument("model", type=Path, help="segmentation model folder, or its bioimage.io package (.zip)")
    evaluate.add_argument(
        "images", nargs="+", type=Path,
        help="images (2D or stacks of 2D frames, scored frame by frame; a 3D model's volumes, scored as volumes)",
    )
    evaluate.add_argument("--axes", default=None, help=SEG_AXES_HELP)
    evaluate.add_argument("--labels", nargs="+", type=Path, required=True, help="ground-truth instance masks, one per image")
    evaluate.add_argument(
        "--json", type=Path, default=None, help="also write the scores (AP at every IoU threshold) as JSON to this file"
    )
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing --json file (never an input)")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=_evaluate)
    seg_compare.register(commands)
