"""What the ``stream-analytics`` stack tells people: the alerts topic, spot interruption and
rebalance events on it (undeliverable ones kept in an event DLQ), alarms on the stream, the
lease table, the DLQs and the workers' heartbeats, and the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from modules.architectures.stream_analytics.settings import StreamSettings
from modules.blocks.alarm_topic import TopicHandle
from modules.blocks.alarms import AlarmSpec, Metric, metric_alarms
from modules.blocks.dashboard import DashboardProps, Graph, dashboard
from modules.blocks.iam import allow, policy_document
from modules.blocks.queue import Queue, QueueProps
from modules.config import Settings
from modules.patterns.alarm_routing import stack_alarm_topic
from modules.stack.base import protect_stores
from modules.stack.contract import Observability

METRIC_NAMESPACE = "ResilientAI/StreamWorker"
HEARTBEAT_S = 30
EVENT_MAX_AGE_S = 3600  # a spot event EventBridge cannot deliver within this goes to the event DLQ
EVENT_RETRIES = 50
# The lease-table calls the worker makes (handlers/stream_worker/leases.py); each has its own
# SystemErrors metric.
LEASE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "Scan")
SPOT_EVENTS = {
    "spot-interruption": "EC2 Spot Instance Interruption Warning",
    "rebalance": "EC2 Instance Rebalance Recommendation",
}


@dataclass(frozen=True)
class AlertRoutes:
    """Where the stack's alerts go: the topic (alarms and spot events) and the DLQ of spot
    events EventBridge could not deliver."""

    topic: TopicHandle
    event_dlq: SqsQueue


def alert_routes(scope: Construct, settings: Settings, prefix: str, account_id: str, *, key_arn: str) -> AlertRoutes:
    """The topic, the spot-event rules that publish to it and their DLQ, created in ``scope``
    (the stack: their ids are Terraform addresses); ``key_arn`` encrypts the topic and the DLQ.

    The topic and its policy are the stack's only with no ``[alarms]`` destination; else the
    spot events go where the alarms go, whose policy and key let EventBridge publish (the
    ``alarms`` stack's do; docs/alarms.md says what the team's topic needs)."""
    cfg = settings.section(StreamSettings)
    topic = stack_alarm_topic(
        scope, settings, name=f"{prefix}-alerts", kms_key_arn=key_arn, topic_id="alerts", flat=True
    )
    # An event EventBridge cannot deliver (topic policy, key or throttling) is kept here
    # with its reason (ERROR_CODE / ERROR_MESSAGE attributes), not dropped after the
    # retries. Standard, not FIFO: EventBridge dead-letters to standard queues only.
    # The targets' dead_letter_config makes it a dead-letter target: no redrive of its own.
    event_dlq = Queue(
        scope,
        "event-dlq",
        QueueProps(name=f"{prefix}-event-dlq", kms_key_arn=key_arn, retention_s=cfg.dlq_retention_days * 86400),
    ).queue
    protect_stores(settings, event_dlq)
    rules = []
    for key, detail_type in SPOT_EVENTS.items():
        rule = CloudwatchEventRule(
            scope,
            key,
            name=f"{prefix}-{key}",
            description=f"{detail_type}: a worker instance is about to go (its worker drains itself)",
            event_pattern=json.dumps({"source": ["aws.ec2"], "detail-type": [detail_type]}),
        )
        CloudwatchEventTarget(
            scope,
            f"{key}-to-topic",
            rule=rule.name,
            arn=topic.arn,
            # A spot notice is about the next two minutes; after an hour it is history,
            # and it goes to the DLQ instead of being retried for a day.
            retry_policy=CloudwatchEventTargetRetryPolicy(
                maximum_event_age_in_seconds=EVENT_MAX_AGE_S, maximum_retry_attempts=EVENT_RETRIES
            ),
            dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=event_dlq.arn),
        )
        rules.append(rule.arn)
    SqsQueuePolicy(
        scope,
        "event-dlq-policy",
        queue_url=event_dlq.url,
        policy=policy_document(
            allow(
                "SpotEventRulesDeadLetter",
                "sqs:SendMessage",
                event_dlq.arn,
                principal={"Service": "events.amazonaws.com"},
                condition={"ArnEquals": {"aws:SourceArn": rules}},
            )
        ),
    )
    if topic.topic is not None:
        _own_topic_policy(scope, topic.arn, account_id, rules)
    return AlertRoutes(topic=topic, event_dlq=event_dlq)


def _own_topic_policy(scope: Construct, topic_arn: str, account_id: str, rules: list[str]) -> None:
    """The stack's own alerts topic: the account, the spot-event rules and the alarms publish."""
    SnsTopicPolicy(
        scope,
        "alerts-policy",
        arn=topic_arn,
        policy=policy_document(
            allow(
                "AccountManagesTopic",
                ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes"],
                topic_arn,
                principal={"AWS": f"arn:aws:iam::{account_id}:root"},
            ),
            allow(
                "SpotEventRulesPublish",
                "sns:Publish",
                topic_arn,
                principal={"Service": "events.amazonaws.com"},
                condition={"ArnEquals": {"aws:SourceArn": rules}},
            ),
            allow(
                "AlarmsPublish",
                "sns:Publish",
                topic_arn,
                principal={"Service": "cloudwatch.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": account_id}},
            ),
        ),
    )


