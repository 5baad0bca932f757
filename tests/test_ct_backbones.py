"""The three backbones of CT denoise-pretraining behind one interface, each trained a few steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise2seg.ct import CTPretrainConfig, finetune_ct, pretrain_ct
from denoise2seg.nets.backbones import BackboneSpec, build_backbone


def _smp_importable() -> bool:
    try:
        import segmentation_models_pytorch  # noqa: F401
    except Exception:  # a torchvision built for another torch fails with RuntimeError
        return False
    return True


needs_smp = pytest.mark.skipif(not _smp_importable(), reason="segmentation-models-pytorch cannot be imported (torchvision/torch mismatch)")
BACKBONES = [
    pytest.param("unet", dict(depth=2, n_filters=8), id="unet"),
    pytest.param("unetplusplus", dict(depth=3, n_filters=4, encoder="resnet18"), marks=needs_smp, id="unetplusplus"),
    pytest.param("pspnet", dict(depth=3, n_filters=8, encoder="resnet18"), marks=needs_smp, id="pspnet"),
]


@pytest.mark.parametrize("name,size", BACKBONES)
def test_backbone_interface(name, size):
    net = build_backbone(BackboneSpec(name=name, **size)).eval()  # eval: PSPNet has dropout
    x = torch.rand(2, 1, 32, 32)
    assert net(x).shape == (2, 1, 32, 32)
    assert torch.allclose(net.head(net.features(x)), net(x))
    body_before = [p.detach().clone() for n, p in net.named_parameters() if "head" not in n]
    net.replace_head(3)
    assert net(x).shape == (2, 3, 32, 32) and net.spec.out_channels == 3
    body_after = [p for n, p in net.named_parameters() if "head" not in n]
    assert all(torch.equal(a, b) for a, b in zip(body_before, body_after))
    with pytest.raises(ValueError, match="divisible"):
        net(torch.rand(1, 1, 30, 30))


@pytest.mark.parametrize("name,size", BACKBONES)
def test_backbone_pretext_then_finetune(name, size, tmp_path):
    rng = np.random.default_rng(0)
    volumes, labels = [], []
    for _ in range(2):
        hu = rng.normal(-850, 30, (4, 32, 32)).astype(np.float32)
        mask = np.zeros(hu.shape, np.uint8)
        mask[:, 8:20, 10:22] = 1
        hu[mask > 0] = -50
        volumes.append(hu)
        labels.append(mask)
    config = CTPretrainConfig(
        backbone=name, image_size=32, batch_size=4, pretext_loss="mse", pretext_epochs=1, finetune_epochs=8,
        steps_per_epoch=4, seed=0, mixed_precision=False, validation_fraction=0.0, **size,
    )
    events = list(pretrain_ct(volumes, config, out_dir=tmp_path / "p", device="cpu"))
    assert events[-1].kind == "done"
    events = list(finetune_ct(volumes, labels, config, pretrained=tmp_path / "p", out_dir=tmp_path / "s", device="cpu"))
    val = [e.val_loss for e in events if e.kind == "epoch"]
    assert val[-1] < val[0]


def test_unknown_backbone():
    with pytest.raises(ValueError, match="unetplusplus"):
        BackboneSpec(name="resnet")
