"""Axes strings: the guess from a shape, the checks and their messages, and the samples x channels x spatial layout."""

import numpy as np
import pytest

from denoise2seg.data.axes import (
    channel_count,
    check_axes,
    default_axes,
    from_samples,
    guess_axes,
    parse_axes_list,
    to_samples,
)


@pytest.mark.parametrize(
    "shape, kwargs, expected",
    [
        ((64, 48), {}, "YX"),
        ((2, 64, 48), {}, "CYX"),
        ((4, 64, 48), {}, "CYX"),
        ((5, 64, 48), {}, "TYX"),
        ((30, 64, 48), {}, "TYX"),
        ((30, 64, 48), {"spatial_ndim": 3}, "ZYX"),
        ((64, 48, 3), {}, "YXC"),
        ((64, 48, 3), {"rgb": True}, "YXC"),
        ((64, 48, 4), {"rgb": True}, "YXC"),
        ((10, 64, 48, 3), {"rgb": True}, "TYXC"),
        ((10, 2, 64, 48), {}, "TCYX"),
        ((10, 30, 64, 48), {}, "TZYX"),
        ((2, 30, 64, 48), {"spatial_ndim": 3}, "CZYX"),
        ((10, 30, 3, 64, 48), {}, "TZCYX"),
        ((8, 10, 30, 64, 48), {}, "STZYX"),
    ],
)
def test_guess_follows_the_documented_rule(shape, kwargs, expected):
    assert guess_axes(shape, **kwargs) == expected


def test_a_long_first_axis_is_never_guessed_to_be_channels_nor_a_short_one_frames():
    for first in range(1, 40):
        guess = guess_axes((first, 32, 32))
        assert guess == ("CYX" if first <= 4 else "TYX"), first


@pytest.mark.parametrize("shape, kwargs", [((10,), {}), ((64, 48, 5), {"rgb": True}), ((2, 2, 2, 2, 2, 8, 8), {})])
def test_shapes_that_cannot_be_guessed_are_refused(shape, kwargs):
    with pytest.raises(ValueError):
        guess_axes(shape, **kwargs)


def test_check_returns_the_axes_in_capitals():
    assert check_axes(" cyx ", (2, 8, 8)) == "CYX"


@pytest.mark.parametrize(
    "axes, shape, spatial_ndim, parts",
    [
        ("YX", (2, 64, 64), 2, ["they name 2 axes, the array has 3", "e.g. 'CYX'"]),
        ("CYXQ", (2, 64, 64, 1), 2, ["Q is not an axis"]),
        ("YYX", (2, 64, 64), 2, ["Y is given twice"]),
        ("CTX", (2, 5, 64), 2, ["Y is missing"]),
        ("TYX", (30, 64, 64), 3, ["Z is missing", "a 3D model needs Z, Y, X", "e.g. 'ZYX'"]),
    ],
)
def test_check_names_the_image_its_shape_the_axes_and_what_to_choose(axes, shape, spatial_ndim, parts):
    with pytest.raises(ValueError) as error:
        check_axes(axes, shape, name="layer 'cells'", spatial_ndim=spatial_ndim)
    message = str(error.value)
    assert f"layer 'cells' of shape {shape} does not fit axes {axes!r}" in message
    for part in parts:
        assert part in message


def test_axes_lists_give_one_per_image():
    assert parse_axes_list("CYX", 3) == ["CYX"] * 3
    assert parse_axes_list("YX, TYX", 2) == ["YX", "TYX"]
    with pytest.raises(ValueError, match="got 3 axes"):
        parse_axes_list("YX,TYX,CYX", 2)
    with pytest.raises(ValueError, match="empty entry"):
        parse_axes_list("YX,", 2)


def test_default_axes_are_those_of_a_sample_or_a_stack():
    assert [default_axes(n) for n in (2, 3)] == ["YX", "TYX"]
    assert [default_axes(n, spatial_ndim=3) for n in (3, 4)] == ["ZYX", "TZYX"]
    assert [default_axes(n, channels=2) for n in (2, 3, 4)] == ["YX", "CYX", "TCYX"]
    with pytest.raises(ValueError, match="give them"):
        default_axes(4)


LAYOUTS = [
    # axes, shape, spatial_ndim, (N, C, *spatial)
    ("YX", (6, 7), 2, (1, 1, 6, 7)),
    ("XY", (7, 6), 2, (1, 1, 6, 7)),
    ("CYX", (2, 6, 7), 2, (1, 2, 6, 7)),
    ("TYX", (3, 6, 7), 2, (3, 1, 6, 7)),
    ("ZYX", (4, 6, 7), 2, (4, 1, 6, 7)),
    ("ZYX", (4, 6, 7), 3, (1, 1, 4, 6, 7)),
    ("YXC", (6, 7, 3), 2, (1, 3, 6, 7)),
    ("TCYX", (3, 2, 6, 7), 2, (3, 2, 6, 7)),
    ("TZYX", (3, 4, 6, 7), 2, (12, 1, 6, 7)),
    ("TZYX", (3, 4, 6, 7), 3, (3, 1, 4, 6, 7)),
    ("CZYX", (2, 4, 6, 7), 3, (1, 2, 4, 6, 7)),
    ("TZCYX", (3, 4, 2, 6, 7), 2, (12, 2, 6, 7)),
    ("STYXC", (2, 3, 6, 7, 4), 2, (6, 4, 6, 7)),
]


@pytest.mark.parametrize("axes, shape, spatial_ndim, layout", LAYOUTS, ids=[f"{a}-{n}D" for a, _, n, _ in LAYOUTS])
def test_samples_layout_and_back_round_trip(axes, shape, spatial_ndim, layout):
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    samples = to_samples(image, axes, spatial_ndim=spatial_ndim)
    assert samples.shape == layout and samples.dtype == image.dtype
    assert channel_count(shape, axes) == layout[1]
    np.testing.assert_array_equal(from_samples(samples, axes, shape, spatial_ndim=spatial_ndim), image)


def test_samples_hold_the_pixels_named_by_the_axes():
    """A TCYX value lands at sample t, channel c, pixel (y, x); a YXC value at channel c of the one sample."""
    tcyx = np.arange(3 * 2 * 4 * 5).reshape(3, 2, 4, 5)
    np.testing.assert_array_equal(to_samples(tcyx, "TCYX")[2, 1], tcyx[2, 1])
    yxc = np.arange(4 * 5 * 3).reshape(4, 5, 3)
    np.testing.assert_array_equal(to_samples(yxc, "YXC")[0, 2], yxc[:, :, 2])
    czyx = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    # a 2D model sees the Z slices as samples, each with both channels
    np.testing.assert_array_equal(to_samples(czyx, "CZYX")[1], czyx[:, 1])


def test_results_with_other_channel_counts_go_back_into_the_channel_axis():
    shape = (6, 7, 3)
    assert from_samples(np.zeros((1, 2, 6, 7)), "YXC", shape).shape == (6, 7, 2)
    with pytest.raises(ValueError, match="no C"):
        from_samples(np.zeros((3, 2, 6, 7)), "TYX", (3, 6, 7))