def observe(
    scope: Construct,
    settings: Settings,
    prefix: str,
    *,
    routes: AlertRoutes,
    stream: KinesisStream,
    leases: DynamodbTable,
    dlq: SqsQueue,
) -> Observability:
    """The alarms (to the routes' topic) and the dashboard, created in ``scope`` (the stack:
    their ids are Terraform addresses)."""
    metrics = stream_metrics(stream, leases, dlq, routes.event_dlq)
    specs = alarm_specs(settings, metrics)
    alarms = metric_alarms(scope, prefix, specs, [routes.topic.arn])
    board = dashboard(scope, DashboardProps(name=prefix, region=settings.region, graphs=graphs(metrics), alarms=specs))
    return Observability(specs={prefix: specs}, alarms={prefix: alarms}, dashboard=board)


@dataclass(frozen=True)
class StreamMetrics:
    """The metrics of the stream, the workers, the lease table and the DLQs."""

    incoming: Metric
    read: Metric
    iterator_age: Metric
    read_throttled: Metric
    write_throttled: Metric
    processed: Metric
    poison: Metric
    heartbeats: Metric
    leases_held: Metric
    dlq_depth: Metric
    event_dlq_depth: Metric
    lease_throttles: dict[str, Metric]  # by "read" / "write"
    lease_system_errors: dict[str, Metric]  # by operation


def stream_metrics(stream: KinesisStream, leases: DynamodbTable, dlq: SqsQueue, event_dlq: SqsQueue) -> StreamMetrics:
    on_stream = {"StreamName": stream.name}
    table = {"TableName": leases.name}

    def kinesis(name: str) -> Metric:
        return Metric(namespace="AWS/Kinesis", name=name, dimensions=on_stream)

    def workers(name: str) -> Metric:
        return Metric(namespace=METRIC_NAMESPACE, name=name, dimensions=on_stream)

    def depth(queue: SqsQueue) -> Metric:
        return Metric(
            namespace="AWS/SQS", name="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": queue.name}
        )

    return StreamMetrics(
        incoming=kinesis("IncomingRecords"),
        read=kinesis("GetRecords.Records"),
        iterator_age=kinesis("GetRecords.IteratorAgeMilliseconds"),
        read_throttled=kinesis("ReadProvisionedThroughputExceeded"),
        write_throttled=kinesis("WriteProvisionedThroughputExceeded"),
        processed=workers("RecordsProcessed"),
        poison=workers("PoisonRecords"),
        heartbeats=workers("Heartbeat"),
        leases_held=workers("LeasesHeld"),
        dlq_depth=depth(dlq),
        event_dlq_depth=depth(event_dlq),
        lease_throttles={
            op: Metric(namespace="AWS/DynamoDB", name=f"{op.capitalize()}ThrottleEvents", dimensions=table)
            for op in ("read", "write")
        },
        # DynamoDB publishes SystemErrors per operation: one metric for each the worker uses.
        lease_system_errors={
            op: Metric(namespace="AWS/DynamoDB", name="SystemErrors", dimensions={**table, "Operation": op})
            for op in LEASE_OPERATIONS
        },
    )


