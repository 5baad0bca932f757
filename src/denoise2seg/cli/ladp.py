"""``denoise2seg ladp pretrain|finetune|predict|evaluate``: LADP lesion segmentation on NIfTI volumes.

Cases are listed in a CSV file with the columns ``name,images,labels,brain``: ``images``
holds the channel files separated by ``;`` (e.g. ``t1.nii.gz;flair.nii.gz``), ``labels``
the lesion mask, ``brain`` an optional brain mask; relative paths are relative to the
CSV file. ``--synthetic N`` uses N synthetic-lesion MRI cases instead.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ..lesion.cases import LesionCase, read_nifti_case
from ..lesion.config import FinetuneConfig, PretrainConfig
from ..lesion.model import LesionEnsemble
from ..lesion.synthetic import synthetic_lesion_cases
from ..lesion.train import pretrain, train_ensemble
from ..metrics.lesion import DEFAULT_NSD_TOLERANCE_MM, SIZE_BINS, score_case, summarize
from ..io.model_folder import saved_model_time
from ..io.outputs import check_output_files, check_output_folder
from .progress import train_into

_PRE = PretrainConfig()
_FINE = FinetuneConfig()


def read_case_list(path: Path, need_labels: bool = True) -> list[LesionCase]:
    """Read the cases listed in a CSV file (see the module docstring)."""
    if not path.is_file():
        raise FileNotFoundError(f"case list {path} does not exist")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "images" not in rows[0]:
        raise ValueError(f"{path} must be a CSV file with a header 'name,images,labels,brain' and one row per case")
    base = path.parent

    def resolve(text: str | None) -> Path | None:
        text = (text or "").strip()
        return (base / text) if text else None

    cases = []
    for i, row in enumerate(rows, start=2):
        images = [resolve(p) for p in (row.get("images") or "").split(";") if p.strip()]
        labels = resolve(row.get("labels"))
        if not images:
            raise ValueError(f"{path}, line {i}: no image files in the 'images' column")
        if need_labels and labels is None:
            raise ValueError(f"{path}, line {i}: training and evaluation need a lesion mask in the 'labels' column")
        cases.append(read_nifti_case(images, labels, resolve(row.get("brain")), row.get("name") or None))
    return cases


def _cases(args: argparse.Namespace, attr: str, first_seed: int) -> list[LesionCase] | None:
    path = getattr(args, attr)
    if path is not None:
        return read_case_list(path)
    count = args.synthetic if attr == "cases" else args.synthetic_val
    return synthetic_lesion_cases(count, first_seed) if count else None


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cases", nargs="?", type=Path, default=None, metavar="CASES.csv", help="training cases (CSV list)")
    parser.add_argument("--val", dest="val", type=Path, default=None, metavar="VAL.csv",
                        help="validation cases (default: 10%% of the training slices)")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N", help="train on N synthetic-lesion MRI cases")
    parser.add_argument("--synthetic-val", type=int, default=0, metavar="N", help="validate on N synthetic-lesion cases")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")


def _add_schedule_options(parser: argparse.ArgumentParser, defaults) -> None:
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs (default %(default)s, the paper's)")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default: one pass over the slices)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="slices per step (default %(default)s)")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--depth", type=int, default=defaults.depth, help="U-Net depth (default %(default)s)")
    parser.add_argument("--n-filters", type=int, default=defaults.n_filters, help="initial feature maps (default %(default)s)")


def _train_cases(args) -> tuple[list[LesionCase], list[LesionCase] | None]:
    train = _cases(args, "cases", 0)
    if not train:
        raise ValueError("give a CASES.csv file or --synthetic N")
    return train, _cases(args, "val", 100)


def _ensemble_saved_time(folder: Path) -> int | None:
    """When the ensemble of ``folder`` (its own config.json, written as members finish) was saved; None without one."""
    config = Path(folder) / "config.json"
    return config.stat().st_mtime_ns if config.is_file() else None


def _check_out(args: argparse.Namespace, *inputs, ensemble: bool = False) -> int | None:
    """Refuse an --out folder that exists (without --overwrite), cannot be written or is an input; the saved state before."""
    check_output_folder(args.out, overwrite=args.overwrite, inputs=[p for p in inputs if p is not None])
    return _ensemble_saved_time(args.out) if ensemble else saved_model_time(args.out)


def _pretrain(args: argparse.Namespace) -> int:
    saved_before = _check_out(args, args.cases, args.val)
    train, val = _train_cases(args)
    config = PretrainConfig(
        mode=args.mode, decoder_only=not args.whole_network, epochs=args.epochs, steps_per_epoch=args.steps,
        batch_size=args.batch_size, learning_rate=args.lr, depth=args.depth, n_filters=args.n_filters,
    )
    events = pretrain(train, config, val_cases=val, out_dir=args.out, device=args.device, seed=args.seed)
    return train_into(events, args.out, f"{args.mode.upper()} pretraining", saved_before)


def _finetune(args: argparse.Namespace) -> int:
    saved_before = _check_out(args, args.cases, args.val, args.pretrained, ensemble=True)
    train, val = _train_cases(args)
    fine = FinetuneConfig(
        epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
        depth=args.depth, n_filters=args.n_filters,
    )
    pre = PretrainConfig(
        decoder_only=not args.whole_network, epochs=args.pretrain_epochs, steps_per_epoch=args.steps,
        batch_size=args.batch_size, learning_rate=args.lr, depth=args.depth, n_filters=args.n_filters,
    )
    events = train_ensemble(
        train, val_cases=val, pretraining=args.pretraining, pretrain_config=pre, finetune_config=fine,
        n_models=args.ensemble, out_dir=args.out, device=args.device, seed=args.seed, pretrained=args.pretrained,
    )
    # A stop during the first member's pretraining leaves no ensemble (only that pretraining).
    return train_into(events, args.out, "LADP training", saved_before, _ensemble_saved_time)


def _predict(args: argparse.Namespace) -> int:
    from ..ct.volumes import read_nifti, write_labels_nifti

    check_output_files([args.out], overwrite=args.overwrite, inputs=[args.model, *args.images, *([args.brain] if args.brain else [])])
    model = LesionEnsemble.load(args.model, device=args.device)
    case = read_nifti_case(args.images, None, args.brain)
    mask = model.predict(case.image, case.brain)
    # The first channel's affine puts the mask in the scanner frame of the input.
    affine = read_nifti(args.images[0]).affine
    write_labels_nifti(args.out, mask.astype("uint8"), spacing=case.spacing, affine=affine)
    print(f"{int(mask.sum())} lesion voxels ({len(model)} model(s) voting) -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.json is not None:
        # Checked before any prediction, so a refused file costs no time.
        inputs = [args.model, *([args.cases] if args.cases is not None else [])]
        check_output_files([args.json], overwrite=args.overwrite, inputs=inputs)
    model = LesionEnsemble.load(args.model, device=args.device)
    cases = read_case_list(args.cases) if args.cases is not None else synthetic_lesion_cases(args.synthetic, 200)
    if not cases:
        raise ValueError("give a CASES.csv file or --synthetic N")
    scores = [
        score_case(c.labels, model.predict(c.image, c.brain), c.brain, spacing=c.spacing, name=c.name, tolerance=args.tolerance) for c in cases
    ]
    print("| case | lesion % of brain | bin | Dice | MASD (mm) | NSD |")
    print("|---|---|---|---|---|---|")
    for s in scores:
        print(f"| {s.name} | {100 * s.lesion_fraction:.2f} | {s.size_bin} | {s.dice:.4f} | {s.masd:.3f} | {s.nsd:.4f} |")
    summary = summarize(scores)
    print("\n" + ", ".join(f"Dice {b}: {summary[f'dice {b}']:.4f} (n={summary[f'n {b}']})" for b in SIZE_BINS))
    print(f"Dice overall {summary['dice']:.4f}, MASD {summary['masd']:.3f} mm, NSD ({args.tolerance:g} mm) {summary['nsd']:.4f}")
    if summary["n masd penalized"]:
        print(f"MASD of {summary['n masd penalized']} case(s) with an empty prediction or truth is the volume diagonal (penalty)")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "cases": [s.to_dict() for s in scores]}, indent=2))
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("ladp", help="lesion segmentation with label-aware denoising pretraining (LADP)")
    commands = group.add_subparsers(dest="command", required=True)

    pre = commands.add_parser("pretrain", help="self-pretrain a U-Net with LADP or DDP noise prediction",
                              description="LADP/DDP self-pretraining (Ninalga 2023); defaults are the paper's.")
    _add_data_options(pre)
    pre.add_argument("--out", type=Path, required=True, metavar="MODEL_DIR", help="pretrained model folder to write")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing model folder at --out")
    pre.add_argument("--mode", choices=("ladp", "ddp"), default="ladp", help="noise: label-aware or uniform (default %(default)s)")
    pre.add_argument("--whole-network", action="store_true", help="train the encoder too (default: decoder only)")
    _add_schedule_options(pre, _PRE)
    pre.set_defaults(func=_pretrain)

    fine = commands.add_parser("finetune", help="train an ensemble of lesion segmenters (pretraining included)",
                               description="Each of --ensemble members is pretrained (unless --pretraining none or "
                                           "--pretrained) and finetuned with BCE + Dice + 3 Focal.")
    _add_data_options(fine)
    fine.add_argument("--out", type=Path, required=True, metavar="MODEL_DIR", help="ensemble folder to write")
    fine.add_argument("--overwrite", action="store_true", help="replace an existing model folder at --out")
    fine.add_argument("--pretraining", choices=("ladp", "ddp", "none"), default="ladp", help="default %(default)s")
    fine.add_argument("--pretrained", type=Path, default=None, metavar="DIR", help="start every member from this pretrained folder")
    fine.add_argument("--whole-network", action="store_true", help="pretrain the encoder too (default: decoder only)")
    fine.add_argument("--pretrain-epochs", type=int, default=_PRE.epochs, help="pretraining epochs (default %(default)s)")
    fine.add_argument("--ensemble", type=int, default=8, help="models voting (default %(default)s, the paper's)")
    _add_schedule_options(fine, _FINE)
    fine.set_defaults(func=_finetune)

    predict = commands.add_parser("predict", help="segment lesions in NIfTI volumes")
    predict.add_argument("model", type=Path, metavar="MODEL_DIR", help="ensemble or segmenter folder")
    predict.add_argument("images", nargs="+", type=Path, metavar="CHANNEL.nii.gz", help="one co-registered file per channel")
    predict.add_argument("--brain", type=Path, default=None, help="brain mask (default: non-zero voxels)")
    predict.add_argument("--out", type=Path, required=True, metavar="LABELS.nii.gz", help="lesion mask to write")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing file at --out")
    predict.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default %(default)s)")
    predict.set_defaults(func=_predict)

    evaluate = commands.add_parser("evaluate", help="Dice (per lesion-size bin), MASD and NSD on annotated cases")
    evaluate.add_argument("model", type=Path, metavar="MODEL_DIR", help="ensemble or segmenter folder")
    evaluate.add_argument("cases", nargs="?", type=Path, default=None, metavar="CASES.csv", help="annotated cases (CSV list)")
    evaluate.add_argument("--synthetic", type=int, default=0, metavar="N", help="evaluate on N synthetic-lesion test cases")
    evaluate.add_argument("--tolerance", type=float, default=DEFAULT_NSD_TOLERANCE_MM, help="NSD tolerance in mm (default %(default)s)")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the scores as JSON here")
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing file at --json")
    evaluate.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu (default %(default)s)")
    evaluate.set_defaults(func=_evaluate)
