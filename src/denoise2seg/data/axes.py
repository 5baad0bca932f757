"""Axes of image arrays as letter strings (``"CYX"``, ``"TYX"``, ``"YXC"``...) and the layout a model sees.

An axes string has one letter per array axis, each at most once: ``S`` (samples), ``T``
(time), ``C`` (channels), ``Z``, ``Y`` and ``X``. A model sees ``(N, C, *spatial)``:
``S`` and ``T`` are samples, ``C`` the network's channels (1 when absent) and the spatial
axes are ``Y, X`` for a 2D model and ``Z, Y, X`` for a 3D one; for a 2D model ``Z`` is
a sample axis too, so a Z-stack is denoised slice by slice. :func:`to_samples` and
:func:`from_samples` move an array between its own axes and that layout.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

AXES_LETTERS = "STCZYX"
# The longest axis guessed to hold channels: RGBA has 4; microscopy rarely more, and a
# longer axis taken for channels would silently turn frames into network channels.
MAX_GUESSED_CHANNELS = 4
# Names of the axes before Y, X that are not channels, by how many there are.
_LEADING = {2: ("T", "TZ", "STZ"), 3: ("Z", "TZ", "STZ")}


def spatial_letters(spatial_ndim: int) -> str:
    """The spatial axes of a ``spatial_ndim``-D model, in the order it sees them: ``"YX"`` or ``"ZYX"``."""
    if spatial_ndim not in (2, 3):
        raise ValueError(f"spatial_ndim must be 2 or 3, got {spatial_ndim}")
    return "ZYX"[-spatial_ndim:]


def guess_axes(shape: Sequence[int], *, rgb: bool = False, spatial_ndim: int = 2) -> str:
    """Guess the axes of an array of ``shape`` from its sizes alone; show the guess so the user can change it.

    The rule:

    - a 2D array is ``YX``;
    - channels ``C``: the last axis when ``rgb`` (napari's RGB/RGBA layers) or when it
      has at most 4 values (an RGB TIFF, channels last); else the last axis before
      ``Y, X`` with at most 4 values, if any. An axis of more than 4 values is never
      guessed to be channels, so a stack of frames is not silently read as channels;
    - ``Y, X``: the last two axes that are not ``C``;
    - the other axes, in order: ``T`` for one (``Z`` for a 3D model), ``TZ`` for two,
      ``STZ`` for three.

    So ``(2, 512, 512)`` is ``CYX``, ``(30, 512, 512)`` is ``TYX``, ``(512, 512, 3)`` is
    ``YXC``, ``(10, 2, 512, 512)`` is ``TCYX`` and ``(10, 30, 512, 512)`` is ``TZYX``.
    Whether an axis is time or depth cannot be told from the shape: a Z-stack is guessed
    ``TYX`` for a 2D model, which denoises it slice by slice as ``ZYX`` would.
    """
    shape = tuple(int(s) for s in shape)
    spatial_letters(spatial_ndim)
    if len(shape) < 2:
        raise ValueError(f"an image needs at least 2 axes (Y, X), got shape {shape}")
    if len(shape) == 2:
        return "YX"
    if rgb and shape[-1] not in (3, 4):
        raise ValueError(f"an RGB image has 3 or 4 values on its last axis, got shape {shape}")
    if rgb or shape[-1] <= MAX_GUESSED_CHANNELS:
        channel_at = len(shape) - 1
    else:
        short = [i for i, size in enumerate(shape[:-2]) if size <= MAX_GUESSED_CHANNELS]
        channel_at = short[-1] if short else None
    others = [i for i in range(len(shape)) if i != channel_at]
    leading = others[:-2]
    names = _LEADING[spatial_ndim]
    if len(leading) > len(names):
        raise ValueError(f"cannot guess the axes of shape {shape} ({len(shape)} axes); give them, e.g. 'STCZYX'")
    letters = dict(zip(others[-2:], "YX"))
    if leading:
        letters.update(zip(leading, names[len(leading) - 1]))
    if channel_at is not None:
        letters[channel_at] = "C"
    return "".join(letters[i] for i in range(len(shape)))


def _suggestion(shape: tuple[int, ...], spatial_ndim: int) -> str:
    """``"e.g. 'CYX'"``: the guess for ``shape`` when it would pass :func:`check_axes`, else the letters to use."""
    try:
        guess = guess_axes(shape, spatial_ndim=spatial_ndim)
        _check_letters(guess, shape, spatial_ndim)
    except ValueError:
        return f"one letter of {', '.join(AXES_LETTERS)} per axis"
    return f"e.g. {guess!r}"


def _check_letters(axes: str, shape: tuple[int, ...], spatial_ndim: int) -> str | None:
    """What is wrong with ``axes`` for an array of ``shape`` (``None`` when nothing is)."""
    unknown = sorted({a for a in axes if a not in AXES_LETTERS})
    if unknown:
        return f"{', '.join(unknown)} {'is not an axis' if len(unknown) == 1 else 'are not axes'}"
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        return f"{', '.join(repeated)} {'is' if len(repeated) == 1 else 'are'} given twice"
    if len(axes) != len(shape):
        return f"they name {len(axes)} axes, the array has {len(shape)}"
    missing = [a for a in spatial_letters(spatial_ndim) if a not in axes]
    if missing:
        model = f"a {spatial_ndim}D model needs {', '.join(spatial_letters(spatial_ndim))}"
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing ({model})"
    return None


def check_axes(axes: str, shape: Sequence[int], *, name: str = "image", spatial_ndim: int = 2) -> str:
    """Return ``axes`` in capitals after checking that they fit an array of ``shape`` for a ``spatial_ndim``-D model.

    Raises ``ValueError`` naming ``name`` (a layer, a file), its shape, the axes and what
    to choose, when a letter is not one of ``S, T, C, Z, Y, X``, a letter is repeated,
    the number of letters is not the number of axes, or ``Y``/``X`` (and ``Z`` for a 3D
    model) is missing.
    """
    shape = tuple(int(s) for s in shape)
    given = str(axes).strip().upper()
    problem = _check_letters(given, shape, spatial_ndim)
    if problem is not None:
        raise ValueError(
            f"{name} of shape {shape} does not fit axes {given!r}: {problem}; "
            f"choose the axes of its shape, {_suggestion(shape, spatial_ndim)}"
        )
    return given


def check_frames_axes(
    axes: str,
    shape: Sequence[int],
    *,
    name: str = "image",
    choose: str = "give the axes TYX",
    spatial_ndim: int = 2,
    channels: bool = False,
    single_channel: str = "the scheme comparison takes single-channel images",
) -> str:
    """Check that checked ``axes`` of an image of ``shape`` are those of one frame or a stack of frames, for the segmenters.

    A frame is 2D (``YX``) for a 2D model and a volume (``ZYX``) for a 3D one, with one
    sample axis besides at most (``TYX``, ``ZYX`` and ``SYX`` are 2D frames; ``TZYX``
    volumes). With ``channels`` a ``C`` axis is allowed too (``CYX``, ``YXC``, ``TCYX``:
    the segmenter's input channels); without, axes with channels raise ``ValueError``
    naming ``name``, its shape and axes, why (``single_channel``: what takes one channel
    only) and ``choose`` (how to say that the axis holds frames where the caller is:
    ``--axes TYX``, the "Axes" field), so that a 2-channel image is never segmented as
    two frames. More than one sample axis is refused too.
    Returns ``axes``.
    """
    if "C" in axes and not channels:
        raise ValueError(
            f"{name} of shape {tuple(shape)} read as axes {axes!r} has channels, and {single_channel}; "
            f"{choose} if that axis holds frames, or use one channel on its own"
        )
    if len(axes) > spatial_ndim + 1 + ("C" in axes):
        spatial = spatial_letters(spatial_ndim)
        kind = "2D image (YX) or a stack of 2D frames (TYX)" if spatial_ndim == 2 else "volume (ZYX) or a stack of volumes (TZYX)"
        raise ValueError(
            f"{name} of shape {tuple(shape)} with axes {axes!r}: a {spatial_ndim}D segmentation takes a {kind}"
            f"{', with channels C' if channels else ''}, one axis besides {spatial}{' and C' if channels else ''} at most"
        )
    return axes


def as_frames(image: np.ndarray, axes: str, *, spatial_ndim: int = 2) -> np.ndarray:
    """``image`` with checked frames ``axes`` (:func:`check_frames_axes`) as one frame or a stack ``(T, ...)`` of frames.

    A frame is ``(*spatial)``, or ``(C, *spatial)`` when ``axes`` hold ``C``; spatial axes
    come in the model's order (``Y, X`` or ``Z, Y, X``) whatever their order in ``axes``,
    the sample axis, if any, first.
    """
    samples = to_samples(image, axes, spatial_ndim=spatial_ndim)
    if "C" not in axes:
        samples = samples[:, 0]
    return samples if _sample_letters(axes, spatial_ndim) else samples[0]


def segmentation_frames(
    images: Sequence[np.ndarray],
    axes: Sequence[str],
    names: Sequence[str],
    *,
    spatial_ndim: int = 2,
    channels: int | None = None,
    single_channel: str = "this model takes single-channel images",
    choose: str = "give the axes TYX",
) -> tuple[list[np.ndarray], int]:
    """Images with checked ``axes`` (one string each, ``names`` for messages) as segmenter frames, and their channel count.

    Each image is checked by :func:`check_frames_axes` (channels allowed unless
    ``channels`` is 1; ``single_channel`` and ``choose`` as there) and put into frames by
    :func:`as_frames`. ``channels`` is the count the caller needs (a model's; ``None``:
    any, the same for every image); another count raises ``ValueError`` naming the image,
    its axes and both counts.
    """
    frames, counts = [], []
    for image, image_axes, name in zip(images, axes, names):
        check_frames_axes(
            image_axes, np.shape(image), name=name, choose=choose, spatial_ndim=spatial_ndim, channels=channels != 1,
            single_channel=single_channel,
        )
        count = channel_count(np.shape(image), image_axes)
        wanted = channels if channels is not None else (counts[0] if counts else count)
        if count != wanted:
            raise ValueError(
                f"{name} with axes {image_axes} has {count} channel{'s' if count != 1 else ''}, but "
                + (f"the model takes {wanted}" if channels is not None else f"{names[0]} has {wanted}; give images of one channel count")
            )
        counts.append(count)
        frames.append(as_frames(image, image_axes, spatial_ndim=spatial_ndim))
    return frames, counts[0] if counts else 1


def parse_axes_list(text: str, count: int) -> list[str]:
    """Axes for ``count`` images from ``text``: one axes string for all, or ``count`` separated by commas.

    The strings come back stripped and in capitals, not yet checked against shapes (see
    :func:`check_axes`).
    """
    parts = [part.strip().upper() for part in str(text).split(",")]
    if any(not part for part in parts):
        raise ValueError(f"axes {text!r} hold an empty entry; give axes such as 'CYX', or one per image separated by commas")
    if len(parts) == 1:
        return parts * count
    if len(parts) != count:
        raise ValueError(
            f"got {len(parts)} axes ({text!r}) for {count} images; give one axes string for all of them or one per image"
        )
    return parts


def default_axes(ndim: int, *, spatial_ndim: int = 2, channels: int = 1) -> str:
    """The axes assumed when none are given: the spatial axes last, channels before them, one stack axis ``T`` first.

    For a one-channel model an array of ``spatial_ndim`` axes is one sample and one of
    ``spatial_ndim + 1`` a stack (``YX``, ``TYX``; ``ZYX``, ``TZYX``); with several
    channels the channel axis comes before the spatial ones (``CYX``, ``TCYX``). An array
    of ``spatial_ndim`` axes has no channel axis whatever the model (``YX``).
    """
    spatial = spatial_letters(spatial_ndim)
    if ndim == spatial_ndim:
        return spatial
    channel = "C" if channels > 1 else ""
    extra = ndim - spatial_ndim - len(channel)
    if extra not in (0, 1):
        raise ValueError(f"cannot assume the axes of a {ndim}D array for this model; give them (axes=...)")
    return "T" * extra + channel + spatial


def _sample_letters(axes: str, spatial_ndim: int) -> list[str]:
    spatial = spatial_letters(spatial_ndim)
    return [a for a in axes if a != "C" and a not in spatial]


def _model_order(axes: str, spatial_ndim: int) -> list[int]:
    """Positions in ``axes`` of the sample axes (in their order), ``C`` when present, then the spatial axes."""
    letters = _sample_letters(axes, spatial_ndim) + (["C"] if "C" in axes else []) + list(spatial_letters(spatial_ndim))
    return [axes.index(a) for a in letters]


def without_channel(values: Sequence, axes: str) -> tuple:
    """``values`` (one per letter of ``axes``: sizes, offsets, slices) without the one of ``C``: those of a label image."""
    return tuple(value for value, letter in zip(values, axes) if letter != "C")


def channel_count(shape: Sequence[int], axes: str) -> int:
    """Number of channels of an array of ``shape`` with ``axes``: the size of ``C``, 1 without it."""
    return int(shape[axes.index("C")]) if "C" in axes else 1


def to_samples(image: np.ndarray, axes: str, *, spatial_ndim: int = 2) -> np.ndarray:
    """Rearrange ``image`` with (checked) ``axes`` into ``(N, C, *spatial)`` for a ``spatial_ndim``-D model.

    ``N`` is the product of the sizes of the sample axes (``S``, ``T``, and ``Z`` for a 2D
    model) in their order in ``axes``, 1 when there are none; ``C`` the number of
    channels (1 without a ``C`` axis); spatial axes come as ``Y, X`` (``Z, Y, X``). A view
    of ``image`` when numpy can give one, else a copy; values and dtype are unchanged.
    """
    image = np.asarray(image)
    order = _model_order(axes, spatial_ndim)
    moved = np.transpose(image, order)
    spatial = moved.shape[moved.ndim - spatial_ndim :]
    n_samples = int(np.prod(moved.shape[: len(_sample_letters(axes, spatial_ndim))], dtype=np.int64))
    return moved.reshape(n_samples, channel_count(image.shape, axes), *spatial)


def from_samples(samples: np.ndarray, axes: str, shape: Sequence[int], *, spatial_ndim: int = 2) -> np.ndarray:
    """The inverse of :func:`to_samples`: ``(N, C_out, *spatial)`` back in ``axes`` for an input of ``shape``.

    ``C_out`` may differ from the input's channel count when ``axes`` hold ``C`` (the
    result then has ``C_out`` values on that axis); without ``C`` it must be 1.
    """
    samples = np.asarray(samples)
    shape = tuple(int(s) for s in shape)
    order = _model_order(axes, spatial_ndim)
    if "C" not in axes and samples.shape[1] != 1:
        raise ValueError(f"{samples.shape[1]} output channels cannot be put back into axes {axes!r}, which have no C")
    sizes = [samples.shape[1] if axes[i] == "C" else shape[i] for i in order]
    return np.transpose(samples.reshape(sizes), np.argsort(order))
