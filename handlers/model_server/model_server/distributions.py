"""The distributions of the server's EMF documents: how often each value occurred in an
interval, kept on grids so that an interval of any load has a bounded number of values, and
written in either of EMF's array forms (``EMF_DISTRIBUTION``).

``values_counts`` (the default): ``{"Values": [...], "Counts": [...]}``, each value once with
how often it occurred, as CloudWatch's PutMetricData takes them and as AWS's own EMF writer
(awslabs/metrique) emits them; over 100 values, neighbours are merged (count-weighted mean).
``values``: a plain array of at most 100 observations, the EMF specification's own form
(:func:`spread`).
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Sequence

import numpy as np

from model_server.model import Array

MAX_VALUES = 100  # values per metric in one EMF document
GRID_STEP = 0.02  # latencies rounded to a grid 2 % apart: p99 within 1 %
LOG_SCALE = 1 / math.log1p(GRID_STEP)
LOOP_MAX = 32  # values a regressor's request adds one by one; numpy's fixed cost pays above it
VALUES_COUNTS, PLAIN_VALUES = "values_counts", "values"  # EMF_DISTRIBUTION: how a distribution is written


class Distribution:
    """How often each value occurred in the interval."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[float, int] = {}

    def add(self, value: float) -> None:
        self.counts[value] = self.counts.get(value, 0) + 1

    def value(self, key: float) -> float:
        return key

    def rounded(self, value: float) -> float:
        return round(value, 4)

    def written(self, form: str) -> dict[str, list[float]] | list[float] | None:
        """The distribution as EMF_DISTRIBUTION says: :meth:`encode` or :meth:`plain`."""
        return self.plain() if form == PLAIN_VALUES else self.encode()

    def plain(self, limit: int = MAX_VALUES) -> list[float] | None:
        """At most ``limit`` plain observations (:func:`spread`); None when nothing was observed."""
        if not self.counts:
            return None
        keys = sorted(self.counts)
        values = [self.value(k) for k in keys]
        return [self.rounded(v) for v in spread(values, [self.counts[k] for k in keys], limit)]

    def encode(self, limit: int = MAX_VALUES) -> dict[str, list[float]] | None:
        """``{"Values", "Counts"}`` with at most ``limit`` values (neighbours merged,
        count-weighted); None when nothing was observed."""
        if not self.counts:
            return None
        keys = sorted(self.counts)  # a value grows with its key
        counts: list[float] = [self.counts[k] for k in keys]
        values = [self.value(k) for k in keys]
        if len(keys) > limit:
            size = math.ceil(len(keys) / limit)
            groups = [(values[i : i + size], counts[i : i + size]) for i in range(0, len(keys), size)]
            counts = [sum(c) for _, c in groups]
            values = [sum(map(operator.mul, v, c)) / n for (v, c), n in zip(groups, counts, strict=True)]
        return {"Values": [self.rounded(v) for v in values], "Counts": counts}


def spread(values: Sequence[float], counts: Sequence[float], limit: int) -> list[float]:
    """Plain observations for the ``values`` form: each value as often as it occurred when
    they are at most ``limit`` in all, else ``limit`` evenly spaced quantiles (percentiles
    hold; the sample count and sum are the quantiles', not the interval's)."""
    total = sum(counts)
    if total <= limit:
        return [v for v, n in zip(values, counts, strict=True) for _ in range(int(n))]
    edges = list(itertools.accumulate(counts))
    return [values[bisect.bisect_right(edges, (i + 0.5) * total / limit)] for i in range(limit)]


class Latencies(Distribution):
    """Times in seconds, kept as milliseconds on a logarithmic grid ``GRID_STEP`` apart:
    close latencies share a key, so an interval of any load has a few dozen keys."""

    __slots__ = ()

    def add(self, value: float) -> None:
        key = round(math.log(value * 1000) * LOG_SCALE) if value > 0 else -(10**9)
        self.counts[key] = self.counts.get(key, 0) + 1

    def value(self, key: float) -> float:
        return math.exp(key / LOG_SCALE)


class Values(Distribution):
    """Any finite numbers (a regressor's predictions) on a signed logarithmic grid
    ``GRID_STEP`` apart (each within 1 %); magnitudes below ``TINY`` count as 0. Keys grow
    with the values: 0 for zero, ``+-(OFFSET + step)`` for positive and negative values."""

    __slots__ = ()
    TINY = 1e-12
    OFFSET = 2000  # above -log(TINY) in steps: every nonzero key is away from 0

    def add_many(self, values: Array) -> None:
        """Each finite value of ``values`` (1-D): a few one by one, many with numpy (same keys)."""
        if values.size <= LOOP_MAX:
            counts, log, tiny, offset = self.counts, math.log, self.TINY, self.OFFSET
            for v in values.tolist():
                if -tiny < v < tiny:
                    key = 0
                elif not math.isfinite(v):
                    continue
                else:
                    key = round(log(abs(v)) * LOG_SCALE) + offset
                    key = key if v > 0 else -key
                counts[key] = counts.get(key, 0) + 1
            return
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        big = np.abs(finite) >= self.TINY
        steps = np.zeros(finite.shape, dtype=np.int64)
        steps[big] = np.rint(np.log(np.abs(finite[big])) * LOG_SCALE).astype(np.int64) + self.OFFSET
        counts = self.counts
        for key in (np.sign(finite).astype(np.int64) * steps).tolist():
            counts[key] = counts.get(key, 0) + 1

    def value(self, key: float) -> float:
        return 0.0 if key == 0 else math.copysign(math.exp((abs(key) - self.OFFSET) / LOG_SCALE), key)

    def rounded(self, value: float) -> float:
        return float(f"{value:.6g}")
