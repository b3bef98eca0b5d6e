"""The alarms block: what :func:`metric_alarms` writes for each :class:`AlarmSpec`, in a stack
of its own. Every alarm notifies on alarm and on recovery, treats a sparse metric's missing
data as healthy unless told otherwise, and evaluates M of N one-minute periods.

The specs' own field checks are in tests/test_alarms_and_dashboards.py; here: the resources."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from modules.blocks.alarms import AlarmSpec, Metric, MetricMath, metric_alarms, rollout_guards
from tests.conftest import StackDoc, by_path, resources, stack_doc

TOPICS = ["arn:aws:sns:us-east-1:123456789012:blocks-alarms", "arn:aws:sns:us-west-2:123456789012:blocks-alarms"]
FUNCTION_ERRORS = Metric(namespace="AWS/Lambda", name="Errors", dimensions={"FunctionName": "blocks"})
ERRORS = AlarmSpec(
    key="errors",
    metric=FUNCTION_ERRORS,
    statistic="Sum",
    threshold=0,
    periods=3,
    datapoints=2,
    description="The function failed: read its log group.",
    guards_rollout=True,
)
LATENCY = AlarmSpec(
    key="latency",
    name="p99-latency",
    metric=Metric(namespace="AWS/ApplicationELB", name="TargetResponseTime", dimensions={"LoadBalancer": "app/b/1"}),
    statistic="p99",
    threshold=0.5,
    periods=5,
    description="p99 latency over 500 ms: scale out.",
)
FLOOR = AlarmSpec(
    key="floor",
    metric=Metric(namespace="AWS/Lambda", name="Invocations", dimensions={"FunctionName": "blocks"}),
    statistic="Sum",
    threshold=1,
    comparison="LessThanThreshold",
    periods=5,
    datapoints=5,
    missing="breaching",
    description="No invocations for 5 minutes: the producer is down.",
    guards_rollout=True,
)
TASKS = Metric(namespace="ECS/ContainerInsights", name="RunningTaskCount", dimensions={"ServiceName": "s"})
DESIRED = Metric(namespace="ECS/ContainerInsights", name="DesiredTaskCount", dimensions={"ServiceName": "s"})
MISSING_TASKS = AlarmSpec(
    key="tasks-missing",
    metric=MetricMath(
        id="missing",
        expression="desired - running",
        label="tasks missing",
        metrics={"desired": DESIRED, "running": TASKS},
        statistic="Average",
    ),
    threshold=0,
    periods=3,
    description="Tasks are missing from the service: read its events.",
)
SPECS = [ERRORS, LATENCY, FLOOR, MISSING_TASKS]


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    import cdktf

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "alarms")
    metric_alarms(stack, "blocks", SPECS, TOPICS)
    return stack_doc(stack)


def alarm(doc: StackDoc, key: str) -> dict[str, Any]:
    return by_path(doc, "aws_cloudwatch_metric_alarm", f"alarm-{key}")


def test_one_alarm_per_spec_at_an_address_named_by_its_key(doc: StackDoc) -> None:
    """``alarm-<key>`` is the Terraform address: renaming an alarm must not replace it."""
    paths = sorted(a["//"]["metadata"]["path"] for a in resources(doc, "aws_cloudwatch_metric_alarm"))
    assert paths == sorted(f"alarms/alarm-{spec.key}" for spec in SPECS)


def test_every_alarm_notifies_every_topic_when_it_fires_and_when_it_recovers(doc: StackDoc) -> None:
    """An alarm nobody hears does not shorten an outage; the OK tells the on-call it is over."""
    for spec in SPECS:
        assert alarm(doc, spec.key)["alarm_actions"] == TOPICS
        assert alarm(doc, spec.key)["ok_actions"] == TOPICS


def test_missing_data_is_healthy_unless_the_spec_says_silence_is_the_failure(doc: StackDoc) -> None:
    """A sparse metric (no errors, no requests) sends no data: that must not page anyone; a
    traffic floor counts silence as breaching, or a dead producer would never page."""
    assert alarm(doc, "errors")["treat_missing_data"] == "notBreaching"
    assert alarm(doc, "floor")["treat_missing_data"] == "breaching"


def test_m_of_n_one_minute_periods_as_the_spec_says(doc: StackDoc) -> None:
    """M of N rides out one noisy minute without waiting N minutes to page."""
    written = {
        key: (a["period"], a["evaluation_periods"], a.get("datapoints_to_alarm"))
        for key in ("errors", "latency", "floor")
        for a in [alarm(doc, key)]
    }
    # No datapoints: none written, and CloudWatch then needs every one of the N periods.
    assert written == {"errors": (60, 3, 2), "latency": (60, 5, None), "floor": (60, 5, 5)}


def test_names_descriptions_thresholds_and_comparisons(doc: StackDoc) -> None:
    """The page shows the alarm's name and what to do: the spec's description, word for word."""
    errors, latency, floor = alarm(doc, "errors"), alarm(doc, "latency"), alarm(doc, "floor")
    assert (errors["alarm_name"], errors["alarm_description"]) == ("blocks-errors", ERRORS.description)
    assert (errors["comparison_operator"], errors["threshold"]) == ("GreaterThanThreshold", 0)
    assert (latency["alarm_name"], latency["threshold"]) == ("blocks-p99-latency", 0.5)
    assert (floor["comparison_operator"], floor["threshold"]) == ("LessThanThreshold", 1)


def test_a_percentile_is_an_extended_statistic(doc: StackDoc) -> None:
    """CloudWatch refuses ``statistic = p99``: percentiles go in ``extended_statistic``."""
    latency = alarm(doc, "latency")
    assert latency["extended_statistic"] == "p99" and "statistic" not in latency
    errors = alarm(doc, "errors")
    assert errors["statistic"] == "Sum" and "extended_statistic" not in errors
    assert (errors["namespace"], errors["metric_name"], errors["dimensions"]) == (
        "AWS/Lambda",
        "Errors",
        {"FunctionName": "blocks"},
    )


def test_metric_math_is_one_query_per_metric_and_the_expression_returns_the_data(doc: StackDoc) -> None:
    """CloudWatch refuses an alarm with both a metric and metric queries, and one whose queries
    return no data or more than one series: only the expression's query returns data."""
    tasks = alarm(doc, "tasks-missing")
    assert not {"namespace", "metric_name", "dimensions", "statistic", "extended_statistic", "period"} & tasks.keys()
    queries = {q["id"]: q for q in tasks["metric_query"]}
    assert queries["missing"] == {
        "id": "missing",
        "expression": "desired - running",
        "label": "tasks missing",
        "return_data": True,
    }
    for query_id, metric in (("desired", DESIRED), ("running", TASKS)):
        assert "return_data" not in queries[query_id]
        assert queries[query_id]["metric"] == {
            "namespace": metric.namespace,
            "metric_name": metric.name,
            "dimensions": dict(metric.dimensions),
            "period": 60,
            "stat": "Average",
        }


