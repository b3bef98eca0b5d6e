"""A stack's alarm table (the ``alarms`` part of its README), generated from the alarm specs the
stack declares (:attr:`modules.stack.base.BaseStack.alarm_specs`), so the table and the alarms
cannot disagree: each alarm, when it fires, what it means and what to do (its description), and
whether a rollout undoes itself when it does."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from modules.blocks.alarms import AlarmSpec, MetricMath

OPERATORS = {  # how each CloudWatch comparison reads in the docs
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def named_expression(query: MetricMath) -> str:
    """The expression with each query id replaced by its metric's name (with its statistic
    where it is not the query's own: ``p99(Latency)``)."""
    names = {
        query_id: f"{query.statistics[query_id]}({metric.name})" if query_id in query.statistics else metric.name
        for query_id, metric in query.metrics.items()
    }
    return re.sub(r"\b[a-z]\w*\b", lambda word: names.get(word[0], word[0]), query.expression)


def condition(spec: AlarmSpec) -> str:
    """When ``spec``'s alarm fires, in words: what it reads, the comparison, over which minutes."""
    if isinstance(spec.metric, MetricMath):
        reads = f"`{named_expression(spec.metric)}`"
    else:
        reads = f"{spec.statistic} of `{spec.metric.name}`"
    breaching = spec.datapoints or spec.periods
    minutes = "in a minute" if spec.periods == 1 else f"in {breaching} of {spec.periods} minutes"
    missing = ", missing data = alarm" if spec.missing == "breaching" else ""
    return f"{reads} {OPERATORS[spec.comparison]} {spec.threshold:g} {minutes}{missing}"


def alarm_table(specs: Mapping[str, Sequence[AlarmSpec]]) -> str:
    """One table per alarm-name prefix (a site or region of the stack), every alarm in spec order."""
    if not any(specs.values()):
        return "No alarm: nothing here has a failure signal of its own to watch."
    parts: list[str] = []
    for prefix, of_prefix in specs.items():
        if not of_prefix:
            continue
        parts += [
            *([""] if parts else []),
            f"Alarms named `{prefix}-<alarm>`:",
            "",
            "| alarm | fires when | what it means, what to do | rolls a rollout back |",
            "|---|---|---|---|",
            *(
                f"| `{spec.name or spec.key}` | {condition(spec)} | {spec.description} | "
                f"{'yes' if spec.guards_rollout else 'no'} |"
                for spec in of_prefix
            ),
        ]
    return "\n".join(parts)
