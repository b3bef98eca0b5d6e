"""What a stream worker gets from the stack: its environment (where its stream, leases, results
and DLQ are) and its IAM statements (exactly what it calls, on exactly these resources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.architectures.stream_analytics.observability import HEARTBEAT_S, METRIC_NAMESPACE
from modules.architectures.stream_analytics.settings import StreamSettings
from modules.blocks.iam import allow
from modules.config import Settings

SERVICE = "stream-worker"
RESULTS_PREFIX = "results/"
STATE_FOLDER = "_state"  # results/<stream>/_state/<shard>/: the analytics-state snapshots


@dataclass(frozen=True, kw_only=True)
class WorkerResources:
    """The stack's resources a worker uses, by ARN."""

    stream_arn: str
    leases_arn: str
    results_bucket_arn: str
    dlq_arn: str
    key_arn: str
    log_group_arn: str


def worker_environment(settings: Settings, prefix: str, *, results_bucket: str, dlq_url: str) -> dict[str, str]:
    """The worker's environment (``handlers/stream_worker/config.py`` reads it)."""
    cfg = settings.section(StreamSettings)
    return {
        "STREAM_NAME": prefix,
        "LEASE_TABLE": f"{prefix}-leases",
        "RESULTS_BUCKET": results_bucket,
        "RESULTS_PREFIX": RESULTS_PREFIX,
        "DLQ_URL": dlq_url,
        "AWS_REGION": settings.region,
        "LEASE_TTL_S": str(cfg.lease_ttl_s),
        "POLL_INTERVAL_S": str(cfg.poll_interval_s),
        "STATE_SNAPSHOT_S": str(cfg.state_snapshot_s),
        "HEARTBEAT_S": str(HEARTBEAT_S),
        "METRIC_NAMESPACE": METRIC_NAMESPACE,
        "PYTHONPATH": f"/opt/{SERVICE}/vendor",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def worker_statements(r: WorkerResources) -> list[dict[str, Any]]:
    """Exactly what the worker calls, on exactly these resources."""
    return [
        allow(
            "ReadThisStream",
            [
                "kinesis:DescribeStreamSummary",
                "kinesis:ListShards",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
            ],
            r.stream_arn,
        ),
        allow(
            "LeasesInThisTable",
            ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:GetItem"],
            r.leases_arn,
        ),
        # GetObject: the HEAD of a result key that already exists (its last sequence number),
        # and a shard's analytics-state snapshot when the worker takes the shard over.
        allow("WriteResults", ["s3:PutObject", "s3:GetObject"], f"{r.results_bucket_arn}/{RESULTS_PREFIX}*"),
        # A snapshot the lease no longer points at (handlers/stream_worker/snapshots.py): results
        # themselves are never deleted.
        allow(
            "DeleteSupersededSnapshots", "s3:DeleteObject", f"{r.results_bucket_arn}/{RESULTS_PREFIX}*/{STATE_FOLDER}/*"
        ),
        allow("SendPoisonRecords", ["sqs:SendMessage"], r.dlq_arn),
        # The stream, table, bucket and queue are all encrypted with this key.
        allow("UseTheDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], r.key_arn),
        allow(
            "WorkerMetricsOnly",
            ["cloudwatch:PutMetricData"],
            "*",  # PutMetricData has no resource; the condition pins the namespace
            condition={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
        ),
        allow(
            "WriteWorkerLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            f"{r.log_group_arn}:*",
        ),
    ]
