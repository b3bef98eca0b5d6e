"""Real stream-worker processes against a moto server: shared by the tests and the benchmark.

:class:`StreamRig` creates a stream, lease table, results bucket and FIFO DLQ with unique
names on a running emulator, starts workers (``python -m stream_worker`` in ``handlers/``) as child
processes with short TTLs, feeds events, and reads back results, leases and the DLQ.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from modules.core.paths import PROJECT_ROOT
from tools.harness.emulator_credentials import CREDENTIALS

REGION = "us-east-1"


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1, what: str = "") -> float:
    """Seconds until ``condition()`` held; AssertionError after ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(interval_s)
    return time.monotonic() - start


KEYS = 32


def event(i: int) -> bytes:
    """A well-formed event (four a second, over :data:`KEYS` keys); every 17th is an outlier."""
    value = 100.0 + (i % 7) + (500.0 if i % 17 == 0 else 0.0)
    return json.dumps({"id": f"e{i:07d}", "key": f"k{i % KEYS}", "value": value, "ts": 1_700_000_000 + i / 4}).encode()


POISON = (b"\xff\xfe not utf-8", b"{not json", b'{"id": "p", "key": "", "value": "x", "ts": 1}', b"[1, 2]")


@dataclass
class Worker:
    worker_id: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def term(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class StreamRig:
    endpoint: str
    workdir: Path
    shards: int = 4
    lease_ttl_s: float = 3.0
    poll_interval_s: float = 0.2
    name: str = field(default_factory=lambda: f"sw-{uuid.uuid4().hex[:8]}")
    workers: list[Worker] = field(default_factory=list)
    # Deployed resources to use instead of creating new ones: stream, table, bucket, dlq_url.
    existing: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.kinesis = client("kinesis", self.endpoint)
        self.ddb = client("dynamodb", self.endpoint)
        self.s3 = client("s3", self.endpoint)
        self.sqs = client("sqs", self.endpoint)
        self.next_event = 0
        self.last_sequence: dict[str, int] = {}  # shard -> highest sequence number put
        if self.existing is not None:
            self.stream, self.table, self.bucket = (self.existing[k] for k in ("stream", "table", "bucket"))
            self.dlq_url = self.existing["dlq_url"]
            return
        self.stream, self.table, self.bucket = self.name, f"{self.name}-leases", f"{self.name}-results"
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=self.shards)
        self.ddb.create_table(
            TableName=self.table,
            AttributeDefinitions=[{"AttributeName": "lease_key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lease_key", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.s3.create_bucket(Bucket=self.bucket)
        self.dlq_url = self.sqs.create_queue(QueueName=f"{self.name}-dlq.fifo", Attributes={"FifoQueue": "true"})[
            "QueueUrl"
        ]

    def all_checkpointed(self) -> bool:
        """Every shard's checkpoint is at the last record put into it."""
        leases = self.leases()
        return all(
            leases.get(shard, {}).get("checkpoint", "0") not in ("0", "")
            and (leases[shard]["checkpoint"] == "SHARD_END" or int(leases[shard]["checkpoint"]) >= last)
            for shard, last in self.last_sequence.items()
        )

    # --- workers ----------------------------------------------------------------------

    def env(self, worker_id: str, **overrides: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAI_"))},
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "STREAM_NAME": self.stream,
            "LEASE_TABLE": self.table,
            "RESULTS_BUCKET": self.bucket,
            "DLQ_URL": self.dlq_url,
            "WORKER_ID": worker_id,
            "LEASE_TTL_S": str(self.lease_ttl_s),
            "POLL_INTERVAL_S": str(self.poll_interval_s),
            "SHARD_SYNC_S": "1",
            "BATCH_LIMIT": "200",
            "IMDS_ENDPOINT": "",
            "HEARTBEAT_S": "5",
            "MAX_BACKOFF_S": "1",
            **overrides,
        }

    def start_worker(self, worker_id: str | None = None, **overrides: str) -> Worker:
        worker_id = worker_id or f"w{len(self.workers) + 1}"
        log_path = self.workdir / f"{self.name}-{worker_id}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream_worker"],
            cwd=PROJECT_ROOT / "handlers",
            env=self.env(worker_id, **overrides),
            stdout=subprocess.DEVNULL,
            stderr=log_path.open("ab"),
        )
        worker = Worker(worker_id, proc, log_path)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.term()
        for worker in self.workers:
            try:
                worker.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()

    # --- input ------------------------------------------------------------------------

    def put(self, items: Iterable[bytes], partition_key: Callable[[int], str] | None = None) -> int:
        """Put records in batches of up to 500; returns how many."""
        batch: list[dict[str, Any]] = []
        count = 0
        for data in items:
            batch.append({"Data": data, "PartitionKey": partition_key(count) if partition_key else f"p{count % 64}"})
            count += 1
            if len(batch) == 500:
                self._put_batch(batch)
                batch = []
        if batch:
            self._put_batch(batch)
        return count

    def _put_batch(self, batch: list[dict[str, Any]]) -> None:
        out = self.kinesis.put_records(StreamName=self.stream, Records=batch)
        assert out.get("FailedRecordCount", 0) == 0, out
        for record in out["Records"]:
            shard, seq = record["ShardId"], int(record["SequenceNumber"])
            self.last_sequence[shard] = max(seq, self.last_sequence.get(shard, 0))

    def put_events(self, n: int) -> list[str]:
        """``n`` new well-formed events; returns their ids."""
        start = self.next_event
        self.next_event += n
        # The event's key is its partition key, as producers should do: one key, one shard.
        self.put((event(i) for i in range(start, start + n)), lambda j: f"k{(start + j) % KEYS}")
        return [f"e{i:07d}" for i in range(start, start + n)]

    # --- output -----------------------------------------------------------------------

    def result_lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(".jsonl"):
                    continue  # a worker's state snapshot (stream_worker/snapshots.py)
                body = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read().decode()
                lines.extend(json.loads(line) for line in body.splitlines() if line)
        return lines

    def result_ids(self) -> list[str]:
        return [line["id"] for line in self.result_lines()]

    def leases(self) -> dict[str, dict[str, Any]]:
        items = self.ddb.scan(TableName=self.table, ConsistentRead=True)["Items"]
        return {
            i["lease_key"]["S"]: {k: next(iter(v.values())) for k, v in i.items()}
            for i in items
            if not i["lease_key"]["S"].startswith("worker#")
        }

    def owners(self) -> dict[str, str]:
        return {shard: lease.get("owner", "") for shard, lease in self.leases().items()}

    def held_by(self, worker_id: str) -> set[str]:
        return {shard for shard, owner in self.owners().items() if owner == worker_id}

    def balanced(self, worker_ids: list[str]) -> bool:
        """Every worker holds a lease and the shares differ by at most one."""
        counts = collections.Counter(self.owners().values())
        shares = [counts.get(w, 0) for w in worker_ids]
        return min(shares) >= 1 and max(shares) - min(shares) <= 1

    def start_pair(self, **overrides: str) -> tuple[Worker, Worker]:
        """Two workers, returned once both hold a fair share of leases."""
        first, second = self.start_worker(**overrides), self.start_worker()
        wait_for(lambda: self.balanced([first.worker_id, second.worker_id]), 15, what="both workers holding leases")
        return first, second

    def handover(self, leaving: Worker, staying: Worker, stop: Callable[[], None], timeout_s: float) -> float:
        """Seconds from ``stop()`` (of ``leaving``) until ``staying`` holds every lease ``leaving`` held."""
        shards = self.held_by(leaving.worker_id)
        stopped_at = time.monotonic()
        stop()
        wait_for(lambda: shards <= self.held_by(staying.worker_id), timeout_s, 0.05, "handover")
        return time.monotonic() - stopped_at

    def dlq_messages(self) -> list[dict[str, Any]]:
        """Every DLQ message, consumed (deleted): a FIFO queue hides the rest of a message
        group while some of it is in flight."""
        seen: dict[str, dict[str, Any]] = {}
        while True:
            out = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
            )
            messages = out.get("Messages", [])
            if not messages:
                return list(seen.values())
            for m in messages:
                seen[m["MessageId"]] = {**json.loads(m["Body"]), "attributes": m.get("MessageAttributes", {})}
            self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
