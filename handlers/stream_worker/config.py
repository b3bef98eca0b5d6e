"""Worker configuration: read once from the environment at start, every problem at once.

| variable | default | meaning |
|---|---|---|
| `STREAM_NAME` | (required) | Kinesis stream to read |
| `LEASE_TABLE` | (required) | DynamoDB lease/checkpoint table (hash key `lease_key`, S) |
| `RESULTS_BUCKET` | (required) | S3 bucket for results |
| `DLQ_URL` | (required) | SQS FIFO queue for poison records |
| `AWS_REGION` | `us-east-1` | region of every client |
| `AWS_ENDPOINT_URL` | (AWS) | one endpoint for every client (the emulator in tests) |
| `WORKER_ID` | `<hostname>-<pid>` | lease owner name; unique per live worker |
| `LEASE_TTL_S` | `30` | a lease not renewed for this long may be taken over |
| `POLL_INTERVAL_S` | `1` | pause between rounds of reads, and between lease-table scans |
| `SHARD_SYNC_S` | `30` | how often ListShards looks for new (resharded) shards |
| `BATCH_LIMIT` | `1000` | GetRecords limit per call |
| `STATE_SNAPSHOT_S` | `60` | how often a shard's analytics state goes to S3 (a crash re-reads at most this) |
| `WINDOW_S`, `MIN_WINDOW_COUNT` | `60`, `5` | analytics window and scoring minimum (analytics.py) |
| `ANOMALY_THRESHOLD`, `MAX_KEYS` | `3.0`, `2000` | anomaly z-score and keys kept (analytics.py) |
| `RESULTS_PREFIX` | `results/` | key prefix of result objects |
| `IMDS_ENDPOINT` | `http://169.254.169.254` | instance metadata service; empty = not on EC2, no polling |
| `IMDS_POLL_S` | `5` | how often spot/instance-action and the rebalance recommendation are polled |
| `HEARTBEAT_S` | `60` | how often the Heartbeat and throughput metrics are sent |
| `METRIC_NAMESPACE` | `ResilientAI/StreamWorker` | CloudWatch namespace; empty = no metrics |
| `MAX_BACKOFF_S` | `10` | cap of the jittered exponential backoff on throttling |
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .analytics import AnalyticsParams

T = TypeVar("T")


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid worker configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Config:
    stream_name: str
    lease_table: str
    results_bucket: str
    dlq_url: str
    region: str
    endpoint_url: str | None
    worker_id: str
    lease_ttl_s: float
    poll_interval_s: float
    shard_sync_s: float
    batch_limit: int
    state_snapshot_s: float
    analytics: AnalyticsParams
    results_prefix: str
    imds_endpoint: str
    imds_poll_s: float
    heartbeat_s: float
    metric_namespace: str
    max_backoff_s: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str, conv: Callable[[str], T], default: T | None, ok: Callable[[T], bool], allowed: str) -> Any:
            raw = env.get(name)
            if raw is None or (raw == "" and default is not None):
                if default is None:
                    problems.append(f"{name}: required ({allowed})")
                return default
            try:
                value = conv(raw)
            except ValueError:
                problems.append(f"{name}={raw!r}: must be {allowed}")
                return default
            if not ok(value):
                problems.append(f"{name}={raw!r}: must be {allowed}")
            return value

        def text(name: str, default: str | None = None) -> Any:
            return get(name, str, default, lambda v: v != "" or default == "", "a non-empty string")

        def positive(name: str, default: float, conv: Callable[[str], Any] = float) -> Any:
            return get(name, conv, default, lambda v: v > 0, "a number > 0")

        dlq_url = text("DLQ_URL")
        if isinstance(dlq_url, str) and dlq_url and not dlq_url.endswith(".fifo"):
            problems.append(f"DLQ_URL={dlq_url!r}: must be a FIFO queue (ends with .fifo) for de-duplication")
        config = cls(
            stream_name=text("STREAM_NAME"),
            lease_table=text("LEASE_TABLE"),
            results_bucket=text("RESULTS_BUCKET"),
            dlq_url=dlq_url,
            region=text("AWS_REGION", "us-east-1"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            worker_id=text("WORKER_ID", f"{socket.gethostname()}-{os.getpid()}"),
            lease_ttl_s=positive("LEASE_TTL_S", 30.0),
            poll_interval_s=positive("POLL_INTERVAL_S", 1.0),
            shard_sync_s=positive("SHARD_SYNC_S", 30.0),
            batch_limit=get("BATCH_LIMIT", int, 1000, lambda v: 1 <= v <= 10000, "an integer from 1 to 10000"),
            state_snapshot_s=positive("STATE_SNAPSHOT_S", 60.0),
            analytics=AnalyticsParams(
                window_s=get("WINDOW_S", int, 60, lambda v: v > 0, "an integer > 0"),
                min_count=get("MIN_WINDOW_COUNT", int, 5, lambda v: v >= 2, "an integer >= 2"),
                threshold=positive("ANOMALY_THRESHOLD", 3.0),
                max_keys=get("MAX_KEYS", int, 2000, lambda v: 1 <= v <= 5000, "an integer from 1 to 5000"),
            ),
            results_prefix=text("RESULTS_PREFIX", "results/"),
            imds_endpoint=env.get("IMDS_ENDPOINT", "http://169.254.169.254").rstrip("/"),
            imds_poll_s=positive("IMDS_POLL_S", 5.0),
            heartbeat_s=positive("HEARTBEAT_S", 60.0),
            metric_namespace=env.get("METRIC_NAMESPACE", "ResilientAI/StreamWorker"),
            max_backoff_s=positive("MAX_BACKOFF_S", 10.0),
        )
        if not problems and config.poll_interval_s >= config.lease_ttl_s / 3:
            problems.append(
                f"POLL_INTERVAL_S={config.poll_interval_s}: must be < LEASE_TTL_S/3 "
                f"({config.lease_ttl_s / 3:g}) so leases are renewed well before they expire"
            )
        if problems:
            raise ConfigError(problems)
        return config
