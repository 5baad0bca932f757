"""Model folders and image files."""
