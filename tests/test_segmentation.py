"""VoidSeg segmentation: every scheme x method trains and predicts; a stopped run keeps tuned
thresholds; finetune starts from N2V; sequential feeds denoised images; few-label regions;
clear errors on bad input."""

import json

import numpy as np
import pytest
import torch

from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.metrics import average_precision
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation
from denoise2seg.segmentation import train as train_module
from denoise2seg.segmentation.annotations import collect_annotated_frames
from denoise2seg.segmentation.star_convex import instances_from_stardist
from denoise2seg.segmentation.thresholds import optimise_stardist_thresholds, optimise_unet_threshold
from denoise2seg.segmentation.three_class import (
    BORDER,
    FOREGROUND,
    IGNORE,
    instances_from_probabilities,
    three_class_targets,
    weighted_cross_entropy,
)

TINY = dict(patch_size=32, batch_size=2, epochs=1, steps_per_epoch=2, depth=1, n_filters=4, stardist_features=8, seed=0)


@pytest.fixture(scope="module")
def data():
    triples = [synthetic_nuclei((64, 64), n_objects=6, noise_sigma=20, seed=s) for s in range(3)]
    return [t[0] for t in triples], [t[2] for t in triples]


@pytest.fixture(scope="module")
def n2v_folder(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("n2v")
    config = N2VConfig(patch_size=32, batch_size=2, epochs=1, steps_per_epoch=2, depth=1, n_filters=4, seed=0)
    for _ in train_n2v(data[0], config, out_dir=folder, device="cpu"):
        pass
    return folder


def _spy_on_training(monkeypatch):
    """Record the task handed to the training loop and the weights its model starts with."""
    seen = {}
    real = train_module.run_training

    def spy(task, schedule, **kwargs):
        seen["task"] = task
        seen["initial"] = {k: v.detach().clone() for k, v in task.model.state_dict().items()}
        yield from real(task, schedule, **kwargs)

    monkeypatch.setattr(train_module, "run_training", spy)
    return seen


@pytest.mark.parametrize(
    "method, scheme",
    [
        ("unet", "baseline"),
        ("unet", "sequential"),
        ("unet", "finetune"),
        ("unet", "finetune-sequential"),
        ("stardist", "baseline"),
        ("stardist", "sequential"),
    ],
)
def test_every_scheme_trains_and_predicts(tmp_path, data, n2v_folder, method, scheme):
    images, labels = data
    config = SegmentationConfig(method=method, scheme=scheme, **TINY)
    events = list(
        train_segmentation(
            images, labels, config, n2v_model=n2v_folder, out_dir=tmp_path / "model", device="cpu", preview_image=images[0]
        )
    )
    assert events[-1].kind == "done" and events[-1].path == tmp_path / "model"
    previews = [e.preview for e in events if e.kind == "preview"]
    assert previews and previews[0].dtype == np.int32 and previews[0].shape == (64, 64)
    record = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (record["method"], record["scheme"]) == (method, scheme)
    assert 0 < record["thresholds"]["prob_thresh"] < 1
    assert (tmp_path / "model" / "n2v" / "config.json").is_file() == (scheme != "baseline")
    model = SegmentationModel.load(tmp_path / "model", device="cpu")
    single = model.predict(images[1])
    assert single.shape == (64, 64) and single.dtype == np.int32
    stack = model.predict(np.stack(images[:2]))
    assert stack.shape == (2, 64, 64)
    assert np.array_equal(stack[1], single)


@pytest.mark.parametrize("method", ["stardist", "unet"])
def test_stopped_training_keeps_thresholds_tuned_on_the_validation_data(tmp_path, data, method):
    """Stop (closing the generator) mid-way through epoch 2 of 50: the kept model is epoch 1's,
    with the thresholds the tuner picks for it on the validation data, and it segments."""
    images, labels = data
    config = SegmentationConfig(method=method, **{**TINY, "epochs": 50, "steps_per_epoch": 4, "learning_rate": 3e-3})
    folder = tmp_path / "model"
    events = train_segmentation(images[:2], labels[:2], config, out_dir=folder, device="cpu", validation=(images[2:], labels[2:]))
    steps = 0
    for event in events:
        steps += event.kind == "step"
        if steps == 6:
            break
    events.close()

    model = SegmentationModel.load(folder, device="cpu")
    val_frames = collect_annotated_frames(images[2:], labels[2:], margin=config.annotation_margin, patch_shape=(1, 1))
    outputs = [model.raw_output(model.network_input(f.frame)[(Ellipsis, *f.crop)].astype(np.float32)) for f in val_frames]
    truth = ([f.labels for f in val_frames], [f.valid for f in val_frames])
    if method == "stardist":
        tuned = optimise_stardist_thresholds(outputs, *truth)
        tuned_labels = instances_from_stardist(outputs[0][0], outputs[0][1:], tuned["prob_thresh"], tuned["nms_thresh"])
    else:
        tuned = optimise_unet_threshold(outputs, *truth)
        tuned_labels = instances_from_probabilities(outputs[0], tuned["prob_thresh"])
    assert model.thresholds == tuned
    assert tuned_labels.any()
    assert model.predict(images[2]).any()


def test_finetune_starts_from_n2v_weights(monkeypatch, tmp_path, data, n2v_folder):
    images, labels = data
    n2v_state = N2VModel.load(n2v_folder, device="cpu").net.state_dict()
    seen = _spy_on_training(monkeypatch)
    for scheme in ("finetune", "baseline"):
        config = SegmentationConfig(method="unet", scheme=scheme, **TINY)
        for _ in train_segmentation(images, labels, config, n2v_model=n2v_folder, out_dir=tmp_path / scheme, device="cpu"):
            pass
        start = seen["initial"]
        same_body = torch.equal(start["encoder.0.0.weight"], n2v_state["encoder.0.0.weight"])
        same_decoder = torch.equal(start["decoder.0.3.weight"], n2v_state["decoder.0.3.weight"])
        same_head = torch.equal(start["head.weight"][3], n2v_state["head.weight"][0])
        assert same_body == same_decoder == same_head == (scheme == "finetune")


def test_sequential_feeds_denoised_images(monkeypatch, tmp_path, n2v_folder):
    noisy, _, labels = synthetic_nuclei((32, 32), n_objects=2, noise_sigma=30, seed=7)
    n2v = N2VModel.load(n2v_folder, device="cpu")
    denoised = n2v.normalizer.normalize(n2v.predict(noisy))
    raw = n2v.normalizer.normalize(noisy)
    assert not np.allclose(denoised, raw, atol=1e-2)
    seen = _spy_on_training(monkeypatch)
    inputs = []
    # Patch = image and no augmentation: every training patch is the whole network input.
    config = SegmentationConfig(method="unet", scheme="sequential", augment=False, **TINY)
    events = train_segmentation([noisy], [labels], config, n2v_model=n2v_folder, out_dir=tmp_path / "m", device="cpu")
    next(events)
    hook = seen["task"].model.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    for _ in events:
        pass
    hook.remove()
    training_batch = inputs[0]
    assert np.allclose(training_batch[0, 0].numpy(), denoised, atol=1e-5)
    model = SegmentationModel.load(tmp_path / "m", device="cpu")
    inputs.clear()
    model.net.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))
    model.predict(noisy)
    assert np.allclose(inputs[0][0, 0].numpy(), denoised, atol=1e-5)


