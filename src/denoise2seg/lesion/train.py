"""Train lesion segmenters: optional LADP/DDP self-pretraining, then finetuning; one model or an ensemble."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..io.model_folder import ModelFolderError, load_into, read_model_config
from ..nets import UNet, UNetSpec
from ..training import Schedule, TrainingEvent, choose_device, relay, run_training
from .cases import LesionCase, normalize_case
from .config import PRETRAINING_MODES, FinetuneConfig, PretrainConfig, PretrainingMode
from .model import predict_probability, write_ensemble_folder
from .slices import SliceSet, split_slices
from .tasks import FinetuneTask, PretrainTask

# Share of training slices held out for validation when no validation cases are given.
VALIDATION_FRACTION = 0.1


@dataclass
class LADPEvent(TrainingEvent):
    """A training event of one stage of one ensemble member.

    ``step`` and ``total_steps`` count over the whole run (every member, both stages),
    so one progress bar covers it; ``stage`` is ``"pretrain"`` or ``"finetune"`` and
    ``phase`` says both to the user ("model 2/8: pretraining").
    """

    member: int = 0
    n_members: int = 1
    stage: str = "finetune"


STAGE_NAMES = {"pretrain": "pretraining", "finetune": "finetuning"}


def _schedule(config, n_slices: int) -> Schedule:
    steps = config.steps_per_epoch or math.ceil(n_slices / config.batch_size)
    # The paper trains with Adam at a fixed learning rate (Sec. II-D).
    return Schedule(epochs=config.epochs, steps_per_epoch=steps, learning_rate=config.learning_rate, lr_schedule="constant")


def _slice_sets(train_cases, val_cases, divisor: int, seed: int) -> tuple[SliceSet, SliceSet]:
    train = SliceSet.from_cases(list(train_cases), divisor)
    if val_cases:
        return train, SliceSet.from_cases(list(val_cases), divisor)
    return split_slices(train, VALIDATION_FRACTION, seed)


def pretrain(
    train_cases: list[LesionCase],
    config: PretrainConfig | None = None,
    *,
    val_cases: list[LesionCase] | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
) -> Iterator[TrainingEvent]:
    """Self-pretrain one U-Net with LADP or DDP (``config.mode``) and yield training events.

    The network predicts the noise ``W`` (``C`` output channels); ``out_dir`` becomes a
    ``ladp-pretrain`` model folder that :func:`train_ensemble` can start from.
    """
    config = config or PretrainConfig()
    if not train_cases:
        raise ValueError("no training cases given: LADP pretraining needs annotated volumes")
    channels = train_cases[0].channels
    spec = UNetSpec(ndim=2, in_channels=channels, out_channels=channels, depth=config.depth, n_filters=config.n_filters)
    train, val = _slice_sets(train_cases, val_cases, spec.divisor, seed)
    torch.manual_seed(seed)
    net = UNet(spec).to(choose_device(device))
    task = PretrainTask(net, replace(config, seed=seed), train, val, seed)
    yield from run_training(task, _schedule(config, len(train)), out_dir=out_dir)


def load_pretrained(folder: str | Path) -> tuple[UNet, PretrainConfig]:
    """The network (on the CPU) and settings of a folder written by :func:`pretrain`."""
    record = read_model_config(folder, kind="ladp-pretrain")
    try:
        net = UNet(UNetSpec.from_dict(record["network"]))
        config = PretrainConfig.from_dict(record["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFolderError(f"the config.json of {folder} is incomplete or invalid ({type(err).__name__}: {err})") from err
    # The weights after the last epoch, as when pretraining runs inside train_ensemble.
    load_into(net, folder, "last")
    return net, config


def _relay(events, offset: int, total: int, member: int, n_members: int, stage: str) -> Iterator[LADPEvent]:
    """One stage's events with run-wide step counts and the member and stage they belong to."""
    phase = f"model {member + 1}/{n_members}: {STAGE_NAMES[stage]}"
    return relay(events, offset=offset, total=total, phase=phase, event_type=LADPEvent, member=member, n_members=n_members, stage=stage)


def _preview(case_image: np.ndarray | None, brain: np.ndarray | None, threshold: float):
    if case_image is None:
        return None
    normalized = normalize_case(case_image, brain)

    def preview(net: UNet) -> np.ndarray:
        return ((predict_probability(net, normalized, tta=False) > threshold) & brain).astype(np.uint8)

    return preview


