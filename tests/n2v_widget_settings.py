"""Settings that make a training in the N2V widget take seconds (tiny network, few steps), for GUI tests."""


def set_tiny(widget, steps: int = 5, batch: int = 4, *, patch: int = 16, epochs: int = 1) -> None:
    """Put the N2V widget at ``epochs`` of ``steps`` steps of ``batch`` patches of ``patch`` pixels, depth 1, 8 filters, on the CPU."""
    widget.patch_spin.setValue(patch)
    widget.epochs_spin.setValue(epochs)
    widget.steps_spin.setValue(steps)
    widget.batch_spin.setValue(batch)
    widget.depth_spin.setValue(1)
    widget.filters_spin.setValue(8)
    widget.preview_spin.setValue(5)
    widget.device_combo.setCurrentText("cpu")