def test_three_class_targets_and_touching_nuclei_are_split():
    labels = np.zeros((12, 16), dtype=np.int32)
    labels[2:10, 2:8] = 1
    labels[2:10, 8:14] = 2  # touches object 1 along a column
    classes = three_class_targets(labels)
    assert classes[5, 7] == BORDER and classes[5, 8] == BORDER
    assert classes[5, 4] == FOREGROUND and classes[0, 0] == 0
    probabilities = np.stack([classes == k for k in range(3)]).astype(np.float32)
    instances = instances_from_probabilities(probabilities, threshold=0.5)
    assert instances.max() == 2
    assert average_precision(labels, instances) == 1.0


def test_outer_borders_as_voidseg_reference_code():
    """VoidSeg's code: the border is the ring just outside each object; instances are connected components."""
    labels = np.zeros((12, 16), dtype=np.int32)
    labels[2:10, 2:8] = 1
    labels[2:10, 8:14] = 2
    classes = three_class_targets(labels, border="outer")
    assert classes[1, 4] == BORDER and classes[5, 1] == BORDER  # background pixels around object 1
    assert classes[5, 4] == FOREGROUND and classes[5, 2] == FOREGROUND  # its own edge stays foreground
    probabilities = np.stack([classes == k for k in range(3)]).astype(np.float32)
    instances = instances_from_probabilities(probabilities, threshold=0.5, border="outer")
    assert instances.max() == 2
    # no regrowing: each instance is the object less what the neighbour's border took
    assert average_precision(labels, instances) == 1.0 and (instances > 0).sum() < (labels > 0).sum()
    with pytest.raises(ValueError, match="border"):
        three_class_targets(labels, border="thick")


def test_a_unet_trained_with_outer_borders_keeps_them(tmp_path, data):
    images, labels = data
    config = SegmentationConfig(border="outer", patch_size=32, batch_size=4, epochs=1, steps_per_epoch=3, depth=1, n_filters=8, seed=0)
    list(train_segmentation(images[:2], labels[:2], config, out_dir=tmp_path / "m", device="cpu"))
    model = SegmentationModel.load(tmp_path / "m", device="cpu")
    assert model.config.border == "outer"
    output = model.raw_output(model.network_input(images[0]).astype(np.float32))
    expected = instances_from_probabilities(output, model.thresholds["prob_thresh"], border="outer")
    np.testing.assert_array_equal(model.instances(output), expected)


