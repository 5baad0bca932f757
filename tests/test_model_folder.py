"""Model folders: atomic writes, and a clear ModelFolderError for every kind of bad folder."""

import json
import os
import time

import pytest
import torch

from denoise2seg.data.normalization import PercentileNormalizer
from denoise2seg.io.model_folder import (
    FORMAT_VERSION,
    ModelFolderError,
    STALE_TEMPORARY_SECONDS,
    load_weights,
    read_model_config,
    save_model_folder,
    saved_model_time,
)
from denoise2seg.n2v import N2VConfig, N2VModel
from denoise2seg.nets import UNet


@pytest.fixture
def n2v_folder(tmp_path):
    config = N2VConfig(depth=1, n_filters=4, patch_size=16)
    N2VModel(UNet(config.unet_spec()), config, PercentileNormalizer(0.0, 1.0)).save(tmp_path / "model")
    return tmp_path / "model"


def test_folder_holds_config_and_weights_and_no_temporary_files(n2v_folder):
    names = sorted(p.name for p in n2v_folder.iterdir())
    assert names == ["config.json", "weights.safetensors"]
    config = read_model_config(n2v_folder, kind="n2v")
    assert config["format_version"] == FORMAT_VERSION
    assert config["network"]["n_filters"] == 4
    assert set(load_weights(n2v_folder)) == set(UNet(N2VConfig(depth=1, n_filters=4).unet_spec()).state_dict())


def test_last_and_best_are_separate_files(tmp_path):
    save_model_folder(tmp_path, {"kind": "test"}, {"w": torch.zeros(2)}, which="best")
    save_model_folder(tmp_path, {"kind": "test"}, {"w": torch.ones(2)}, which="last")
    assert torch.equal(load_weights(tmp_path, "best")["w"], torch.zeros(2))
    assert torch.equal(load_weights(tmp_path, "last")["w"], torch.ones(2))


def _corrupt_config(folder):
    (folder / "config.json").write_text("{not json")


def _truncate_weights(folder):
    path = folder / "weights.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _garbage_weights(folder):
    (folder / "weights.safetensors").write_bytes(b"\x00" * 64)


def _remove_weights(folder):
    (folder / "weights.safetensors").unlink()


def _newer_format(folder):
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = FORMAT_VERSION + 1
    (folder / "config.json").write_text(json.dumps(config))


def _other_kind(folder):
    config = json.loads((folder / "config.json").read_text())
    config["kind"] = "unet_segmentation"
    (folder / "config.json").write_text(json.dumps(config))


def _foreign_json(folder):
    (folder / "config.json").write_text(json.dumps({"model_type": "keras", "version": "2"}))


def _missing_network(folder):
    config = json.loads((folder / "config.json").read_text())
    del config["network"]
    (folder / "config.json").write_text(json.dumps(config))


def _mismatched_network(folder):
    config = json.loads((folder / "config.json").read_text())
    config["network"]["n_filters"] = 8
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "damage, message",
    [
        (_corrupt_config, "corrupt"),
        (_truncate_weights, "corrupt"),
        (_garbage_weights, "corrupt"),
        (_remove_weights, "never saved completely"),
        (_newer_format, "newer denoise2seg"),
        (_other_kind, "expected n2v"),
        (_foreign_json, "not a denoise2seg model config"),
        (_missing_network, "incomplete or invalid"),
        (_mismatched_network, "does not fit the .n2v. network"),
    ],
)
def test_damaged_folder_gives_a_clear_error(n2v_folder, damage, message):
    damage(n2v_folder)
    with pytest.raises(ModelFolderError, match=message):
        N2VModel.load(n2v_folder, device="cpu")


def test_folder_without_config_or_missing_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.tif").write_bytes(b"II*\x00")
    with pytest.raises(ModelFolderError, match="not a denoise2seg model folder"):
        N2VModel.load(tmp_path / "images", device="cpu")
    with pytest.raises(ModelFolderError, match="does not exist"):
        N2VModel.load(tmp_path / "nowhere", device="cpu")


def test_model_folder_error_is_a_value_error():
    assert issubclass(ModelFolderError, ValueError)


def test_weights_of_another_network_give_one_line_naming_folder_kind_and_tensors(n2v_folder):
    _mismatched_network(n2v_folder)
    with pytest.raises(ModelFolderError) as raised:
        N2VModel.load(n2v_folder, device="cpu")
    message = str(raised.value)
    assert "\n" not in message
    assert str(n2v_folder / "weights.safetensors") in message and str(n2v_folder / "config.json") in message
    assert "'n2v' network" in message and "of other shapes (e.g. " in message


def test_a_write_removes_stale_temporaries_and_keeps_fresh_ones(n2v_folder):
    stale = n2v_folder / ".last.safetensors.abc123.tmp"
    fresh = n2v_folder / ".weights.safetensors.def456.tmp"
    unrelated = n2v_folder / ".notes.txt.ghi789.tmp"
    for path in (stale, fresh, unrelated):
        path.write_bytes(b"partial")
    old = time.time() - 2 * STALE_TEMPORARY_SECONDS
    os.utime(stale, (old, old))
    os.utime(unrelated, (old, old))
    save_model_folder(n2v_folder, {"kind": "test"}, {"w": torch.zeros(2)}, which="last")
    assert not stale.exists()
    assert fresh.exists() and unrelated.exists()


def test_saved_model_time_tells_whether_a_model_was_saved(tmp_path):
    assert saved_model_time(tmp_path / "nowhere") is None
    save_model_folder(tmp_path, {"kind": "test"}, {"w": torch.zeros(2)}, which="last")
    assert saved_model_time(tmp_path) is None
    save_model_folder(tmp_path, {"kind": "test"}, {"w": torch.zeros(2)}, which="best")
    assert saved_model_time(tmp_path) == (tmp_path / "config.json").stat().st_mtime_ns
    os.utime(tmp_path / "config.json", (1e9, 1e9))
    first = saved_model_time(tmp_path)
    save_model_folder(tmp_path, {"kind": "test"}, {"w": torch.ones(2)}, which="best")
    assert saved_model_time(tmp_path) > first


def test_a_saved_model_predicts_but_says_why_it_cannot_be_continued(n2v_folder):
    import numpy as np

    from denoise2seg.n2v import train_n2v

    assert N2VModel.load(n2v_folder, device="cpu").predict(np.zeros((16, 16), np.float32)).shape == (16, 16)
    image = np.random.default_rng(0).normal(size=(32, 32)).astype(np.float32)
    config = N2VConfig(depth=1, n_filters=4, patch_size=16, batch_size=2, epochs=2, steps_per_epoch=1)
    with pytest.raises(ModelFolderError, match="without its training state.*cannot be continued with --resume"):
        list(train_n2v(image, config, device="cpu", resume=n2v_folder))
