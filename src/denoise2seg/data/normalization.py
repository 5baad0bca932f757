"""Intensity normalisation with statistics that are stored with a model: z-score (N2V's) and percentiles (csbdeep's).

Statistics are one value per channel: a single value applies to every pixel of an image
of any shape; several apply channel by channel to ``(C, *spatial)`` images, so that
channels of different units (0-255 beside 0-60000, say) each reach the network on the
same scale and come back in their own units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
from csbdeep.utils import normalize_mi_ma

# Pixels used to estimate the statistics of a large data set (a random subset, seed 0), per channel.
MAX_SAMPLES = 2_000_000


def _pixels(images: list[np.ndarray], max_samples: int) -> np.ndarray:
    values = np.concatenate([np.asarray(im, dtype=np.float32).ravel() for im in images])
    if values.size > max_samples:
        values = values[np.random.default_rng(0).choice(values.size, max_samples, replace=False)]
    return values


def _channel_pixels(images: list[np.ndarray], per_channel: bool, max_samples: int) -> list[np.ndarray]:
    """The pixel values of all ``images`` together, as one array, or one per channel of ``(C, *spatial)`` images."""
    if not per_channel:
        return [_pixels(images, max_samples)]
    counts = sorted({np.shape(im)[0] for im in images})
    if len(counts) != 1:
        raise ValueError(f"images with channels first have different channel counts {counts}; give images of one channel count")
    return [_pixels([np.asarray(im)[c] for im in images], max_samples) for c in range(counts[0])]


def _per_channel(values) -> tuple[float, ...]:
    """``values`` (a number or one per channel) as a tuple of floats."""
    return tuple(float(v) for v in np.atleast_1d(np.asarray(values, dtype=np.float64)))


def _stored(values: tuple[float, ...]) -> float | list[float]:
    """The JSON form of per-channel values: a number for one channel (as single-channel models always stored), else a list."""
    return values[0] if len(values) == 1 else list(values)


def _along_channels(values: tuple[float, ...], image: np.ndarray) -> np.float32 | np.ndarray:
    """``values`` shaped to broadcast over ``image``: a scalar for one channel, else ``(C, 1, ...)`` over a ``(C, *spatial)`` image."""
    if len(values) == 1:
        return np.float32(values[0])
    if image.ndim == 0 or image.shape[0] != len(values):
        raise ValueError(
            f"the normalisation holds {len(values)} channels but the image has shape {image.shape}; "
            f"give a ({len(values)}, ...) image, channels first"
        )
    return np.asarray(values, dtype=np.float32).reshape(-1, *([1] * (image.ndim - 1)))


@dataclass(frozen=True)
class ZScoreNormalizer:
    """Maps intensities to ``(x - mean) / std`` over all training images together, channel by channel.

    The normalisation of N2V (Krull et al. 2019), CAREamics and VoidSeg's reference code
    (``normalize(img, mean, std)``): the network sees zero-mean, unit-variance data, so
    its first outputs are already on the right scale and offset. ``mean`` and ``std``
    (input units) are stored as tuples, one value per channel; a number is one channel.
    """

    mean: float | tuple[float, ...]
    std: float | tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _per_channel(self.mean))
        object.__setattr__(self, "std", _per_channel(self.std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"need one mean and one std per channel, got {len(self.mean)} means and {len(self.std)} stds")

    @property
    def channels(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, images: list[np.ndarray], max_samples: int = MAX_SAMPLES, *, per_channel: bool = False) -> "ZScoreNormalizer":
        """Mean and standard deviation over all pixels of ``images`` (subsampled to ``max_samples`` values).

        With ``per_channel`` the images are ``(C, *spatial)`` and each channel gets its own
        statistics. A channel without variance gets std 1, so it is only shifted.
        """
        means, stds = [], []
        for values in _channel_pixels(images, per_channel, max_samples):
            values = values.astype(np.float64)
            std = float(values.std())
            means.append(float(values.mean()))
            stds.append(std if std > 0 else 1.0)
        return cls(tuple(means), tuple(stds))

    def normalize(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        return ((image - _along_channels(self.mean, image)) / _along_channels(self.std, image)).astype(np.float32, copy=False)

    def denormalize(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        return (image * _along_channels(self.std, image) + _along_channels(self.mean, image)).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"method": "zscore", "mean": _stored(self.mean), "std": _stored(self.std)}


@dataclass(frozen=True)
class PercentileNormalizer:
    """Maps intensities ``mi -> 0`` and ``ma -> 1`` (csbdeep ``normalize_mi_ma``), channel by channel.

    ``mi``/``ma`` are the ``pmin``/``pmax`` percentiles (defaults 1 and 99.8, csbdeep's)
    of all training images together, so every image of a data set is scaled alike and
    prediction can map results back to input units with :meth:`denormalize`. They are
    stored as tuples, one value per channel; a number is one channel.
    """

    mi: float | tuple[float, ...]
    ma: float | tuple[float, ...]
    pmin: float = 1.0
    pmax: float = 99.8

    def __post_init__(self) -> None:
        object.__setattr__(self, "mi", _per_channel(self.mi))
        object.__setattr__(self, "ma", _per_channel(self.ma))
        if len(self.mi) != len(self.ma):
            raise ValueError(f"need one mi and one ma per channel, got {len(self.mi)} and {len(self.ma)}")

    @property
    def channels(self) -> int:
        return len(self.mi)

    @classmethod
    def fit(
        cls,
        images: list[np.ndarray],
        pmin: float = 1.0,
        pmax: float = 99.8,
        max_samples: int = MAX_SAMPLES,
        *,
        per_channel: bool = False,
    ) -> "PercentileNormalizer":
        """Percentiles over all pixels of ``images`` (subsampled to ``max_samples`` values).

        With ``per_channel`` the images are ``(C, *spatial)`` and each channel gets its own
        percentiles. A channel whose two percentiles are equal gets ``ma = mi + 1``.
        """
        lows, highs = [], []
        for values in _channel_pixels(images, per_channel, max_samples):
            mi, ma = (float(v) for v in np.percentile(values, [pmin, pmax]))
            lows.append(mi)
            highs.append(ma if ma > mi else mi + 1.0)
        return cls(tuple(lows), tuple(highs), pmin, pmax)

    def normalize(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        return normalize_mi_ma(image, _along_channels(self.mi, image), _along_channels(self.ma, image), clip=False, dtype=np.float32)

    def denormalize(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        mi, ma = _along_channels(self.mi, image), _along_channels(self.ma, image)
        return (image * (ma - mi) + mi).astype(np.float32)

    def to_dict(self) -> dict:
        return {"method": "percentile", "mi": _stored(self.mi), "ma": _stored(self.ma), "pmin": self.pmin, "pmax": self.pmax}

    @classmethod
    def from_dict(cls, values: dict) -> "PercentileNormalizer":
        return cls(**{k: v for k, v in values.items() if k != "method"})


Normalizer = Union[ZScoreNormalizer, PercentileNormalizer]
NORMALIZATIONS = ("zscore", "percentile")


def normalizer_from_dict(values: dict) -> Normalizer:
    """The normaliser a model folder stored (folders written before z-score existed hold percentiles)."""
    method = values.get("method", "percentile")
    if method == "zscore":
        return ZScoreNormalizer(values["mean"], values["std"])
    if method == "percentile":
        return PercentileNormalizer.from_dict(values)
    raise ValueError(f"unknown normalisation {method!r}; expected one of {NORMALIZATIONS}")


def fit_normalizer(
    images: list[np.ndarray], method: str, pmin: float = 1.0, pmax: float = 99.8, *, per_channel: bool = False
) -> Normalizer:
    """Fit the normalisation ``method`` (``"zscore"`` or ``"percentile"``) on ``images``, per channel of ``(C, *spatial)`` images if asked."""
    if method == "zscore":
        return ZScoreNormalizer.fit(images, per_channel=per_channel)
    if method == "percentile":
        return PercentileNormalizer.fit(images, pmin, pmax, per_channel=per_channel)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
