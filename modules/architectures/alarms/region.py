"""One region of the `alarms` stack: the topic (its key and policy) unless the team's is given,
and the subscribers of whichever it is."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from constructs import Construct

from modules.blocks.alarm_topic import AlarmTopic, AlarmTopicProps, subscribe
from modules.blocks.caller_identity import caller_identity
from modules.blocks.iam import allow, policy_document
from modules.blocks.kms_key import KmsKey, KmsKeyProps
from modules.config import Settings
from modules.patterns.alarm_routing import route_in, shared_topic_name
from modules.stack.base import store_teardown

# The AWS services that publish to the topic: CloudWatch alarms, and EventBridge rules (the
# stream-analytics spot events). Each publishes only on behalf of this account.
PUBLISHERS = {"CloudWatchAlarms": "cloudwatch.amazonaws.com", "EventBridgeRules": "events.amazonaws.com"}


class AlarmRegion(Construct):
    """The environment's alarm topic in ``region`` and its subscribers.

    Defaults that matter: SSE-KMS with a key of its own (rotating) whose policy lets CloudWatch
    alarms and EventBridge rules of this account encrypt, and a topic policy that lets them
    publish (``aws:SourceAccount``); with ``alarms.topic_arn`` (or ``secondary_topic_arn``) no
    topic and no key: the subscribers subscribe to the team's topic.
    """

    def __init__(self, scope: Construct, id: str, settings: Settings, *, region: str) -> None:
        super().__init__(scope, id)
        alarms = settings.alarms
        self.region = region
        route = route_in(settings, region)
        self.topic_arn = route.topic_arn
        # The team's topic is watched by the name in its ARN.
        self.topic_name = route.topic_arn.rsplit(":", 1)[-1] if route.topic_arn else shared_topic_name(settings, region)
        self.topic: SnsTopic | None = None
        if not route.topic_arn:
            self.topic_arn = self._topic(settings, self.topic_name)
        subscribe(self, self.topic_arn, emails=alarms.emails, https_endpoints=alarms.https_endpoints)

    def _topic(self, settings: Settings, name: str) -> str:
        account_id = caller_identity(self).account_id
        on_our_behalf = {"StringEquals": {"aws:SourceAccount": account_id}}
        key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=name,
                teardown=store_teardown(settings),
                description=f"Encrypts the alarm notifications of {settings.name_prefix} ({self.region})",
                extra_policy_statements=tuple(
                    allow(
                        f"{who}EncryptNotifications",
                        ["kms:GenerateDataKey*", "kms:Decrypt"],
                        "*",
                        principal={"Service": service},
                        condition=on_our_behalf,
                    )
                    for who, service in PUBLISHERS.items()
                ),
            ),
        )
        self.topic = topic = AlarmTopic(self, "alarms", AlarmTopicProps(name=name, kms_key_arn=key.arn)).topic
        SnsTopicPolicy(
            self,
            "policy",
            arn=topic.arn,
            policy=policy_document(
                allow(
                    "AccountManagesTopic",
                    ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes"],
                    topic.arn,
                    principal={"AWS": f"arn:aws:iam::{account_id}:root"},
                ),
                *(
                    allow(
                        f"{who}Publish",
                        "sns:Publish",
                        topic.arn,
                        principal={"Service": service},
                        condition=on_our_behalf,
                    )
                    for who, service in PUBLISHERS.items()
                ),
            ),
        )
        return topic.arn
