"""3D segmentation: StarDist 3D geometry (stardist's rays, NMS, polyhedra) and 3-class targets round-trip a
3D mask; 3D U-Net and StarDist 3D train on painted nuclei of stardist's 3D sample and segment volumes and
stacks of volumes; the annotation margin holds in Z; bad input is refused with the shapes."""

import numpy as np
import pytest
from stardist import data as stardist_data

from denoise2seg.metrics import average_precision, score_image
from denoise2seg.n2v import N2VConfig, train_n2v
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation
from denoise2seg.segmentation.annotations import collect_annotated_frames
from denoise2seg.segmentation.config import anisotropy_of
from denoise2seg.segmentation.star_convex import DIST, instances_from_stardist, stardist_targets
from denoise2seg.segmentation.three_class import instances_from_probabilities, three_class_targets

TINY_3D = dict(
    ndim=3, patch_size=16, patch_depth=8, batch_size=2, epochs=1, steps_per_epoch=3, depth=1, n_filters=4,
    stardist_features=8, n_rays=16, annotation_margin=2, seed=0,
)


@pytest.fixture(scope="module")
def whole_mask_3d():
    """The mask of stardist's 3D nuclei sample, 31 x 61 x 57 voxels, 51 nuclei."""
    return stardist_data.test_image_nuclei_3d(return_mask=True)[1].astype(np.int32)


@pytest.fixture(scope="module")
def nuclei_3d():
    """stardist's 3D nuclei sample cut to 31 x 32 x 32 voxels: ``(image, mask)``."""
    image, mask = stardist_data.test_image_nuclei_3d(return_mask=True)
    return image[:, :32, :32].astype(np.float32), mask[:, :32, :32].astype(np.int32)


def painted_nuclei(mask: np.ndarray, count: int) -> np.ndarray:
    """``count`` whole nuclei of ``mask`` (every voxel of each), the others left unpainted."""
    ids = [i for i in np.unique(mask) if i][:count]
    return np.where(np.isin(mask, ids), mask, 0).astype(np.int32)


@pytest.fixture(scope="module")
def n2v_3d_folder(tmp_path_factory, nuclei_3d):
    folder = tmp_path_factory.mktemp("n2v3d")
    config = N2VConfig(ndim=3, patch_size=16, batch_size=2, epochs=1, steps_per_epoch=3, depth=1, n_filters=4, seed=0)
    for _ in train_n2v(nuclei_3d[0], config, out_dir=folder, device="cpu"):
        pass
    return folder


def test_stardist_3d_targets_and_nms_reproduce_the_mask(whole_mask_3d):
    mask = whole_mask_3d
    targets = stardist_targets(mask, 32)
    assert targets.shape == (34, *mask.shape)
    assert np.all((targets[1] > 0) == (mask > 0))
    predicted = instances_from_stardist(targets[1], targets[DIST:], prob_thresh=0.5, nms_thresh=0.4)
    assert predicted.shape == mask.shape
    assert average_precision(mask, predicted) > 0.8


def test_anisotropic_rays_measure_the_same_objects_in_fewer_slices(whole_mask_3d):
    # Every other slice: the same nuclei seen with a Z step twice the pixel size.
    thin = whole_mask_3d[::2]
    scores = {}
    for anisotropy in (None, (2.0, 1.0, 1.0)):
        prob, dist = _prob_dist(stardist_targets(thin, 32, anisotropy=anisotropy))
        scores[anisotropy] = average_precision(thin, instances_from_stardist(prob, dist, 0.5, 0.4, anisotropy=anisotropy))
    assert scores[(2.0, 1.0, 1.0)] > scores[None] + 0.2


def _prob_dist(targets):
    return targets[1], targets[DIST:]


def test_three_class_targets_round_trip_in_3d(nuclei_3d):
    _, mask = nuclei_3d
    classes = three_class_targets(mask)
    probabilities = np.stack([(classes == k).astype(np.float32) for k in range(3)])
    assert average_precision(mask, instances_from_probabilities(probabilities, 0.5)) > 0.95


def test_the_annotation_margin_grows_the_box_in_z_too(nuclei_3d):
    image, mask = nuclei_3d
    painted = np.zeros_like(mask)
    painted[10:14, 10:14, 10:14] = 1
    (frame,) = collect_annotated_frames(image, painted, margin=3, patch_shape=(4, 8, 8))
    region = np.argwhere(frame.valid)
    origin = [c.start for c in frame.crop]
    assert [tuple(region.min(axis=0) + origin), tuple(region.max(axis=0) + origin)] == [(7, 7, 7), (16, 16, 16)]


def test_anisotropy_from_a_voxel_size():
    assert anisotropy_of((2.0, 0.5, 0.5)) == (4.0, 1.0, 1.0)
    assert anisotropy_of((1.0, 1.0, 1.0)) is None
    with pytest.raises(ValueError, match="three positive sizes"):
        anisotropy_of((0.0, 1.0, 1.0))


@pytest.mark.parametrize("method, scheme", [("unet", "baseline"), ("unet", "finetune"), ("stardist", "sequential")])
def test_3d_models_train_and_segment_volumes_and_stacks(tmp_path, nuclei_3d, n2v_3d_folder, method, scheme):
    image, mask = nuclei_3d
    config = SegmentationConfig(method=method, scheme=scheme, anisotropy=(2.0, 1.0, 1.0) if method == "stardist" else None, **TINY_3D)
    n2v = None if scheme == "baseline" else n2v_3d_folder
    events = list(train_segmentation(image, painted_nuclei(mask, 4), config, n2v_model=n2v, out_dir=tmp_path, device="cpu"))
    assert events[-1].kind == "done"
    model = SegmentationModel.load(tmp_path, device="cpu")
    assert model.config.ndim == 3 and model.net.spec.ndim == 3
    assert model.config.anisotropy == config.anisotropy
    volume = model.predict(image)
    assert volume.shape == image.shape and volume.dtype == np.int32
    stack = model.predict(np.stack([image, image[:, ::-1]]))
    np.testing.assert_array_equal(stack[0], volume)
    score_image(mask, volume, ndim=3)


def test_a_3d_model_refuses_a_2d_image_naming_what_it_takes(tmp_path, nuclei_3d):
    image, mask = nuclei_3d
    with pytest.raises(ValueError, match=r"must be 3D or 4D, got an array of shape \(32, 32\)"):
        next(iter(train_segmentation(image[0], mask[0], SegmentationConfig(**TINY_3D), out_dir=tmp_path, device="cpu")))
    config = SegmentationConfig(**TINY_3D)
    for _ in train_segmentation(image, painted_nuclei(mask, 3), config, out_dir=tmp_path, device="cpu"):
        pass
    with pytest.raises(ValueError, match=r"a volume ZYX or a stack of volumes TZYX\) must be 3D or 4D"):
        SegmentationModel.load(tmp_path, device="cpu").predict(image[0])


def test_3d_settings_are_checked_when_made():
    assert SegmentationConfig(ndim=3).patch_shape == (16, 64, 64)
    assert SegmentationConfig(ndim=3).n_rays == 96 and SegmentationConfig().n_rays == 32
    with pytest.raises(ValueError, match="patch_depth 6 must be divisible"):
        SegmentationConfig(ndim=3, patch_depth=6)
    with pytest.raises(ValueError, match="anisotropy is the .* voxel size of a 3D model"):
        SegmentationConfig(anisotropy=(2.0, 1.0, 1.0))
