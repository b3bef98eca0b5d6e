"""What the ``stream-analytics`` stack tells people: the alerts topic, spot interruption and
rebalance events on it (undeliverable ones kept in an event DLQ), alarms on the stream, the
lease table, the DLQs and the workers' heartbeats, and the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from modules.blocks.alarm_topic import AlarmTopicProps, alarm_topic
from modules.blocks.alarms import threshold_alarms
from modules.blocks.iam import allow, policy_document
from modules.blocks.queue import Queue, QueueProps
from modules.config import Settings
from modules.core.stack import protect_in_prod

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
class Alerts:
    """What :func:`alerts` made that the stack hands out."""

    topic: SnsTopic
    event_dlq: SqsQueue
    dashboard: CloudwatchDashboard


def alerts(
    scope: Construct,
    settings: Settings,
    prefix: str,
    account_id: str,
    *,
    key_arn: str,
    stream: KinesisStream,
    leases: DynamodbTable,
    dlq: SqsQueue,
) -> Alerts:
    """The alerts of the stack, created in ``scope`` (the stack: their ids are Terraform
    addresses); ``key_arn`` encrypts the topic and the event DLQ."""
    cfg = settings.stream
    topic = alarm_topic(
        scope,
        AlarmTopicProps(name=f"{prefix}-alerts", kms_key_arn=key_arn, email=settings.alarm_email),
        topic_id="alerts",
        email_id="alerts-email",
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
    protect_in_prod(settings, event_dlq)
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
    SnsTopicPolicy(
        scope,
        "alerts-policy",
        arn=topic.arn,
        policy=policy_document(
            allow(
                "AccountManagesTopic",
                ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes"],
                topic.arn,
                principal={"AWS": f"arn:aws:iam::{account_id}:root"},
            ),
            allow(
                "SpotEventRulesPublish",
                "sns:Publish",
                topic.arn,
                principal={"Service": "events.amazonaws.com"},
                condition={"ArnEquals": {"aws:SourceArn": rules}},
            ),
            allow(
                "AlarmsPublish",
                "sns:Publish",
                topic.arn,
                principal={"Service": "cloudwatch.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": account_id}},
            ),
        ),
    )
    stream_dims = {"StreamName": stream.name}
    alarms: dict[str, dict[str, Any]] = {
        "iterator-age": {
            "namespace": "AWS/Kinesis",
            "metric_name": "GetRecords.IteratorAgeMilliseconds",
            "dimensions": stream_dims,
            "statistic": "Maximum",
            "threshold": cfg.iterator_age_alarm_s * 1000,
            "desc": f"workers fall behind: the oldest unread record is older than {cfg.iterator_age_alarm_s} s",
        },
        "read-throttled": {
            "namespace": "AWS/Kinesis",
            "metric_name": "ReadProvisionedThroughputExceeded",
            "dimensions": stream_dims,
            "statistic": "Sum",
            "threshold": 0,
            "desc": "GetRecords throttled for minutes: more shards (or on-demand) or fewer readers per shard",
        },
        "write-throttled": {
            "namespace": "AWS/Kinesis",
            "metric_name": "WriteProvisionedThroughputExceeded",
            "dimensions": stream_dims,
            "statistic": "Sum",
            "threshold": 0,
            "desc": "producers throttled for minutes: records are retried or dropped upstream",
        },
        "dlq-depth": {
            "namespace": "AWS/SQS",
            "metric_name": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": dlq.name},
            "statistic": "Maximum",
            "threshold": 0,
            "periods": 1,
            "datapoints": 1,
            "desc": "poison records are waiting in the DLQ (shard, sequence number and reason in each)",
        },
        "undelivered-spot-events": {
            "namespace": "AWS/SQS",
            "metric_name": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": event_dlq.name},
            "statistic": "Maximum",
            "threshold": 0,
            "periods": 1,
            "datapoints": 1,
            "desc": "a spot event could not reach the alerts topic (reason in each message's attributes)",
        },
        **{
            f"lease-{op}s-throttled": {
                "namespace": "AWS/DynamoDB",
                "metric_name": f"{op.capitalize()}ThrottleEvents",
                "dimensions": {"TableName": leases.name},
                "statistic": "Sum",
                "threshold": 0,
                "desc": f"lease table {op}s throttled for minutes: workers renew and take leases late and "
                "may lose shards to each other (an on-demand table throttles past twice its previous peak)",
            }
            for op in ("read", "write")
        },
        # DynamoDB publishes SystemErrors per operation: one alarm for each the worker uses.
        **{
            f"lease-{op.lower()}-system-errors": {
                "namespace": "AWS/DynamoDB",
                "metric_name": "SystemErrors",
                "dimensions": {"TableName": leases.name, "Operation": op},
                "statistic": "Sum",
                "threshold": 0,
                "desc": f"DynamoDB answered the workers' {op} calls with 5xx for minutes: leases are "
                "not renewed or checkpoints not saved (the workers retry; shards stall if it lasts)",
            }
            for op in LEASE_OPERATIONS
        },
    }
    alarms["heartbeats"] = {
        "name": "heartbeats-missing",
        "namespace": METRIC_NAMESPACE,
        "metric_name": "Heartbeat",
        "dimensions": {"StreamName": stream.name},
        "statistic": "Sum",
        "threshold": 1,
        "periods": 3,
        "datapoints": 3,
        "comparison": "LessThanThreshold",
        # No data is exactly the failure: every worker is gone or cannot reach CloudWatch.
        "missing": "breaching",
        "desc": f"no worker has sent a heartbeat for 3 minutes (each sends one every {HEARTBEAT_S} s)",
    }
    threshold_alarms(scope, prefix, alarms, [topic.arn], periods=5, datapoints=3)
    dashboard = CloudwatchDashboard(
        scope,
        "dashboard",
        dashboard_name=prefix,
        dashboard_body=dashboard_body(settings, stream.name, leases.name, dlq.name, event_dlq.name),
    )
    return Alerts(topic=topic, event_dlq=event_dlq, dashboard=dashboard)


def dashboard_body(settings: Settings, stream_name: str, leases_name: str, dlq_name: str, event_dlq_name: str) -> str:
    """Stream in and out, iterator age, throttling, worker progress and heartbeats, DLQ depths."""
    stream = ["StreamName", stream_name]

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        props = {"title": title, "region": settings.region, "stat": stat, "period": 60, "metrics": metrics}
        return {"type": "metric", "width": 12, "height": 6, "properties": props}

    kinesis, workers = "AWS/Kinesis", METRIC_NAMESPACE
    return json.dumps(
        {
            "widgets": [
                widget(
                    "Records in / out",
                    [[kinesis, "IncomingRecords", *stream], [kinesis, "GetRecords.Records", *stream]],
                ),
                widget("Iterator age (ms)", [[kinesis, "GetRecords.IteratorAgeMilliseconds", *stream]], "Maximum"),
                widget(
                    "Throttled",
                    [
                        [kinesis, "ReadProvisionedThroughputExceeded", *stream],
                        [kinesis, "WriteProvisionedThroughputExceeded", *stream],
                    ],
                ),
                widget(
                    "Processed / poison",
                    [[workers, "RecordsProcessed", *stream], [workers, "PoisonRecords", *stream]],
                ),
                widget("Heartbeats / leases held", [[workers, "Heartbeat", *stream], [workers, "LeasesHeld", *stream]]),
                widget(
                    "DLQ depth (poison records / undelivered spot events)",
                    [
                        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq_name],
                        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", event_dlq_name],
                    ],
                    "Maximum",
                ),
                widget(
                    "Lease table throttling",
                    [
                        ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", leases_name],
                        ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", leases_name],
                    ],
                ),
            ]
        }
    )
