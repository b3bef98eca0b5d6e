"""What the ``alarms`` stack watches: each region's topic failing to deliver to a subscriber (an
HTTPS endpoint that answers errors, a Chatbot channel gone), notified on the same topic, which
its other subscribers still receive; one dashboard over every region's topic."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.architectures.alarms.region import AlarmRegion
from modules.blocks.alarms import AlarmSpec, Metric, metric_alarms
from modules.blocks.dashboard import DashboardProps, Graph, dashboard
from modules.config import Settings
from modules.stack.contract import Observability


def topic_metric(name: str, topic_name: str) -> Metric:
    return Metric(namespace="AWS/SNS", name=name, dimensions={"TopicName": topic_name})


def delivery_alarms(topic_name: str) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            key="notifications-failed",
            metric=topic_metric("NumberOfNotificationsFailed", topic_name),
            statistic="Sum",
            threshold=0,
            periods=5,
            datapoints=1,
            description=f"{topic_name} could not deliver an alarm to a subscriber after SNS's retries: check "
            "each subscription (an HTTPS endpoint's integration, the Chatbot channel) in the SNS console",
        )
    ]


def observe(scope: Construct, settings: Settings, regions: Mapping[str, AlarmRegion]) -> Observability:
    """The delivery alarm of each region's topic (in the region, to that topic; by the topic's
    name) and the stack's dashboard."""
    alarms: dict[str, dict[str, CloudwatchMetricAlarm]] = {}
    specs: dict[str, list[AlarmSpec]] = {}
    graphs: list[Graph] = []
    for site in regions.values():
        specs[site.topic_name] = delivery_alarms(site.topic_name)
        alarms[site.topic_name] = metric_alarms(site, site.topic_name, specs[site.topic_name], [site.topic_arn])
        lines = [
            topic_metric(name, site.topic_name)
            for name in ("NumberOfMessagesPublished", "NumberOfNotificationsDelivered", "NumberOfNotificationsFailed")
        ]
        graphs.append(
            Graph(title=f"{site.topic_name}: published / delivered / failed", lines=lines, region=site.region)
        )
    every = [spec for region_specs in specs.values() for spec in region_specs]
    board = dashboard(
        scope,
        DashboardProps(name=f"{settings.name_prefix}-alarms", region=settings.region, graphs=graphs, alarms=every),
    )
    return Observability(specs=specs, alarms=alarms, dashboard=board)
