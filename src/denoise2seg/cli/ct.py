"""``denoise2seg ct ...``: CT denoise-pretraining for lesion segmentation (Gao et al. 2021).

Volumes are NIfTI files, DICOM files or folders holding one DICOM series, read in HU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..ct import CTLesionModel, CTPretrainConfig, finetune_ct, pretrain_ct, read_volume, train_ct, write_labels_nifti, write_labels_tiff, write_volume_nifti
from ..ct.workflow import SEGMENTATION_FOLDER
from ..nets.backbones import BACKBONES
from . import pseudo_ct
from ..io.model_folder import saved_model_time
from ..io.outputs import check_output_files, check_output_folder, unique_output_paths
from .progress import train_into

_DEFAULTS = CTPretrainConfig()


def _add_common(parser: argparse.ArgumentParser, epochs: int | None, lr: float | None) -> None:
    """Options of every training command; ``epochs``/``lr`` None: the command sets them per phase."""
    parser.add_argument("--out", type=Path, required=True, metavar="MODEL_DIR", help="model folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model folder at --out")
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs, help="epochs, one pass over the slices each (default %(default)s)")
        parser.add_argument("--lr", type=float, default=lr, help="initial learning rate, cosine-annealed (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="slices per step (default %(default)s)")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default: one pass over the slices)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cuda, cuda:N, mps or cpu (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")


def _add_network(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", choices=BACKBONES, default=_DEFAULTS.backbone, help="network (default %(default)s)")
    parser.add_argument("--depth", type=int, default=None, help="U-Net poolings / encoder depth (default: per backbone)")
    parser.add_argument("--n-filters", type=int, default=None, help="network width (default: per backbone)")
    parser.add_argument("--encoder", default=_DEFAULTS.encoder, help="encoder of U-Net++/PSPNet (default %(default)s)")
    parser.add_argument("--image-size", type=int, default=_DEFAULTS.image_size, help="slice size after centre crop + resize (default %(default)s)")
    parser.add_argument(
        "--window", type=float, nargs=2, default=(_DEFAULTS.window_level, _DEFAULTS.window_width), metavar=("LEVEL", "WIDTH"),
        help="HU window mapped to [0, 1] for the network (default: lung, %(default)s)",
    )


def _add_pretext(parser: argparse.ArgumentParser, pretexts: tuple[str, ...]) -> None:
    parser.add_argument("--pretext", choices=pretexts, default="denoise", help="pretext task (default %(default)s)")
    parser.add_argument(
        "--pretext-loss", choices=("perceptual", "mse"), default=_DEFAULTS.pretext_loss,
        help="VGG-19 perceptual + TV loss (paper; needs the ImageNet VGG-19 weights) or plain MSE (default %(default)s)",
    )
    parser.add_argument("--vgg-weights", type=Path, default=None, metavar="FILE", help="local VGG-19 state dict (default: torchvision's ImageNet file from the torch cache)")
    parser.add_argument("--no-download", action="store_true", help="never download the VGG-19 weights")
    parser.add_argument("--noise-std", type=float, default=_DEFAULTS.noise_std, help="noise std in window units (default %(default)s)")
    parser.add_argument("--hole-size", type=int, default=_DEFAULTS.hole_size, help="reconstruct pretext: hole edge in pixels (default %(default)s)")
    parser.add_argument("--tv-weight", type=float, default=_DEFAULTS.tv_weight, help="total-variation weight lambda (default %(default)s)")


def _config(args: argparse.Namespace, **phase) -> CTPretrainConfig:
    values = dict(
        batch_size=args.batch_size,
        steps_per_epoch=args.steps,
        seed=args.seed,
        backbone=args.backbone,
        depth=args.depth,
        n_filters=args.n_filters,
        encoder=args.encoder,
        image_size=args.image_size,
        window_level=args.window[0],
        window_width=args.window[1],
    )
    values.update(phase)
    return CTPretrainConfig(**values)


def _read(paths: list[Path]) -> list:
    return [read_volume(path) for path in paths]


def _check_out(args: argparse.Namespace, *inputs) -> None:
    """Refuse an --out folder that exists (without --overwrite), cannot be written or is an input, before any work."""
    check_output_folder(args.out, overwrite=args.overwrite, inputs=[p for p in inputs if p is not None])


def _pretext_settings(args: argparse.Namespace) -> dict:
    return dict(
        pretext=args.pretext,
        pretext_loss=args.pretext_loss,
        vgg_weights=str(args.vgg_weights) if args.vgg_weights else None,
        vgg_download=not args.no_download,
        noise_std=args.noise_std,
        hole_size=args.hole_size,
        tv_weight=args.tv_weight,
    )


def _annotated(labels: list, only_labelled: bool) -> list[list[int]] | None:
    if not only_labelled:
        return None
    return [[z for z in range(len(label)) if (label[z] > 0).any()] for label in labels]


def _pretrain(args: argparse.Namespace) -> int:
    _check_out(args, *args.volumes)
    config = _config(args, **_pretext_settings(args), pretext_epochs=args.epochs, pretext_learning_rate=args.lr)
    saved_before = saved_model_time(args.out)
    events = pretrain_ct(_read(args.volumes), config, out_dir=args.out, device=args.device)
    return train_into(events, args.out, f"{args.pretext} pretext", saved_before)


def _finetune(args: argparse.Namespace) -> int:
    if len(args.images) != len(args.labels):
        raise ValueError(f"give one label volume per image: got {len(args.images)} images and {len(args.labels)} labels")
    _check_out(args, *args.images, *args.labels, args.pretrained)
    saved_before = saved_model_time(args.out)
    config = _config(args, pretext="none", finetune_epochs=args.epochs, finetune_learning_rate=args.lr)
    labels = [read_volume(path).hu for path in args.labels]
    annotated = _annotated(labels, args.only_labelled_slices)
    events = finetune_ct(
        _read(args.images), labels, config, annotated_slices=annotated, pretrained=args.pretrained, out_dir=args.out, device=args.device
    )
    return train_into(events, args.out, "Dice finetuning", saved_before)


def _train(args: argparse.Namespace) -> int:
    if len(args.images) != len(args.labels):
        raise ValueError(f"give one label volume per image: got {len(args.images)} images and {len(args.labels)} labels")
    _check_out(args, *args.unlabelled, *args.images, *args.labels)
    saved_before = saved_model_time(args.out)
    config = _config(
        args,
        **_pretext_settings(args),
        pretext_epochs=args.pretext_epochs,
        pretext_learning_rate=args.pretext_lr,
        finetune_epochs=args.finetune_epochs,
        finetune_learning_rate=args.finetune_lr,
    )
    labels = [read_volume(path).hu for path in args.labels]
    events = train_ct(
        _read(args.unlabelled),
        _read(args.images),
        labels,
        config,
        out_dir=args.out,
        annotated_slices=_annotated(labels, args.only_labelled_slices),
        device=args.device,
    )
    status = train_into(events, args.out, "CT denoise-pretraining", saved_before)
    if status == 0:
        print(f"the lesion segmenter is {args.out / SEGMENTATION_FOLDER} (for 'ct predict')")
    return status


def _predict(args: argparse.Namespace) -> int:
    targets = unique_output_paths(args.volumes, args.out, suffix="_lesions", extension=f".{args.format}")
    check_output_files(targets, overwrite=args.overwrite, inputs=[args.model, *args.volumes])
    model = CTLesionModel.load(args.model, device=args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    for path, target in zip(args.volumes, targets):
        volume = read_volume(path)
        labels = model.predict(volume)
        if args.format == "tif":
            write_labels_tiff(target, labels, volume.spacing)
        else:
            write_labels_nifti(target, labels, volume.spacing, volume.affine)
        print(f"{path} -> {target} ({int(labels.sum())} lesion voxels)")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from ..ct.samples import chest_ct_slice, head_ct_slice
    from ..ct.synthetic_lesions import synthetic_lesion_cases

    names = [f"case{i:03d}_synthetic-lesion{suffix}.nii.gz" for i in range(args.cases) for suffix in ("", "_labels")]
    check_output_files([args.out / name for name in names], overwrite=args.overwrite)
    base, where = (chest_ct_slice(), "lung") if args.anatomy == "chest" else (head_ct_slice(), "body")
    args.out.mkdir(parents=True, exist_ok=True)
    for i, (volume, mask) in enumerate(synthetic_lesion_cases(base, args.cases, args.slices, seed=args.seed, where=where)):
        image = write_volume_nifti(args.out / f"case{i:03d}_synthetic-lesion.nii.gz", volume)
        write_labels_nifti(args.out / f"case{i:03d}_synthetic-lesion_labels.nii.gz", mask, volume.spacing)
        print(f"{image} ({', '.join(volume.metadata['lesion_kinds'])})")
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("ct", help="CT lesion segmentation with a self-supervised denoising pretext")
    commands = group.add_subparsers(dest="command", required=True)

    pretrain = commands.add_parser(
        "pretrain",
        help="train the pretext (denoise or reconstruct) on unlabelled CT volumes",
        description="Pretext of Gao et al. 2021: restore Gaussian-noised (or hole-cut) lung-windowed slices.",
    )
    pretrain.add_argument("volumes", nargs="+", type=Path, metavar="VOLUMES", help="NIfTI files, DICOM files or DICOM series folders")
    _add_common(pretrain, _DEFAULTS.pretext_epochs, _DEFAULTS.pretext_learning_rate)
    _add_network(pretrain)
    _add_pretext(pretrain, ("denoise", "reconstruct"))
    pretrain.set_defaults(func=_pretrain)

    train = commands.add_parser(
        "train",
        help="the whole workflow: pretext on all volumes, then Dice finetuning on the labelled ones",
        description="Gao et al. 2021, Algorithm 1, in one run: MODEL_DIR/pretext/ then MODEL_DIR/segmentation/ (for 'ct predict'). "
        "Ctrl-C during the pretext keeps the pretext so far and does not finetune.",
    )
    train.add_argument("--unlabelled", nargs="*", type=Path, default=[], metavar="VOLUME", help="unlabelled CT volumes for the pretext")
    train.add_argument("--images", nargs="+", type=Path, required=True, metavar="VOLUME", help="labelled CT volumes (used by the pretext too)")
    train.add_argument("--labels", nargs="+", type=Path, required=True, metavar="LABELS", help="lesion label volumes, same order")
    train.add_argument("--only-labelled-slices", action="store_true", help="finetune only on slices whose labels are not empty")
    _add_common(train, None, None)
    train.add_argument("--pretext-epochs", type=int, default=_DEFAULTS.pretext_epochs, help="pretext epochs (default %(default)s)")
    train.add_argument("--pretext-lr", type=float, default=_DEFAULTS.pretext_learning_rate, help="pretext learning rate (default %(default)s)")
    train.add_argument("--finetune-epochs", type=int, default=_DEFAULTS.finetune_epochs, help="finetuning epochs (default %(default)s)")
    train.add_argument("--finetune-lr", type=float, default=_DEFAULTS.finetune_learning_rate, help="finetuning learning rate (default %(default)s)")
    _add_network(train)
    _add_pretext(train, ("denoise", "reconstruct", "none"))
    train.set_defaults(func=_train)

    finetune = commands.add_parser(
        "finetune",
        help="train lesion segmentation with Dice loss, from a pretext model or from scratch",
        description="Downstream task of Gao et al. 2021. With --pretrained, its network, image size and window are used.",
    )
    finetune.add_argument("--images", nargs="+", type=Path, required=True, metavar="VOLUME", help="labelled CT volumes")
    finetune.add_argument("--labels", nargs="+", type=Path, required=True, metavar="LABELS", help="lesion label volumes, same order")
    finetune.add_argument("--pretrained", type=Path, default=None, metavar="MODEL_DIR", help="model folder from 'ct pretrain' (default: none, fully supervised)")
    finetune.add_argument("--only-labelled-slices", action="store_true", help="train only on slices whose labels are not empty")
    _add_common(finetune, _DEFAULTS.finetune_epochs, _DEFAULTS.finetune_learning_rate)
    _add_network(finetune)
    finetune.set_defaults(func=_finetune)

    predict = commands.add_parser("predict", help="segment lesions in CT volumes with a finetuned model")
    predict.add_argument("model", type=Path, metavar="MODEL_DIR", help="model folder from 'ct finetune'")
    predict.add_argument("volumes", nargs="+", type=Path, metavar="VOLUMES", help="NIfTI files, DICOM files or DICOM series folders")
    predict.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for <name>_lesions.nii.gz (or .tif) label volumes")
    predict.add_argument("--format", choices=("nii.gz", "tif"), default="nii.gz", help="label file format (default %(default)s)")
    predict.add_argument("--overwrite", action="store_true", help="replace existing label files")
    predict.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default %(default)s)")
    predict.set_defaults(func=_predict)

    synthetic = commands.add_parser(
        "synthetic-lesion",
        help="write synthetic-lesion CT cases (real chest CT anatomy, inserted lesions, exact masks) as NIfTI",
    )
    synthetic.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for caseNNN_synthetic-lesion[_labels].nii.gz")
    synthetic.add_argument("--cases", type=int, default=10, help="number of cases (default %(default)s)")
    synthetic.add_argument("--slices", type=int, default=8, help="slices per case (default %(default)s)")
    synthetic.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    synthetic.add_argument("--overwrite", action="store_true", help="replace existing case files")
    synthetic.add_argument(
        "--anatomy", choices=("chest", "head"), default="chest",
        help="chest: pydicom's CT_small.dcm, lesions in the lung; head: pydicom-data's 693_UNCR.dcm "
        "(pip install pydicom-data), lesions in the body (default %(default)s)",
    )
    synthetic.set_defaults(func=_synthetic)

    # Low-dose denoising is CT work too: `denoise2seg ct pseudo-ct ...` is the same group as
    # `denoise2seg pseudo-ct ...`.
    pseudo_ct.register(commands)
