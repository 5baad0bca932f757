"""LADP pretraining modes, finetuning, flip TTA, ensembles and their model folders."""

import numpy as np
import pytest
import torch

from denoise2seg.io.model_folder import ModelFolderError
from denoise2seg.lesion.cases import LesionCase
from denoise2seg.lesion.config import FinetuneConfig, PretrainConfig
from denoise2seg.lesion.flips import flip_tta, majority_vote
from denoise2seg.lesion.model import LesionEnsemble, predict_probability
from denoise2seg.lesion.slices import SliceSet
from denoise2seg.lesion.tasks import FinetuneTask, PretrainTask
from denoise2seg.lesion.train import train_ensemble
from denoise2seg.nets import UNet, UNetSpec
from denoise2seg.training import Schedule, run_training


def blob_case(seed: int, shape=(6, 32, 32)) -> LesionCase:
    """Two channels, a bright disc lesion in a noisy 'brain' ellipse."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    brain = ((y - 16) / 14.0) ** 2 + ((x - 16) / 12.0) ** 2 < 1
    cy, cx = rng.integers(10, 22, 2)
    labels = ((y - cy) ** 2 + (x - cx) ** 2 < rng.integers(4, 16)) & brain
    image = np.stack([1.0 + 0.1 * rng.standard_normal(shape), 1.0 + labels + 0.1 * rng.standard_normal(shape)])
    return LesionCase(np.where(brain, image, 0).astype(np.float32), labels, brain, (2.0, 2.0, 2.0), f"blob-{seed}")


def tiny_slices(n_cases=2) -> SliceSet:
    return SliceSet.from_cases([blob_case(s) for s in range(n_cases)], divisor=4)


@pytest.mark.parametrize("decoder_only", [True, False])
def test_decoder_only_pretraining_keeps_encoder_weights(decoder_only):
    torch.manual_seed(0)
    net = UNet(UNetSpec(ndim=2, in_channels=2, out_channels=2, depth=2, n_filters=4))
    weights_before = {n: p.clone() for n, p in net.named_parameters() if n.startswith(("encoder", "bottleneck"))}
    decoder_before = {k: v.clone() for k, v in net.state_dict().items() if k.startswith("decoder")}
    slices = tiny_slices()
    config = PretrainConfig(decoder_only=decoder_only, batch_size=4, depth=2, n_filters=4)
    task = PretrainTask(net, config, slices, slices, seed=0)
    for _ in run_training(task, Schedule(epochs=1, steps_per_epoch=3, learning_rate=1e-2, lr_schedule="constant")):
        pass
    parameters = dict(net.named_parameters())
    assert all(torch.equal(parameters[n], p) for n, p in weights_before.items()) == decoder_only
    assert not all(torch.equal(net.state_dict()[k], v) for k, v in decoder_before.items())


def _encoder_feature_std(net: UNet, images: torch.Tensor) -> list[float]:
    """Standard deviation of each skip connection and of the bottleneck output, in the net's current mode."""
    stds, x = [], images
    with torch.no_grad():
        for block in net.encoder:
            x = block(x)
            stds.append(float(x.std()))
            x = net.pool(x)
        stds.append(float(net.bottleneck(x).std()))
    return stds


def test_decoder_only_pretraining_feeds_the_decoder_the_feature_scale_of_finetuning():
    torch.manual_seed(0)
    net = UNet(UNetSpec(ndim=2, in_channels=2, out_channels=2, depth=3, n_filters=8))
    slices = tiny_slices()
    config = PretrainConfig(decoder_only=True, batch_size=8, depth=3, n_filters=8)
    pretraining = PretrainTask(net, config, slices, slices, seed=0)
    _, images, _, _ = pretraining.draw()
    pretraining.train_mode()
    seen_in_pretraining = _encoder_feature_std(net, images)
    finetuning = FinetuneTask(net, FinetuneConfig(batch_size=8, depth=3, n_filters=8), slices, slices, 0, {"mode": "ladp"})
    finetuning.train_mode()
    seen_in_finetuning = _encoder_feature_std(net, images)
    for pre, fine in zip(seen_in_pretraining, seen_in_finetuning):
        assert pre == pytest.approx(fine, rel=0.05)


