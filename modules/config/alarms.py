"""``[alarms]``: where an environment's alarms go.

Any combination of destinations: the team's existing SNS topic (``topic_arn``; the stacks then
create no topic and publish there), e-mail addresses, AWS Chatbot to a Slack or a Teams channel,
and HTTPS endpoints (PagerDuty, Opsgenie integration URLs). With none, each stack keeps a topic of
its own that notifies nobody; a protected environment is refused then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, Field, Strict
from pydantic.functional_validators import AfterValidator

from modules.config.checks import Email, Section, _split, arn
from modules.core.input_rules import check, where

# CloudWatch alarm actions publish to standard topics only, never FIFO ones.
_TOPIC_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}$")
_HTTPS_RE = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%/?=&+:@-]*)?$")
_UUID = r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
# The AWS Chatbot API's own patterns for these identifiers.
_SLACK_ID = r"[0-9A-Za-z]{1,255}"
_TEAMS_CHANNEL = r"[A-Za-z0-9_=+/.,-]*%3[aA][A-Za-z0-9_=+/.,-]*%40[A-Za-z0-9_=+/.,-]*"

_STANDARD = where(
    lambda v: v == "" or _TOPIC_ARN_RE.match(v),
    "empty (none) or the ARN of a standard SNS topic, e.g. arn:aws:sns:us-east-1:123456789012:oncall",
)
# The form, and (across settings, modules.config.arns) the region of the alarms that publish to it.
TopicArn = Annotated[str, Strict(), arn("sns"), _STANDARD]
SecondaryTopicArn = Annotated[str, Strict(), arn("sns", used_in="ha_failover.secondary_region"), _STANDARD]


def _https_urls_problem(urls: tuple[str, ...]) -> str | None:
    bad = [url for url in urls if not _HTTPS_RE.match(url)]
    return f"https:// URLs (not {', '.join(repr(u) for u in bad)})" if bad else None


def _emails_problem(emails: tuple[str, ...]) -> str | None:
    if "" in emails:
        return "e-mail addresses (an empty one is none)"
    return "each address once" if len(set(emails)) != len(emails) else None


def _optional(pattern: str, allowed: str) -> AfterValidator:
    return where(lambda v: v == "" or re.fullmatch(pattern, v), f"empty or {allowed}")


Emails = Annotated[tuple[Email, ...], BeforeValidator(_split), check(_emails_problem)]
HttpsUrls = Annotated[tuple[Annotated[str, Strict()], ...], BeforeValidator(_split), check(_https_urls_problem)]
SlackId = Annotated[str, Strict(), _optional(_SLACK_ID, "a Slack id of letters and digits")]
TeamsId = Annotated[str, Strict(), _optional(_UUID, "a Microsoft Teams id (a UUID)")]
TeamsChannelId = Annotated[
    str, Strict(), _optional(_TEAMS_CHANNEL, "a Teams channel id as Chatbot takes it, e.g. 19%3a...%40thread.tacv2")
]

SLACK = ("slack_workspace_id", "slack_channel_id")
TEAMS = ("teams_tenant_id", "teams_team_id", "teams_channel_id")


class AlarmsSettings(Section):
    """Where the environment's alarms go (any combination); none: each stack's own topic, to nobody."""

    topic_arn: TopicArn = Field(
        default="",
        description="the team's existing SNS topic in `region`: the stacks create no topic and their alarms "
        "publish there (its policy and key must let CloudWatch publish: docs/alarms.md)",
    )
    secondary_topic_arn: SecondaryTopicArn = Field(
        default="",
        description="with topic_arn and ha_failover.secondary_region: the team's topic in that region "
        "(an alarm publishes only in its own region)",
    )
    emails: Emails = Field(
        default=(),
        description="e-mail addresses subscribed to the environment's one alarm topic per region "
        "(each confirms once per region); env form `a@x.com,b@x.com`",
    )
    https_endpoints: HttpsUrls = Field(
        default=(),
        description="HTTPS endpoints subscribed to the alarm topic (PagerDuty, Opsgenie integration URLs; "
        "they confirm the subscription themselves)",
    )
    slack_workspace_id: SlackId = Field(
        default="", description="AWS Chatbot to Slack: the workspace id (authorized once in the Chatbot console)"
    )
    slack_channel_id: SlackId = Field(default="", description="AWS Chatbot to Slack: the channel id")
    teams_tenant_id: TeamsId = Field(default="", description="AWS Chatbot to Microsoft Teams: the tenant id")
    teams_team_id: TeamsId = Field(
        default="", description="AWS Chatbot to Microsoft Teams: the team id (authorized once in the Chatbot console)"
    )
    teams_channel_id: TeamsChannelId = Field(default="", description="AWS Chatbot to Microsoft Teams: the channel id")

    @property
    def slack(self) -> bool:
        return bool(self.slack_workspace_id and self.slack_channel_id)

    @property
    def teams(self) -> bool:
        return bool(self.teams_tenant_id and self.teams_team_id and self.teams_channel_id)

    @property
    def subscribers(self) -> bool:
        """Whether anything subscribes to the environment's topic (then one topic per region is shared)."""
        return bool(self.emails or self.https_endpoints or self.slack or self.teams)

    @property
    def any_destination(self) -> bool:
        return bool(self.topic_arn) or self.subscribers


