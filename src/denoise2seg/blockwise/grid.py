"""The block grid of a blockwise prediction: cores that tile the image, and the windows of context around them.

All positions are pixels of the image's spatial axes. Core edges and context widths are
multiples of the network's size divisor (``2**depth``), so that every window starts on the
pooling grid of the whole image and its prediction equals the whole image's in the core.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


def round_up(value: int, divisor: int) -> int:
    """``value`` rounded up to a multiple of ``divisor``."""
    return -(-int(value) // divisor) * divisor


@dataclass(frozen=True)
class Block:
    """One block: its ``index`` in the grid, its ``core`` (what it writes) and its ``window`` (what it reads)."""

    index: tuple[int, ...]
    core: tuple[slice, ...]
    window: tuple[slice, ...]

    @property
    def core_in_window(self) -> tuple[slice, ...]:
        """The core as slices of the window."""
        return tuple(slice(c.start - w.start, c.stop - w.start) for c, w in zip(self.core, self.window))

    @property
    def core_shape(self) -> tuple[int, ...]:
        return tuple(c.stop - c.start for c in self.core)


def core_edges(shape: tuple[int, ...], chunks: int | tuple[int, ...], divisor: int) -> tuple[int, ...]:
    """Core edge per axis: ``chunks`` (one for all axes or one per axis) rounded up to ``divisor``, at most the image."""
    chunks = (chunks,) * len(shape) if isinstance(chunks, int) else tuple(chunks)
    if len(chunks) != len(shape) or min(chunks) < 1:
        raise ValueError(f"chunks must give {len(shape)} sizes >= 1 (one per spatial axis), got {chunks}")
    return tuple(min(round_up(c, divisor), round_up(s, divisor)) for c, s in zip(chunks, shape))


def block_grid(shape: tuple[int, ...], edges: tuple[int, ...], context: int) -> list[Block]:
    """The blocks whose cores of ``edges`` tile ``shape``, each with ``context`` pixels around it (clipped to the image)."""
    starts = [range(0, size, edge) for size, edge in zip(shape, edges)]
    blocks = []
    for index in itertools.product(*(range(len(s)) for s in starts)):
        core = tuple(slice(s[i], min(s[i] + e, size)) for s, i, e, size in zip(starts, index, edges, shape))
        window = tuple(slice(max(c.start - context, 0), min(c.stop + context, size)) for c, size in zip(core, shape))
        blocks.append(Block(index, core, window))
    return blocks


def grid_shape(shape: tuple[int, ...], edges: tuple[int, ...]) -> tuple[int, ...]:
    """Blocks per axis."""
    return tuple(-(-size // edge) for size, edge in zip(shape, edges))
