"""The model server's metric reference (``docs/metrics.md``): every metric, its unit, dimensions
and meaning, and what reads it: the alarms and the scaling target the stacks build."""

from __future__ import annotations

from modules.blocks.alarms import MetricMath
from modules.blocks.server_metrics import CATALOG, DIMENSION_SETS, UNITS
from modules.config import Settings
from modules.patterns.server_metrics import configured_server_metrics, in_flight_target, server_alarms
from tools.docs.alarm_table import OPERATORS, named_expression


def metric_uses(settings: Settings) -> dict[str, list[str]]:
    """What reads each server metric (by name), from the alarm specs and the scaling target
    the stacks build with ``settings``."""
    m = configured_server_metrics(settings, "service")
    uses: dict[str, list[str]] = {}
    for spec in server_alarms(settings.server_metrics, m):
        op = OPERATORS[spec.comparison]
        if isinstance(spec.metric, MetricMath):
            expression = named_expression(spec.metric)
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
