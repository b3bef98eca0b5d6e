"""The model server's own metrics: what each one is, and the graphs that show them.

The server (``handlers/model_server/``) writes them as CloudWatch Embedded Metric Format, one
document per interval per server, zeros included; on ECS ``awslogs`` carries its stdout to
CloudWatch Logs, on EC2 the CloudWatch agent ships the log file it tails
(:mod:`modules.blocks.instance_template`); CloudWatch Logs extracts the metrics. The alarms and
the scaling target that read them from the settings are in :mod:`modules.patterns.server_metrics`;
the generated metric reference (``docs/metrics.md``) reads both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from modules.blocks.alarms import Metric
from modules.blocks.dashboard import Graph, Line

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
