"""Intensity normalisation with statistics that are stored with a model: z-score (N2V's) and percentiles (csbdeep's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
from csbdeep.utils import normalize_mi_ma

# Pixels used to estimate the statistics of a large data set (a random subset, seed 0).
MAX_SAMPLES = 2_000_000


def _pixels(images: list[np.ndarray], max_samples: int) -> np.ndarray:
    values = np.concatenate([np.asarray(im, dtype=np.float32).ravel() for im in images])
    if values.size > max_samples:
        values = values[np.random.default_rng(0).choice(values.size, max_samples, replace=False)]
    return values


@dataclass(frozen=True)
class ZScoreNormalizer:
    """Maps intensities to ``(x - mean) / std`` over all training images together.

    The normalisation of N2V (Krull et al. 2019), CAREamics and VoidSeg's reference code
    (``normalize(img, mean, std)``): the network sees zero-mean, unit-variance data, so
    its first outputs are already on the right scale and offset.
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, images: list[np.ndarray], max_samples: int = MAX_SAMPLES) -> "ZScoreNormalizer":
        """Mean and standard deviation over all pixels of ``images`` (subsampled to ``max_samples`` values)."""
        values = _pixels(images, max_samples).astype(np.float64)
        std = float(values.std())
        return cls(float(values.mean()), std if std > 0 else 1.0)

    def normalize(self, image: np.ndarray) -> np.ndarray:
        return ((np.asarray(image, dtype=np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32, copy=False)

    def denormalize(self, image: np.ndarray) -> np.ndarray:
        return (np.asarray(image, dtype=np.float32) * np.float32(self.std) + np.float32(self.mean)).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"method": "zscore", "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class PercentileNormalizer:
    """Maps intensities ``mi -> 0`` and ``ma -> 1`` (csbdeep ``normalize_mi_ma``).

    ``mi``/``ma`` are the ``pmin``/``pmax`` percentiles (defaults 1 and 99.8, csbdeep's)
    of all training images together, so every image of a data set is scaled alike and
    prediction can map results back to input units with :meth:`denormalize`.
    """

    mi: float
    ma: float
    pmin: float = 1.0
    pmax: float = 99.8

    @classmethod
    def fit(cls, images: list[np.ndarray], pmin: float = 1.0, pmax: float = 99.8, max_samples: int = MAX_SAMPLES) -> "PercentileNormalizer":
        """Percentiles over all pixels of ``images`` (subsampled to ``max_samples`` values)."""
        mi, ma = np.percentile(_pixels(images, max_samples), [pmin, pmax])
        if not ma > mi:
            ma = mi + 1.0
        return cls(float(mi), float(ma), pmin, pmax)

    def normalize(self, image: np.ndarray) -> np.ndarray:
        return normalize_mi_ma(np.asarray(image, dtype=np.float32), self.mi, self.ma, clip=False, dtype=np.float32)

    def denormalize(self, image: np.ndarray) -> np.ndarray:
        return (np.asarray(image, dtype=np.float32) * (self.ma - self.mi) + self.mi).astype(np.float32)

    def to_dict(self) -> dict:
        return {"method": "percentile", "mi": self.mi, "ma": self.ma, "pmin": self.pmin, "pmax": self.pmax}

    @classmethod
    def from_dict(cls, values: dict) -> "PercentileNormalizer":
        return cls(**{k: v for k, v in values.items() if k != "method"})


Normalizer = Union[ZScoreNormalizer, PercentileNormalizer]
NORMALIZATIONS = ("zscore", "percentile")


def normalizer_from_dict(values: dict) -> Normalizer:
    """The normaliser a model folder stored (folders written before z-score existed hold percentiles)."""
    method = values.get("method", "percentile")
    if method == "zscore":
        return ZScoreNormalizer(float(values["mean"]), float(values["std"]))
    if method == "percentile":
        return PercentileNormalizer.from_dict(values)
    raise ValueError(f"unknown normalisation {method!r}; expected one of {NORMALIZATIONS}")


def fit_normalizer(images: list[np.ndarray], method: str, pmin: float = 1.0, pmax: float = 99.8) -> Normalizer:
    """Fit the normalisation ``method`` (``"zscore"`` or ``"percentile"``) on ``images``."""
    if method == "zscore":
        return ZScoreNormalizer.fit(images)
    if method == "percentile":
        return PercentileNormalizer.fit(images, pmin, pmax)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
