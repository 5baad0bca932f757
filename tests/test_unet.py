"""The shared U-Net: shapes in 2D/3D, CSBDeep widths, swappable heads, clear errors."""

import pytest
import torch

from denoise2seg.nets import UNet, UNetSpec


@pytest.mark.parametrize("ndim, shape", [(2, (2, 3, 16, 24)), (3, (1, 3, 8, 16, 8))])
def test_output_shape_follows_input_and_out_channels(ndim, shape):
    net = UNet(UNetSpec(ndim=ndim, in_channels=3, out_channels=5, depth=2, n_filters=4))
    out = net(torch.randn(shape))
    assert out.shape == (shape[0], 5, *shape[2:])


def test_widths_follow_csbdeep_unet_block():
    net = UNet(UNetSpec(depth=2, n_filters=32))
    convs = [m for m in net.bottleneck if isinstance(m, torch.nn.Conv2d)]
    # CSBDeep: the bottleneck widens to n_filters * 2**depth, then narrows to the level above.
    assert [c.out_channels for c in convs] == [128, 64]
    first_decoder = [m for m in net.decoder[0] if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in first_decoder] == [64, 32]
    assert net.features(torch.zeros(1, 1, 8, 8)).shape[1] == net.body_channels == 32


def test_replace_head_keeps_body_weights():
    net = UNet(UNetSpec(depth=1, n_filters=4))
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("head")}
    net.replace_head(4)
    for name, value in net.state_dict().items():
        if not name.startswith("head"):
            assert torch.equal(value, body[name])
    assert net.spec.out_channels == 4
    assert net(torch.zeros(1, 1, 8, 8)).shape[1] == 4


def test_indivisible_input_is_a_clear_error():
    net = UNet(UNetSpec(depth=2, n_filters=4))
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 1, 10, 12))


@pytest.mark.parametrize(
    "overrides", [{"ndim": 4}, {"depth": 0}, {"n_filters": 0}, {"kernel_size": 2}, {"out_channels": 0}]
)
def test_invalid_spec_raises_value_error(overrides):
    with pytest.raises(ValueError):
        UNetSpec(**overrides)


def test_receptive_radius_bounds_what_an_output_pixel_sees():
    torch.manual_seed(0)
    net = UNet(UNetSpec(depth=2, n_filters=4)).eval()
    radius = net.spec.receptive_radius
    size = 4 * ((2 * radius + 40) // 4)
    image = torch.randn(1, 1, size, size)
    changed = image.clone()
    changed[..., size // 2, size // 2] += 10.0
    with torch.no_grad():
        diff = (net(image) - net(changed)).abs()[0, 0]
    rows, cols = torch.nonzero(diff > 1e-6, as_tuple=True)
    assert len(rows) > 0
    assert (rows - size // 2).abs().max() <= radius and (cols - size // 2).abs().max() <= radius