def test_few_labels_region_and_ignored_pixels():
    image = np.random.default_rng(0).normal(size=(2, 96, 96)).astype(np.float32)
    mask = np.zeros((2, 96, 96), dtype=np.int32)
    mask[1, 70:76, 80:86] = 1  # frame 0 unannotated; frame 1 has one object near a corner
    frames = collect_annotated_frames([image], [mask], margin=4, patch_shape=(32, 32))
    assert len(frames) == 1 and frames[0].source == (0, 1)
    frame = frames[0]
    assert frame.image.shape == (32, 32)
    rows, cols = np.nonzero(frame.valid)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (14, 14)
    classes = torch.as_tensor(three_class_targets(frame.labels, frame.valid))[None]
    assert (classes == IGNORE).sum() == 32 * 32 - 14 * 14
    logits = torch.randn(1, 3, 32, 32)
    changed = torch.where(classes[:, None] == IGNORE, torch.randn_like(logits) * 10, logits)
    assert weighted_cross_entropy(changed, classes, 5.0) == pytest.approx(float(weighted_cross_entropy(logits, classes, 5.0)))


def test_border_weight_counts_five_times():
    classes = torch.tensor([[[FOREGROUND, BORDER]]])
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, FOREGROUND, 0, 0] = 2.0  # right on the foreground pixel, wrong on the border pixel
    per_pixel = torch.nn.functional.cross_entropy(logits, classes, reduction="none")[0, 0]
    expected = (per_pixel[0] + 5 * per_pixel[1]) / 6
    assert weighted_cross_entropy(logits, classes, 5.0) == pytest.approx(float(expected))


def test_bad_inputs_raise_clear_errors(tmp_path, data, n2v_folder):
    images, labels = data
    config = SegmentationConfig(**TINY)
    with pytest.raises(ValueError, match="shape"):
        next(train_segmentation(images[:1], [labels[0][:32]], config, device="cpu"))
    with pytest.raises(ValueError, match="no annotated frame"):
        next(train_segmentation(images, [np.zeros_like(m) for m in labels], config, device="cpu"))
    with pytest.raises(ValueError, match="3 images but 2 label masks"):
        next(train_segmentation(images, labels[:2], config, device="cpu"))
    with pytest.raises(ValueError, match="StarDist"):
        SegmentationConfig(method="stardist", scheme="finetune")
    with pytest.raises(ValueError, match="needs a trained N2V model"):
        next(train_segmentation(images, labels, SegmentationConfig(scheme="sequential", **TINY), device="cpu"))
    with pytest.raises(ValueError, match="architecture"):
        wide = SegmentationConfig(scheme="finetune", **{**TINY, "n_filters": 8})
        next(train_segmentation(images, labels, wide, n2v_model=n2v_folder, device="cpu"))
    with pytest.raises(ValueError, match="smaller than the patch"):
        next(train_segmentation(images, labels, SegmentationConfig(**{**TINY, "patch_size": 128}), device="cpu"))


def test_a_blank_frame_gets_no_objects_whatever_the_network_outputs(monkeypatch, tmp_path, data):
    images, labels = data
    list(train_segmentation(images, labels, SegmentationConfig(method="unet", **TINY), out_dir=tmp_path / "m", device="cpu"))
    model = SegmentationModel.load(tmp_path / "m", device="cpu")
    everything_foreground = np.zeros((4, 64, 64), np.float32)
    everything_foreground[FOREGROUND] = 1
    monkeypatch.setattr(model, "raw_output", lambda *args, **kwargs: everything_foreground)
    assert model.predict(images[0]).max() > 0, "the stubbed network should make objects of a real frame"
    stack = model.predict(np.stack([images[0], np.zeros((64, 64), np.float32)]))
    assert stack[0].max() > 0 and not stack[1].any()


def test_ctrl_c_during_training_still_tunes_the_kept_models_thresholds(tmp_path, nuclei_crop, monkeypatch):
    import json

    from denoise2seg.segmentation.task import SegmentationTask

    noisy, _, mask = nuclei_crop
    real_loss = SegmentationTask.training_loss
    calls = []

    def interrupted_at_the_fifth_step(self):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_loss(self)

    monkeypatch.setattr(SegmentationTask, "training_loss", interrupted_at_the_fifth_step)
    config = SegmentationConfig(patch_size=32, batch_size=2, epochs=3, steps_per_epoch=3, depth=1, n_filters=4, seed=0)
    with pytest.raises(KeyboardInterrupt):
        for _ in train_segmentation([noisy], [mask], config, out_dir=tmp_path, device="cpu"):
            pass
    thresholds = json.loads((tmp_path / "config.json").read_text())["thresholds"]
    assert "val_ap" in thresholds, f"the thresholds were not tuned: {thresholds}"
