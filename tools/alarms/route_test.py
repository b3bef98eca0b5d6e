"""Sets one deployed alarm of the environment to ALARM, waits until CloudWatch has run its
actions, says where the message went (each topic, its key and its subscriptions), and sets the
alarm back to OK.

On AWS, ``set-alarm-state`` fires the alarm's actions: CloudWatch publishes to the topic as
``cloudwatch.amazonaws.com``, through the topic's policy and key, and records the delivery in the
alarm's history. An emulator (moto) only changes the state and fires nothing: there the tool
publishes the same alarm message to the same topic itself, and says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modules.config import Settings

REASON = "make alarms-test: proving where this environment's alarms go"
WAIT_S = 60.0
POLL_S = 2.0


@dataclass
class Subscription:
    protocol: str
    endpoint: str
    confirmed: bool


@dataclass
class Topic:
    arn: str
    kms_key: str
    subscriptions: list[Subscription] = field(default_factory=list)


@dataclass
class RouteReport:
    """What happened: the alarm, its topics, and how the message left."""

    alarm: str
    topics: list[Topic]
    delivered: list[str]  # what CloudWatch recorded, or what the tool published on the emulator
    emulated: bool
    reset: bool = False

    def lines(self) -> list[str]:
        out = [f"alarm {self.alarm}: set to ALARM"]
        for topic in self.topics:
            key = topic.kms_key or "none (not encrypted)"
            out.append(f"  topic {topic.arn} (key {key})")
            if not topic.subscriptions:
                out.append("    no subscriber: the message reached nobody (set [alarms] in the settings)")
            for sub in topic.subscriptions:
                state = "confirmed" if sub.confirmed else "PENDING CONFIRMATION (nothing is delivered until then)"
                out.append(f"    -> {sub.protocol} {sub.endpoint}: {state}")
        if self.emulated:
            out.append(
                "  the emulator fires no alarm action on set-alarm-state: the tool published the alarm's "
                "message to each topic itself (same topic, same key; the topic policy's CloudWatch grant "
                "is exercised on AWS only)"
            )
        out += [f"  {line}" for line in self.delivered] or ["  CloudWatch recorded no action within the wait"]
        out.append(f"alarm {self.alarm}: set back to OK" if self.reset else f"alarm {self.alarm}: NOT reset")
        return out


def pick_alarm(cloudwatch: Any, prefix: str) -> dict[str, Any]:
    """The first metric alarm named ``<prefix>-...`` that notifies an SNS topic."""
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{prefix}-"):
        for alarm in page.get("MetricAlarms", []):
            if any(":sns:" in action for action in alarm.get("AlarmActions", [])):
                return dict(alarm)
    raise LookupError(f"no deployed alarm named {prefix}-* notifies an SNS topic: deploy a stack with alarms first")


def describe_topic(sns: Any, arn: str) -> Topic:
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    topic = Topic(arn=arn, kms_key=attributes.get("KmsMasterKeyId", ""))
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
        for sub in page.get("Subscriptions", []):
            confirmed = sub["SubscriptionArn"] not in ("PendingConfirmation", "Deleted")
            topic.subscriptions.append(Subscription(sub["Protocol"], sub["Endpoint"], confirmed))
    return topic


def alarm_message(alarm: dict[str, Any], region: str) -> str:
    """The JSON CloudWatch publishes for a state change to ALARM (the fields subscribers read)."""
    return json.dumps(
        {
            "AlarmName": alarm["AlarmName"],
            "AlarmDescription": alarm.get("AlarmDescription", ""),
            "AWSAccountId": alarm["AlarmArn"].split(":")[4],
            "NewStateValue": "ALARM",
            "NewStateReason": REASON,
            "StateChangeTime": datetime.now(UTC).isoformat(),
            "Region": region,
            "AlarmArn": alarm["AlarmArn"],
            "OldStateValue": alarm.get("StateValue", "INSUFFICIENT_DATA"),
        }
    )


def executed_actions(cloudwatch: Any, name: str, since: datetime) -> list[str]:
    """The alarm's Action history since ``since``: 'Successfully executed action arn:...' on AWS."""
    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action", StartDate=since)
    return [item["HistorySummary"] for item in items.get("AlarmHistoryItems", [])]


def prove_route(
    settings: Settings,
    client: Callable[[str], Any],
    *,
    wait_s: float = WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> RouteReport:
    """Set one of the environment's alarms to ALARM and back; what happened in between."""
    cloudwatch, sns = client("cloudwatch"), client("sns")
    alarm = pick_alarm(cloudwatch, settings.name_prefix)
    name = alarm["AlarmName"]
    arns = [a for a in alarm["AlarmActions"] if ":sns:" in a]
    report = RouteReport(name, [describe_topic(sns, arn) for arn in arns], [], settings.emulated)
    since = datetime.now(UTC)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=REASON)
    try:
        if settings.emulated:
            for arn in arns:
                sns.publish(TopicArn=arn, Subject=f'ALARM: "{name}"', Message=alarm_message(alarm, settings.region))
                report.delivered.append(f"published the alarm's message to {arn}")
        else:
            deadline = time.monotonic() + wait_s
            while not report.delivered and time.monotonic() < deadline:
                sleep(POLL_S)
                report.delivered = executed_actions(cloudwatch, name, since)
    finally:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=f"{REASON} (reset)")
        report.reset = True
    return report
