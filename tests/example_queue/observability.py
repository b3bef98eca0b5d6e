"""What the example stack watches: jobs in its dead-letter queue, and a dashboard of it."""

from __future__ import annotations

from constructs import Construct

from modules.blocks.alarms import AlarmSpec, Metric, metric_alarms
from modules.blocks.dashboard import DashboardProps, alarm_graph, dashboard
from modules.config import Settings
from modules.stack.contract import Observability


def observe(scope: Construct, settings: Settings, prefix: str, *, topic_arn: str, dlq_name: str) -> Observability:
    specs = [
        AlarmSpec(
            key="dlq-depth",
            metric=Metric(
                namespace="AWS/SQS", name="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": dlq_name}
            ),
            statistic="Maximum",
            threshold=0,
            description="jobs failed every delivery and wait in the DLQ: fix the cause, then redrive them",
        )
    ]
    alarms = metric_alarms(scope, prefix, specs, [topic_arn])
    board = dashboard(
        scope,
        DashboardProps(
            name=prefix, region=settings.region, graphs=[alarm_graph(s) for s in specs], alarms=specs, layout="grid"
        ),
    )
    return Observability(specs={prefix: specs}, alarms={prefix: alarms}, dashboard=board)
