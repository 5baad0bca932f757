"""Entry points of CT denoise-pretraining: the pretext on unlabelled volumes, then Dice finetuning.

Gao et al. (2021), Algorithm 1: the segmentation network first learns to restore
corrupted unlabelled slices (the pretext), then the same network, all weights kept, is
finetuned with Dice loss on the few labelled slices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..io.model_folder import ModelFolderError, load_into, read_model_config
from ..nets.backbones import Backbone, BackboneSpec, build_backbone
from ..training import TrainingEvent, choose_device, run_training
from .config import CTPretrainConfig
from .data import annotated_index, as_hu_array, label_slices, network_slices, split_slices
from .losses import PerceptualLoss, total_variation
from .model import CTLesionModel
from .tasks import PretextTask, SegmentationTask
from .vgg import load_vgg19_features

# Settings that fix the network and its input; a finetuned model takes them from its pretext model.
ARCHITECTURE_FIELDS = ("backbone", "depth", "n_filters", "encoder", "image_size", "window_level", "window_width")


def pretext_loss(config: CTPretrainConfig, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``perceptual + tv_weight * TV`` (Eq. 2) or plain MSE, by ``config.pretext_loss``.

    Loading the VGG-19 weights happens here, before any training, so a missing weights
    file stops the run at once with :class:`~denoise2seg.ct.vgg.VGGWeightsUnavailable`.
    """
    if config.pretext_loss == "mse":
        return lambda output, clean: torch.nn.functional.mse_loss(output.float(), clean.float())
    features = load_vgg19_features(config.vgg_weights, config.vgg_layer, download=config.vgg_download)
    perceptual = PerceptualLoss(features).to(device)
    return lambda output, clean: perceptual(output, clean) + config.tv_weight * total_variation(output)


def _seed(config: CTPretrainConfig) -> int:
    return config.seed if config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)


def _volumes(volumes, name: str) -> list[np.ndarray]:
    if not isinstance(volumes, (list, tuple)):
        volumes = [volumes]
    if not volumes:
        raise ValueError(f"no {name} given: pass at least one CT volume")
    return [as_hu_array(v, name=f"{name} {i}") for i, v in enumerate(volumes)]


def pretrain_ct(
    volumes,
    config: CTPretrainConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
) -> Iterator[TrainingEvent]:
    """Train the pretext (``config.pretext`` "denoise" or "reconstruct") on unlabelled volumes.

    Parameters
    ----------
    volumes : CTVolume, array or list of them
        Unlabelled CT volumes ``(Z, Y, X)`` (or single slices) in HU; sizes may differ.
    config : CTPretrainConfig
        Settings (paper defaults when omitted).
    out_dir : path, optional
        Model folder (kind ``"ct_pretext"``) to pass to :func:`finetune_ct` as ``pretrained``.

    Yields the training events of :func:`denoise2seg.training.run_training`.
    """
    config = config or CTPretrainConfig()
    if config.pretext == "none":
        raise ValueError("pretext is 'none' (fully supervised): there is nothing to pretrain; call finetune_ct directly")
    slices = np.concatenate([network_slices(v, config) for v in _volumes(volumes, "volume")])
    seed = _seed(config)
    torch.manual_seed(seed)
    torch_device = choose_device(device)
    loss = pretext_loss(config, torch_device)
    train_index, val_index = split_slices(len(slices), config.validation_fraction, seed)
    tensor = torch.as_tensor(slices[:, None], device=torch_device)
    net = build_backbone(config.backbone_spec()).to(torch_device)
    task = PretextTask(net, config, tensor[train_index], tensor[val_index], loss, seed)
    yield from run_training(task, config.pretext_schedule(len(train_index)), out_dir=out_dir)


