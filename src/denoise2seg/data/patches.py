"""Random patches from a list of images of different shapes, sampled on the training device."""

from __future__ import annotations

import numpy as np
import torch


class PatchSampler:
    """Draws random patches of ``patch_shape`` from images held on ``device``.

    ``images`` are ``(C, *spatial)`` float arrays (2D or 3D spatial), each at least
    ``patch_shape`` large. Images of equal shape are stacked so that a batch is cut with
    one gather per shape group; images are picked with probability proportional to the
    number of patch positions they hold. ``targets`` (optional, same spatial shapes) are
    cut at the same positions.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        patch_shape: tuple[int, ...],
        device: torch.device,
        targets: list[np.ndarray] | None = None,
        seed: int | None = None,
    ) -> None:
        self.patch_shape = tuple(int(p) for p in patch_shape)
        self.device = device
        groups: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            spatial = tuple(image.shape[1:])
            if len(spatial) != len(self.patch_shape):
                raise ValueError(f"image {i} has spatial shape {spatial}, patches are {self.patch_shape}")
            if any(s < p for s, p in zip(spatial, self.patch_shape)):
                raise ValueError(
                    f"image {i} of spatial shape {spatial} is smaller than the patch shape {self.patch_shape}; "
                    "use a smaller patch size"
                )
            groups.setdefault(tuple(image.shape), []).append(i)
        self.stacks = [torch.as_tensor(np.stack([images[i] for i in idx]), dtype=torch.float32, device=device) for idx in groups.values()]
        self.target_stacks = None
        if targets is not None:
            self.target_stacks = [torch.as_tensor(np.stack([targets[i] for i in idx]), device=device) for idx in groups.values()]
        weights = [len(idx) * np.prod([s - p + 1 for s, p in zip(shape[1:], self.patch_shape)]) for shape, idx in groups.items()]
        self.group_weights = torch.as_tensor(np.asarray(weights, dtype=np.float64) / np.sum(weights), device=device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))

    def sample(self, batch_size: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """A ``(batch_size, C, *patch_shape)`` tensor (and target patches when given)."""
        group_of = torch.multinomial(self.group_weights, batch_size, replacement=True, generator=self.generator)
        patches, target_patches = [], []
        for g, stack in enumerate(self.stacks):
            count = int((group_of == g).sum())
            if count == 0:
                continue
            patches_g, index = self._cut(stack, count)
            patches.append(patches_g)
            if self.target_stacks is not None:
                target_patches.append(self._gather(self.target_stacks[g], *index))
        batch = torch.cat(patches)
        if self.target_stacks is None:
            return batch
        return batch, torch.cat(target_patches)

    def _cut(self, stack: torch.Tensor, count: int):
        n_images = stack.shape[0]
        which = torch.randint(0, n_images, (count,), device=self.device, generator=self.generator)
        corners = [
            torch.randint(0, s - p + 1, (count,), device=self.device, generator=self.generator)
            for s, p in zip(stack.shape[2:], self.patch_shape)
        ]
        return self._gather(stack, which, corners), (which, corners)

    def _gather(self, stack: torch.Tensor, which: torch.Tensor, corners: list[torch.Tensor]) -> torch.Tensor:
        ndim = len(self.patch_shape)
        index: list[torch.Tensor] = [which.view(-1, *([1] * ndim))]
        for axis, (corner, p) in enumerate(zip(corners, self.patch_shape)):
            shape = [-1] + [1] * ndim
            shape[1 + axis] = p
            index.append(corner.view(-1, *([1] * ndim)) + torch.arange(p, device=self.device).view(shape))
        # stack is (N, C, *spatial); advanced indexing over N and spatial, channels kept.
        moved = stack.movedim(1, -1)
        return moved[tuple(index)].movedim(-1, 1)
