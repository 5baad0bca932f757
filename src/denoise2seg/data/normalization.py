"""Percentile normalisation (csbdeep's) with statistics that are stored with a model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from csbdeep.utils import normalize_mi_ma


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
    def fit(cls, images: list[np.ndarray], pmin: float = 1.0, pmax: float = 99.8, max_samples: int = 2_000_000) -> "PercentileNormalizer":
        """Percentiles over all pixels of ``images`` (subsampled to ``max_samples`` values)."""
        values = np.concatenate([np.asarray(im, dtype=np.float32).ravel() for im in images])
        if values.size > max_samples:
            values = values[np.random.default_rng(0).choice(values.size, max_samples, replace=False)]
        mi, ma = np.percentile(values, [pmin, pmax])
        if not ma > mi:
            ma = mi + 1.0
        return cls(float(mi), float(ma), pmin, pmax)

    def normalize(self, image: np.ndarray) -> np.ndarray:
        return normalize_mi_ma(np.asarray(image, dtype=np.float32), self.mi, self.ma, clip=False, dtype=np.float32)

    def denormalize(self, image: np.ndarray) -> np.ndarray:
        return (np.asarray(image, dtype=np.float32) * (self.ma - self.mi) + self.mi).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mi": self.mi, "ma": self.ma, "pmin": self.pmin, "pmax": self.pmax}

    @classmethod
    def from_dict(cls, values: dict) -> "PercentileNormalizer":
        return cls(**values)
