"""The model server's own metrics, in one place: what each one is, the alarms and the scaling
policy that read them, and the graphs that show them.

The server (``handlers/model_server/``) writes them as CloudWatch Embedded Metric Format, one
document per interval per server, zeros included; on ECS ``awslogs`` carries its stdout to
CloudWatch Logs, on EC2 the CloudWatch agent ships the log file it tails
(:mod:`modules.blocks.instance_template`); CloudWatch Logs extracts the metrics. The three
serving stacks' ``observability.py`` and scaling read this module, and so does the generated
metric reference (``docs/metrics.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from modules.blocks.alarms import AlarmSpec, Metric, MetricMath
from modules.blocks.dashboard import Graph, Line
from modules.blocks.fleet import MetricTarget
from modules.config import Settings
from modules.config.server_metrics import ServerMetricsSettings

SERVICE = "Service"  # the dimension alarms, scaling and dashboards read: one value per fleet or service
DIMENSION_SETS = ((SERVICE,), (SERVICE, "Model", "Version"))  # what every document declares
SCALING_STATISTIC = "Average"  # of InFlight over every server's documents: the mean per task or instance


@dataclass(frozen=True)
class ServerMetric:
    """One metric of the server: its EMF name and unit, and what it counts."""

    name: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class ServerMetrics:
    """The server's metrics of one service (one ``Service`` dimension value), by role."""

    requests: Metric
    server_errors: Metric
    rejected: Metric
    unauthorized: Metric
    inferred_rows: Metric
    latency: Metric
    in_flight: Metric
    batch_requests: Metric
    batch_rows: Metric
    draining: Metric


# The catalogue, in the order of ServerMetrics' fields (a test checks both agree).
CATALOG: tuple[ServerMetric, ...] = (
    ServerMetric("Requests", "Count", "infer calls received, whatever their outcome"),
    ServerMetric("ServerErrors", "Count", "infer calls answered 5xx, other than the admission 503"),
    ServerMetric("Rejected", "Count", "infer calls refused with 503 + Retry-After at the in-flight limit"),
    ServerMetric("Unauthorized", "Count", "infer calls refused with 401 (missing or invalid bearer token)"),
    ServerMetric("InferredRows", "Count", "rows the model inferred"),
    ServerMetric("Latency", "Milliseconds", "time per infer call in the server (a distribution: percentiles work)"),
    ServerMetric("InFlight", "Count", "calls in flight on one server, time-weighted mean over the interval"),
    ServerMetric("BatchRequests", "Count", "infer calls stacked into one model run (a distribution)"),
    ServerMetric("BatchRows", "Count", "rows in one model run (a distribution)"),
    ServerMetric("Draining", "None", "1 while the server drains before it stops, else 0"),
)


UNITS = {m.name: m.unit for m in CATALOG}  # EMF unit by metric name


def server_metrics(namespace: str, service: str) -> ServerMetrics:
    """The metrics of ``service`` (its ``Service`` dimension) in ``namespace``."""
    by_name = {
        f.name: Metric(namespace=namespace, name=m.name, dimensions={SERVICE: service})
        for f, m in zip(fields(ServerMetrics), CATALOG, strict=True)
    }
    return ServerMetrics(**by_name)


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


def server_graphs(label: str, m: ServerMetrics, region: str = "") -> list[Graph]:
    """Latency p50/p99, calls by outcome, in-flight calls, batch size, rows and draining of one
    service; titles start with ``label``."""
    head = f"{label}: " if label else ""
    return [
        Graph(
            title=f"{head}server latency p50 / p99 (ms)",
            lines=[Line(metric=m.latency, stat="p50"), Line(metric=m.latency, stat="p99")],
            stat="p99",
            region=region,
        ),
        Graph(
            title=f"{head}infer calls / 5xx / rejected / 401",
            lines=[m.requests, m.server_errors, m.rejected, m.unauthorized],
            region=region,
        ),
        Graph(
            title=f"{head}in flight per server (mean / max)",
            lines=[m.in_flight, Line(metric=m.in_flight, stat="Maximum")],
            stat=SCALING_STATISTIC,
            region=region,
        ),
        Graph(
            title=f"{head}batch size: calls / rows per model run (mean)",
            lines=[m.batch_requests, m.batch_rows],
            stat="Average",
            region=region,
        ),
        Graph(title=f"{head}rows inferred", lines=[m.inferred_rows], region=region),
        Graph(title=f"{head}servers draining (any)", lines=[m.draining], stat="Maximum", region=region),
    ]


def metric_uses(settings: Settings) -> dict[str, list[str]]:
    """What reads each server metric (by name), from the alarm specs and the scaling target
    the stacks build with ``settings``."""
    m = configured_server_metrics(settings, "service")
    uses: dict[str, list[str]] = {}
    for spec in server_alarms(settings.server_metrics, m):
        op = "<" if spec.comparison.startswith("Less") else ">"
        if isinstance(spec.metric, MetricMath):
            expression = _named(spec.metric)
            how = f"`{expression}` {op} {spec.threshold:g} {_result_unit(spec.metric)}, per minute"
        else:
            unit = UNITS[spec.metric.name]
            how = f"{spec.statistic} {op} {spec.threshold:g}" + ("" if unit in ("Count", "None") else f" {unit}")
        guard = ", rollout guard" if spec.guards_rollout else ""
        for metric in dict.fromkeys(x.name for x in spec.metrics()):
            uses.setdefault(metric, []).append(f"alarm `{spec.key}` ({how}{guard})")
    tracked = in_flight_target(settings, m)
    uses.setdefault(tracked.metric.name, []).append(
        f"scaling policy `scale-{tracked.key}` (target tracking: {tracked.statistic} = {tracked.target:g} "
        "per task or instance)"
    )
    return uses


def _named(query: MetricMath) -> str:
    """The expression with each query id replaced by its metric's name (with its statistic
    where it is not the query's own: ``p99(Latency)``)."""
    names = {
        query_id: f"{query.statistics[query_id]}({metric.name})" if query_id in query.statistics else metric.name
        for query_id, metric in query.metrics.items()
    }
    return re.sub(r"\b[a-z]\w*\b", lambda word: names.get(word[0], word[0]), query.expression)


def _result_unit(query: MetricMath) -> str:
    """What the expressions here give: the unit of the metric read by its own statistic (the
    p99 of ``Latency``: Milliseconds), else a percentage."""
    own = [UNITS[query.metrics[query_id].name] for query_id in query.statistics]
    return own[0] if own else "%"


def metric_reference(uses: dict[str, list[str]]) -> str:
    """The metric reference table: every server metric, its unit, dimensions and meaning, and
    ``uses`` (what reads it, by metric name)."""
    dims = " and ".join("`" + ", ".join(s) + "`" for s in DIMENSION_SETS)
    rows = ["| metric | unit | meaning | used by |", "|---|---|---|---|"]
    for m in CATALOG:
        rows.append(f"| `{m.name}` | {m.unit} | {m.meaning} | {'; '.join(uses.get(m.name, ())) or 'dashboards only'} |")
    return "\n".join([f"Every metric carries the dimension sets {dims}.", "", *rows])


def in_flight_target(settings: Settings, m: ServerMetrics) -> MetricTarget:
    """Target tracking on the servers' mean in-flight calls per task or instance."""
    return MetricTarget(
        key="in-flight",
        metric=m.in_flight,
        statistic=SCALING_STATISTIC,
        target=settings.server_metrics.in_flight_target,
    )
