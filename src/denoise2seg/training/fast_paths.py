"""Where bfloat16 autocast and the channels-last memory layout pay, measured by ``benchmarks/n2v_step_variants.py``.

On a CPU, convolutions run faster with the channels in the last (innermost) axis: the
N2V U-Net trained 1.26x and predicted 1.77x faster in that layout on a 2-core x86_64
machine, with the same arithmetic (docs/performance.md). A CPU with AMX bf16 matrix
units (Intel Xeon since Sapphire Rapids) trained it 2.6x faster again under bf16
autocast (3.3x float32's speed); a CPU without them would emulate bf16, slower than
float32, so autocast is only used where ``torch.cpu.get_capabilities()`` reports those
units. On CUDA, bf16 autocast is the long-standing default; the layout there stays
torch's default until measured on a GPU.
"""

from __future__ import annotations

import torch
from torch import nn

LAYOUTS = {2: torch.channels_last, 3: torch.channels_last_3d}


def cpu_has_bf16_matrix_units() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX-BF16), where bf16 autocast pays."""
    try:
        return bool(torch.cpu.get_capabilities().get("amx_bf16", False))
    except (AttributeError, RuntimeError):
        return False


def uses_bf16_autocast(device: torch.device, *, mixed_precision: bool, on_cpu: bool) -> bool:
    """Whether a training step on ``device`` runs under bf16 autocast.

    ``mixed_precision`` turns it on for CUDA; ``on_cpu`` also for a CPU with bf16
    matrix units (never for one without, where bf16 is emulated and slower).
    """
    if not mixed_precision:
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and on_cpu and cpu_has_bf16_matrix_units()


def channels_last_pays(device: torch.device) -> bool:
    """Whether the channels-last layout is used on ``device``: on a CPU only (not yet measured on a GPU)."""
    return device.type == "cpu"


def conv_spatial_ndim(net: nn.Module) -> int | None:
    """Spatial axes (2 or 3) of the first convolution in ``net``; ``None`` when it has none."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            return 2
        if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
            return 3
    return None


def use_channels_last(net: nn.Module) -> nn.Module:
    """Put ``net``'s 4D/5D weights into the channels-last layout when they live on a CPU; returns ``net``.

    The arithmetic is the same (results agree to float32 rounding); the layout follows
    into the activations, since a convolution keeps the layout of its weights. Off the
    CPU, or for a network without convolutions, ``net`` is left as it is.
    """
    parameter = next(net.parameters(), None)
    ndim = conv_spatial_ndim(net)
    if parameter is None or not channels_last_pays(parameter.device) or ndim is None:
        return net
    return net.to(memory_format=LAYOUTS[ndim])