def _adopt_pretrained(config: CTPretrainConfig, pretrained: str | Path) -> tuple[CTPretrainConfig, dict]:
    record = read_model_config(pretrained, kind="ct_pretext")
    try:
        source = CTPretrainConfig.from_dict(record["config"])
        BackboneSpec.from_dict(record["network"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFolderError(f"the config.json of {pretrained} is incomplete or invalid ({err})") from err
    values = config.to_dict()
    values.update({name: getattr(source, name) for name in ARCHITECTURE_FIELDS})
    values["pretext"] = source.pretext
    values["pretext_loss"] = source.pretext_loss
    return CTPretrainConfig.from_dict(values), record


def finetune_ct(
    volumes,
    labels,
    config: CTPretrainConfig | None = None,
    *,
    annotated_slices: Sequence[Sequence[int] | None] | None = None,
    pretrained: str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_volume=None,
    preview_every: int = 0,
) -> Iterator[TrainingEvent]:
    """Train lesion segmentation with Dice loss on labelled slices, from a pretext model or from scratch.

    Parameters
    ----------
    volumes, labels : lists of arrays ``(Z, Y, X)``
        HU volumes (or :class:`CTVolume`) and their lesion labels (any value > 0 is lesion).
    annotated_slices : list of index lists, optional
        Per volume, the z indices whose labels are annotations (``None`` for a volume: all
        its slices). Unannotated slices are not used.
    pretrained : path, optional
        A ``"ct_pretext"`` model folder from :func:`pretrain_ct`. Its network, image size
        and window are kept (the config's are replaced) and all its weights initialise the
        network; without it the network starts from scratch (fully supervised).
    preview_volume : array, optional
        A HU volume segmented (probabilities) for ``"preview"`` events.

    Writes a ``"ct_lesion_segmentation"`` model folder loadable by :class:`CTLesionModel`.
    """
    config = config or CTPretrainConfig()
    record = None
    if pretrained is not None:
        config, record = _adopt_pretrained(config, pretrained)
    elif config.pretext != "none":
        config = CTPretrainConfig.from_dict({**config.to_dict(), "pretext": "none"})
    hu_volumes = _volumes(volumes, "volume")
    if not isinstance(labels, (list, tuple)):
        labels = [labels]
    if len(labels) != len(hu_volumes):
        raise ValueError(f"got {len(hu_volumes)} volumes but {len(labels)} label volumes")
    if annotated_slices is None:
        annotated_slices = [None] * len(hu_volumes)
    if len(annotated_slices) != len(hu_volumes):
        raise ValueError(f"annotated_slices must hold one entry per volume ({len(hu_volumes)}), got {len(annotated_slices)}")
    images, masks = [], []
    for i, (hu, label, keep) in enumerate(zip(hu_volumes, labels, annotated_slices)):
        image_slices = network_slices(hu, config)
        mask_slices = label_slices(label, hu.shape, config, name=f"labels {i}")
        index = annotated_index(keep, len(hu), name=f"volume {i}")
        images.append(image_slices[index])
        masks.append(mask_slices[index])
    images, masks = np.concatenate(images), np.concatenate(masks)
    if len(images) == 0:
        raise ValueError("no annotated slices: label at least one slice of one volume")
    seed = _seed(config)
    torch.manual_seed(seed)
    torch_device = choose_device(device)
    net = build_backbone(config.backbone_spec()).to(torch_device)
    if record is not None:
        load_into(net, pretrained)
    train_index, val_index = split_slices(len(images), config.validation_fraction, seed)
    image_tensor = torch.as_tensor(images[:, None], device=torch_device)
    mask_tensor = torch.as_tensor(masks[:, None], device=torch_device)
    preview = None
    if preview_volume is not None:
        preview_hu = as_hu_array(preview_volume, name="preview volume")

        def preview(model: Backbone) -> np.ndarray:
            return CTLesionModel(model, config).predict_proba(preview_hu)

    task = SegmentationTask(
        net,
        config,
        image_tensor[train_index],
        mask_tensor[train_index],
        image_tensor[val_index],
        mask_tensor[val_index],
        seed,
        preview=preview,
        pretrained_from=str(pretrained) if pretrained is not None else None,
    )
    yield from run_training(task, config.finetune_schedule(len(train_index)), out_dir=out_dir, preview_every=preview_every)
