"""Export a denoise2seg model folder (N2V, 3-class U-Net, StarDist) as a bioimage.io model package (format 0.5).

The package holds PyTorch state-dict weights of :class:`~.network.PackagedNetwork`, its
input and output tensors described with their axes, the model's normalisation as
preprocessing (and for N2V its inverse as postprocessing), test tensors computed by the
model folder itself, a README, a cover image, a conda environment, the authors, a licence
and the papers. The model folder's own record goes into the package's ``config``, so that
:func:`~.load.load_bioimageio` rebuilds the same model. Before the package is written,
bioimage.io's own checker (``bioimageio.core.test_model``) runs it on the test tensors; a
package that fails is not written.
"""

from __future__ import annotations

import getpass
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data.normalization import Normalizer, ZScoreNormalizer
from ..n2v import N2VModel
from ..segmentation import SegmentationModel
from ..segmentation.model import KIND as SEGMENTATION_KIND
from ..segmentation.networks import receptive_radius
from ..blockwise.grid import round_up
from .errors import BioimageioError
from .load import is_bioimageio_source, load_model
from .network import PackagedNetwork, package_record
from .package_files import citations_for, write_cover, write_environment, write_readme, write_test_tensors

INPUT_ID, OUTPUT_ID = "input", "output"
DEFAULT_LICENSE = "CC-BY-4.0"
# Test tensors are a centre crop of at most this many pixels per axis (Y, X; Z for volumes).
TEST_CROP = {2: (256, 256), 3: (32, 128, 128)}
SPATIAL_IDS = {2: ("y", "x"), 3: ("z", "y", "x")}
NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+- ()")


def output_halo(model: N2VModel | SegmentationModel) -> int:
    """The output halo: the network's receptive radius rounded up to its size divisor, so blocks with their halo still fit it."""
    radius = model.net.spec.receptive_radius if isinstance(model, N2VModel) else receptive_radius(model.net)
    return round_up(radius, model.net.spec.divisor)


def smallest_input(model: N2VModel | SegmentationModel) -> int:
    """The smallest input edge the package declares: twice the halo plus one size step (pixels)."""
    divisor = model.net.spec.divisor
    return round_up(2 * output_halo(model) + divisor, divisor)


def check_metadata(name: str | None, license: str) -> None:
    """Refuse a name bioimage.io does not accept, or a licence that is not an SPDX identifier, with a short message."""
    from bioimageio.spec.utils import get_spdx_licenses

    if name is not None and not set(name) <= NAME_CHARACTERS:
        odd = "".join(sorted(set(name) - NAME_CHARACTERS))
        raise BioimageioError(f"bioimage.io names may hold letters, digits, spaces and _+-() only, not {odd!r}: choose another name")
    known = {entry["licenseId"] for entry in get_spdx_licenses()["licenses"]}
    if license not in known:
        raise BioimageioError(f"{license!r} is not an SPDX licence identifier (such as CC-BY-4.0, MIT, BSD-3-Clause, Apache-2.0)")


def _sample_frame(ndim: int) -> np.ndarray:
    """A frame of the samples this package ships with: the noisy DSB nuclei (2D) or stardist's 3D nuclei."""
    if ndim == 2:
        from ..data.samples import noisy_nuclei_2d

        return noisy_nuclei_2d(20, seed=0)[0]
    from stardist.data import test_image_nuclei_3d

    return test_image_nuclei_3d().astype(np.float32)


def test_frame(model: N2VModel | SegmentationModel, image: np.ndarray | None) -> np.ndarray:
    """The frame the test tensors are made of, ``(C, *spatial)``: a centre crop of ``image`` or of the shipped sample.

    ``image`` is one frame in the model's layout (``(Y, X)``, ``(Z, Y, X)``, channels first
    for a multi-channel model). The crop is at most :data:`TEST_CROP` and a multiple of
    the network's size divisor in each axis.
    """
    ndim, channels = model.config.ndim, model.channels
    if image is None:
        if channels > 1:
            raise BioimageioError(
                f"the model takes {channels} channels; give a test image of its kind ({channels} channels first), "
                "since the samples shipped here have one"
            )
        image = _sample_frame(ndim)
    frame = np.asarray(image, dtype=np.float32)
    if channels == 1 and frame.ndim == ndim + 1 and frame.shape[0] == 1:
        frame = frame[0]
    frame = frame if channels > 1 else frame[None]
    if frame.ndim != ndim + 1 or frame.shape[0] != channels:
        layout = ("C" if channels > 1 else "") + "ZYX"[-ndim:]
        raise BioimageioError(
            f"the test image has shape {np.shape(image)}; the model takes one frame {layout}"
            + (f" ({channels} channels first)" if channels > 1 else "")
        )
    divisor = model.net.spec.divisor
    smallest = smallest_input(model)
    crop = []
    for size, limit in zip(frame.shape[1:], TEST_CROP[ndim]):
        edge = min(size, limit) // divisor * divisor
        if edge < smallest:
            raise BioimageioError(
                f"the test image of shape {np.shape(image)} is smaller than the {smallest} pixels per axis that the package "
                "takes (twice the network's halo and one size step); give a larger test image"
            )
        start = (size - edge) // 2
        crop.append(slice(start, start + edge))
    return np.ascontiguousarray(frame[(slice(None), *crop)])


