"""Command-line interface: ``denoise2seg <group> <command>``, one module per command group."""
