"""CloudWatch alarms from typed specs: one :class:`AlarmSpec` per alarm, one way to build it.

A stack's ``observability.py`` describes its alarms as specs; :func:`metric_alarms` creates
them, :func:`rollout_guards` names the ones a rollout (ECS deployment, instance refresh,
canary) watches, and :mod:`modules.blocks.dashboard` shows every one of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from constructs import Construct

Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MissingData = Literal["notBreaching", "breaching", "ignore", "missing"]
PERIOD_S = 60  # every alarm evaluates one-minute periods
# CloudWatch: evaluation periods x period must not exceed one day.
MAX_PERIODS = 24 * 3600 // PERIOD_S
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")  # CloudWatch: metric query ids start lower-case


def statistic_problem(statistic: str) -> str:
    """Why ``statistic`` is not one CloudWatch knows, or "" if it is."""
    if statistic in STATISTICS or _PERCENTILE.match(statistic):
        return ""
    return f"must be one of {', '.join(STATISTICS)} or a percentile pNN"


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One CloudWatch metric: what an alarm reads and a dashboard graph draws."""

    namespace: str
    name: str
    dimensions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [f"{f}: must not be empty" for f in ("namespace", "name") if not getattr(self, f)]
        if problems:
            raise ValueError(f"Metric {self.namespace}/{self.name}: " + "; ".join(problems))

    def identity(self) -> tuple[str, str, frozenset[tuple[str, str]]]:
        """What makes two mentions of a metric the same metric (dimension order does not count)."""
        return self.namespace, self.name, frozenset(self.dimensions.items())


def lambda_metric(function_name: str, name: str) -> Metric:
    """A metric of one Lambda function (``Errors``, ``Throttles``, ``Invocations``...)."""
    return Metric(namespace="AWS/Lambda", name=name, dimensions={"FunctionName": function_name})