def _preprocessing(normalizer: Normalizer) -> list:
    """bioimage.io preprocessing equal to ``normalizer.normalize`` (fixed statistics of the training data)."""
    from bioimageio.spec.model.v0_5 import (
        AxisId,
        FixedZeroMeanUnitVarianceAlongAxisKwargs,
        FixedZeroMeanUnitVarianceDescr,
        FixedZeroMeanUnitVarianceKwargs,
        ScaleLinearAlongAxisKwargs,
        ScaleLinearDescr,
        ScaleLinearKwargs,
    )

    if isinstance(normalizer, ZScoreNormalizer):
        mean, std = list(normalizer.mean), list(normalizer.std)
        if len(mean) == 1:
            kwargs = FixedZeroMeanUnitVarianceKwargs(mean=mean[0], std=std[0])
        else:
            kwargs = FixedZeroMeanUnitVarianceAlongAxisKwargs(axis=AxisId("channel"), mean=mean, std=std)
        return [FixedZeroMeanUnitVarianceDescr(kwargs=kwargs)]
    gain = [1.0 / (ma - mi) for mi, ma in zip(normalizer.mi, normalizer.ma)]
    offset = [-mi / (ma - mi) for mi, ma in zip(normalizer.mi, normalizer.ma)]
    if len(gain) == 1:
        return [ScaleLinearDescr(kwargs=ScaleLinearKwargs(gain=gain[0], offset=offset[0]))]
    return [ScaleLinearDescr(kwargs=ScaleLinearAlongAxisKwargs(axis=AxisId("channel"), gain=gain, offset=offset))]


def _postprocessing(normalizer: Normalizer) -> list:
    """bioimage.io postprocessing equal to ``normalizer.denormalize`` (N2V's output back in input units)."""
    from bioimageio.spec.model.v0_5 import AxisId, ScaleLinearAlongAxisKwargs, ScaleLinearDescr, ScaleLinearKwargs

    if isinstance(normalizer, ZScoreNormalizer):
        gain, offset = list(normalizer.std), list(normalizer.mean)
    else:
        gain = [ma - mi for mi, ma in zip(normalizer.mi, normalizer.ma)]
        offset = list(normalizer.mi)
    if len(gain) == 1:
        return [ScaleLinearDescr(kwargs=ScaleLinearKwargs(gain=gain[0], offset=offset[0]))]
    return [ScaleLinearDescr(kwargs=ScaleLinearAlongAxisKwargs(axis=AxisId("channel"), gain=gain, offset=offset))]


def _output_channels(model: N2VModel | SegmentationModel) -> tuple[list[str], str]:
    """Names of the output channels and what the README says of them."""
    if isinstance(model, N2VModel):
        names = [f"channel{c}" for c in range(model.channels)]
        return names, "The output is the denoised image, in the units of the input (the postprocessing undoes the normalisation)."
    if model.config.method == "unet":
        return ["background", "foreground", "border"], (
            "The output holds the probabilities of background, foreground and border (softmax over the three). "
            f"Instances are the connected foreground regions above {model.thresholds['prob_thresh']:g}, grown into the "
            f"border pixels ({model.config.border} borders), as in VoidSeg."
        )
    names = ["probability", *(f"ray{r}" for r in range(model.config.n_rays))]
    anisotropy = f" with anisotropy {tuple(model.config.anisotropy)}" if model.config.anisotropy else ""
    return names, (
        f"The output holds StarDist's object probability (channel 0) and the distances in pixels along {model.config.n_rays} "
        f"rays{anisotropy} (channels 1-{model.config.n_rays}). Instances are found by stardist's non-maximum suppression "
        f"with the tuned thresholds prob_thresh {model.thresholds['prob_thresh']:g} and nms_thresh "
        f"{model.thresholds['nms_thresh']:g} (also in the package's config)."
    )


