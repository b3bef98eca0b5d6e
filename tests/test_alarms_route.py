"""``make alarms-test`` on the emulator: the `alarms` stack's topic, key and alarm created on a moto
server as the synth writes them (policies included), an SQS queue subscribed to the topic, the
alarm set to ALARM by the tool, and the message received.

moto 5 changes an alarm's state on ``set-alarm-state`` and fires none of its actions (measured:
``FakeAlarm.update_state`` only records the state): the tool then publishes the alarm's message to
the alarm's own topic, with the topic's key, and says so. The resources are created from the
synthesized JSON with boto3, not applied with Terraform: the provider's KMS propagation waits
alone would take longer than the rest of the test (the stack's apply is what `make deploy-local`
with an `[alarms]` address proves).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from modules.config import Settings
from tests.conftest import StackDoc, load_stacks, resources, shared_synth
from tests.test_alarm_routing import EMAILS, EMAILS_ENV
from tools.alarms.route_test import prove_route
from tools.deploy.round_trip import aws_client, emulator_settings
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.emulator]

ACCOUNT = "123456789012"  # moto's


@pytest.fixture(scope="module")
def alarms_stack(tmp_path_factory: pytest.TempPathFactory) -> StackDoc:
    """The `alarms` stack as the subscribers' synth of tests/test_alarm_routing.py writes it."""
    return load_stacks(shared_synth(tmp_path_factory, "alarms-emails", EMAILS_ENV))["alarms"]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Settings]:
    with MotoServer(tmp_path / "moto.log") as moto:
        yield emulator_settings(moto.endpoint, environ={"RAI_ALARMS_EMAILS": EMAILS[0]})


def primary(doc: StackDoc, rtype: str) -> dict[str, Any]:
    (found,) = [r for r in resources(doc, rtype) if "provider" not in r]
    return found


def resolved(text: str, topic_arn: str) -> str:
    """A synthesized policy with its references filled in: the account, the topic."""
    text = re.sub(r"\$\{data\.aws_caller_identity\.[^}]+\.account_id\}", ACCOUNT, text)
    return re.sub(r"\$\{aws_sns_topic\.[^}]+\.arn\}", topic_arn, text)


def create_as_synthesized(settings: Settings, doc: StackDoc) -> tuple[str, str]:
    """The primary region's key, topic (with its policy) and alarm, as in ``doc``; the topic's ARN."""
    kms, sns, cloudwatch = (aws_client(s, settings) for s in ("kms", "sns", "cloudwatch"))
    topic = primary(doc, "aws_sns_topic")
    arn = f"arn:aws:sns:{settings.region}:{ACCOUNT}:{topic['name']}"
    key = kms.create_key(Policy=resolved(primary(doc, "aws_kms_key")["policy"], arn))["KeyMetadata"]["Arn"]
    assert sns.create_topic(Name=topic["name"], Attributes={"KmsMasterKeyId": key})["TopicArn"] == arn
    sns.set_topic_attributes(
        TopicArn=arn,
        AttributeName="Policy",
        AttributeValue=resolved(primary(doc, "aws_sns_topic_policy")["policy"], arn),
    )
    alarm = primary(doc, "aws_cloudwatch_metric_alarm")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm["alarm_name"],
        AlarmDescription=alarm["alarm_description"],
        Namespace=alarm["namespace"],
        MetricName=alarm["metric_name"],
        Dimensions=[{"Name": k, "Value": v} for k, v in alarm["dimensions"].items()],
        Statistic=alarm["statistic"],
        Period=alarm["period"],
        EvaluationPeriods=alarm["evaluation_periods"],
        Threshold=alarm["threshold"],
        ComparisonOperator=alarm["comparison_operator"],
        AlarmActions=[resolved(a, arn) for a in alarm["alarm_actions"]],
        OKActions=[resolved(a, arn) for a in alarm["ok_actions"]],
    )
    return arn, key


def test_an_alarm_set_to_alarm_reaches_a_subscriber_of_the_alarms_stacks_topic(
    emu: Settings, alarms_stack: StackDoc
) -> None:
    topic_arn, key = create_as_synthesized(emu, alarms_stack)
    sns, sqs = aws_client("sns", emu), aws_client("sqs", emu)
    queue_url = sqs.create_queue(QueueName="oncall-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    report = prove_route(emu, partial(aws_client, settings=emu))

    (received,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    message = json.loads(json.loads(received["Body"])["Message"])
    assert (message["AlarmName"], message["NewStateValue"]) == ("resilient-ai-dev-alarms-notifications-failed", "ALARM")
    state = aws_client("cloudwatch", emu).describe_alarms(AlarmNames=[report.alarm])["MetricAlarms"][0]
    assert state["StateValue"] == "OK", "the tool sets the alarm back"
    (topic,) = report.topics
    assert (topic.arn, topic.kms_key) == (topic_arn, key), "the stack's topic, with its key"
    assert {(s.protocol, s.endpoint) for s in topic.subscriptions} == {("sqs", queue_arn)}
    text = "\n".join(report.lines())
    assert "the emulator fires no alarm action on set-alarm-state" in text, "it says the tool published"
    assert f"published the alarm's message to {topic_arn}" in text and "set back to OK" in text


class FakeAws:
    """CloudWatch and SNS as AWS answers them: ``set-alarm-state`` runs the alarm's action, which
    the alarm's history records a poll later."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.polls = 0

    def __call__(self, service: str) -> FakeAws:
        return self

    def get_paginator(self, operation: str) -> Any:
        pages = {
            "describe_alarms": [{"MetricAlarms": [{"AlarmName": "p-x", "AlarmArn": "arn", "AlarmActions": [TOPIC]}]}],
            "list_subscriptions_by_topic": [
                {
                    "Subscriptions": [
                        {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "a@b.io"}
                    ]
                }
            ],
        }[operation]
        return type("Paginator", (), {"paginate": lambda _self, **_kw: pages})()

    def get_topic_attributes(self, TopicArn: str) -> dict[str, Any]:
        return {"Attributes": {"KmsMasterKeyId": "arn:aws:kms:eu-west-1:123456789012:key/k"}}

    def set_alarm_state(self, **kw: Any) -> None:
        self.calls.append(("set_alarm_state", kw))

    def describe_alarm_history(self, **kw: Any) -> dict[str, Any]:
        self.polls += 1
        done = [{"HistorySummary": f"Successfully executed action {TOPIC}"}] if self.polls > 1 else []
        return {"AlarmHistoryItems": done}


TOPIC = "arn:aws:sns:eu-west-1:123456789012:oncall"


def test_on_aws_the_tool_waits_for_cloudwatch_to_run_the_action_then_resets_and_names_pending_subscribers() -> None:
    from tests.conftest import settings_from

    aws = FakeAws()
    report = prove_route(settings_from(), aws, sleep=lambda _s: None)
    assert [kw["StateValue"] for _, kw in aws.calls] == ["ALARM", "OK"] and aws.polls == 2
    text = "\n".join(report.lines())
    assert f"Successfully executed action {TOPIC}" in text
    assert "-> email a@b.io: PENDING CONFIRMATION" in text and "published" not in text
