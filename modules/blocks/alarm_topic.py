"""An SNS topic for alarms, encrypted with a customer key, optionally e-mailing someone."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules.core.input_rules import KmsKeyArn
from modules.core.names import email_problem
from modules.core.props_check import field_problems


@dataclass(frozen=True, kw_only=True)
class AlarmTopicProps:
    name: str
    kms_key_arn: KmsKeyArn  # its key policy must let cloudwatch.amazonaws.com use it, or alarms cannot publish
    email: str = ""  # empty: no subscription

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if problem := email_problem(self.email):
            problems.append(f"email={self.email!r}: must be {problem}")
        if problems:
            raise ValueError("AlarmTopicProps: " + "; ".join(problems))


class AlarmTopic(Construct):
    """Where alarms go.

    Defaults that matter: SSE-KMS with the given customer key; an e-mail subscription
    only when an address is given (it must be confirmed by its owner).
    """

    def __init__(self, scope: Construct, id: str, props: AlarmTopicProps) -> None:
        super().__init__(scope, id)
        self.topic = alarm_topic(self, props)

    @property
    def arn(self) -> str:
        return self.topic.arn


def alarm_topic(
    scope: Construct, props: AlarmTopicProps, *, topic_id: str = "topic", email_id: str = "email"
) -> SnsTopic:
    """The resources of :class:`AlarmTopic` created directly in ``scope``, with the given ids:
    for stacks whose topic was deployed before the construct existed (their ids are their
    Terraform addresses)."""
    topic = SnsTopic(scope, topic_id, name=props.name, kms_master_key_id=props.kms_key_arn)
    if props.email:
        SnsTopicSubscription(scope, email_id, topic_arn=topic.arn, protocol="email", endpoint=props.email)
    return topic
