"""The analytics state of a shard, out of the lease table: snapshots in S3, rebuilt on takeover.

The lease item holds only the sequence number of the last snapshot (``snapshot``). A worker
saves one at ``<prefix><stream>/_state/<shard>/<sequence number>.json`` on a shard's first
batch, every ``STATE_SNAPSHOT_S`` after that, and whenever it gives the lease up (drain,
handover): then the next owner reads it and goes on. After a crash the checkpoint may be
ahead of the snapshot: the next owner reads the snapshot and runs the records between the
two through the analytics again (no output), which gives the very state the crashed
worker had (the analytics are deterministic, eviction included). At most one snapshot
interval of records is re-read, far inside the stream's retention (>= 24 h).

A snapshot is a pure function of the shard's records up to its sequence number, so a worker
that lost its lease and saves one anyway writes the same bytes: puts may overwrite.

Once the lease points at a newer snapshot (its owner's conditional write succeeded), the one
before is no reader's any more: the lease table says so (``LeaseTable.on_superseded``) and the
owner deletes it (:func:`forget_at`), so a shard keeps one snapshot, not one a minute. A
finished shard's last one goes too. Deleting is best effort: a snapshot left behind (a delete
that failed, or one saved by a worker that had just lost the lease) costs its few hundred
bytes and is never read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .leases import Lease
from .retry import with_backoff

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("stream_worker")


def snapshot_key(prefix: str, stream: str, shard_id: str, sequence_number: str) -> str:
    return f"{prefix}{stream}/_state/{shard_id}/{sequence_number.zfill(56)}.json"


def save(s3: Any, bucket: str, key: str, state: str, max_backoff_s: float) -> None:
    with_backoff(
        s3.put_object, max_backoff_s, Bucket=bucket, Key=key, Body=state.encode(), ContentType="application/json"
    )


def save_state(w: Worker, shard_id: str, sequence_number: str, state: str) -> None:
    """A snapshot of ``state``, the shard's state at ``sequence_number``; the next is due in ``STATE_SNAPSHOT_S``."""
    cfg = w.cfg
    key = snapshot_key(cfg.results_prefix, cfg.stream_name, shard_id, sequence_number)
    save(w.s3, cfg.results_bucket, key, state, cfg.max_backoff_s)
    w.next_snapshot[shard_id] = time.monotonic() + cfg.state_snapshot_s


def save_at_checkpoint(w: Worker, lease: Lease) -> str | None:
    """Before giving a lease up: a snapshot at its checkpoint, if it has none there (its
    sequence number, for the release to point the lease at; None when none was needed)."""
    if lease.state is None or not lease.checkpoint or lease.finished or lease.snapshot == lease.checkpoint:
        return None
    save_state(w, lease.shard_id, lease.checkpoint, lease.state)
    return lease.checkpoint


def forget_at(w: Worker, shard_id: str, sequence_number: str) -> None:
    """Delete the shard's snapshot at ``sequence_number``: no lease points at it any more."""
    cfg = w.cfg
    key = snapshot_key(cfg.results_prefix, cfg.stream_name, shard_id, sequence_number)
    forget(w.s3, cfg.results_bucket, key, cfg.max_backoff_s)


def forget(s3: Any, bucket: str, key: str, max_backoff_s: float) -> None:
    """Delete a snapshot no lease points at any more; a failure is logged, not raised."""
    try:
        with_backoff(s3.delete_object, max_backoff_s, Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        log.warning("superseded snapshot %s left behind: %s", key, exc)


def load(s3: Any, bucket: str, key: str, max_backoff_s: float) -> str:
    out = with_backoff(s3.get_object, max_backoff_s, Bucket=bucket, Key=key)
    return str(out["Body"].read().decode())


def records_between(
    kinesis: Any, stream: str, shard_id: str, after: str | None, upto: str, limit: int, max_backoff_s: float
) -> Iterator[dict[str, Any]]:
    """The shard's records after ``after`` (None: from the trim horizon) up to ``upto``."""
    kwargs: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
    if after is not None:
        kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
    iterator: str | None = with_backoff(kinesis.get_shard_iterator, max_backoff_s, **kwargs)["ShardIterator"]
    last = int(upto)
    while iterator is not None:
        out = with_backoff(kinesis.get_records, max_backoff_s, ShardIterator=iterator, Limit=limit)
        for record in out.get("Records", []):
            if int(record["SequenceNumber"]) > last:
                return
            yield record
            if int(record["SequenceNumber"]) == last:
                return
        if not out.get("Records") and not out.get("MillisBehindLatest"):
            log.warning("%s: the stream holds nothing up to checkpoint %s: state rebuilt without it", shard_id, upto)
            return
        iterator = out.get("NextShardIterator")


def restore(w: Worker, lease: Lease) -> str:
    """The analytics state at the lease's checkpoint: its snapshot, then the records after it."""
    if not lease.checkpoint:
        return "{}"
    cfg = w.cfg
    state = "{}"
    if lease.snapshot is not None:
        key = snapshot_key(cfg.results_prefix, cfg.stream_name, lease.shard_id, lease.snapshot)
        state = load(w.s3, cfg.results_bucket, key, cfg.max_backoff_s)
    if lease.snapshot != lease.checkpoint:
        records = list(
            records_between(
                w.kinesis,
                cfg.stream_name,
                lease.shard_id,
                lease.snapshot,
                lease.checkpoint,
                cfg.batch_limit,
                cfg.max_backoff_s,
            )
        )
        log.info("%s: state rebuilt from %d record(s) after its snapshot", lease.shard_id, len(records))
        state = w.analyse(lease.shard_id, records, state)[2]
    return state
