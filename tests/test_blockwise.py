"""Blockwise prediction: denoising equals whole-image prediction, instance labels agree across block borders."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from denoise2seg.blockwise.grid import block_grid, core_edges
from denoise2seg.blockwise.labels import core_labels
from denoise2seg.blockwise.predict import blockwise_predict
from denoise2seg.metrics import score_image
from denoise2seg.n2v import N2VModel
from denoise2seg.segmentation import SegmentationConfig, SegmentationModel, train_segmentation


def test_blocks_tile_the_image_with_context_clipped_at_its_borders():
    edges = core_edges((100, 70), 32, divisor=8)
    blocks = block_grid((100, 70), edges, context=16)
    covered = np.zeros((100, 70), int)
    for block in blocks:
        covered[block.core] += 1
        assert all(w.start == max(c.start - 16, 0) and w.stop == min(c.stop + 16, n) for c, w, n in zip(block.core, block.window, (100, 70)))
    assert edges == (32, 32) and (covered == 1).all() and len(blocks) == 4 * 3


@pytest.mark.parametrize("chunks", [(64, 64), (48, 96)])
def test_blockwise_denoising_equals_whole_image_prediction(depth2_n2v_folder, nuclei_256, chunks):
    image = nuclei_256[0][:, :200]
    whole = N2VModel.load(depth2_n2v_folder, device="cpu").predict(image, tile_shape=None)
    result = blockwise_predict(depth2_n2v_folder, da.from_array(image, chunks=50), output="denoised", chunks=chunks, device="cpu")
    assert result.numblocks == tuple(-(-s // c) for s, c in zip(image.shape, chunks))
    with dask.config.set(scheduler="threads"):
        blockwise = result.compute()
    np.testing.assert_allclose(blockwise, whole, atol=1e-4)


def test_an_object_across_a_block_border_keeps_one_id_in_both_blocks():
    full = np.zeros((20, 20), np.int32)
    full[8:12, 6:14] = 7  # crosses the border at x = 10
    left = core_labels(full[:, :16], (slice(0, 20), slice(0, 10)), (0, 0), full.shape)
    right = core_labels(full[:, 4:], (slice(0, 20), slice(6, 16)), (0, 4), full.shape)
    stitched = np.concatenate([left, right], axis=1)
    assert np.unique(stitched[full > 0]).size == 1 and (stitched[full == 0] == 0).all()
    assert stitched[8, 6] == 8 * 20 + 6 + 1


@pytest.mark.parametrize("method", ["unet", "stardist"])
def test_blockwise_labels_match_whole_image_labels(tmp_path, nuclei_256, method):
    noisy, mask = nuclei_256
    config = SegmentationConfig(
        method=method, patch_size=64, batch_size=4, epochs=2, steps_per_epoch=20, learning_rate=0.005, depth=2, n_filters=16, seed=0
    )
    for _ in train_segmentation([noisy], [mask], config, out_dir=tmp_path / "seg", device="cpu"):
        pass
    whole = SegmentationModel.load(tmp_path / "seg", device="cpu").predict(noisy, tile_shape=None)
    assert whole.max() > 10
    labels = blockwise_predict(tmp_path / "seg", noisy, output="labels", chunks=96, device="cpu").compute()
    assert score_image(whole, labels).ap_50 >= 0.99
    # A tiled mosaic of the image: objects cross the block borders at other places.
    mosaic = np.block([[noisy, noisy[:, ::-1]], [noisy[::-1], noisy[::-1, ::-1]]])
    whole_mosaic = SegmentationModel.load(tmp_path / "seg", device="cpu").predict(mosaic, tile_shape=None)
    mosaic_labels = blockwise_predict(tmp_path / "seg", mosaic, output="labels", chunks=(112, 80), device="cpu").compute()
    assert score_image(whole_mosaic, mosaic_labels).ap_50 >= 0.99


def test_the_wrong_model_or_frame_is_refused(depth2_n2v_folder, nuclei_256):
    with pytest.raises(ValueError, match="instance labels need a segmentation model"):
        blockwise_predict(depth2_n2v_folder, nuclei_256[0], output="labels")
    with pytest.raises(ValueError, match=r"not one frame YX of the model"):
        blockwise_predict(depth2_n2v_folder, np.stack([nuclei_256[0]] * 2), output="denoised")