@dataclass(frozen=True, kw_only=True)
class AlarmRoute:
    """Where the alarms of one region go: ``topic_arn`` (the team's topic), else the environment's
    shared topic when ``shared`` (the ``alarms`` stack creates it), else each stack's own topic."""

    topic_arn: str
    shared: bool

    @property
    def own_topic(self) -> bool:
        """Each stack creates a topic of its own (nothing configured)."""
        return not self.topic_arn and not self.shared


def alarm_route(alarms: AlarmsSettings, *, secondary: bool) -> AlarmRoute:
    """The route of the primary region, or of ``ha_failover.secondary_region``."""
    arn = alarms.secondary_topic_arn if secondary else alarms.topic_arn
    return AlarmRoute(topic_arn=arn, shared=not arn and alarms.subscribers)


DESTINATIONS = (
    "alarms.topic_arn, alarms.emails, alarms.https_endpoints, "
    "alarms.slack_workspace_id + alarms.slack_channel_id (Chatbot to Slack) or "
    "alarms.teams_tenant_id + alarms.teams_team_id + alarms.teams_channel_id (Chatbot to Teams)"
)


def alarm_problems(alarms: AlarmsSettings, *, secondary_region: str, protected: bool) -> list[str]:
    """The rules across ``[alarms]`` and the top-level settings: a complete Chatbot channel, a
    secondary topic with a secondary region, and a destination when protected. (Each topic's
    region is checked with every other ARN's, in :mod:`modules.config.arns`.)"""
    problems = []
    for name, keys in (("Slack", SLACK), ("Teams", TEAMS)):
        given = [key for key in keys if getattr(alarms, key)]
        if given and len(given) < len(keys):
            missing = ", ".join(f"alarms.{key}" for key in keys if key not in given)
            problems.append(f"alarms: a Chatbot {name} channel needs {missing} too (given: {', '.join(given)})")
    if alarms.secondary_topic_arn and not secondary_region:
        problems.append("alarms.secondary_topic_arn: only with ha_failover.secondary_region (no secondary region)")
    if alarms.secondary_topic_arn and not alarms.topic_arn:
        problems.append("alarms.secondary_topic_arn: only with alarms.topic_arn (the primary region's topic)")
    if alarms.topic_arn and secondary_region and not alarms.secondary_topic_arn:
        problems.append(
            f"alarms.topic_arn with ha_failover.secondary_region ({secondary_region}) needs "
            "alarms.secondary_topic_arn: the team's topic in that region (an alarm publishes only in its own region)"
        )
    if protected and not alarms.any_destination:
        problems.append(
            "alarms: a protected environment must send its alarms somewhere; set one or more of " + DESTINATIONS
        )
    return problems
