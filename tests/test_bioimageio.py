"""bioimage.io packages: each model kind exported, passed by bioimage.io's own test, re-imported with the same prediction.

Also: the command line (export-bmz; n2v/seg predict with a package), another tool's
PyTorch denoiser loaded through bioimageio.core, and packages that cannot be used.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from bioimageio.core import test_model as bioimageio_test

from denoise2seg.bioimageio import BioimageioError, PackagedDenoiser, export_bioimageio, load_bioimageio
from denoise2seg.bioimageio.export import smallest_input
from denoise2seg.cli.main import main
from denoise2seg.n2v import N2VConfig, N2VModel, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation

TINY_N2V = N2VConfig(patch_size=32, batch_size=4, epochs=1, steps_per_epoch=4, depth=2, n_filters=8, seed=0)


@pytest.fixture(scope="module")
def n2v_folder(tmp_path_factory, nuclei_crop):
    folder = tmp_path_factory.mktemp("bmz") / "n2v"
    for _ in train_n2v(nuclei_crop[0], TINY_N2V, out_dir=folder, device="cpu"):
        pass
    return folder


def _segmentation_folder(tmp_path, nuclei_crop, n2v_folder, method, scheme):
    noisy, _, mask = nuclei_crop
    config = SegmentationConfig(
        method=method, scheme=scheme, patch_size=32, batch_size=2, epochs=1, steps_per_epoch=4, depth=2, n_filters=8, seed=0
    )
    folder = tmp_path / f"{method}-{scheme}"
    extra = {} if scheme == "baseline" else {"n2v_model": n2v_folder}
    for _ in train_segmentation([noisy], [mask], config, out_dir=folder, device="cpu", **extra):
        pass
    return folder


def test_n2v_package_passes_bioimageio_test_and_predicts_as_its_folder(tmp_path, n2v_folder, nuclei_crop):
    package = export_bioimageio(n2v_folder, tmp_path / "n2v.zip", authors=["A. Tester"])
    assert bioimageio_test(package, devices=["cpu"]).status == "passed"
    image = nuclei_crop[0][:100, :90]
    loaded = load_bioimageio(package, device="cpu")
    assert isinstance(loaded, N2VModel)
    expected = N2VModel.load(n2v_folder, device="cpu").predict(image)
    np.testing.assert_allclose(loaded.predict(image), expected, rtol=1e-5, atol=1e-4)
    # bioimageio.core's own pipeline (the package's pre- and postprocessing) gives it too, away from the borders.
    generic = PackagedDenoiser(loaded_description(package), torch.device("cpu"), name="package").predict(image, tile_shape=(64, 64))
    np.testing.assert_allclose(generic[30:-30, 30:-30], expected[30:-30, 30:-30], rtol=1e-4, atol=1e-3)


def loaded_description(package):
    from denoise2seg.bioimageio.load import _description

    return _description(package)


@pytest.mark.parametrize(("method", "scheme"), [("unet", "baseline"), ("stardist", "sequential"), ("unet", "finetune-sequential")])
def test_segmentation_package_passes_bioimageio_test_and_segments_as_its_folder(tmp_path, nuclei_crop, n2v_folder, method, scheme):
    folder = _segmentation_folder(tmp_path, nuclei_crop, n2v_folder, method, scheme)
    package = export_bioimageio(folder, tmp_path / "seg.zip")
    assert bioimageio_test(package, devices=["cpu"]).status == "passed"
    loaded = load_bioimageio(package, device="cpu")
    original = SegmentationModel.load(folder, device="cpu")
    assert isinstance(loaded, SegmentationModel) and loaded.config == original.config and loaded.thresholds == original.thresholds
    noisy = nuclei_crop[0]
    np.testing.assert_allclose(loaded.predict_probabilities(noisy), original.predict_probabilities(noisy), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(noisy), original.predict(noisy))


def test_export_bmz_command_and_predict_commands_take_the_package(tmp_path, n2v_folder, nuclei_crop, capsys):
    image_path = tmp_path / "image.tif"
    tifffile.imwrite(image_path, nuclei_crop[0])
    package = tmp_path / "model.zip"
    assert main(["export-bmz", str(n2v_folder), "--out", str(package), "--test-image", str(image_path), "--author", "A. Tester"]) == 0
    assert "bioimage.io's test passed" in capsys.readouterr().out
    before = package.read_bytes()
    assert main(["export-bmz", str(n2v_folder), "--out", str(package)]) == 2
    assert "--overwrite" in capsys.readouterr().err and package.read_bytes() == before

    assert main(["n2v", "predict", str(package), str(image_path), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    denoised = tifffile.imread(tmp_path / "out" / "image_n2v.tif")
    np.testing.assert_allclose(denoised, N2VModel.load(n2v_folder, device="cpu").predict(nuclei_crop[0]), rtol=1e-5, atol=1e-4)
    assert main(["seg", "predict", str(package), str(image_path), "--out", str(tmp_path / "labels"), "--device", "cpu"]) == 2
    assert "holds an N2V model; give a segmentation model" in capsys.readouterr().err


def test_a_multichannel_model_needs_a_test_image_of_its_channels(tmp_path):
    rng = np.random.default_rng(0)
    image = np.stack([rng.normal(10, 2, (64, 64)), rng.normal(1000, 100, (64, 64))]).astype(np.float32)
    folder = tmp_path / "two"
    for _ in train_n2v(image, TINY_N2V, axes="CYX", out_dir=folder, device="cpu"):
        pass
    with pytest.raises(BioimageioError, match="takes 2 channels; give a test image"):
        export_bioimageio(folder, tmp_path / "two.zip")
    assert not (tmp_path / "two.zip").exists()
    package = export_bioimageio(folder, tmp_path / "two.zip", test_image=image)
    loaded = load_bioimageio(package, device="cpu")
    np.testing.assert_allclose(loaded.predict(image, axes="CYX"), N2VModel.load(folder, device="cpu").predict(image, axes="CYX"), atol=1e-3)


FOREIGN_ARCHITECTURE = '''
import torch
from torch import nn


class Smoother(nn.Module):
    """A 3x3 convolution from ``in_channels`` to ``out_channels``: a stand-in for another tool's denoiser."""

    def __init__(self, in_channels=1, out_channels=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x)
