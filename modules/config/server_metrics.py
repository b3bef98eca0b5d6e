"""``[server_metrics]``: the model server's own metrics (CloudWatch Embedded Metric Format)
and the alarms and scaling that read them, in `model-serving`, `ha-failover` and `target-groups`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modules.config.checks import Int, Section, between, check
from modules.config.model_server import ModelServerSettings
from modules.core.input_rules import CloudWatchNamespace

# Every alarm evaluates one-minute periods: an interval that divides the minute gives each
# minute the same number of documents per server, so no minute is empty and none is doubled.
INTERVALS_S = tuple(s for s in range(1, 61) if 60 % s == 0)
EmfIntervalS = Annotated[
    Int,
    check(
        lambda v: (
            None
            if v in INTERVALS_S
            else f"a number of seconds that divides the alarms' minute: {', '.join(map(str, INTERVALS_S))}"
        )
    ),
]


class ServerMetricsSettings(Section):
    """The model server's own metrics and the alarms and scaling on them (the three serving stacks)."""

    namespace: Annotated[
        CloudWatchNamespace,
        check(lambda v: "a namespace not starting with ':' (CloudWatch refuses it)" if v.startswith(":") else None),
    ] = Field(
        default="ResilientAI/ModelServer",
        description="CloudWatch namespace the servers publish their metrics in (dimension `Service`: one value "
        "per fleet or service)",
    )
    interval_s: EmfIntervalS = Field(
        default=10, description="each server writes one metrics document per this many seconds"
    )
    distribution: Literal["values_counts", "values"] = Field(
        default="values_counts",
        description="how a distribution (latency, predicted values) is written: `values_counts` = each value once "
        "with its count (AWS's own libraries' form); `values` = at most 100 plain values (the EMF specification's "
        "form), for an account where the other is refused",
    )
    p99_latency_alarm_ms: Annotated[Int, between(1, 60000)] = Field(
        default=500,
        description="alarm (and roll a rollout back) when the servers' own p99 latency per call exceeds this "
        "(milliseconds)",
    )
    server_5xx_alarm_percent: Annotated[Int, between(1, 100)] = Field(
        default=1,
        description="alarm (and roll back) when this share (%) of infer calls ends in a server error "
        "(5xx other than the admission 503)",
    )
    rejection_alarm_percent: Annotated[Int, between(1, 100)] = Field(
        default=5,
        description="alarm (and roll back) when this share (%) of infer calls is refused at the in-flight limit (503)",
    )
    alarm_min_requests: Annotated[Int, between(1, 1_000_000)] = Field(
        default=20,
        description="the rate and p99 alarms judge a minute only with at least this many infer calls in it: two "
        "errors in three calls are not an outage, the p99 of three calls is their slowest",
    )
    in_flight_target: Annotated[Int, between(1, 10000)] = Field(
        default=16,
        description="target tracking: mean in-flight calls per task or instance; below model_server.max_in_flight, "
        "so capacity grows before servers refuse calls",
    )


def server_metrics_problems(metrics: ServerMetricsSettings, server: ModelServerSettings) -> list[str]:
    """Rules across ``[server_metrics]`` and ``[model_server]``."""
    if metrics.in_flight_target < server.max_in_flight:
        return []
    return [
        f"server_metrics.in_flight_target = {metrics.in_flight_target}: must be below model_server.max_in_flight = "
        f"{server.max_in_flight} (at the limit a server refuses calls before scaling adds capacity)"
    ]
