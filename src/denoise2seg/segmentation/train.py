"""Segmentation training entry point: check the input, apply the scheme, run the loop, choose thresholds."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..data.normalization import PercentileNormalizer
from ..io.model_folder import WEIGHT_FILES, load_into, save_model_folder
from ..n2v import N2VModel
from ..training import TrainingEvent, choose_device, run_training
from ..training.state import TrainingState, continue_into, continued_config, load_training_state
from ..validation import check_image, check_training_images
from .annotations import AnnotatedFrame, collect_annotated_frames, frames_of, split_frames
from .config import SegmentationConfig
from .model import N2V_SUBFOLDER, SegmentationModel, store_n2v
from .networks import build_network, init_from_n2v
from .postprocess_process import tune_stardist_thresholds
from .star_convex import stardist_targets
from .task import SegmentationTask
from .thresholds import optimise_unet_threshold
from .three_class import three_class_targets


def _targets(frame: AnnotatedFrame, config: SegmentationConfig) -> np.ndarray:
    if config.method == "unet":
        return three_class_targets(frame.labels, frame.valid, config.border)[None]
    return stardist_targets(frame.labels, config.n_rays, frame.valid, config.anisotropy)


def _network_inputs(model: SegmentationModel, frames: list[AnnotatedFrame]) -> list[np.ndarray]:
    """Inputs ``(C, *crop)`` of the annotated crops; denoising sees the whole frame (no artefacts at crop edges)."""
    return [model.network_input(frame.frame)[(Ellipsis, *frame.crop)].astype(np.float32) for frame in frames]


def _check_n2v_given(config: SegmentationConfig, n2v_model) -> None:
    """``ValueError`` when the scheme of ``config`` needs an N2V model and none is given."""
    if config.uses_n2v and n2v_model is None:
        raise ValueError(
            f"scheme {config.scheme!r} needs a trained N2V model: pass n2v_model (an N2VModel or its model folder), "
            "or use scheme 'baseline'"
        )


def _resolve_n2v(config: SegmentationConfig, n2v_model, device: torch.device) -> tuple[N2VModel | None, Path | None]:
    if not config.uses_n2v:
        return None, None
    if isinstance(n2v_model, N2VModel):
        n2v_model.net.to(device)
        return n2v_model, None
    return N2VModel.load(n2v_model, device=device), Path(n2v_model)


def train_segmentation(
    images,
    labels,
    config: SegmentationConfig | None = None,
    *,
    n2v_model: N2VModel | str | Path | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_image: np.ndarray | None = None,
    preview_every: int = 0,
    validation: tuple | None = None,
    resume: str | Path | None = None,
    more_epochs: int | None = None,
) -> Iterator[TrainingEvent]:
    """Train a VoidSeg segmentation model and yield training events.

    Parameters
    ----------
    images : array or list of arrays
        2D images or stacks of 2D frames ``(T, Y, X)``, in raw units; for
        ``config.ndim == 3``, volumes ``(Z, Y, X)`` or stacks of them ``(T, Z, Y, X)``;
        with ``config.channels`` > 1 a channel axis before the spatial ones (``CYX``,
        ``TCYX``...).
    labels : array or list of arrays
        Instance masks of the images' spatial shapes (0 = background; ``None`` for an
        unannotated image). A frame without objects is unannotated; inside an annotated
        frame only the bounding box of its objects grown by ``config.annotation_margin``
        counts.
    config : SegmentationConfig
        Method, scheme and training settings (paper defaults when omitted).
    n2v_model : N2VModel or path, optional
        The trained N2V model; required by every scheme except ``"baseline"``. Its
        normalisation is used, and a copy of it is stored in ``out_dir/n2v``.
    out_dir : path, optional
        Model folder to write; a new temporary folder when omitted. The final
        ``"done"`` event carries its path.
    device : str
        ``"auto"``, ``"cuda"``, ``"mps"`` or ``"cpu"``.
    preview_image : 2D (3D) array, optional
        Segmented for ``"preview"`` events (int32 instance labels).
    validation : (images, labels), optional
        Separate annotated data for the validation loss and the threshold choice;
        otherwise part of the annotated frames is held out (see
        :class:`SegmentationConfig`).
    resume : path, optional
        Segmentation model folder of an earlier run (stopped or finished) to continue,
        for instance on labels corrected since: its settings, normalisation, N2V model and
        last weights are used, and its step count, optimiser state, learning rate and
        random streams go on (see :mod:`denoise2seg.training.state`). ``config`` may then
        only change ``epochs``, the total counted from the first run's start (``None``
        continues to the planned end), and ``n2v_model`` is not needed. ``out_dir``
        defaults to ``resume`` (continued in place); another folder gets a copy of its
        best model first and ``resume`` stays unchanged.

    After the last epoch, and also when the generator is closed early (Stop) or Ctrl-C interrupts it, the
    best weights are reloaded and the post-processing thresholds that maximise AP on
    the validation frames are stored in the folder (StarDist's in a worker process,
    see :mod:`.postprocess_process`).
    Bad input (mismatched shapes, no annotated frame, a finetune scheme with StarDist,
    a missing N2V model) raises ``ValueError`` before anything trains.
    """
    previous = state = None
    if resume is not None:
        previous = SegmentationModel.load(resume, device=device, which="last")
        state = load_training_state(resume)
        config = continued_config(previous.config, state, config, more_epochs=more_epochs, folder=resume)
        n2v_model = Path(resume) / N2V_SUBFOLDER if config.uses_n2v else None
    config = (config or SegmentationConfig()).with_seed()
    check_training_images(images, ndim=(config.frame_ndim, config.frame_ndim + 1))
    _check_n2v_given(config, n2v_model)
    frames = collect_annotated_frames(
        images, labels, margin=config.annotation_margin, patch_shape=config.patch_shape, channels=config.channels
    )
    if validation is not None:
        val_frames = collect_annotated_frames(
            *validation, margin=config.annotation_margin, patch_shape=(1,) * config.ndim, channels=config.channels
        )
        train_frames = frames
    else:
        train_frames, val_frames = split_frames(frames, config.validation_fraction, config.min_frames_for_split, config.seed)
    continuation = _Continuation(previous, state, Path(resume)) if resume is not None else None
    yield from train_on_frames(
        train_frames, val_frames, config, n2v_model=n2v_model, normalizer_frames=[frame for frame, _ in frames_of(images, config.frame_ndim)],
        out_dir=out_dir, device=device, preview_image=preview_image, preview_every=preview_every, continuation=continuation,
    )


@dataclass
class _Continuation:
    """The run a training continues: its model (last weights), training state and folder."""

    model: SegmentationModel
    state: TrainingState
    folder: Path


def train_on_frames(
    train_frames: list[AnnotatedFrame],
    val_frames: list[AnnotatedFrame],
    config: SegmentationConfig,
    *,
    n2v_model: N2VModel | str | Path | None = None,
    normalizer_frames: list[np.ndarray] | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    preview_image: np.ndarray | None = None,
    preview_every: int = 0,
    continuation: _Continuation | None = None,
) -> Iterator[TrainingEvent]:
    """Train on annotated frames already split into training and validation (:func:`train_segmentation`'s second half).

    The scheme comparison (:mod:`.compare`) calls it with the frames of its folds.
    ``normalizer_frames`` are the 2D frames the baseline's percentile normalisation is
    fitted to (default: the training frames' whole frames); the other parameters are
    those of :func:`train_segmentation`, and the thresholds are tuned on ``val_frames``.
    """
    _check_n2v_given(config, n2v_model)
    config = config.with_seed()
    previous = continuation.model if continuation is not None else None
    if normalizer_frames is None:
        normalizer_frames = [f.frame for f in train_frames]
    if preview_image is not None:
        preview_image = check_image(preview_image, ndim=config.frame_ndim, name="preview image")
    torch_device = choose_device(device)
    n2v, n2v_source = _resolve_n2v(config, n2v_model, torch_device)
    if n2v is not None and n2v.channels != config.channels:
        raise ValueError(
            f"the N2V model was trained on {n2v.channels} channel{'s' if n2v.channels > 1 else ''} but the images have "
            f"{config.channels}; use an N2V model trained on images of the same channels"
        )
    if previous is not None:
        normalizer = previous.normalizer
    elif n2v is not None:
        normalizer = n2v.normalizer
    else:
        normalizer = PercentileNormalizer.fit(
            normalizer_frames, config.percentile_low, config.percentile_high, per_channel=config.channels > 1
        )
    if config.seed is not None:
        torch.manual_seed(config.seed)
    if previous is not None:
        net = previous.net.train()
    else:
        net = build_network(config)
        if config.finetunes:
            init_from_n2v(net, n2v.net)
        net.to(torch_device)
    model = SegmentationModel(net, config, normalizer, n2v=n2v if config.denoises_input else None)
    if continuation is not None:
        out_dir = continue_into(continuation.folder, out_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="denoise2seg-segmentation-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if n2v is not None:
        store_n2v(n2v, n2v_source, out_dir)

    val_inputs = _network_inputs(model, val_frames)
    task = SegmentationTask(
        model,
        _network_inputs(model, train_frames),
        [_targets(f, config) for f in train_frames],
        val_inputs,
        [_targets(f, config) for f in val_frames],
        preview_input=model.network_input(preview_image) if preview_image is not None else None,
    )
    events = run_training(task, config.schedule(), out_dir=out_dir, preview_every=preview_every, resume=continuation.state if continuation is not None else None)
    tuned = False
    try:
        for event in events:
            if event.kind == "done":
                _tune_thresholds(model, out_dir, val_inputs, val_frames)
                tuned = True
            yield event
    except (GeneratorExit, KeyboardInterrupt):
        # Stop or Ctrl-C: the loop's own close writes the weights trained so far; the kept (best)
        # model then gets thresholds too, since the defaults may segment nothing for a young network.
        events.close()
        if not tuned and (out_dir / WEIGHT_FILES["best"]).is_file():
            _tune_thresholds(model, out_dir, val_inputs, val_frames)
        raise


def _tune_thresholds(model: SegmentationModel, out_dir: Path, val_inputs: list[np.ndarray], val_frames: list[AnnotatedFrame]) -> None:
    """Load the best weights of ``out_dir``, choose the thresholds maximising validation AP, save both."""
    load_into(model.net, out_dir, "best")
    outputs = [model.raw_output(x) for x in val_inputs]
    labels_val = [f.labels for f in val_frames]
    valid_val = [f.valid for f in val_frames]
    if model.config.method == "unet":
        model.thresholds = optimise_unet_threshold(outputs, labels_val, valid_val, model.config.border)
    else:
        model.thresholds = tune_stardist_thresholds(outputs, labels_val, valid_val, model.config.anisotropy)
    save_model_folder(out_dir, model.record(), model.net.state_dict(), which="best")
