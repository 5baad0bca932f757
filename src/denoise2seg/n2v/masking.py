"""Blind-spot masking of Noise2Void as pure torch functions (run on the training device).

Krull et al. 2019: in each patch a small fraction of pixels (0.198% by default, N2V's
``n2v_perc_pix``) is replaced by the value of a random neighbour from a small window
(5x5, N2V's ``n2v_neighborhood_radius`` = 2), never the pixel itself; the loss is the
MSE between the network output and the original values at those pixels only.

The masked pixels are stratified, as in N2V's and CAREamics' code: the patch is cut into
boxes of about ``1 / fraction`` pixels and one random pixel of each box is masked, so
blind spots are spread over the patch instead of clustering (with uniform draws, 7 % of
64x64 patches had two blind spots within 2 px of each other, each one's replacement
value then being the other's input).

N2V2 (Hoeck et al. 2022) replaces a blind spot by the median of its window without the
centre instead (``replacement="median"``), one of its changes against the checkerboard
artefacts of N2V.
"""

from __future__ import annotations

import torch

REPLACEMENTS = ("random", "median")


def stratified_positions(
    n: int, spatial: tuple[int, ...], fraction: float, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """One random pixel per grid box of each of ``n`` patches of shape ``spatial``; ``(n, K, ndim)`` long coordinates.

    Boxes have ``round(fraction ** (-1 / ndim))`` pixels per side (at least 1), so about
    ``fraction`` of the pixels are chosen; boxes cut by the patch border draw inside the
    part that lies in the patch. ``K`` is the number of boxes, the same for every patch.
    """
    ndim = len(spatial)
    span = max(1, round(fraction ** (-1.0 / ndim)))
    starts = torch.stack(
        torch.meshgrid(*[torch.arange(0, size, span, device=device) for size in spatial], indexing="ij"), dim=-1
    ).reshape(-1, ndim)
    extent = torch.minimum(torch.full_like(starts, span), torch.tensor(spatial, device=device) - starts)
    draws = torch.rand((n, *starts.shape), device=device, generator=generator)
    return starts + (draws * extent).long().clamp_max(extent - 1)


def blind_spot_mask(
    patches: torch.Tensor,
    fraction: float = 0.00198,
    radius: int = 2,
    generator: torch.Generator | None = None,
    replacement: str = "random",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random ``fraction`` of pixels of each patch by a random neighbour or the neighbours' median.

    Parameters
    ----------
    patches : tensor ``(N, C, *spatial)``
        Normalised patches (2D or 3D spatial).
    fraction : float
        Fraction of pixels masked per patch: one pixel per box of about ``1 / fraction``
        pixels (:func:`stratified_positions`; at least one pixel).
    radius : int
        Neighbours come from the ``(2*radius+1)**ndim`` window, centre excluded;
        positions outside the patch are mirrored back inside as in
        :func:`neighbour_sources`. Patches must be larger than ``2 * radius`` along
        every axis.
    replacement : str
        ``"random"`` (N2V): the value of one random neighbour, the same one for all
        channels of a pixel. ``"median"`` (N2V2): per channel, the median of all
        ``(2*radius+1)**ndim - 1`` neighbours (:func:`middle_value`).

    Returns
    -------
    masked : tensor like ``patches``
        Input for the network.
    mask : bool tensor ``(N, 1, *spatial)``
        True where a pixel was replaced (where the loss is taken).
    """
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
    n = patches.shape[0]
    spatial = tuple(patches.shape[2:])
    ndim = len(spatial)
    if radius < 1 or min(spatial) <= 2 * radius:
        raise ValueError(f"patches {spatial} must be larger than 2 * radius = {2 * radius} (radius >= 1) along every axis")
    device = patches.device
    coords = stratified_positions(n, spatial, fraction, generator, device)  # (N, K, ndim)
    n_masked = coords.shape[1]
    batch_index = torch.arange(n, device=device).view(n, 1).expand(n, n_masked)
    # Channels last, so one advanced index moves all channels of a pixel together.
    channels_last = patches.movedim(1, -1)
    if replacement == "random":
        window = 2 * radius + 1
        n_offsets = window**ndim - 1
        choice = torch.randint(0, n_offsets, (n, n_masked), device=device, generator=generator)
        choice = choice + (choice >= n_offsets // 2).long()  # skip the centre of the window
        offsets = torch.stack(torch.unravel_index(choice, (window,) * ndim), dim=-1) - radius
        sources = neighbour_sources(coords, offsets, spatial)
        values = channels_last[(batch_index, *sources.unbind(-1))]
    else:
        sources = neighbour_sources(coords[:, :, None], window_offsets(ndim, radius, device), spatial)
        values = middle_value(channels_last[(batch_index[..., None], *sources.unbind(-1))], dim=2)
    masked = patches.clone()
    masked.movedim(1, -1)[(batch_index, *coords.unbind(-1))] = values
    mask = torch.zeros((n, 1, *spatial), dtype=torch.bool, device=device)
    mask[(batch_index, 0, *coords.unbind(-1))] = True
    return masked, mask


def window_offsets(ndim: int, radius: int, device=None) -> torch.Tensor:
    """Offsets ``(M, ndim)`` of the ``(2*radius+1)**ndim`` window without its centre, ``M = (2*radius+1)**ndim - 1``."""
    steps = torch.arange(-radius, radius + 1, device=device)
    offsets = torch.stack(torch.meshgrid(*[steps] * ndim, indexing="ij"), dim=-1).reshape(-1, ndim)
    return offsets[(offsets != 0).any(dim=-1)]


def neighbour_sources(coords: torch.Tensor, offsets: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """Pixel coordinates ``coords + offsets`` (broadcast, last axis ``ndim``), mirrored into a patch of shape ``spatial``.

    A position outside the patch is mirrored back inside at the patch border. Where
    that mirror image is the pixel itself (a pixel ``c`` near the border with offset
    ``-2c``), the opposite neighbour ``c - offset`` is taken, which lies inside when the
    patch is larger than twice the largest offset along every axis.
    """
    size = torch.tensor(spatial, device=coords.device)
    sources = (coords + offsets).abs()  # mirror at the low edge
    sources = torch.where(sources >= size, 2 * (size - 1) - sources, sources)  # and at the high edge
    # Mirroring can land on the pixel itself, which would leak its value into the loss.
    # Then every non-zero offset component points outside, so c - offset lies inside.
    is_self = (sources == coords).all(dim=-1, keepdim=True)
    return torch.where(is_self, coords - offsets, sources)


def middle_value(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Median of ``values`` along ``dim``: the mean of the two middle values for an even count, as ``numpy.median``."""
    ordered = values.sort(dim=dim).values
    count = values.shape[dim]
    return (ordered.narrow(dim, (count - 1) // 2, 1) + ordered.narrow(dim, count // 2, 1)).squeeze(dim) / 2


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels only (all channels).

    ``prediction`` and ``target`` are ``(N, C, *spatial)``, ``mask`` a bool
    ``(N, 1, *spatial)``. Written as a masked sum rather than boolean indexing, which
    would force a device synchronisation on every step.
    """
    mask = mask.expand_as(target)
    squared = (prediction.float() - target.float()) ** 2
    return torch.where(mask, squared, 0.0).sum() / mask.sum()
