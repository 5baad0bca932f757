"""napari-denoise2seg: self-supervised denoising for segmentation from few labels.

The compute core (``nets``, ``n2v``, ``segmentation``, ``ct``, ``lesion``, ``training``,
``data``, ``io``, ``metrics``) is Qt-free; ``denoise2seg.napari`` holds the widgets.
"""

__version__ = "0.1.0"