def _axes(ndim: int, channel_names: list[str], *, divisor: int, halo: int, is_input: bool):
    """Input axes with sizes of ``divisor`` steps (at least ``divisor`` more than twice ``halo``), or output axes of the input's size with ``halo``."""
    from bioimageio.spec.model.v0_5 import (
        AxisId,
        BatchAxis,
        ChannelAxis,
        Identifier,
        ParameterizedSize,
        SizeReference,
        SpaceInputAxis,
        SpaceOutputAxisWithHalo,
        TensorId,
    )

    axes = [BatchAxis(), ChannelAxis(channel_names=[Identifier(name) for name in channel_names])]
    for axis in SPATIAL_IDS[ndim]:
        if is_input:
            smallest = -(-(2 * halo + divisor) // divisor) * divisor
            axes.append(SpaceInputAxis(id=AxisId(axis), size=ParameterizedSize(min=smallest, step=divisor)))
        else:
            size = SizeReference(tensor_id=TensorId(INPUT_ID), axis_id=AxisId(axis))
            axes.append(SpaceOutputAxisWithHalo(id=AxisId(axis), size=size, halo=halo))
    return axes


def _network_arrays(model: N2VModel | SegmentationModel, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The test input ``(1, C, *spatial)`` in image units and the model folder's own output for it, whole (no tiles)."""
    if isinstance(model, N2VModel):
        axes = ("C" if model.channels > 1 else "") + "ZYX"[-model.config.ndim:]
        output = model.predict(frame if model.channels > 1 else frame[0], tile_shape=None, axes=axes)
        output = output if model.channels > 1 else output[None]
    else:
        image = frame if model.channels > 1 else frame[0]
        output = model.raw_output(model.network_input(image, None), None)
    return frame[None], output[None]


def _packaged_network(model: N2VModel | SegmentationModel) -> tuple[PackagedNetwork, dict]:
    """The model's network(s) as one :class:`PackagedNetwork` with its weights, and the record that builds it."""
    if isinstance(model, N2VModel):
        record = package_record(model.model_record())
    else:
        denoiser = model.n2v.net.spec.to_dict() if model.config.denoises_input else None
        record = package_record(model.record(), denoiser)
    network = PackagedNetwork(record)
    network.net.load_state_dict(model.net.state_dict())
    if network.denoiser is not None:
        network.denoiser.load_state_dict(model.n2v.net.state_dict())
    return network.eval(), record


def describe(
    model: N2VModel | SegmentationModel,
    folder: Path,
    *,
    test_image: np.ndarray | None = None,
    name: str | None = None,
    description: str | None = None,
    authors: list[str] | None = None,
    license: str = DEFAULT_LICENSE,
):
    """The bioimage.io ``ModelDescr`` of ``model``, its files written into ``folder``."""
    from bioimageio.spec.model.v0_5 import (
        ArchitectureFromLibraryDescr,
        Author,
        CiteEntry,
        FileDescr,
        Identifier,
        InputTensorDescr,
        ModelDescr,
        OutputTensorDescr,
        PytorchStateDictWeightsDescr,
        TensorId,
        Version,
        WeightsDescr,
    )

    is_n2v = isinstance(model, N2VModel)
    config = model.config
    n2v = model if is_n2v else model.n2v
    n2v2 = bool(n2v.config.n2v2) if n2v is not None and (is_n2v or config.denoises_input) else False
    kind_text = "Noise2Void denoiser" if is_n2v else f"{'StarDist' if config.method == 'stardist' else '3-class U-Net'} segmenter"
    if not is_n2v:
        kind_text += f" (VoidSeg scheme {config.scheme})"
    ndim = config.ndim
    title = name or f"denoise2seg {kind_text}"
    summary = description or (
        f"A {ndim}D {kind_text} trained with napari-denoise2seg on {model.channels}-channel images."
        + ("" if is_n2v or not config.denoises_input else " Its input is first denoised by the Noise2Void network it carries.")
    )
    frame = test_frame(model, test_image)
    network_input, network_output = _network_arrays(model, frame)
    input_path, output_path = write_test_tensors(folder, network_input, network_output)
    network, record = _packaged_network(model)
    weights_path = folder / "weights.pt"
    torch.save(network.state_dict(), weights_path)
    channel_names, output_text = _output_channels(model)
    shown = network_output[:, 1:2] if not is_n2v and config.method == "unet" else network_output
    cover = write_cover(folder, network_input, shown, "denoised" if is_n2v else "foreground probability")
    citations = citations_for("n2v" if is_n2v else SEGMENTATION_KIND, getattr(config, "method", "n2v"), ndim, n2v2)
    readme = write_readme(
        folder, title=title, summary=summary, output_text=output_text, record=record, citations=citations,
        command="n2v" if is_n2v else "seg",
    )
    environment = write_environment(folder)
    normalizer = model.normalizer if is_n2v or not config.denoises_input else model.n2v.normalizer
    divisor = model.net.spec.divisor
    halo = output_halo(model)
    inputs = InputTensorDescr(
        id=TensorId(INPUT_ID),
        axes=_axes(ndim, [f"channel{c}" for c in range(model.channels)], divisor=divisor, halo=halo, is_input=True),
        test_tensor=FileDescr(source=input_path),
        preprocessing=_preprocessing(normalizer),
    )
    outputs = OutputTensorDescr(
        id=TensorId(OUTPUT_ID),
        axes=_axes(ndim, channel_names, divisor=divisor, halo=halo, is_input=False),
        test_tensor=FileDescr(source=output_path),
        postprocessing=_postprocessing(normalizer) if is_n2v else [],
    )
    architecture = ArchitectureFromLibraryDescr(
        callable=Identifier("PackagedNetwork"), import_from="denoise2seg.bioimageio.network", kwargs={"record": record}
    )
    weights = WeightsDescr(
        pytorch_state_dict=PytorchStateDictWeightsDescr(
            source=weights_path,
            architecture=architecture,
            pytorch_version=Version(torch.__version__.split("+")[0]),
            dependencies=FileDescr(source=environment),
        )
    )
    own = {"model": model.model_record() if is_n2v else model.record()}
    if not is_n2v and model.n2v is not None:
        own["n2v"] = model.n2v.model_record()
    tags = ["denoise2seg", "pytorch", f"{ndim}d", "noise2void" if is_n2v else "segmentation"]
    if not is_n2v:
        tags.append("stardist" if config.method == "stardist" else "unet")
    try:
        return ModelDescr(
            name=title,
            description=summary,
            authors=[Author(name=author) for author in (authors or [getpass.getuser()])],
            cite=[CiteEntry(text=text, url=url) for text, url in citations],
            license=license,
            documentation=FileDescr(source=readme),
            covers=[FileDescr(source=cover)],
            tags=tags,
            inputs=[inputs],
            outputs=[outputs],
            weights=weights,
            config={"denoise2seg": own},
        )
    except ValueError as err:
        first = str(err).splitlines()[:3]
        raise BioimageioError("bioimage.io does not accept this description: " + " ".join(first)[:500]) from err


def export_bioimageio(
    model_dir: str | Path,
    out: str | Path,
    *,
    test_image: np.ndarray | None = None,
    name: str | None = None,
    description: str | None = None,
    authors: list[str] | None = None,
    license: str = DEFAULT_LICENSE,
) -> Path:
    """Write the model folder ``model_dir`` as the bioimage.io package ``out`` (a ``.zip``); returns ``out``.

    ``test_image`` (one frame in the model's layout) gives the test tensors; by default a
    crop of the sample shipped here (single-channel models only). ``authors`` default to
    the login name, ``license`` to CC-BY-4.0. The package is tested with
    ``bioimageio.core.test_model`` first; a failed test raises :class:`BioimageioError`
    with bioimage.io's report and writes nothing. ``out`` is replaced if it exists (the
    caller asks first).
    """
    from bioimageio.core import test_model
    from bioimageio.spec import save_bioimageio_package

    if is_bioimageio_source(model_dir):
        raise BioimageioError(
            f"{model_dir} is a .zip or .yaml file or a package folder, not a model folder; give the model folder that "
            "n2v train or seg train wrote"
        )
    out = Path(out)
    if out.resolve().is_relative_to(Path(model_dir).resolve()):
        raise BioimageioError(f"{out} is inside the model folder {model_dir}; write the package elsewhere")
    check_metadata(name, license)
    model = load_model(model_dir, device="cpu")
    with tempfile.TemporaryDirectory(prefix="denoise2seg-bmz-") as scratch:
        scratch = Path(scratch)
        descr = describe(
            model, scratch, test_image=test_image, name=name, description=description, authors=authors, license=license
        )
        package = save_bioimageio_package(descr, output_path=scratch / "package.zip")
        summary = test_model(package, weight_format="pytorch_state_dict", devices=["cpu"])
        if summary.status != "passed":
            raise BioimageioError(f"bioimage.io's test of the package failed, nothing was written:\n{summary.format()}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(package), out)
    return out
