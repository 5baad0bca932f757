"""napari plugin: dock widgets, readers, writers and sample data that call into the denoise2seg library."""
