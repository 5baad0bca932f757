"""CT denoise-pretraining: losses, pretexts, the VGG weights message, training and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise2seg.ct import CTLesionModel, CTPretrainConfig, VGGWeightsUnavailable, finetune_ct, pretrain_ct
from denoise2seg.ct.losses import PerceptualLoss, total_variation
from denoise2seg.metrics import dice_score, dice_summary
from denoise2seg.training.losses import soft_dice_loss
from denoise2seg.ct.pretext import add_gaussian_noise, cut_random_hole
from denoise2seg.ct.vgg import IMAGENET_STD, default_weights_path, load_vgg19_features, vgg19_layers
from denoise2seg.io.model_folder import read_model_config


@pytest.fixture
def vgg_file(tmp_path):
    """A VGG-19 state dict with random weights, keyed like torchvision's file (no download)."""
    torch.manual_seed(0)
    layers = vgg19_layers(16)
    path = tmp_path / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in layers.state_dict().items()}, path)
    return path


def _toy_volumes(n=3, z=4, seed=0):
    """HU volumes with a bright square lesion on lung-dark background, and its mask."""
    rng = np.random.default_rng(seed)
    volumes, labels = [], []
    for _ in range(n):
        hu = rng.normal(-850, 30, (z, 40, 40)).astype(np.float32)
        mask = np.zeros(hu.shape, np.uint8)
        y, x = rng.integers(8, 24, 2)
        mask[:, y : y + 10, x : x + 10] = 1
        hu[mask > 0] = -100 + rng.normal(0, 30, int(mask.sum()))
        volumes.append(hu)
        labels.append(mask)
    return volumes, labels


def _tiny(**overrides):
    values = dict(image_size=32, depth=2, n_filters=8, batch_size=4, pretext_epochs=2, finetune_epochs=2, seed=0, mixed_precision=False)
    values.update(overrides)
    return CTPretrainConfig(**values)


def test_total_variation_known_value():
    image = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    # two horizontal steps of 1, no vertical change, over 2x2 pixels
    assert total_variation(image).item() == pytest.approx(0.5)
    assert total_variation(torch.ones(2, 1, 5, 5)).item() == 0.0


def test_perceptual_loss_known_value_and_gradient():
    loss = PerceptualLoss(torch.nn.Identity())
    ones, zeros = torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    # identity "features": L1 of ImageNet-normalised 3-channel copies = mean(1 / std)
    assert loss(ones, zeros).item() == pytest.approx(float(np.mean([1 / s for s in IMAGENET_STD])), rel=1e-5)
    output = zeros.clone().requires_grad_(True)
    loss(output, ones).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_vgg_from_a_local_file(vgg_file):
    features = load_vgg19_features(vgg_file, 16)
    assert len(features) == 17 and not any(p.requires_grad for p in features.parameters())
    perceptual = PerceptualLoss(features)
    image = torch.rand(2, 1, 32, 32)
    assert perceptual(image, image).item() == 0.0
    assert perceptual(image, torch.rand(2, 1, 32, 32)).item() > 0


def test_missing_vgg_weights_say_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(VGGWeightsUnavailable) as info:
        load_vgg19_features(None, download=False)
    message = str(info.value)
    assert str(default_weights_path()) in message and str(tmp_path) in message
    assert "vgg19-dcbb9e9d.pth" in message and "--vgg-weights" in message and "mse" in message
    with pytest.raises(VGGWeightsUnavailable, match="does not exist"):
        load_vgg19_features(tmp_path / "nope.pth")
    volumes, _ = _toy_volumes(1)
    # the run stops before training, not after the first step
    with pytest.raises(VGGWeightsUnavailable):
        next(pretrain_ct(volumes, _tiny(vgg_weights=str(tmp_path / "nope.pth")), device="cpu"))


def test_soft_dice_loss():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    perfect = torch.where(target > 0, 20.0, -20.0)
    assert soft_dice_loss(perfect, target).item() < 1e-3
    assert soft_dice_loss(-perfect, target).item() > 0.9


def test_pretext_corruptions():
    clean = torch.full((3, 1, 16, 16), 0.5)
    generator = torch.Generator().manual_seed(0)
    noisy = add_gaussian_noise(clean, 0.1, 0.2, generator)
    assert (noisy - clean).mean().item() == pytest.approx(0.1, abs=0.03)
    assert (noisy - clean).std().item() == pytest.approx(0.2, abs=0.03)
    holed, hole = cut_random_hole(clean, 5, generator)
    assert hole.sum(dim=(1, 2, 3)).tolist() == [25, 25, 25]
    assert (holed[hole] == 0).all() and (holed[~hole] == 0.5).all()