def _symmetrize(net: UNet) -> UNet:
    """Make every convolution kernel symmetric under both flips: the net becomes flip-equivariant."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                w = module.weight
                w.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4)
    return net.eval()


def test_flip_tta_of_a_flip_equivariant_model_equals_the_plain_prediction():
    torch.manual_seed(1)
    images = torch.randn(3, 2, 16, 24)
    equivariant = _symmetrize(UNet(UNetSpec(ndim=2, in_channels=2, out_channels=1, depth=2, n_filters=4)))
    with torch.no_grad():
        assert torch.allclose(flip_tta(equivariant, images), equivariant(images), atol=1e-5)
        # A generic network is not flip-equivariant: there TTA changes the output.
        generic = UNet(UNetSpec(ndim=2, in_channels=2, out_channels=1, depth=2, n_filters=4)).eval()
        assert not torch.allclose(flip_tta(generic, images), generic(images), atol=1e-3)


def test_majority_vote_on_hand_made_masks():
    a = np.array([[1, 1, 0, 0]])
    b = np.array([[1, 0, 1, 0]])
    c = np.array([[1, 0, 0, 1]])
    assert majority_vote([a, b, c]).tolist() == [[True, False, False, False]]
    assert majority_vote([a, b, a]).tolist() == [[True, True, False, False]]
    # Even K: a tie (2 of 4) is background, 3 of 4 is foreground.
    assert majority_vote([a, b, c, a]).tolist() == [[True, False, False, False]]
    assert majority_vote([a, b, a, a]).tolist() == [[True, True, False, False]]
    assert majority_vote([a]).tolist() == [[True, True, False, False]]
    with pytest.raises(ValueError):
        majority_vote([])


def test_ensemble_trains_writes_its_folder_and_segments(tmp_path):
    cases = [blob_case(s) for s in range(3)]
    pre = PretrainConfig(epochs=1, steps_per_epoch=4, batch_size=4, depth=2, n_filters=8)
    fine = FinetuneConfig(epochs=4, steps_per_epoch=20, batch_size=8, learning_rate=1e-2, depth=2, n_filters=8)
    events = list(
        train_ensemble(cases[:2], val_cases=cases[2:], pretraining="ladp", pretrain_config=pre, finetune_config=fine,
                       n_models=2, out_dir=tmp_path / "ens", device="cpu", preview_case=cases[2])
    )
    steps = [e.step for e in events if e.kind == "step"]
    assert steps == list(range(1, 2 * (4 + 80) + 1))
    assert {e.stage for e in events if e.kind == "step"} == {"pretrain", "finetune"}
    assert events[-1].kind == "done"
    previews = [e.preview for e in events if e.kind == "preview"]
    assert len(previews) == 8 and previews[-1].shape == cases[2].labels.shape
    ensemble = LesionEnsemble.load(tmp_path / "ens", device="cpu")
    assert len(ensemble) == 2
    assert (tmp_path / "ens" / "member_01" / "pretrained" / "config.json").is_file()
    mask = ensemble.predict(cases[2].image, cases[2].brain)
    dice = 2 * (mask & cases[2].labels).sum() / (mask.sum() + cases[2].labels.sum())
    # A bright disc on flat background is learnt in a few dozen steps.
    assert dice > 0.5
    with pytest.raises(ModelFolderError):
        LesionEnsemble.load(tmp_path / "ens" / "member_00" / "pretrained")


def test_stopping_early_keeps_the_finished_members(tmp_path):
    cases = [blob_case(s) for s in range(2)]
    fine = FinetuneConfig(epochs=1, steps_per_epoch=2, batch_size=4, depth=2, n_filters=4)
    events = train_ensemble(cases, pretraining="none", finetune_config=fine, n_models=3, out_dir=tmp_path / "ens", device="cpu")
    for event in events:
        if event.member == 1:
            break
    events.close()
    assert len(LesionEnsemble.load(tmp_path / "ens", device="cpu")) == 1
    # Stopped inside the first member: that member, as trained so far, is kept.
    events = train_ensemble(cases, pretraining="none", finetune_config=fine, n_models=3, out_dir=tmp_path / "first", device="cpu")
    next(events)
    events.close()
    assert len(LesionEnsemble.load(tmp_path / "first", device="cpu")) == 1


def test_predict_probability_keeps_the_volume_shape():
    net = UNet(UNetSpec(ndim=2, in_channels=2, out_channels=1, depth=2, n_filters=4))
    prob = predict_probability(net, np.zeros((2, 3, 10, 14), np.float32))
    assert prob.shape == (3, 10, 14) and ((prob >= 0) & (prob <= 1)).all()
