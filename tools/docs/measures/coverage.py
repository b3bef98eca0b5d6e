"""What is retried and what is watched: the asynchronous paths that end in a DLQ or a failure
destination, and the failure signals an alarm covers."""

from __future__ import annotations

import json
from typing import Any

from modules.policy.document import StackDocument, references
from modules.policy.rules import async_failure_destination, async_invokers, mapping_source
from tools.docs.measures.row import Row, path_cell
from tools.docs.stack_facts import is_dead_letter_queue

# AWS default: Lambda retries a failed asynchronous invocation twice.
LAMBDA_ASYNC_RETRIES = 2

# Failure signals per resource type: (signal, metric names any of which covers it).
SIGNALS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "aws_lb": (("load balancer 5xx", ("HTTPCode_ELB_5XX_Count",)),),
    "aws_lb_target_group": (
        ("unhealthy targets", ("UnHealthyHostCount", "HealthyHostCount")),
        ("target 5xx", ("HTTPCode_Target_5XX_Count",)),
    ),
    "aws_lambda_function": (("errors", ("Errors",)), ("throttles", ("Throttles",))),
    "aws_kinesis_stream": (
        ("iterator age", ("GetRecords.IteratorAgeMilliseconds",)),
        ("throttling", ("ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded")),
    ),
    "aws_ecs_service": (("running tasks", ("RunningTaskCount",)),),
    "aws_autoscaling_group": (("in-service instances", ("GroupInServiceInstances", "GroupInServiceCapacity")),),
    "aws_dynamodb_table": (
        ("throttles", ("ThrottledRequests", "ReadThrottleEvents", "WriteThrottleEvents")),
        ("system errors", ("SystemErrors",)),
    ),
}
QUEUE_SIGNAL = ("oldest message age", ("ApproximateAgeOfOldestMessage",))
DLQ_SIGNAL = ("messages in the DLQ", ("ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent"))


def async_paths(doc: StackDocument) -> tuple[list[str], list[str]]:
    """(covered, uncovered) asynchronous paths, each described."""
    covered: list[str] = []
    uncovered: list[str] = []

    def add(ok: bool, text: str) -> None:
        (covered if ok else uncovered).append(text)

    for q in doc.of_type("aws_sqs_queue"):
        if is_dead_letter_queue(doc, q):
            continue
        redrive = q.body.get("redrive_policy")
        receives = ""
        if isinstance(redrive, str) and "maxReceiveCount" in redrive:
            try:
                receives = f" after {json.loads(redrive)['maxReceiveCount']} receives"
            except (ValueError, KeyError):
                receives = ""
        add(
            bool(redrive),
            f"queue {path_cell(doc, q)} -> DLQ{receives}" if redrive else f"queue {path_cell(doc, q)}: no DLQ",
        )
    for m in doc.of_type("aws_lambda_event_source_mapping"):
        source = mapping_source(doc, m)
        if source == "queue":
            src = doc.referenced(m.body.get("event_source_arn"), "aws_sqs_queue")
            ok = bool(src and src[0].body.get("redrive_policy"))
            partial = m.body.get("function_response_types") == ["ReportBatchItemFailures"]
            batches = ", partial batch failures" if partial else ""
            add(ok, f"mapping {path_cell(doc, m)} (SQS: the queue's redrive{batches})")
        else:
            dest = m.get("destination_config.on_failure.destination_arn")
            retries = m.body.get("maximum_retry_attempts", "unlimited until records expire")
            add(
                bool(dest),
                f"mapping {path_cell(doc, m)} (stream: {retries} retries, then "
                + ("on-failure destination)" if dest else "LOST)"),
            )
    for fn in doc.of_type("aws_lambda_function"):
        if async_invokers(doc, fn):
            dest = async_failure_destination(doc, fn)
            then = "destination" if dest else "LOST"
            add(bool(dest), f"async {path_cell(doc, fn)} ({LAMBDA_ASYNC_RETRIES} retries, then {then})")
    for sub in doc.of_type("aws_sns_topic_subscription"):
        if sub.body.get("protocol") in ("sqs", "lambda", "http", "https", "firehose"):
            add(bool(sub.body.get("redrive_policy")), f"subscription {path_cell(doc, sub)}")
    for target in doc.of_type("aws_cloudwatch_event_target"):
        ok = bool(target.get("dead_letter_config.arn"))
        add(
            ok,
            f"EventBridge target {path_cell(doc, target)}"
            + ("" if ok else ": no DLQ (events dropped after 24 h of retries)"),
        )
    return covered, uncovered


def dlq_coverage(doc: StackDocument) -> Row:
    covered, uncovered = async_paths(doc)
    total = len(covered) + len(uncovered)
    if total == 0:
        return Row("retries and DLQ coverage", "n/a", "no asynchronous paths")
    detail = "; ".join([*covered, *(f"**{u}**" for u in uncovered)])
    return Row("retries and DLQ coverage", f"{len(covered)} of {total} asynchronous paths", detail)


def _alarm_index(doc: StackDocument) -> list[tuple[set[str], set[tuple[str, str]], set[str]]]:
    """Per alarm: the metric names it watches, the resources its metrics refer to, and the
    literal dimension values (a name written out, where a reference back would be a cycle)."""
    out = []
    for alarm in doc.of_type("aws_cloudwatch_metric_alarm"):
        names = {v for v in _values(alarm.body, "metric_name") if isinstance(v, str)}
        dimensions = [d for d in _values(alarm.body, "dimensions") if isinstance(d, dict)]
        literals = {v for d in dimensions for v in d.values() if isinstance(v, str) and "${" not in v}
        out.append((names, set(references(alarm.body)), literals))
    return out


def _values(value: Any, key: str) -> list[Any]:
    """Every value under ``key`` anywhere in ``value`` (not looking inside a match)."""
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in ([v] if k == key else _values(v, key))]
    if isinstance(value, list):
        return [x for v in value for x in _values(v, key)]
    return []


def alarm_coverage(doc: StackDocument) -> Row:
    alarms = _alarm_index(doc)
    have: list[str] = []
    missing: list[str] = []
    for res in doc:
        signals = SIGNALS.get(res.type, ())
        if res.type == "aws_sqs_queue":
            signals = (DLQ_SIGNAL,) if is_dead_letter_queue(doc, res) else (QUEUE_SIGNAL,)
        literal_name = res.body.get("name")
        for signal, metrics in signals:
            hit = any(
                set(metrics) & names and ((res.type, res.name) in refs or literal_name in literals)
                for names, refs, literals in alarms
            )
            (have if hit else missing).append(f"{path_cell(doc, res)} {signal}")
    if not have and not missing:
        return Row("alarm coverage", "n/a", "no monitored resource types")
    detail = "; ".join([*have, *(f"**no alarm: {m}**" for m in missing)])
    return Row("alarm coverage", f"{len(have)} of {len(have) + len(missing)} failure signals", detail)
