"""The model server's metrics as the settings configure them: their namespace, the server's EMF
environment, the alarms that read them and the scaling target on in-flight calls, for the three
serving stacks' ``observability.py`` and scaling. What each metric is, and its graphs, are in
:mod:`modules.blocks.server_metrics`.
"""

from __future__ import annotations

from modules.blocks.alarms import AlarmSpec, Metric, MetricMath
from modules.blocks.dashboard import Graph
from modules.blocks.fleet import MetricTarget
from modules.blocks.server_metrics import SCALING_STATISTIC, ServerMetrics, server_metrics
from modules.config import Settings
from modules.config.server_metrics import ServerMetricsSettings


def configured_server_metrics(settings: Settings, service: str) -> ServerMetrics:
    """:func:`server_metrics` in the namespace of ``[server_metrics]``."""
    return server_metrics(settings.server_metrics.namespace, service)


def emf_environment(settings: Settings, service: str) -> dict[str, str]:
    """The server's EMF settings: documents to stdout (the log stream on ECS, the log file the
    agent tails on EC2), named ``service``."""
    cfg = settings.server_metrics
    return {
        "EMF_NAMESPACE": cfg.namespace,
        "EMF_INTERVAL_S": str(cfg.interval_s),
        "EMF_SERVICE": service,
        "EMF_SINK": "stdout",
    }


def _rate(query: str, part: Metric, whole: Metric, label: str, min_requests: int) -> MetricMath:
    # Below min_requests a minute counts as 0 %: a few calls make noisy percentages.
    return MetricMath(
        id=query,
        expression=f"IF(requests >= {min_requests}, 100 * part / requests, 0)",
        label=label,
        metrics={"part": part, "requests": whole},
        statistic="Sum",
    )


def _floored_p99(latency: Metric, requests: Metric, min_requests: int) -> MetricMath:
    # Below min_requests a minute counts as 0 ms: the p99 of a few calls is their slowest one.
    return MetricMath(
        id="latencyp99",
        expression=f"IF(requests >= {min_requests}, latency, 0)",
        label="p99 latency (ms)",
        metrics={"latency": latency, "requests": requests},
        statistic="Sum",
        statistics={"latency": "p99"},
    )


def server_alarms(
    cfg: ServerMetricsSettings, m: ServerMetrics, *, key_prefix: str = "", who: str = ""
) -> list[AlarmSpec]:
    """The alarms on the servers' own metrics; keys start with ``key_prefix``, ``who`` names the
    servers in the descriptions. Latency, 5xx rate and rejection rate guard rollouts: a new
    model or revision that makes the servers slow, fail or shed load rolls back.

    Missing data is not breaching for those three: the servers write zeros every interval, so
    silence means no server runs or the pipeline is broken, and rolling back fixes neither;
    ``server-metrics-missing`` pages for that instead."""
    servers = f"{who} model servers" if who else "the model servers"
    return [
        AlarmSpec(
            key=f"{key_prefix}model-p99-latency",
            metric=_floored_p99(m.latency, m.requests, cfg.alarm_min_requests),
            # 2 of 3 minutes, as the rates: a guard no slower than the ALB's 5xx alarms.
            threshold=cfg.p99_latency_alarm_ms,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description=f"{servers}' own p99 time per infer call is above {cfg.p99_latency_alarm_ms} ms: a slow "
            "model or revision (a rollout rolls back), or saturated servers (see in-flight, scale out)",
        ),
        AlarmSpec(
            key=f"{key_prefix}server-5xx-rate",
            metric=_rate("errorrate", m.server_errors, m.requests, "server 5xx (%)", cfg.alarm_min_requests),
            threshold=cfg.server_5xx_alarm_percent,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description=f"more than {cfg.server_5xx_alarm_percent} % of infer calls to {servers} end in a server "
            "error (not the admission 503): read the server log for the exception",
        ),
        AlarmSpec(
            key=f"{key_prefix}rejection-rate",
            metric=_rate("rejectrate", m.rejected, m.requests, "rejected (%)", cfg.alarm_min_requests),
            threshold=cfg.rejection_alarm_percent,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description=f"more than {cfg.rejection_alarm_percent} % of infer calls to {servers} are refused at the "
            "in-flight limit (503): scaling is at its maximum or too slow, or calls got slower",
        ),
        AlarmSpec(
            key=f"{key_prefix}server-metrics-missing",
            metric=m.requests,
            statistic="SampleCount",
            threshold=1,
            comparison="LessThanThreshold",
            periods=5,
            datapoints=5,
            # Every running server writes a document per interval: five silent minutes mean none
            # runs, or the metrics never reach CloudWatch and the alarms above are blind.
            missing="breaching",
            description=f"no metrics from {servers} for 5 minutes: none runs, or the metrics pipeline (EMF in "
            "the log, the CloudWatch agent on EC2) is broken and the server alarms cannot fire",
        ),
    ]


def in_flight_target(settings: Settings, m: ServerMetrics) -> MetricTarget:
    """Target tracking on the servers' mean in-flight calls per task or instance."""
    return MetricTarget(
        key="in-flight",
        metric=m.in_flight,
        statistic=SCALING_STATISTIC,
        target=settings.server_metrics.in_flight_target,
    )


# CloudWatch Logs counts the EMF documents it drops, per log group (AWS/Logs, LogGroupName).
EMF_ERRORS = {
    "emf-parsing-errors": ("EMFParsingErrors", "not valid JSON or EMF"),
    "emf-validation-errors": ("EMFValidationErrors", "against the EMF specification (namespace, dimension, unit)"),
}


def emf_error_metrics(log_group_name: str) -> list[Metric]:
    """The counts of documents CloudWatch Logs dropped from ``log_group_name``."""
    group = {"LogGroupName": log_group_name}
    return [Metric(namespace="AWS/Logs", name=name, dimensions=group) for name, _ in EMF_ERRORS.values()]


def emf_error_alarms(log_group_name: str, *, key_prefix: str = "", who: str = "") -> list[AlarmSpec]:
    """A dropped document's metrics never exist, and the alarms that read them stay blind: these
    page, and guard nothing (no rollout, no chaos experiment), since what they say is that the
    other alarms cannot be trusted, not that callers are hurt."""
    servers = f"{who} model servers" if who else "the model servers"
    return [
        AlarmSpec(
            key=f"{key_prefix}{key}",
            metric=metric,
            statistic="Sum",
            threshold=0,
            description=f"CloudWatch Logs dropped EMF documents of {servers}, {why}: their metrics are missing "
            "and the alarms on them blind. Read a document in the log group; if `Values`/`Counts` is refused, "
            "switch the servers to plain value arrays (docs/metrics.md)",
        )
        for (key, (_, why)), metric in zip(EMF_ERRORS.items(), emf_error_metrics(log_group_name), strict=True)
    ]


def emf_error_graph(label: str, log_group_name: str, region: str = "") -> Graph:
    """The EMF documents CloudWatch Logs dropped from ``log_group_name``; title starts with ``label``."""
    head = f"{label}: " if label else ""
    return Graph(title=f"{head}EMF documents dropped", lines=emf_error_metrics(log_group_name), region=region)