def alarm_specs(settings: Settings, m: StreamMetrics) -> list[AlarmSpec]:
    """The stream's alarms; most need 3 of 5 one-minute periods. The worker fleet's instance
    refresh (``stream.fleet_kind = "asg"``) rolls back on the rollout guards: new workers that
    stop heartbeating or fall behind."""
    cfg = settings.section(StreamSettings)
    specs = [
        # First: the rollout guards are named in this order in the worker group's refresh.
        AlarmSpec(
            key="heartbeats",
            name="heartbeats-missing",
            metric=m.heartbeats,
            statistic="Sum",
            threshold=1,
            periods=3,
            datapoints=3,
            comparison="LessThanThreshold",
            # No data is exactly the failure: every worker is gone or cannot reach CloudWatch.
            missing="breaching",
            guards_rollout=True,
            description=f"no worker has sent a heartbeat for 3 minutes (each sends one every {HEARTBEAT_S} s)",
        ),
        AlarmSpec(
            key="iterator-age",
            metric=m.iterator_age,
            statistic="Maximum",
            threshold=cfg.iterator_age_alarm_s * 1000,
            periods=5,
            datapoints=3,
            guards_rollout=True,
            description=f"workers fall behind: the oldest unread record is older than {cfg.iterator_age_alarm_s} s",
        ),
        AlarmSpec(
            key="read-throttled",
            metric=m.read_throttled,
            statistic="Sum",
            threshold=0,
            periods=5,
            datapoints=3,
            description="GetRecords throttled for minutes: more shards (or on-demand) or fewer readers per shard",
        ),
        AlarmSpec(
            key="write-throttled",
            metric=m.write_throttled,
            statistic="Sum",
            threshold=0,
            periods=5,
            datapoints=3,
            description="producers throttled for minutes: records are retried or dropped upstream",
        ),
        AlarmSpec(
            key="dlq-depth",
            metric=m.dlq_depth,
            statistic="Maximum",
            threshold=0,
            periods=1,
            datapoints=1,
            description="poison records are waiting in the DLQ (shard, sequence number and reason in each)",
        ),
        AlarmSpec(
            key="undelivered-spot-events",
            metric=m.event_dlq_depth,
            statistic="Maximum",
            threshold=0,
            periods=1,
            datapoints=1,
            description="a spot event could not reach the alerts topic (reason in each message's attributes)",
        ),
    ]
    specs += [
        AlarmSpec(
            key=f"lease-{op}s-throttled",
            metric=metric,
            statistic="Sum",
            threshold=0,
            periods=5,
            datapoints=3,
            description=f"lease table {op}s throttled for minutes: workers renew and take leases late and "
            "may lose shards to each other (an on-demand table throttles past twice its previous peak)",
        )
        for op, metric in m.lease_throttles.items()
    ]
    specs += [
        AlarmSpec(
            key=f"lease-{op.lower()}-system-errors",
            metric=metric,
            statistic="Sum",
            threshold=0,
            periods=5,
            datapoints=3,
            description=f"DynamoDB answered the workers' {op} calls with 5xx for minutes: leases are "
            "not renewed or checkpoints not saved (the workers retry; shards stall if it lasts)",
        )
        for op, metric in m.lease_system_errors.items()
    ]
    return specs


def graphs(m: StreamMetrics) -> list[Graph]:
    """Stream in and out, iterator age, throttling, worker progress and heartbeats, DLQ depths,
    the lease table's throttling and errors."""
    return [
        Graph(title="Records in / out", lines=[m.incoming, m.read]),
        Graph(title="Iterator age (ms)", lines=[m.iterator_age], stat="Maximum"),
        Graph(title="Throttled", lines=[m.read_throttled, m.write_throttled]),
        Graph(title="Processed / poison", lines=[m.processed, m.poison]),
        Graph(title="Heartbeats / leases held", lines=[m.heartbeats, m.leases_held]),
        Graph(
            title="DLQ depth (poison records / undelivered spot events)",
            lines=[m.dlq_depth, m.event_dlq_depth],
            stat="Maximum",
        ),
        Graph(title="Lease table throttling", lines=list(m.lease_throttles.values())),
        # Added with the AlarmSpecs: the system-error alarms had no graph to look at.
        Graph(title="Lease table system errors", lines=list(m.lease_system_errors.values())),
    ]
