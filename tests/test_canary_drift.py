"""The canary controller's judgement of predictions (handlers/canary_controller/drift.py): the
divergence of two class counts or two percentile sets, the verdict, and the CloudWatch reads
(the regressor's percentiles on responses in GetMetricData's form: moto computes no percentile)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from canary_controller.drift import PERCENTILES, Predictions, class_divergence, judge, quantile_divergence, read

WINE = {"0": 59.0, "1": 71.0, "2": 48.0}


def test_identical_class_counts_do_not_diverge_and_class_order_does_not_count() -> None:
    assert class_divergence(WINE, {k: 10 * v for k, v in WINE.items()}) == 0
    permuted = {"0": 48.0, "1": 59.0, "2": 71.0}
    assert class_divergence(WINE, permuted) == pytest.approx((71 - 48) / 178)
    renamed = {"b": 59.0, "c": 71.0, "a": 48.0}
    assert class_divergence({"b": 59.0, "c": 71.0, "a": 48.0}, renamed) == 0


def test_a_class_one_side_never_predicts_is_finite_and_a_side_with_no_rows_is_not_judged() -> None:
    assert class_divergence({"0": 50.0, "1": 50.0}, {"0": 100.0}) == pytest.approx(0.5)
    assert class_divergence({"0": 1.0}, {"1": 1.0}) == 1.0
    assert class_divergence(WINE, {}) == 0.0


def normal_percentiles(shift: float = 0.0, scale: float = 1.0) -> dict[float, float]:
    from statistics import NormalDist

    dist = NormalDist(shift, scale)
    return {float(p): dist.inv_cdf(p / 100) for p in PERCENTILES}


def test_percentile_divergence_is_the_ks_statistic_of_the_two_distributions() -> None:
    assert quantile_divergence(normal_percentiles(), normal_percentiles()) == 0
    # Two normals one standard deviation apart: KS = 2 * Phi(0.5) - 1 = 0.383.
    assert quantile_divergence(normal_percentiles(), normal_percentiles(1.0)) == pytest.approx(0.383, abs=0.02)
    assert quantile_divergence(normal_percentiles(), normal_percentiles(100.0)) == 1.0
    constant = {float(p): 3.0 for p in PERCENTILES}
    assert quantile_divergence(constant, constant) == 0
    assert quantile_divergence(normal_percentiles(), {50.0: float("nan")}) == 0


def side(kind: str = "classifier", rows: int = 1000, classes: dict[str, float] | None = None) -> Predictions:
    counts = WINE if classes is None else classes
    return Predictions(kind, rows, counts, normal_percentiles())  # type: ignore[arg-type]


def test_the_verdict_waits_below_the_rows_and_names_the_divergence_and_its_value() -> None:
    wait = judge(side(rows=5000), side(rows=299), threshold=0.08, min_rows=300)
    assert (wait.action, wait.divergence) == ("wait", None)
    assert wait.reason == "too few predictions to judge: canary 299 rows, stable 5000, 300 needed on each side"
    back = judge(side(rows=5000), side(classes={"0": 48.0, "1": 59.0, "2": 71.0}), threshold=0.08, min_rows=300)
    assert back.action == "rollback" and back.reason.startswith(
        "prediction divergence (largest class-share difference) 0.129 > 0.08"
    )
    assert judge(side(), side(), threshold=0.08, min_rows=300).action == "pass"
    regressor = judge(side("regressor"), side("regressor"), threshold=0.08, min_rows=300)
    assert regressor.action == "pass" and "(KS statistic of the outputs) 0.000" in regressor.reason
    other = judge(side("classifier"), side("regressor"), threshold=0.08, min_rows=300)
    assert other.action == "rollback" and "as a regressor, stable as a classifier" in other.reason


class Recorded:
    """A CloudWatch client answering ListMetrics and GetMetricData in their documented form."""

    def __init__(self, metrics: list[dict[str, Any]], values: dict[str, float]) -> None:
        self.metrics, self.values = metrics, values
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_metrics"
        client = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                client.calls.append(kwargs)
                wanted = {(d["Name"], d["Value"]) for d in kwargs["Dimensions"]}
                yield {
                    "Metrics": [
                        m
                        for m in client.metrics
                        if m["MetricName"] == kwargs["MetricName"]
                        and wanted <= {(d["Name"], d["Value"]) for d in m["Dimensions"]}
                    ]
                }

        return Pages()

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        results = []
        for query in kwargs["MetricDataQueries"]:
            stat = query["MetricStat"]["Stat"]
            value = self.values.get(stat)
            results.append(
                {"Id": query["Id"], "Label": stat, "Timestamps": [], "Values": [] if value is None else [value]}
            )
        return {"MetricDataResults": results, "Messages": []}


def value_metric(service: str, version: str) -> dict[str, Any]:
    dims = {"Service": service, "Model": "price", "Version": version}
    return {
        "Namespace": "ResilientAI/ModelServer",
        "MetricName": "PredictedValue",
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
    }


def test_a_regressor_is_read_as_its_row_count_and_percentiles_over_one_period_of_the_window() -> None:
    values = {f"p{p:g}": v for p, v in normal_percentiles(2.0).items()} | {"SampleCount": 1234.0}
    client = Recorded([value_metric("svc", "7"), value_metric("other", "7")], {k: v for k, v in values.items()})
    got = read(client, "ResilientAI/ModelServer", {"Service": "svc", "Version": "7"}, 1000.0, 1300.0)
    assert (got.kind, got.rows) == ("regressor", 1234)
    assert got.percentiles[50.0] == pytest.approx(2.0)
    queries = [q for call in client.calls if "MetricDataQueries" in call for q in call["MetricDataQueries"]]
    assert {q["MetricStat"]["Period"] for q in queries} == {300}, "one period: the whole step"
    assert {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in queries} == {"svc"}
    assert quantile_divergence(got.percentiles, normal_percentiles()) > 0.6


def test_nothing_published_reads_as_no_rows() -> None:
    got = read(Recorded([], {}), "ns", {"Service": "svc"}, 0.0, 60.0)
    assert (got.kind, got.rows) == ("none", 0)
