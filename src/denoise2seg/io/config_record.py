"""A mixin that turns a settings dataclass into the JSON record of a model folder and back."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

import numpy as np


class ConfigRecord:
    """``to_dict``/``from_dict`` for a dataclass of settings stored in ``config.json``.

    ``from_dict`` ignores keys the class does not know (a record written by a later
    version keeps loading) and turns JSON lists back into tuples, the only sequence type
    the settings use.
    """

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})

    def with_seed(self):
        """This config, or a copy with a freshly drawn ``seed`` when it has none, so the model folder records the seed that ran."""
        if getattr(self, "seed", 0) is not None:
            return self
        return replace(self, seed=int(np.random.SeedSequence().entropy % 2**31))