'''


def _foreign_package(folder, *, out_channels=1, weights="pytorch_state_dict"):
    """A bioimage.io package of another tool: a 3x3 convolution defined in its own file, z-score preprocessing."""
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model.v0_5 import (
        ArchitectureFromFileDescr, Author, AxisId, BatchAxis, ChannelAxis, CiteEntry, FileDescr,
        FixedZeroMeanUnitVarianceDescr, FixedZeroMeanUnitVarianceKwargs, Identifier, InputTensorDescr, ModelDescr,
        OutputTensorDescr, ParameterizedSize, PytorchStateDictWeightsDescr, SizeReference, SpaceInputAxis,
        SpaceOutputAxis, TensorId, TorchscriptWeightsDescr, Version, WeightsDescr,
    )

    folder.mkdir()
    source = folder / "smoother.py"
    source.write_text(FOREIGN_ARCHITECTURE)
    namespace: dict = {}
    exec(FOREIGN_ARCHITECTURE, namespace)
    torch.manual_seed(0)
    net = namespace["Smoother"](1, out_channels).eval()
    rng = np.random.default_rng(0)
    test_input = rng.normal(50, 10, (1, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        test_output = net(torch.from_numpy((test_input - 50) / 10)).numpy()
    np.save(folder / "in.npy", test_input)
    np.save(folder / "out.npy", test_output)
    (folder / "README.md").write_text("# smoother\n")
    torch.save(net.state_dict(), folder / "weights.pt")
    if weights == "pytorch_state_dict":
        architecture = ArchitectureFromFileDescr(source=source, callable=Identifier("Smoother"), kwargs={"out_channels": out_channels})
        entry = WeightsDescr(
            pytorch_state_dict=PytorchStateDictWeightsDescr(
                source=folder / "weights.pt", architecture=architecture, pytorch_version=Version(torch.__version__.split("+")[0])
            )
        )
    else:
        torch.jit.trace(net, torch.zeros(1, 1, 16, 16)).save(str(folder / "weights.torchscript"))
        entry = WeightsDescr(
            torchscript=TorchscriptWeightsDescr(source=folder / "weights.torchscript", pytorch_version=Version(torch.__version__.split("+")[0]))
        )
    space = [AxisId("y"), AxisId("x")]
    descr = ModelDescr(
        name="another tools smoother",
        description="a 3x3 convolution",
        authors=[Author(name="Someone Else")],
        cite=[CiteEntry(text="none", url="https://example.org")],
        license="MIT",
        documentation=FileDescr(source=folder / "README.md"),
        inputs=[
            InputTensorDescr(
                id=TensorId("raw"),
                axes=[BatchAxis(), ChannelAxis(channel_names=[Identifier("c")]),
                      *(SpaceInputAxis(id=a, size=ParameterizedSize(min=16, step=8)) for a in space)],
                test_tensor=FileDescr(source=folder / "in.npy"),
                preprocessing=[FixedZeroMeanUnitVarianceDescr(kwargs=FixedZeroMeanUnitVarianceKwargs(mean=50.0, std=10.0))],
            )
        ],
        outputs=[
            OutputTensorDescr(
                id=TensorId("smooth"),
                axes=[BatchAxis(), ChannelAxis(channel_names=[Identifier(f"c{i}") for i in range(out_channels)]),
                      *(SpaceOutputAxis(id=a, size=SizeReference(tensor_id=TensorId("raw"), axis_id=a)) for a in space)],
                test_tensor=FileDescr(source=folder / "out.npy"),
            )
        ],
        weights=entry,
    )
    return save_bioimageio_package(descr, output_path=folder / "package.zip"), net


def test_another_tools_pytorch_denoiser_loads_and_predicts_through_bioimageio_core(tmp_path, capsys):
    package, net = _foreign_package(tmp_path / "foreign")
    model = load_bioimageio(package, device="cpu")
    assert isinstance(model, PackagedDenoiser) and model.ndim == 2 and model.channels == 1
    image = np.random.default_rng(1).normal(50, 10, (80, 72)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy((image - 50) / 10)[None, None]).numpy()[0, 0]
    denoised = model.predict(image, tile_shape=None)
    assert denoised.shape == image.shape
    np.testing.assert_allclose(denoised[1:-1, 1:-1], expected[1:-1, 1:-1], atol=1e-4)
    stack = np.stack([image, image[::-1]])
    assert model.predict(stack).shape == stack.shape

    image_path = tmp_path / "image.tif"
    tifffile.imwrite(image_path, image)
    assert main(["n2v", "predict", str(package), str(image_path), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    np.testing.assert_allclose(tifffile.imread(tmp_path / "out" / "image_n2v.tif"), model.predict(image), atol=1e-5)
    assert main(["seg", "predict", str(package), str(image_path), "--out", str(tmp_path / "labels"), "--device", "cpu"]) == 2
    assert "not exported by denoise2seg" in capsys.readouterr().err


def test_unusable_packages_are_refused_naming_what_they_lack(tmp_path):
    two_out, _ = _foreign_package(tmp_path / "two", out_channels=2)
    with pytest.raises(BioimageioError, match=r"maps 1 channel\(s\) over axes \['y', 'x'\] to 2 channel\(s\)"):
        load_bioimageio(two_out, device="cpu")
    scripted, _ = _foreign_package(tmp_path / "script", weights="torchscript")
    with pytest.raises(BioimageioError, match="no PyTorch state-dict weights \\(it has: torchscript\\)"):
        load_bioimageio(scripted, device="cpu")
    not_a_package = tmp_path / "notes.zip"
    not_a_package.write_text("hello")
    with pytest.raises(BioimageioError, match="not a readable bioimage.io package"):
        load_bioimageio(not_a_package, device="cpu")


def test_export_never_writes_into_its_inputs_and_checks_its_metadata_first(tmp_path, n2v_folder, nuclei_crop, capsys):
    weights = n2v_folder / "weights.safetensors"
    before = weights.read_bytes()
    assert main(["export-bmz", str(n2v_folder), "--out", str(weights), "--overwrite"]) == 2
    assert "inside the model folder" in capsys.readouterr().err and weights.read_bytes() == before
    image_path = tmp_path / "image.tif"
    tifffile.imwrite(image_path, nuclei_crop[0])
    image_before = image_path.read_bytes()
    assert main(["export-bmz", str(n2v_folder), "--out", str(image_path), "--test-image", str(image_path), "--overwrite"]) == 2
    assert image_path.read_bytes() == image_before
    capsys.readouterr()
    for option, expected in [(["--license", "FOO-1.0"], "not an SPDX licence identifier"), (["--name", "my/model:1"], "not '/:'")]:
        assert main(["export-bmz", str(n2v_folder), "--out", str(tmp_path / "m.zip"), *option]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err) < 400
    smallest = smallest_input(N2VModel.load(n2v_folder, device="cpu"))
    with pytest.raises(BioimageioError, match=f"smaller than the {smallest} pixels per axis"):
        export_bioimageio(n2v_folder, tmp_path / "m.zip", test_image=nuclei_crop[0][: smallest - 4, : smallest - 4])
    assert not (tmp_path / "m.zip").exists()
