"""``make alarms-test`` on the emulator: the `alarms` stack applied to a moto server, an SQS queue
subscribed to its topic, one alarm of the environment (the stack's own) set to ALARM, and the
message received.

moto 5 changes an alarm's state on ``set-alarm-state`` and fires none of its actions (measured:
``FakeAlarm.update_state`` only records the state): the tool then publishes the alarm's message to
the alarm's own topic, with the topic's key, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from modules.config import Settings
from tools.alarms.route_test import RouteReport, prove_route
from tools.deploy.round_trip import (
    RoundTrip,
    apply,
    aws_client,
    destroy,
    emulator_settings,
    emulator_terraform,
    ensure_state_bucket,
)
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

ONCALL = "oncall@example.com"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Settings]:
    with MotoServer(tmp_path / "moto.log") as moto:
        yield emulator_settings(moto.endpoint, environ={"RAI_ALARMS_EMAILS": ONCALL})


def subscribe_queue(settings: Settings) -> tuple[str, str]:
    """A queue subscribed to the deployed topic: the on-call's stand-in."""
    sns, sqs = aws_client("sns", settings), aws_client("sqs", settings)
    (topic,) = [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":resilient-ai-dev-alarms")
    ]
    queue_url = sqs.create_queue(QueueName="oncall-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def test_the_alarms_stack_deploys_and_an_alarm_set_to_alarm_reaches_a_subscriber(emu: Settings, tmp_path: Path) -> None:
    from modules.app import synth

    synth(emu, tmp_path / "cdktf.out", only=["alarms"])
    seen: dict[str, Any] = {}

    def after_apply() -> None:
        topic, queue_url = subscribe_queue(emu)
        report = prove_route(emu, partial(aws_client, settings=emu))
        messages = aws_client("sqs", emu).receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
        seen.update(topic=topic, report=report, body=json.loads(messages[0]["Body"]))
        state = aws_client("cloudwatch", emu).describe_alarms(AlarmNames=[report.alarm])["MetricAlarms"][0]
        seen["state_after"] = state["StateValue"]
        for sub in aws_client("sns", emu).list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
            if sub["Protocol"] == "sqs":  # not the stack's: would show as drift
                aws_client("sns", emu).unsubscribe(SubscriptionArn=sub["SubscriptionArn"])

    # Apply and destroy only: a re-plan would add a third run of the provider (about 10 s) and
    # prove nothing this test is about.
    tf, stack_dir, timings = emulator_terraform(emu), tmp_path / "cdktf.out" / "stacks" / "alarms", RoundTrip("alarms")
    ensure_state_bucket(emu)
    apply(tf, stack_dir, timings)
    try:
        after_apply()
    finally:
        destroy(tf, stack_dir, timings, refresh=False)
    report: RouteReport = seen["report"]
    message = json.loads(seen["body"]["Message"])
    # The stack's own alarm (its topic failing to deliver), deployed with it, is the one set to ALARM.
    assert (message["AlarmName"], message["NewStateValue"]) == ("resilient-ai-dev-alarms-notifications-failed", "ALARM")
    assert seen["state_after"] == "OK", "the tool sets the alarm back"
    (topic,) = report.topics
    assert topic.arn == seen["topic"] and topic.kms_key.startswith("arn:aws:kms:"), "the stack's topic, its key"
    assert {(s.protocol, s.endpoint) for s in topic.subscriptions} >= {("email", ONCALL)}
    text = "\n".join(report.lines())
    assert "the emulator fires no alarm action on set-alarm-state" in text, "it says the tool published"
    assert f"published the alarm's message to {topic.arn}" in text and "set back to OK" in text
