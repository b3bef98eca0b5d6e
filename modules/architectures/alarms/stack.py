"""The ``alarms`` stack: where the environment's alarms go, one topic per region.

Built only when ``[alarms]`` names subscribers (e-mails, HTTPS endpoints, a Chatbot channel):
then every stack's alarms notify this stack's topic in their region (found by its name,
:func:`modules.patterns.alarm_routing.stack_alarm_topic`), and one address confirms one
subscription per region, not one per stack. With ``alarms.topic_arn`` the topics are the team's
and this stack only subscribes to them. With nothing configured each stack keeps its own topic
and this stack is not built.
"""

from __future__ import annotations

from cdktf import TerraformOutput
from constructs import Construct

from modules.architectures.alarms.observability import observe
from modules.architectures.alarms.region import AlarmRegion
from modules.blocks.alarm_topic import TopicHandle
from modules.blocks.chatbot import ChatbotChannel, ChatbotChannelProps, chatbot_region
from modules.config import Settings
from modules.stack.base import BaseStack


class AlarmsStack(BaseStack):
    """The environment's alarm topic in ``region`` (and in ``ha_failover.secondary_region``), each
    with its own key, and its subscribers: ``alarms.emails``, ``alarms.https_endpoints``, and an
    AWS Chatbot channel (Slack or Teams) notified of every region's topic. Alarms when a topic
    cannot deliver to a subscriber (to the same topic: the other subscribers hear of it)."""

    @classmethod
    def wanted(cls, settings: Settings) -> bool:
        return settings.alarms.subscribers

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        self.regions = {"primary": AlarmRegion(self, "primary", settings, region=settings.region)}
        secondary = settings.ha_failover.secondary_region
        if secondary:
            self.regions["secondary"] = AlarmRegion(self, "secondary", settings, region=secondary)
        self.observability = observe(self, settings, self.regions)
        primary = self.regions["primary"]
        self.alarm_topic = TopicHandle(primary.topic_arn, primary.topic)
        if secondary:  # last: the secondary's alarms too are managed in its region
            self.move_to_region(self.regions["secondary"], "secondary", secondary)
        self._chatbot(settings)
        for role, site in self.regions.items():
            key = "" if role == "primary" else "secondary_"
            TerraformOutput(
                self,
                f"{key}alarm_topic_arn",
                value=site.topic_arn,
                description=f"SNS topic every stack's alarms in {site.region} notify",
            )

    def _chatbot(self, settings: Settings) -> None:
        alarms = settings.alarms
        channels = {
            "slack": {"slack_workspace_id": alarms.slack_workspace_id, "slack_channel_id": alarms.slack_channel_id},
            "teams": {
                "teams_tenant_id": alarms.teams_tenant_id,
                "teams_team_id": alarms.teams_team_id,
                "teams_channel_id": alarms.teams_channel_id,
            },
        }
        wanted = {kind: ids for kind, ids in channels.items() if getattr(alarms, kind)}
        if not wanted:
            return
        region = chatbot_region(settings.region)
        provider = None if region == settings.region else self.region_provider("chatbot", region)
        topics = [site.topic_arn for site in self.regions.values()]
        for kind, ids in wanted.items():
            channel = ChatbotChannel(
                self,
                f"chatbot-{kind}",
                ChatbotChannelProps(name=f"{settings.name_prefix}-alarms-{kind}", topic_arns=topics, **ids),
            )
            if provider is not None:
                channel.configuration.provider = provider
