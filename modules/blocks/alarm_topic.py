"""An SNS topic for alarms, encrypted with a customer key, with its subscribers; and the handle a
stack holds for the topic its alarms notify, whether it owns that topic or not."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules.core.input_rules import KmsKeyArn
from modules.core.names import email_problem
from modules.core.props_check import field_problems


@dataclass(frozen=True)
class TopicHandle:
    """Where a stack's alarms go: ``arn``; ``topic`` when the stack owns the topic, else None
    (the team's topic, or the one of ``from_stack``, which is then deployed first)."""

    arn: str
    topic: SnsTopic | None = None
    from_stack: str = ""


@dataclass(frozen=True, kw_only=True)
class AlarmTopicProps:
    name: str
    kms_key_arn: KmsKeyArn  # its key policy must let cloudwatch.amazonaws.com use it, or alarms cannot publish
    emails: tuple[str, ...] = ()  # each confirms its subscription by following the link it is sent
    https_endpoints: tuple[str, ...] = ()  # endpoints that confirm themselves (PagerDuty, Opsgenie)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        for email in self.emails:
            problem = email_problem(email) if email else "an e-mail address"
            if problem:
                problems.append(f"emails: {email!r} must be {problem}")
        problems += [
            f"https_endpoints: {url!r} must be an https:// URL" for url in self.https_endpoints if not _https(url)
        ]
        if problems:
            raise ValueError("AlarmTopicProps: " + "; ".join(problems))


def _https(url: str) -> bool:
    return url.startswith("https://")


class AlarmTopic(Construct):
    """Where alarms go.

    Defaults that matter: SSE-KMS with the given customer key; no subscriber unless given: an
    e-mail subscription must be confirmed by its owner, an HTTPS endpoint confirms itself.
    """

    def __init__(self, scope: Construct, id: str, props: AlarmTopicProps) -> None:
        super().__init__(scope, id)
        self.topic = alarm_topic(self, props)
        subscribe(self, self.topic.arn, emails=props.emails, https_endpoints=props.https_endpoints)

    @property
    def arn(self) -> str:
        return self.topic.arn

    @property
    def handle(self) -> TopicHandle:
        return TopicHandle(self.topic.arn, self.topic)


def alarm_topic(scope: Construct, props: AlarmTopicProps, *, topic_id: str = "topic") -> SnsTopic:
    """The topic of :class:`AlarmTopic` created directly in ``scope`` with id ``topic_id``: for
    stacks whose topic was deployed before the construct existed (the id is its Terraform
    address). Subscribers are added with :func:`subscribe`."""
    return SnsTopic(scope, topic_id, name=props.name, kms_master_key_id=props.kms_key_arn)


def subscribe(
    scope: Construct, topic_arn: str, *, emails: Sequence[str] = (), https_endpoints: Sequence[str] = ()
) -> list[SnsTopicSubscription]:
    """One subscription per address and per endpoint to ``topic_arn`` (a topic of the stack's or
    the team's). Ids from the endpoint, not its place in the list: removing one subscriber
    leaves the others' Terraform addresses alone."""
    made = [
        SnsTopicSubscription(scope, f"email-{_digest(email)}", topic_arn=topic_arn, protocol="email", endpoint=email)
        for email in emails
    ]
    made += [
        SnsTopicSubscription(
            scope,
            f"https-{_digest(url)}",
            topic_arn=topic_arn,
            protocol="https",
            endpoint=url,
            # PagerDuty's and Opsgenie's SNS integrations confirm the subscription themselves.
            endpoint_auto_confirms=True,
        )
        for url in https_endpoints
    ]
    return made


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
