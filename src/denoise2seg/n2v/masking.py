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
"""

from __future__ import annotations

import torch


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a random ``fraction`` of pixels of each patch by a random neighbour.

    Parameters
    ----------
    patches : tensor ``(N, C, *spatial)``
        Normalised patches (2D or 3D spatial).
    fraction : float
        Fraction of pixels masked per patch: one pixel per box of about ``1 / fraction``
        pixels (:func:`stratified_positions`; at least one pixel).
    radius : int
        Neighbours are drawn from the ``(2*radius+1)**ndim`` window, centre excluded;
        positions outside the patch are mirrored back inside at the patch border. Where
        that mirror image is the pixel itself (a pixel ``c`` near the border with offset
        ``-2c``), the opposite neighbour ``c - offset`` is taken. Patches must be larger
        than ``2 * radius`` along every axis.

    Returns
    -------
    masked : tensor like ``patches``
        Input for the network.
    mask : bool tensor ``(N, 1, *spatial)``
        True where a pixel was replaced (where the loss is taken). All channels of a
        pixel are replaced from the same neighbour.
    """
    n = patches.shape[0]
    spatial = patches.shape[2:]
    ndim = len(spatial)
    if radius < 1 or min(spatial) <= 2 * radius:
        raise ValueError(f"patches {tuple(spatial)} must be larger than 2 * radius = {2 * radius} (radius >= 1) along every axis")
    device = patches.device
    coords = stratified_positions(n, tuple(spatial), fraction, generator, device)  # (N, K, ndim)
    n_masked = coords.shape[1]
    window = 2 * radius + 1
    n_offsets = window**ndim - 1
    choice = torch.randint(0, n_offsets, (n, n_masked), device=device, generator=generator)
    choice = choice + (choice >= n_offsets // 2).long()  # skip the centre of the window
    offsets = torch.stack(torch.unravel_index(choice, (window,) * ndim), dim=-1) - radius
    size = torch.tensor(spatial, device=device)
    sources = (coords + offsets).abs()  # mirror at the low edge
    sources = torch.where(sources >= size, 2 * (size - 1) - sources, sources)  # and at the high edge
    # Mirroring can land on the pixel itself, which would leak its value into the loss.
    # Then every non-zero offset component points outside, so c - offset lies inside.
    is_self = (sources == coords).all(dim=-1, keepdim=True)
    sources = torch.where(is_self, coords - offsets, sources)
    batch_index = torch.arange(n, device=device).view(n, 1).expand(n, n_masked)
    masked = patches.clone()
    # Channels last, so one advanced index moves all channels of a pixel together.
    masked.movedim(1, -1)[(batch_index, *coords.unbind(-1))] = patches.movedim(1, -1)[(batch_index, *sources.unbind(-1))]
    mask = torch.zeros((n, 1, *spatial), dtype=torch.bool, device=device)
    mask[(batch_index, 0, *coords.unbind(-1))] = True
    return masked, mask


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels only (all channels).

    ``prediction`` and ``target`` are ``(N, C, *spatial)``, ``mask`` a bool
    ``(N, 1, *spatial)``. Written as a masked sum rather than boolean indexing, which
    would force a device synchronisation on every step.
    """
    mask = mask.expand_as(target)
    squared = (prediction.float() - target.float()) ** 2
    return torch.where(mask, squared, 0.0).sum() / mask.sum()
