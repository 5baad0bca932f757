"""Evaluation metrics, one home for the whole package, arguments in scikit-image's ``(..._true, ..._test)`` order.

``instances``: AP (IoU 0.5) and SEG of instance label images (VoidSeg); ``instance_scores``:
those and AP over the IoU sweep 0.5-0.9, per image and over images, as one table;
``overlap``: the binary Dice of two masks and its summary over volumes (CT, LADP);
``lesion``: the LADP / BONBID-HIE lesion metrics (Dice per lesion-size bin, MASD, NSD;
imports MONAI, so it is not imported here).
"""

from .instance_scores import IOU_THRESHOLDS, InstanceScores, ScoreTable, score_image, score_images
from .instances import average_precision, average_precision_dataset, average_precision_per_image, seg_score, seg_score_dataset
from .overlap import dice_score, dice_summary

__all__ = [
    "IOU_THRESHOLDS",
    "InstanceScores",
    "ScoreTable",
    "average_precision",
    "average_precision_dataset",
    "average_precision_per_image",
    "dice_score",
    "dice_summary",
    "score_image",
    "score_images",
    "seg_score",
    "seg_score_dataset",
]
