"""The settings -> alarm topic mapping every stack with alarms shares, in one place: which topic a
stack's alarms notify in a region (:func:`stack_alarm_topic`), whatever ``[alarms]`` says.

- The team's topic (``alarms.topic_arn``, ``alarms.secondary_topic_arn``): the stack creates
  none and publishes there.
- Subscribers (e-mails, HTTPS endpoints, Chatbot): the environment's one topic per region,
  created by the ``alarms`` stack and found by its name (the stack then deploys after it), so one
  address confirms one subscription per region.
- Nothing: the stack's own topic, which notifies nobody (the default synth).
"""

from __future__ import annotations

from typing import Any

from cdktf_cdktf_provider_aws.data_aws_sns_topic import DataAwsSnsTopic
from constructs import Construct

from modules.blocks.alarm_topic import AlarmTopic, AlarmTopicProps, TopicHandle, alarm_topic
from modules.blocks.iam import allow
from modules.config import Settings
from modules.config.alarms import AlarmRoute, alarm_route

ALARMS_STACK = "alarms"  # the stack of the environment's shared alarm topics
LOOKUP_ID = "alarm-topic"  # construct id of the shared topic's lookup in a stack


def route_in(settings: Settings, region: str) -> AlarmRoute:
    """Where alarms in ``region`` (the settings' own or ``ha_failover.secondary_region``) go."""
    return alarm_route(settings.alarms, secondary=region != settings.region)


def shared_topic_name(settings: Settings, region: str) -> str:
    """The name of the ``alarms`` stack's topic in ``region``."""
    suffix = "" if region == settings.region else "-2"
    return f"{settings.name_prefix}-alarms{suffix}"


def stack_alarm_topic(
    scope: Construct,
    settings: Settings,
    *,
    name: str,
    kms_key_arn: str,
    region: str = "",
    topic_id: str = "alarms",
    flat: bool = False,
) -> TopicHandle:
    """The topic a stack's alarms in ``region`` (the settings' own when empty) notify.

    Only with nothing configured does the stack create one: named ``name``, encrypted with
    ``kms_key_arn`` (whose policy lets CloudWatch publish), as an :class:`AlarmTopic` with id
    ``topic_id`` under ``scope``, or straight in ``scope`` with that id when ``flat`` (stacks that
    deployed it so: its Terraform address).
    """
    region = region or settings.region
    route = route_in(settings, region)
    if route.topic_arn:
        return TopicHandle(route.topic_arn)
    if route.shared:
        found = DataAwsSnsTopic(scope, LOOKUP_ID, name=shared_topic_name(settings, region))
        return TopicHandle(found.arn, from_stack=ALARMS_STACK)
    props = AlarmTopicProps(name=name, kms_key_arn=kms_key_arn)
    if flat:
        topic = alarm_topic(scope, props, topic_id=topic_id)
        return TopicHandle(topic.arn, topic)
    return AlarmTopic(scope, topic_id, props).handle


def publish_statements(topic: TopicHandle, region: str) -> list[dict[str, Any]]:
    """What a role needs beyond ``sns:Publish`` to publish to ``topic`` when the stack does not own
    it: the topic's key (the team's or the ``alarms`` stack's, unknown here) through SNS only."""
    if topic.topic is not None:
        return []
    return [
        allow(
            "EncryptForTheAlarmTopic",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            "*",
            condition={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
        )
    ]
