"""CloudWatch alarms from compact specs: one place for the settings every alarm shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct


def threshold_alarms(
    scope: Construct,
    prefix: str,
    specs: Mapping[str, Mapping[str, Any]],
    topic_arns: Sequence[str],
    *,
    periods: int,
    datapoints: int | None,
) -> dict[str, CloudwatchMetricAlarm]:
    """One threshold alarm per spec (id ``alarm-<key>``, name ``<prefix>-<key>``, or
    ``<prefix>-<name>`` with a ``name`` in the spec).

    A spec holds ``namespace``, ``metric_name``, ``dimensions``, ``statistic`` (``pNN`` for a
    percentile), ``threshold``, ``desc`` and optionally ``name``, ``periods``/``datapoints`` (M
    of N one-minute periods; ``datapoints`` None: all N), ``comparison`` (another operator,
    e.g. ``LessThanThreshold``) and ``missing`` (how to treat missing data). By default missing
    data is not breaching: these metrics are sparse by nature. Alarm and OK both notify
    ``topic_arns``.
    """
    alarms = {}
    for key, spec in specs.items():
        percentile = spec["statistic"].startswith("p")
        alarms[key] = CloudwatchMetricAlarm(
            scope,
            f"alarm-{key}",
            alarm_name=f"{prefix}-{spec.get('name', key)}",
            alarm_description=spec["desc"],
            namespace=spec["namespace"],
            metric_name=spec["metric_name"],
            dimensions=spec["dimensions"],
            # Percentiles are "extended" statistics in CloudWatch's API.
            statistic=None if percentile else spec["statistic"],
            extended_statistic=spec["statistic"] if percentile else None,
            period=60,
            evaluation_periods=spec.get("periods", periods),
            datapoints_to_alarm=spec.get("datapoints", datapoints),
            threshold=spec["threshold"],
            comparison_operator=spec.get("comparison", "GreaterThanThreshold"),
            treat_missing_data=spec.get("missing", "notBreaching"),
            alarm_actions=list(topic_arns),
            ok_actions=list(topic_arns),
        )
    return alarms