def train_ensemble(
    train_cases: list[LesionCase],
    *,
    val_cases: list[LesionCase] | None = None,
    pretraining: PretrainingMode = "ladp",
    pretrain_config: PretrainConfig | None = None,
    finetune_config: FinetuneConfig | None = None,
    n_models: int = 8,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
    preview_case: LesionCase | None = None,
    preview_every: int = 0,
    pretrained: str | Path | None = None,
) -> Iterator[LADPEvent]:
    """Train ``n_models`` segmenters with different seeds and yield their training events.

    Parameters
    ----------
    train_cases : list of LesionCase
        Annotated training cases (LADP pretrains on these same cases: it needs labels).
    val_cases : list of LesionCase, optional
        Validation cases for the best-epoch choice; without them 10 % of the training
        slices are held out.
    pretraining : {"ladp", "ddp", "none"}
        Self-pretraining before finetuning; ``pretrain_config.decoder_only`` freezes
        the encoder during it.
    n_models : int
        Ensemble size (the paper: 8), members seeded ``seed, seed + 1, ...``.
    out_dir : path, optional
        Ensemble folder: ``member_00/`` ... each a segmenter model folder with its
        pretraining in ``member_XX/pretrained/``; ``config.json`` lists the members.
        Stopping early writes an ensemble of the members finished so far (or, stopped
        during the first member, of that member as trained so far).
    preview_case : LesionCase, optional
        Segmented after every finetuning epoch (or every ``preview_every`` steps) for
        ``"preview"`` events (uint8 mask ``(Z, Y, X)``).
    pretrained : path, optional
        A folder written by :func:`pretrain`: every member starts from it instead of
        being pretrained itself (``pretraining`` is then taken from that folder).
    """
    if pretraining not in PRETRAINING_MODES:
        raise ValueError(f"pretraining must be one of {PRETRAINING_MODES}, got {pretraining!r}")
    if n_models < 1:
        raise ValueError(f"the ensemble needs at least one model, got n_models={n_models}")
    if not train_cases:
        raise ValueError("no training cases given: LADP needs annotated volumes")
    pretrained_net = None
    if pretrained is not None:
        pretrained_net, pretrain_config = load_pretrained(pretrained)
        pretraining = pretrain_config.mode
    pretrain_config = pretrain_config or PretrainConfig()
    if pretraining != "none":
        pretrain_config = replace(pretrain_config, mode=pretraining)
    finetune_config = finetune_config or FinetuneConfig()
    torch_device = choose_device(device)
    channels = train_cases[0].channels
    # With pretraining the pretrained architecture is kept; without, finetune_config's.
    arch = pretrain_config if pretraining != "none" else finetune_config
    spec = UNetSpec(ndim=2, in_channels=channels, out_channels=channels, depth=arch.depth, n_filters=arch.n_filters)
    if pretrained_net is not None:
        spec = pretrained_net.spec
        if spec.in_channels != channels:
            raise ValueError(f"the pretrained network takes {spec.in_channels} channels, the cases have {channels}")
    train, val = _slice_sets(train_cases, val_cases, spec.divisor, seed)
    pre_schedule = _schedule(pretrain_config, len(train)) if pretraining != "none" and pretrained_net is None else None
    ft_schedule = _schedule(finetune_config, len(train))
    per_member = (pre_schedule.total_steps if pre_schedule else 0) + ft_schedule.total_steps
    total = per_member * n_models
    preview = None
    if preview_case is not None:
        preview = _preview(preview_case.image, preview_case.brain, finetune_config.threshold)
    out_dir = Path(out_dir) if out_dir is not None else None
    finished: list[str] = []
    pretraining_record = {"mode": pretraining, **({"config": pretrain_config.to_dict()} if pretraining != "none" else {})}
    if pretrained is not None:
        pretraining_record["from"] = str(pretrained)
    try:
        for member in range(n_models):
            member_seed = seed + member
            torch.manual_seed(member_seed)
            net = UNet(spec).to(torch_device)
            if pretrained_net is not None:
                net.load_state_dict(pretrained_net.state_dict())
            offset = member * per_member
            member_dir = out_dir / f"member_{member:02d}" if out_dir is not None else None
            if pre_schedule is not None:
                task = PretrainTask(net, replace(pretrain_config, seed=member_seed), train, val, member_seed)
                folder = member_dir / "pretrained" if member_dir is not None else None
                yield from _relay(run_training(task, pre_schedule, out_dir=folder), offset, total, member, n_models, "pretrain")
                offset += pre_schedule.total_steps
            # Finetuning starts from the weights after the last pretraining epoch, new head.
            net.replace_head(1)
            task = FinetuneTask(net, replace(finetune_config, seed=member_seed), train, val, member_seed, pretraining_record, preview)
            events = run_training(task, ft_schedule, out_dir=member_dir, preview_every=preview_every)
            yield from _relay(events, offset, total, member, n_models, "finetune")
            finished.append(f"member_{member:02d}")
        yield LADPEvent("done", total, total, finetune_config.epochs, path=out_dir, member=n_models - 1, n_members=n_models)
    finally:
        if out_dir is not None:
            # Stopped during the first member: keep its weights so far (saved by the loop)
            # rather than leaving no usable model at all.
            started = [d.name for d in sorted(out_dir.glob("member_*")) if (d / "config.json").is_file()]
            members = finished or started[:1]
            if members:
                write_ensemble_folder(out_dir, members, {"pretraining": pretraining_record, "n_models_planned": n_models})
