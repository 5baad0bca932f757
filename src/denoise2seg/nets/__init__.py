"""Network architectures: the U-Net shared by every method, and method-specific nets."""

from .unet import UNet, UNetSpec

__all__ = ["UNet", "UNetSpec"]
