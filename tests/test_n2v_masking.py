"""Blind-spot masking and the masked loss of Noise2Void, checked on small tensors."""

import math

import pytest
import torch

from denoise2seg.n2v import blind_spot_mask, masked_mse
from denoise2seg.n2v.masking import stratified_positions


def _unique_patches(n, spatial, channels=1):
    count = int(torch.tensor(spatial).prod())
    values = torch.arange(n * count, dtype=torch.float32).view(n, 1, *spatial)
    return values.expand(n, channels, *spatial).clone()


@pytest.mark.parametrize("spatial", [(64, 64), (16, 16, 16)])
def test_fraction_of_masked_pixels(spatial):
    patches = torch.randn(8, 1, *spatial)
    masked, mask = blind_spot_mask(patches, fraction=0.00198, radius=2)
    counts = mask.flatten(1).sum(1)
    assert mask.shape == (8, 1, *spatial)
    # one blind spot per grid box: the same count in every patch, close to the fraction
    assert len(set(counts.tolist())) == 1
    assert 0.5 * 0.00198 < counts[0].item() / patches[0, 0].numel() < 2 * 0.00198
    # Unmasked pixels are untouched.
    assert torch.equal(masked[~mask.expand_as(masked)], patches[~mask.expand_as(patches)])


def test_blind_spots_are_stratified_one_per_grid_box():
    generator = torch.Generator().manual_seed(0)
    coords = stratified_positions(2000, (64, 64), 0.00198, generator)
    span = round(0.00198 ** -0.5)
    boxes = coords // span
    # every patch has exactly one position in each box, and boxes at the border are covered too
    assert all(len({tuple(b) for b in patch.tolist()}) == coords.shape[1] for patch in boxes[:50])
    assert coords.shape[1] == math.ceil(64 / span) ** 2 and coords.max() == 63 and coords.min() == 0
    # uniform draws put two blind spots within 2 px in about 7 % of patches; stratified, far fewer
    distances = (coords[:, :, None, :] - coords[:, None, :, :]).abs().amax(-1)
    distances = distances + 1000 * torch.eye(coords.shape[1], dtype=torch.long)
    close = (distances.flatten(1).min(1).values <= 2).float().mean().item()
    uniform = torch.rand(2000, 4096, generator=generator).topk(coords.shape[1], dim=1).indices
    uniform = torch.stack(torch.unravel_index(uniform, (64, 64)), dim=-1)
    uniform_distances = (uniform[:, :, None, :] - uniform[:, None, :, :]).abs().amax(-1) + 1000 * torch.eye(coords.shape[1], dtype=torch.long)
    uniform_close = (uniform_distances.flatten(1).min(1).values <= 2).float().mean().item()
    assert close < uniform_close / 2


@pytest.mark.parametrize("spatial, radius", [((6, 6), 2), ((5, 7), 2), ((4, 4, 4), 1), ((9, 9), 3)])
def test_replacement_is_a_neighbour_within_radius_never_the_pixel_itself(spatial, radius):
    # Each pixel holds its own flat index, so a replaced value names its source pixel.
    # Tiny patches with a large fraction put most masked pixels next to the border,
    # where mirroring could otherwise land on the pixel itself.
    torch.manual_seed(0)
    n = 400
    patches = _unique_patches(n, spatial)
    masked, mask = blind_spot_mask(patches, fraction=0.3, radius=radius)
    where = torch.nonzero(mask[:, 0])
    source_flat = masked[:, 0][mask[:, 0]].long() - where[:, 0] * patches[0, 0].numel()
    source = torch.stack(torch.unravel_index(source_flat, spatial), dim=-1)
    distance = (source - where[:, 1:]).abs()
    assert (distance.max(dim=1).values >= 1).all(), "a masked pixel kept its own value"
    assert (distance <= radius).all()
    # Every offset of the window (centre excluded) occurs.
    assert len({tuple(d) for d in (source - where[:, 1:]).tolist()}) == (2 * radius + 1) ** len(spatial) - 1


def test_all_channels_of_a_pixel_come_from_the_same_neighbour():
    patches = _unique_patches(4, (16, 16), channels=3)
    patches[:, 1] += 1e5
    patches[:, 2] *= -1
    masked, mask = blind_spot_mask(patches, fraction=0.05, radius=2)
    m = mask[:, 0]
    assert torch.equal(masked[:, 1][m] - 1e5, masked[:, 0][m])
    assert torch.equal(-masked[:, 2][m], masked[:, 0][m])


def test_patch_not_larger_than_window_is_rejected():
    with pytest.raises(ValueError, match="larger than 2 \\* radius"):
        blind_spot_mask(torch.zeros(1, 1, 4, 4), radius=2)


def test_masked_mse_sees_only_masked_pixels():
    torch.manual_seed(1)
    target = torch.randn(2, 2, 8, 8)
    prediction = torch.randn(2, 2, 8, 8)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[0, 0, 1, 2] = mask[1, 0, 5, 5] = True
    loss = masked_mse(prediction, target, mask)
    expected = ((prediction - target)[mask.expand_as(target)] ** 2).mean()
    assert torch.isclose(loss, expected)
    changed = prediction.clone()
    changed[~mask.expand_as(changed)] = 1e6
    assert torch.isclose(masked_mse(changed, target, mask), loss)
