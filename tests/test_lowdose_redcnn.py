"""RED-CNN shapes and its residual structure."""

import pytest
import torch

from denoise2seg.nets.redcnn import REDCNN, REDCNNSpec


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 37, 50), (1, 1, 21, 21)])
def test_output_shape_equals_input(shape):
    net = REDCNN(n_filters=4)
    assert net(torch.rand(shape)).shape == shape


def test_paper_defaults_and_too_small_input():
    net = REDCNN()
    assert net.spec == REDCNNSpec(n_filters=96, kernel_size=5)
    assert len(net.convs) == 5 and len(net.deconvs) == 5
    assert all(c.out_channels == 96 and c.kernel_size == (5, 5) for c in net.convs)
    with pytest.raises(ValueError, match="at least 21"):
        net(torch.rand(1, 1, 20, 40))


def test_shortcut_passes_input_when_branches_are_silent():
    net = REDCNN(n_filters=4)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(net(x), x)
