"""What the worker writes: a batch's results as one object, created once, and poison records
as DLQ messages that a replay cannot duplicate."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from typing import Any

from botocore.exceptions import ClientError

from .retry import backoff_delays, with_backoff

log = logging.getLogger("stream_worker")

# Object metadata: the batch's last sequence number (its last records may be poison, with no line).
LAST_SEQUENCE_META = "last-sequence-number"


def result_key(prefix: str, stream: str, shard_id: str, first_sequence_number: str) -> str:
    # Zero-padded so keys sort in sequence order (sequence numbers are up to 56 digits).
    return f"{prefix}{stream}/{shard_id}/{first_sequence_number.zfill(56)}.jsonl"


def dlq_message(shard_id: str, record: dict[str, Any], reason: str) -> dict[str, Any]:
    seq = record["SequenceNumber"]
    body = {
        "shard_id": shard_id,
        "sequence_number": seq,
        "partition_key": record.get("PartitionKey"),
        "reason": reason,
        "data_base64": base64.b64encode(record["Data"]).decode(),
    }
    return {
        "Id": hashlib.sha256(seq.encode()).hexdigest()[:80],
        "MessageBody": json.dumps(body),
        "MessageGroupId": shard_id,
        # A replay after a crash sends the same record again: FIFO de-duplication drops it.
        "MessageDeduplicationId": hashlib.sha256(f"{shard_id}:{seq}".encode()).hexdigest(),
        "MessageAttributes": {
            "shard_id": {"DataType": "String", "StringValue": shard_id},
            "sequence_number": {"DataType": "String", "StringValue": seq},
            "reason": {"DataType": "String", "StringValue": reason[:256]},
        },
    }


def write_results(
    s3: Any, bucket: str, key: str, results: list[str], last_sequence_number: str, max_backoff_s: float
) -> str | None:
    """Create the batch's object; None if we did, else the last sequence number of the
    batch already there.

    Create only: a key is the batch that starts after a checkpoint, and the first writer
    wins. Another worker (one that stalled past its lease, or a replay after a crash)
    reading from the same checkpoint may have read a batch of another length, and
    overwriting would drop or repeat the records between the two ends. The object is
    written even with no result lines (all poison): it still claims its records. A
    retried put whose first attempt landed finds its own object: the same answer."""
    body = ("\n".join(results) + "\n").encode() if results else b""
    try:
        with_backoff(
            s3.put_object,
            max_backoff_s,
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            IfNoneMatch="*",
            Metadata={LAST_SEQUENCE_META: last_sequence_number},
        )
        return None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
    head = with_backoff(s3.head_object, max_backoff_s, Bucket=bucket, Key=key)
    last: str | None = head.get("Metadata", {}).get(LAST_SEQUENCE_META)
    if last is None:  # written before objects carried it: its last line (poison after it is re-read)
        got = with_backoff(s3.get_object, max_backoff_s, Bucket=bucket, Key=key)
        lines = got["Body"].read().decode().splitlines()
        last = max((json.loads(line)["sequence_number"] for line in lines if line), key=int)
    return last


def send_to_dlq(sqs: Any, queue_url: str, entries: list[dict[str, Any]], max_backoff_s: float) -> None:
    """Send ``entries`` (at most 10), retrying those the queue refuses until it takes them all."""
    pending = entries
    delays = backoff_delays(max_backoff_s)
    while pending:
        out = with_backoff(sqs.send_message_batch, max_backoff_s, QueueUrl=queue_url, Entries=pending)
        failed = {f["Id"] for f in out.get("Failed", [])}
        if failed:
            log.warning("DLQ refused %d message(s); retrying", len(failed))
            time.sleep(next(delays))
        pending = [e for e in pending if e["Id"] in failed]
