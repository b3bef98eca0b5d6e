"""AWS Chatbot posting SNS notifications into a Slack or a Microsoft Teams channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from cdktf_cdktf_provider_aws.chatbot_slack_channel_configuration import ChatbotSlackChannelConfiguration
from cdktf_cdktf_provider_aws.chatbot_teams_channel_configuration import ChatbotTeamsChannelConfiguration
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document

# The Chatbot API answers in these regions only; a configuration made in one serves topics of
# every region (https://docs.aws.amazon.com/chatbot/latest/APIReference/Welcome.html).
CHATBOT_REGIONS = ("us-east-2", "us-west-2", "eu-west-1", "ap-southeast-1")
# What people in the channel may do through Chatbot, whatever the role allows: read only.
GUARDRAIL = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"


def chatbot_region(region: str) -> str:
    """``region`` when the Chatbot API answers there, else US East (Ohio), where its console is."""
    return region if region in CHATBOT_REGIONS else CHATBOT_REGIONS[0]


@dataclass(frozen=True, kw_only=True)
class ChatbotChannelProps:
    """One channel: Slack (``slack_workspace_id`` + ``slack_channel_id``) or Teams (the three
    ``teams_*`` ids), notified of ``topic_arns``."""

    name: str
    topic_arns: Sequence[str]
    slack_workspace_id: str = ""
    slack_channel_id: str = ""
    teams_tenant_id: str = ""
    teams_team_id: str = ""
    teams_channel_id: str = ""

    def __post_init__(self) -> None:
        slack = bool(self.slack_workspace_id and self.slack_channel_id)
        teams = bool(self.teams_tenant_id and self.teams_team_id and self.teams_channel_id)
        if slack == teams:
            raise ValueError(
                "ChatbotChannelProps: give one channel, Slack (slack_workspace_id, slack_channel_id) "
                "or Teams (teams_tenant_id, teams_team_id, teams_channel_id)"
            )
        if not self.topic_arns:
            raise ValueError("ChatbotChannelProps: topic_arns: one topic at least")


class _Common(TypedDict):
    """What the Slack and the Teams configurations share."""

    configuration_name: str
    iam_role_arn: str
    sns_topic_arns: list[str]
    guardrail_policy_arns: list[str]
    logging_level: str


class ChatbotChannel(Construct):
    """A Chatbot channel configuration (``slack`` or ``teams``) and the role Chatbot assumes.

    Defaults that matter: the role may only read CloudWatch (alarm graphs in the channel), and
    the channel's guardrail is CloudWatch read-only (the API's default guardrail is
    AdministratorAccess); errors are logged.
    """

    def __init__(self, scope: Construct, id: str, props: ChatbotChannelProps) -> None:
        super().__init__(scope, id)
        self.role = IamRole(
            self, "role", name=f"{props.name}-chatbot", assume_role_policy=assume_role_policy("chatbot.amazonaws.com")
        )
        IamRolePolicy(
            self,
            "read-alarms",
            role=self.role.id,
            # No resource-level permissions for these reads.
            policy=policy_document(
                allow("ReadAlarmsAndMetrics", ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"], "*")
            ),
        )
        common = _Common(
            configuration_name=props.name,
            iam_role_arn=self.role.arn,
            sns_topic_arns=list(props.topic_arns),
            guardrail_policy_arns=[GUARDRAIL],
            logging_level="ERROR",
        )
        self.configuration: ChatbotSlackChannelConfiguration | ChatbotTeamsChannelConfiguration
        if props.slack_workspace_id:
            self.configuration = ChatbotSlackChannelConfiguration(
                self, "slack", slack_team_id=props.slack_workspace_id, slack_channel_id=props.slack_channel_id, **common
            )
        else:
            self.configuration = ChatbotTeamsChannelConfiguration(
                self,
                "teams",
                tenant_id=props.teams_tenant_id,
                team_id=props.teams_team_id,
                channel_id=props.teams_channel_id,
                **common,
            )