def test_volume_dice():
    a = np.zeros((2, 4, 4), np.uint8)
    b = a.copy()
    a[0, :2, :2] = 1
    b[0, :2, :] = 1
    assert dice_score(a, b) == pytest.approx(2 * 4 / (4 + 8))
    assert dice_score(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    mean, sd, scores = dice_summary([a, a], [a, b])
    assert scores == pytest.approx([1.0, 2 / 3]) and mean == pytest.approx(5 / 6) and sd == pytest.approx(1 / 6)


@pytest.mark.parametrize("pretext,loss", [("denoise", "perceptual"), ("reconstruct", "perceptual"), ("denoise", "mse")])
def test_pretext_training_lowers_its_loss(pretext, loss, vgg_file, tmp_path):
    volumes, _ = _toy_volumes(3, z=6)
    config = _tiny(pretext=pretext, pretext_loss=loss, vgg_weights=str(vgg_file), hole_size=8, pretext_epochs=4, steps_per_epoch=4)
    events = list(pretrain_ct(volumes, config, out_dir=tmp_path / "pretext", device="cpu"))
    val = [e.val_loss for e in events if e.kind == "epoch"]
    assert val[-1] < val[0]
    record = read_model_config(tmp_path / "pretext", kind="ct_pretext")
    assert record["config"]["pretext"] == pretext


def test_finetune_from_pretext_learns_lesions_and_predicts_volumes(tmp_path):
    volumes, labels = _toy_volumes(4, z=4)
    config = _tiny(pretext_loss="mse", pretext_epochs=1, finetune_epochs=10, steps_per_epoch=6, finetune_learning_rate=5e-3)
    list(pretrain_ct(volumes[:3], config, out_dir=tmp_path / "pretext", device="cpu"))
    other = _tiny(backbone="unet", depth=1, n_filters=4, finetune_epochs=10, steps_per_epoch=6)
    events = list(finetune_ct(volumes[:3], labels[:3], other, pretrained=tmp_path / "pretext", out_dir=tmp_path / "seg", device="cpu", preview_volume=volumes[3]))
    previews = [e.preview for e in events if e.kind == "preview"]
    assert previews and previews[-1].shape == volumes[3].shape
    model = CTLesionModel.load(tmp_path / "seg", device="cpu")
    # the pretext model's architecture wins over the finetune config's
    assert model.net.spec.depth == 2 and model.config.pretext == "denoise"
    assert read_model_config(tmp_path / "seg")["pretrained_from"] == str(tmp_path / "pretext")
    prediction = model.predict(volumes[3])
    assert prediction.shape == volumes[3].shape
    assert dice_score(labels[3], prediction) > 0.6


def test_finetune_uses_only_annotated_slices(tmp_path):
    volumes, labels = _toy_volumes(1, z=4)
    with pytest.raises(ValueError, match="no annotated slices"):
        next(finetune_ct(volumes, labels, _tiny(), annotated_slices=[[]], device="cpu"))
    with pytest.raises(ValueError, match="0..3"):
        next(finetune_ct(volumes, labels, _tiny(), annotated_slices=[[7]], device="cpu"))
    events = list(finetune_ct(volumes, labels, _tiny(finetune_epochs=1), annotated_slices=[[1, 2]], out_dir=tmp_path / "s", device="cpu"))
    assert events[-1].kind == "done"
    assert read_model_config(tmp_path / "s")["config"]["pretext"] == "none"


def test_config_defaults_are_the_papers():
    config = CTPretrainConfig()
    assert (config.image_size, config.batch_size, config.weight_decay) == (256, 16, 1e-5)
    assert (config.pretext_learning_rate, config.pretext_epochs) == (1e-3, 20)
    assert (config.finetune_learning_rate, config.finetune_epochs) == (5e-3, 150)
    assert (config.hole_size, config.vgg_layer, config.pretext) == (64, 16, "denoise")
    assert config.pretext_schedule(100).lr_schedule == "cosine"
    with pytest.raises(ValueError, match="pretext"):
        CTPretrainConfig(pretext="rotate")
    with pytest.raises(ValueError, match="divisible"):
        CTPretrainConfig(image_size=100)


def test_vgg_layers_and_url_match_torchvision():
    try:
        from torchvision.models import VGG19_Weights, vgg19
    except Exception:  # a torchvision built for another torch fails with RuntimeError
        pytest.skip("torchvision cannot be imported here")
    from denoise2seg.ct.vgg import VGG19_IMAGENET_URL

    assert VGG19_Weights.IMAGENET1K_V1.url == VGG19_IMAGENET_URL
    ours = vgg19_layers(16).state_dict()
    theirs = vgg19().features[:17].state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
