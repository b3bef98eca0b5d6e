"""How far the canary's predictions are from stable's over the same minutes, and the verdict.

The divergence is the largest difference of the two distribution functions (0-1), the
Kolmogorov-Smirnov statistic:

- a classifier (metric ``Predictions``, one count per ``Class``): classes have no order, so the
  largest difference over every set of classes, |P_canary(A) - P_stable(A)|, which is half
  the L1 distance of the shares (total variation; with two classes it is the KS statistic);
- a regressor (metric ``PredictedValue``): the two distribution functions drawn through the
  percentiles CloudWatch gives of each (p1-p99), compared at every percentile's value.

Why not the population stability index: an empty class on one side makes it infinite (it
needs a smoothing constant that then sets its value), and it has no percentile form. This
statistic is bounded, reads as "the largest share of rows that answer differently", and the
same threshold serves classes and values.

Pure functions, plus the CloudWatch reads (``ListMetrics``, ``GetMetricData``) taking the client:
the controller and the measurements (``tools/bench/canary_drift.py``) share them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

CLASS_METRIC = "Predictions"
VALUE_METRIC = "PredictedValue"
PERCENTILES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99)
QUERIES_PER_CALL = 500  # GetMetricData's limit


def class_divergence(stable: Mapping[str, float], canary: Mapping[str, float]) -> float:
    """Total variation distance of two class counts: the largest difference, over every set of
    classes, of the share of rows the two give it. 0 with no rows on a side (nothing to judge)."""
    total_s, total_c = sum(stable.values()), sum(canary.values())
    if total_s <= 0 or total_c <= 0:
        return 0.0
    classes = set(stable) | set(canary)
    return 0.5 * sum(abs(stable.get(k, 0) / total_s - canary.get(k, 0) / total_c) for k in classes)


def _cdf(quantiles: Sequence[tuple[float, float]], x: float) -> float:
    """The distribution function through (value, probability) points, linear between them."""
    values = [v for v, _ in quantiles]
    i = bisect.bisect_right(values, x)
    if i == 0:
        return 0.0
    if i == len(values):
        return 1.0
    (v0, p0), (v1, p1) = quantiles[i - 1], quantiles[i]
    return p0 if v1 == v0 else p0 + (p1 - p0) * (x - v0) / (v1 - v0)


def quantile_divergence(stable: Mapping[float, float], canary: Mapping[float, float]) -> float:
    """KS statistic of two distributions known by percentiles ({percentile 0-100: value})."""
    points = {
        side: sorted((value, p / 100) for p, value in q.items() if math.isfinite(value))
        for side, q in (("stable", stable), ("canary", canary))
    }
    if not points["stable"] or not points["canary"]:
        return 0.0
    # Percentile values are monotone; equal ones (a constant output) keep the highest probability.
    at = sorted({v for side in points.values() for v, _ in side})
    return max(abs(_cdf(points["stable"], x) - _cdf(points["canary"], x)) for x in at)


@dataclass(frozen=True)
class Predictions:
    """What one side (stable or canary) predicted in a window."""

    kind: Literal["classifier", "regressor", "none"]
    rows: int
    classes: Mapping[str, float]
    percentiles: Mapping[float, float]


@dataclass(frozen=True)
class Verdict:
    """``pass`` (advance), ``rollback`` or ``wait`` (too few rows: extend the bake)."""

    action: Literal["pass", "rollback", "wait"]
    divergence: float | None
    reason: str


def judge(stable: Predictions, canary: Predictions, *, threshold: float, min_rows: int) -> Verdict:
    """The verdict on one step's window: judged only with ``min_rows`` rows on both sides."""
    rows = f"canary {canary.rows} rows, stable {stable.rows}"
    if canary.kind != stable.kind and "none" not in (canary.kind, stable.kind):
        reason = f"the canary predicts as a {canary.kind}, stable as a {stable.kind} ({rows})"
        return Verdict("rollback", None, reason)
    if min(stable.rows, canary.rows) < min_rows:
        return Verdict("wait", None, f"too few predictions to judge: {rows}, {min_rows} needed on each side")
    if canary.kind == "classifier":
        value, name = class_divergence(stable.classes, canary.classes), "largest class-share difference"
    else:
        value, name = quantile_divergence(stable.percentiles, canary.percentiles), "KS statistic of the outputs"
    text = f"prediction divergence ({name}) {value:.3f} {'>' if value > threshold else '<='} {threshold} ({rows})"
    return Verdict("rollback" if value > threshold else "pass", value, text)


def _dimensions(dims: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in dims.items()]


def _listed(cloudwatch: Any, namespace: str, name: str, where: Mapping[str, str]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace, MetricName=name, Dimensions=_dimensions(where)
    ):
        metrics += page["Metrics"]
    return metrics


def _query(cloudwatch: Any, stats: list[tuple[dict[str, Any], str]], start: float, end: float) -> list[float]:
    """The total of each (metric, statistic) over [start, end): one period over the window."""
    period = max(60, math.ceil((end - start) / 60) * 60)
    out: list[float] = []
    for first in range(0, len(stats), QUERIES_PER_CALL):
        chunk = stats[first : first + QUERIES_PER_CALL]
        queries = [
            {"Id": f"q{i}", "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}, "ReturnData": True}
            for i, (metric, stat) in enumerate(chunk)
        ]
        found: dict[str, list[float]] = {}
        kwargs = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
        }
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page["MetricDataResults"]:
                found.setdefault(result["Id"], []).extend(v for v in result["Values"] if v is not None)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for i, (_, stat) in enumerate(chunk):
            values = found.get(f"q{i}", [])
            out.append(sum(values) if stat in ("Sum", "SampleCount") else (values[0] if values else math.nan))
    return out


def read(cloudwatch: Any, namespace: str, where: Mapping[str, str], start: float, end: float) -> Predictions:
    """The predictions of the servers whose metrics carry the dimensions ``where`` (e.g. a
    ``Service``; on ECS also a ``Version``) between ``start`` and ``end`` (epoch seconds)."""
    classes = _listed(cloudwatch, namespace, CLASS_METRIC, where)
    if classes:
        totals = _query(cloudwatch, [(m, "Sum") for m in classes], start, end)
        counts: dict[str, float] = {}
        for metric, total in zip(classes, totals, strict=True):
            label = next((d["Value"] for d in metric["Dimensions"] if d["Name"] == "Class"), "")
            counts[label] = counts.get(label, 0.0) + total
        return Predictions("classifier", round(sum(counts.values())), counts, {})
    values = _listed(cloudwatch, namespace, VALUE_METRIC, where)
    if not values:
        return Predictions("none", 0, {}, {})
    # One model version per side: the metric with the most rows (a second one is a leftover).
    samples = _query(cloudwatch, [(m, "SampleCount") for m in values], start, end)
    rows, metric = max(zip(samples, values, strict=True), key=lambda pair: pair[0])
    quantiles = _query(cloudwatch, [(metric, f"p{p}") for p in PERCENTILES], start, end)
    return Predictions("regressor", round(rows), {}, dict(zip(map(float, PERCENTILES), quantiles, strict=True)))
