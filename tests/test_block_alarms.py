"""The alarms block: every threshold alarm notifies on alarm and on recovery, and treats a
sparse metric's missing data as healthy unless told otherwise, in a stack of its own.

Written against ``threshold_alarms`` and its dict specs as they are today: these tests are
to be adapted when the specs become ``AlarmSpec``s."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import StackDoc, by_path, stack_doc

TOPIC = "arn:aws:sns:us-east-1:123456789012:blocks-alarms"
ERRORS = {
    "namespace": "AWS/Lambda",
    "metric_name": "Errors",
    "dimensions": {"FunctionName": "blocks"},
    "statistic": "Sum",
    "threshold": 0,
    "desc": "The function failed: read its log group.",
}
LATENCY = {
    "namespace": "AWS/ApplicationELB",
    "metric_name": "TargetResponseTime",
    "dimensions": {"LoadBalancer": "app/blocks/1"},
    "statistic": "p99",
    "threshold": 0.5,
    "desc": "p99 latency over 500 ms: scale out.",
    "name": "p99-latency",
    "periods": 5,
    "datapoints": 3,
    "missing": "breaching",
}
FLOOR = {**ERRORS, "metric_name": "Invocations", "comparison": "LessThanThreshold", "desc": "No traffic."}


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    import cdktf

    from modules.blocks.alarms import threshold_alarms

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "alarms")
    specs = {"errors": ERRORS, "latency": LATENCY, "floor": FLOOR}
    threshold_alarms(stack, "blocks", specs, [TOPIC], periods=3, datapoints=2)
    return stack_doc(stack)


def alarm(doc: StackDoc, key: str) -> dict[str, Any]:
    return by_path(doc, "aws_cloudwatch_metric_alarm", f"alarm-{key}")


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_recovers(doc: StackDoc) -> None:
    """An alarm nobody hears does not shorten an outage; the OK tells the on-call it is over."""
    for key in ("errors", "latency", "floor"):
        assert alarm(doc, key)["alarm_actions"] == [TOPIC]
        assert alarm(doc, key)["ok_actions"] == [TOPIC]


def test_missing_data_is_healthy_unless_the_spec_says_otherwise(doc: StackDoc) -> None:
    """A sparse metric (no errors, no requests) sends no data: that must not page anyone;
    a metric that must always report can count silence as breaching."""
    assert alarm(doc, "errors")["treat_missing_data"] == "notBreaching"
    assert alarm(doc, "latency")["treat_missing_data"] == "breaching"


def test_m_of_n_one_minute_periods_from_the_call_or_the_spec(doc: StackDoc) -> None:
    """M of N rides out one noisy minute without waiting N minutes to page."""
    errors, latency = alarm(doc, "errors"), alarm(doc, "latency")
    assert (errors["period"], errors["evaluation_periods"], errors["datapoints_to_alarm"]) == (60, 3, 2)
    assert (latency["period"], latency["evaluation_periods"], latency["datapoints_to_alarm"]) == (60, 5, 3)


def test_names_descriptions_and_comparison(doc: StackDoc) -> None:
    errors = alarm(doc, "errors")
    assert (errors["alarm_name"], errors["alarm_description"]) == ("blocks-errors", ERRORS["desc"])
    assert (errors["comparison_operator"], errors["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm(doc, "latency")["alarm_name"] == "blocks-p99-latency"
    assert alarm(doc, "floor")["comparison_operator"] == "LessThanThreshold"


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


@pytest.mark.parametrize("field", ["desc", "threshold", "statistic"])
def test_a_spec_without_a_required_field_is_refused_by_name(field: str) -> None:
    """Every alarm says what to do when it fires, and what it measures."""
    import cdktf

    from modules.blocks.alarms import threshold_alarms

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "incomplete")
    spec = {k: v for k, v in ERRORS.items() if k != field}
    with pytest.raises((KeyError, TypeError, ValueError), match=field):
        threshold_alarms(stack, "blocks", {"errors": spec}, [TOPIC], periods=3, datapoints=2)


@pytest.mark.xfail(
    strict=True,
    reason="threshold_alarms writes datapoints_to_alarm > evaluation_periods, which CloudWatch refuses only at apply",
)
def test_more_datapoints_than_periods_is_refused_by_name() -> None:
    import cdktf

    from modules.blocks.alarms import threshold_alarms

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "impossible")
    with pytest.raises(ValueError, match="datapoints"):
        threshold_alarms(stack, "blocks", {"errors": {**ERRORS, "periods": 2, "datapoints": 3}}, [TOPIC], periods=3,
                         datapoints=2)  # fmt: skip
