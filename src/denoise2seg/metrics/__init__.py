"""Evaluation metrics, one home for the whole package, arguments in scikit-image's ``(..._true, ..._test)`` order.

``instances``: AP (IoU 0.5) and SEG of instance label images (VoidSeg); ``overlap``: the
binary Dice of two masks and its summary over volumes (CT, LADP); ``lesion``: the LADP /
BONBID-HIE lesion metrics (Dice per lesion-size bin, MASD, NSD; imports MONAI, so it is
not imported here).
"""

from .instances import average_precision, average_precision_dataset, average_precision_per_image, seg_score, seg_score_dataset
from .overlap import dice_score, dice_summary

__all__ = ["average_precision", "average_precision_dataset", "average_precision_per_image", "dice_score", "dice_summary", "seg_score", "seg_score_dataset"]