def test_rollout_guards_name_exactly_the_written_alarms_that_guard(doc: StackDoc) -> None:
    """A rollout watches alarms by name: each name must be an alarm this block wrote."""
    guards = rollout_guards("blocks", SPECS)
    assert guards == ["blocks-errors", "blocks-floor"]
    written = {a["alarm_name"] for a in resources(doc, "aws_cloudwatch_metric_alarm")}
    assert set(guards) <= written


def test_a_key_used_twice_is_refused_naming_it_before_anything_is_written() -> None:
    import cdktf

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "twice")
    renamed = replace(ERRORS, name="errors-again")
    with pytest.raises(ValueError, match=r"alarms of blocks: keys \['errors'\] are used twice"):
        metric_alarms(stack, "blocks", [ERRORS, LATENCY, renamed], TOPICS)
    assert not resources(stack_doc(stack), "aws_cloudwatch_metric_alarm")


def test_a_metric_without_a_namespace_or_name_is_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"namespace: must not be empty; name: must not be empty"):
        Metric(namespace="", name="")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"id": "Missing"}, r"id='Missing': must start with a lower-case letter"),
        ({"metrics": {"1st": TASKS}}, r"metrics\['1st'\]='1st': must start with a lower-case letter"),
        ({"metrics": {}}, r"metrics: must name at least one metric"),
        ({"id": "running"}, r"id='running': must differ from the metrics' ids"),
        ({"expression": ""}, r"expression: must not be empty"),
        ({"statistic": "Mean"}, r"statistic='Mean': must be one of SampleCount, .* or a percentile pNN"),
        ({"statistics": {"pending": "p99"}}, r"statistics\['pending'\]: names no metric of the expression"),
        ({"statistics": {"running": "p999"}}, r"statistics\['running'\]='p999': must be one of"),
    ],
)
def test_metric_math_refuses_a_query_cloudwatch_refuses_naming_the_field(fields: dict[str, Any], named: str) -> None:
    """CloudWatch checks query ids and statistics only at apply: refused here, by name."""
    given: dict[str, Any] = {
        "id": "missing",
        "expression": "desired - running",
        "label": "l",
        "metrics": {"desired": DESIRED, "running": TASKS},
        "statistic": "Average",
    }
    with pytest.raises(ValueError, match=rf"^MetricMath '[^']*': .*{named}"):
        MetricMath(**(given | fields))


def test_metric_math_reads_a_metric_by_its_own_statistic_where_one_is_named() -> None:
    """A p99 beside a request count: each query carries its own ``stat``."""
    math = MetricMath(
        id="p",
        expression="IF(n >= 20, lat, 0)",
        label="l",
        metrics={"lat": TASKS, "n": DESIRED},
        statistic="Sum",
        statistics={"lat": "p99"},
    )
    assert (math.statistic_of("lat"), math.statistic_of("n")) == ("p99", "Sum")