@dataclass(frozen=True, kw_only=True)
class MetricMath:
    """An expression over metrics (``metrics`` by the id the expression uses), each read with
    ``statistic`` unless ``statistics`` names another for its id (a p99 beside a request
    count); the alarm compares the expression's value (query ``id``) to its threshold."""

    id: str
    expression: str
    label: str
    metrics: Mapping[str, Metric]
    statistic: str
    statistics: Mapping[str, str] = field(default_factory=dict)

    def statistic_of(self, query_id: str) -> str:
        return self.statistics.get(query_id, self.statistic)

    def __post_init__(self) -> None:
        problems = []
        for name, value in (("id", self.id), *((f"metrics[{k!r}]", k) for k in self.metrics)):
            if not _QUERY_ID.match(value):
                problems.append(f"{name}={value!r}: must start with a lower-case letter, then letters, digits, _")
        if not self.expression:
            problems.append("expression: must not be empty")
        if not self.metrics:
            problems.append("metrics: must name at least one metric")
        if self.id in self.metrics:
            problems.append(f"id={self.id!r}: must differ from the metrics' ids")
        if problem := statistic_problem(self.statistic):
            problems.append(f"statistic={self.statistic!r}: {problem}")
        for query_id, statistic in self.statistics.items():
            if query_id not in self.metrics:
                problems.append(f"statistics[{query_id!r}]: names no metric of the expression")
            elif problem := statistic_problem(statistic):
                problems.append(f"statistics[{query_id!r}]={statistic!r}: {problem}")
        if problems:
            raise ValueError(f"MetricMath {self.id!r}: " + "; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm: what it reads, when it fires, and what the person it pages should do.

    The construct id is ``alarm-<key>`` (a Terraform address: permanent); the alarm's name is
    ``<prefix>-<name>`` (``name`` defaults to ``key``). ``guards_rollout``: a rollout of new
    code or a new model (ECS deployment, instance refresh, canary) watches it and undoes
    itself when it fires. Missing data is not breaching by default: most of these metrics
    are sparse by nature; set ``missing="breaching"`` where silence is the failure.
    """

    key: str
    metric: Metric | MetricMath
    statistic: str = ""  # of ``metric`` (Sum, Maximum, pNN, ...); a MetricMath carries its own
    threshold: float
    comparison: Comparison = "GreaterThanThreshold"
    periods: int = 1  # one-minute periods evaluated
    datapoints: int | None = None  # M of the N periods must breach; None: all of them
    missing: MissingData = "notBreaching"
    description: str  # what firing means and what to do about it: the page says it
    guards_rollout: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not _KEY.match(self.key):
            problems.append(f"key={self.key!r}: must be lower-case letters, digits and -")
        if self.name and not _KEY.match(self.name):
            problems.append(f"name={self.name!r}: must be lower-case letters, digits and -")
        if isinstance(self.metric, Metric):
            if problem := statistic_problem(self.statistic):
                problems.append(f"statistic={self.statistic!r}: {problem}")
        elif self.statistic:
            problems.append(f"statistic={self.statistic!r}: must be empty with metric math (it has its own)")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            problems.append(f"threshold={self.threshold!r}: must be a number")
        elif not math.isfinite(self.threshold):
            problems.append(f"threshold={self.threshold!r}: must be a finite number")
        if isinstance(self.periods, bool) or not isinstance(self.periods, int) or not 1 <= self.periods <= MAX_PERIODS:
            problems.append(f"periods={self.periods!r}: must be a whole number of minutes, 1-{MAX_PERIODS}")
        elif self.datapoints is not None and (
            isinstance(self.datapoints, bool)
            or not isinstance(self.datapoints, int)
            or not 1 <= self.datapoints <= self.periods
        ):
            problems.append(f"datapoints={self.datapoints!r}: must be 1-{self.periods} (periods) or None (all)")
        if self.comparison not in get_args(Comparison):
            problems.append(f"comparison={self.comparison!r}: must be one of {', '.join(get_args(Comparison))}")
        if self.missing not in get_args(MissingData):
            problems.append(f"missing={self.missing!r}: must be one of {', '.join(get_args(MissingData))}")
        if not self.description.strip():
            problems.append("description: must say what firing means and what to do")
        if problems:
            raise ValueError(f"AlarmSpec {self.key!r}: " + "; ".join(problems))

    def alarm_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name or self.key}"

    def metrics(self) -> tuple[Metric, ...]:
        """Every metric the alarm reads."""
        return (self.metric,) if isinstance(self.metric, Metric) else tuple(self.metric.metrics.values())


def rollout_guards(prefix: str, specs: Iterable[AlarmSpec]) -> list[str]:
    """Names of the alarms among ``specs`` that guard rollouts, in the specs' order.

    By name, not by reference: these alarms usually read the name of what the rollout
    changes (service, group), so a reference back from it would be a cycle.
    """
    return [spec.alarm_name(prefix) for spec in specs if spec.guards_rollout]


def metric_alarms(
    scope: Construct, prefix: str, specs: Sequence[AlarmSpec], topic_arns: Sequence[str]
) -> dict[str, CloudwatchMetricAlarm]:
    """One alarm per spec in ``scope`` (by key); alarm and OK both notify ``topic_arns``."""
    keys = [spec.key for spec in specs]
    if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
        raise ValueError(f"alarms of {prefix}: keys {duplicates} are used twice (construct ids must be unique)")
    return {spec.key: _alarm(scope, prefix, spec, list(topic_arns)) for spec in specs}


def _alarm(scope: Construct, prefix: str, spec: AlarmSpec, topics: list[str]) -> CloudwatchMetricAlarm:
    metric = spec.metric
    single = metric if isinstance(metric, Metric) else None
    queries = None
    if isinstance(metric, MetricMath):
        queries = [
            CloudwatchMetricAlarmMetricQuery(
                id=query_id,
                metric=CloudwatchMetricAlarmMetricQueryMetric(
                    namespace=m.namespace,
                    metric_name=m.name,
                    dimensions=dict(m.dimensions),
                    period=PERIOD_S,
                    stat=metric.statistic_of(query_id),
                ),
            )
            for query_id, m in metric.metrics.items()
        ]
        queries.append(
            CloudwatchMetricAlarmMetricQuery(
                id=metric.id, expression=metric.expression, label=metric.label, return_data=True
            )
        )
    # Percentiles are "extended" statistics in CloudWatch's API.
    percentile = spec.statistic.startswith("p")
    return CloudwatchMetricAlarm(
        scope,
        f"alarm-{spec.key}",
        alarm_name=spec.alarm_name(prefix),
        alarm_description=spec.description,
        namespace=single.namespace if single else None,
        metric_name=single.name if single else None,
        dimensions=dict(single.dimensions) if single else None,
        statistic=spec.statistic if single and not percentile else None,
        extended_statistic=spec.statistic if single and percentile else None,
        period=PERIOD_S if single else None,
        metric_query=queries,
        evaluation_periods=spec.periods,
        datapoints_to_alarm=spec.datapoints,
        threshold=spec.threshold,
        comparison_operator=spec.comparison,
        treat_missing_data=spec.missing,
        alarm_actions=topics,
        ok_actions=topics,
    )
