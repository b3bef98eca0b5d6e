"""The stream worker: leases shards, runs the analytics step, writes results exactly once.

One loop, one thread (plus an IMDS poller). Each round it registers itself, scans the lease
table, takes its fair share of leases, then reads one batch from each shard it holds:

1. GetRecords from the shard's iterator (from its checkpoint: AFTER_SEQUENCE_NUMBER, or
   TRIM_HORIZON for a new shard);
2. each record through :func:`analytics.parse` and :func:`analytics.score`; records that
   cannot be parsed go to the FIFO DLQ with shard id, sequence number and reason
   (de-duplicated by shard and sequence number);
3. the results as one JSON-lines object at ``<prefix><stream>/<shard>/<first sequence
   number>.jsonl``, created only if the key is new (``If-None-Match: *``), with the batch's
   last sequence number in its metadata. Whoever reads from the same checkpoint (a replay
   after a crash, a worker that stalled past its lease) targets the same key, perhaps with
   a batch of another length: the object already there wins, and the batch is cut at, or
   read on to, its last sequence number before the checkpoint. So a record is in exactly
   one object;
4. only then the checkpoint, conditional on still holding the lease. The analytics state
   at the checkpoint stays in memory, with a snapshot in S3 now and then (:mod:`snapshots`).
   A worker writes results only within half a TTL of a successful lease write.

Draining (SIGTERM, a spot interruption notice, a rebalance recommendation) stops reading
after the current batch, releases every lease (their checkpoints are current) and exits;
others take the leases at their next poll instead of after the TTL.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from . import analytics, snapshots
from .balance import balance
from .config import Config, ConfigError
from .imds import Imds, watch
from .leases import SHARD_END, Lease, LeaseTable
from .results import dlq_message, result_key, send_to_dlq, write_results
from .retry import with_backoff

log = logging.getLogger("stream_worker")


class Worker:
    def __init__(self, config: Config, clients: Mapping[str, Any] | None = None) -> None:
        """``clients``: a client per service name, instead of boto3's (a simulation's)."""
        self.cfg = config
        boto = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
        session = boto3.session.Session(region_name=config.region)

        def client(name: str) -> Any:
            if clients is not None:
                return clients[name]
            return session.client(name, endpoint_url=config.endpoint_url, config=boto)

        self.kinesis, self.s3, self.sqs = client("kinesis"), client("s3"), client("sqs")
        self.cloudwatch = client("cloudwatch")
        self.table = LeaseTable(
            client("dynamodb"),
            config.lease_table,
            config.worker_id,
            config.lease_ttl_s,
            on_superseded=lambda shard_id, sequence_number: snapshots.forget_at(self, shard_id, sequence_number),
        )
        self.held: dict[str, Lease] = {}
        self.iterators: dict[str, str] = {}
        self.closed: dict[str, str] = {}  # closed shard -> its ending sequence number
        self.known_shards: set[str] = set()
        self.stop = threading.Event()
        self.stop_reason = ""
        self.lease_keys: set[str] = set()  # every lease in the table at the last balance
        self.next_sync = 0.0
        self.next_beat = 0.0
        self.balanced_at = 0.0
        self.next_snapshot: dict[str, float] = {}
        self.counts = {"RecordsProcessed": 0, "PoisonRecords": 0}

    # --- lifecycle -------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            log.info("draining: %s", reason)
            self.stop.set()

    def run(self) -> None:
        if threading.current_thread() is threading.main_thread():  # a simulation runs workers in threads
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop("SIGTERM"))
            signal.signal(signal.SIGINT, lambda *_: self.request_stop("SIGINT"))
        if self.cfg.imds_endpoint:
            imds = Imds(self.cfg.imds_endpoint)
            # systemd restarts a drained worker: on an instance under notice it must not take
            # leases again before the poller has looked, so look once before the first round.
            try:
                notice = imds.notice()
            except OSError as exc:
                notice = None
                log.info("instance metadata not reachable (%s): not on EC2, no spot notices", exc)
            if notice:
                log.info("not starting: %s", notice)
                return
            watch(
                imds,
                self.cfg.imds_poll_s,
                self.stop,
                self.request_stop,
                lambda exc: log.debug("instance metadata not reachable: %s", exc),
            )
        log.info("worker %s reading %s", self.cfg.worker_id, self.cfg.stream_name)
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.round()
            except (ClientError, BotoCoreError) as exc:  # not throttling: log, retry next round
                log.error("round failed: %s", exc)
            self.stop.wait(max(0.0, self.cfg.poll_interval_s - (time.monotonic() - started)))
        self.drain()

    def drain(self) -> None:
        # Also leases handed to us that we have not adopted yet: the table says they are ours.
        mine = {s: lease for s, lease in self.table.scan()[0].items() if lease.owner == self.cfg.worker_id}
        mine |= self.held
        # Each release carries a snapshot of the state at its checkpoint, so the next owner
        # need not re-read records: the puts at once, or a drain of many shards takes seconds.
        with ThreadPoolExecutor(max_workers=8) as pool:
            saved = dict(
                zip(mine, pool.map(lambda lease: snapshots.save_at_checkpoint(self, lease), mine.values()), strict=True)
            )
        released = [s for s, lease in mine.items() if self.table.release(lease, snapshot=saved[s])]
        self.held.clear()
        self.table.deregister()
        self.beat(force=True)
        log.info("drained (%s): released %s", self.stop_reason, ",".join(sorted(released)) or "nothing")

    # --- one round ---------------------------------------------------------------------

    def round(self) -> None:
        self.table.register()
        if time.monotonic() >= self.next_sync:
            self.sync_shards()
        self.balance()
        for shard_id in sorted(self.held):
            if self.stop.is_set():
                return
            if time.monotonic() - self.balanced_at >= max(self.cfg.poll_interval_s, self.cfg.lease_ttl_s / 6):
                # A long pass (many shards): hand over, take and adopt leases now, not after
                # it, and renew those it would reach too late (others would take them). Not
                # every poll: each balance is a scan, and the lease table is shared.
                self.table.register()
                self.balance()
                for lease in list(self.held.values()):
                    self.still_ours(lease)
            if shard_id in self.held:
                self.process_batch(shard_id)
        self.beat()

    def sync_shards(self) -> None:
        """Create a lease for every shard that has none yet, parents first; note which shards
        are closed. (A create of a lease that exists is a failed conditional write: billed.)"""
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": self.cfg.stream_name}
        while True:
            page = with_backoff(self.kinesis.list_shards, self.cfg.max_backoff_s, **kwargs)
            shards.extend(page["Shards"])
            if not page.get("NextToken"):
                break
            kwargs = {"NextToken": page["NextToken"]}
        for shard in shards:
            parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
            if shard["ShardId"] not in self.lease_keys:
                self.table.ensure(shard["ShardId"], parents)
            ending = shard["SequenceNumberRange"].get("EndingSequenceNumber")
            if ending is not None:
                self.closed[shard["ShardId"]] = ending
        self.known_shards = {s["ShardId"] for s in shards}
        self.next_sync = time.monotonic() + self.cfg.shard_sync_s

    def balance(self) -> None:
        """The fair share (:func:`balance.balance`); the shards seen, for the next sync."""
        self.lease_keys = balance(self)
        self.balanced_at = time.monotonic()

    def drop(self, shard_id: str) -> None:
        self.held.pop(shard_id, None)
        self.iterators.pop(shard_id, None)

    # --- one batch ------------------------------------------------------------------------

    def still_ours(self, lease: Lease) -> bool:
        """True if the lease was written by us within half a TTL (renewing it if needed)."""
        if time.monotonic() - lease.renewed_at < self.cfg.lease_ttl_s / 2:
            return True
        if self.table.renew(lease):
            return True
        log.info("lease %s is no longer ours", lease.shard_id)
        self.drop(lease.shard_id)
        return False

    def iterator(self, lease: Lease) -> str:
        if lease.shard_id not in self.iterators:
            kwargs: dict[str, Any] = {"StreamName": self.cfg.stream_name, "ShardId": lease.shard_id}
            if lease.checkpoint:
                kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": lease.checkpoint}
            else:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            out = with_backoff(self.kinesis.get_shard_iterator, self.cfg.max_backoff_s, **kwargs)
            self.iterators[lease.shard_id] = out["ShardIterator"]
        return self.iterators[lease.shard_id]

    def process_batch(self, shard_id: str) -> None:
        lease = self.held[shard_id]
        if not self.still_ours(lease):
            return
        if lease.state is None:
            lease.state = snapshots.restore(self, lease)
        iterator = self.iterator(lease)
        try:
            out = with_backoff(
                self.kinesis.get_records, self.cfg.max_backoff_s, ShardIterator=iterator, Limit=self.cfg.batch_limit
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExpiredIteratorException":
                self.iterators.pop(shard_id, None)  # re-read from the checkpoint next round
                return
            raise
        records: list[dict[str, Any]] = out.get("Records", [])
        next_iterator: str | None = out.get("NextShardIterator")
        if not records:
            if next_iterator is None or self.caught_up_on_closed(lease):
                self.finish(lease)
            else:
                self.iterators[shard_id] = next_iterator
            return
        results, poison, state = self.analyse(shard_id, records, lease.state)
        if not self.still_ours(lease):  # never write for a shard we may no longer hold
            return
        key = result_key(self.cfg.results_prefix, self.cfg.stream_name, shard_id, records[0]["SequenceNumber"])
        existing_last = self.write_results(key, results, records[-1]["SequenceNumber"])
        cut = False
        if existing_last is not None:
            covered = self.cover(records, next_iterator, existing_last)
            if covered is None:
                log.info(
                    "%s already holds up to %s, beyond what %s returned: re-reading from the checkpoint",
                    key,
                    existing_last,
                    shard_id,
                )
                self.iterators.pop(shard_id, None)
                return
            covered_records, next_iterator, cut = covered
            if len(covered_records) != len(records):
                log.info(
                    "%s already holds %s..%s: checkpointing there", key, records[0]["SequenceNumber"], existing_last
                )
                records = covered_records
                results, poison, state = self.analyse(shard_id, records, lease.state)
        for start in range(0, len(poison), 10):
            self.send_to_dlq(poison[start : start + 10])
        last = records[-1]["SequenceNumber"]
        snapshot = None
        if time.monotonic() >= self.next_snapshot.get(shard_id, 0.0):
            snapshots.save_state(self, shard_id, last, state)
            snapshot = last
        if self.table.checkpoint(lease, last, state, snapshot):
            self.counts["RecordsProcessed"] += len(results)
            self.counts["PoisonRecords"] += len(poison)
            if cut:  # the cached iterator is past the checkpoint
                self.iterators.pop(shard_id, None)
                return
            self.iterators[shard_id] = next_iterator or self.iterators[shard_id]
            if next_iterator is None:
                self.finish(lease)
        else:
            log.info("checkpoint of %s refused: lease taken over; its owner replays from its checkpoint", shard_id)
            self.drop(shard_id)

    def analyse(
        self, shard_id: str, records: list[dict[str, Any]], state_json: str
    ) -> tuple[list[str], list[dict[str, Any]], str]:
        """Result lines, DLQ entries and the state after ``records``, from the state before them."""
        state: analytics.State = json.loads(state_json)
        results: list[str] = []
        poison: list[dict[str, Any]] = []
        for record in records:
            try:
                event = analytics.parse(record["Data"])
            except analytics.PoisonRecord as exc:
                poison.append(dlq_message(shard_id, record, str(exc)))
                continue
            line = analytics.score(state, event, self.cfg.analytics)
            # After every record, not every batch: the state then does not depend on where
            # batches began, so a rebuild from a snapshot gives the same state.
            analytics.evict(state, self.cfg.analytics.max_keys)
            line |= {"shard_id": shard_id, "sequence_number": record["SequenceNumber"]}
            results.append(json.dumps(line, sort_keys=True))
        return results, poison, json.dumps(state, sort_keys=True)

    def write_results(self, key: str, results: list[str], last_sequence_number: str) -> str | None:
        """Create the batch's object; None if we did, else the last sequence number of the
        batch already there (:func:`results.write_results`)."""
        return write_results(
            self.s3, self.cfg.results_bucket, key, results, last_sequence_number, self.cfg.max_backoff_s
        )

    def cover(
        self, records: list[dict[str, Any]], next_iterator: str | None, existing_last: str
    ) -> tuple[list[dict[str, Any]], str | None, bool] | None:
        """The records of the existing object at this batch's key, which starts at the same
        record: this batch cut at its last sequence number (True: cut, the iterator is past
        it), or extended up to it by reading on (a reader with a smaller batch limit would
        never reach it by re-reading). None if the stream returned nothing more for now."""
        last = int(existing_last)
        while int(records[-1]["SequenceNumber"]) < last:
            if next_iterator is None:
                return None
            out = with_backoff(
                self.kinesis.get_records,
                self.cfg.max_backoff_s,
                ShardIterator=next_iterator,
                Limit=self.cfg.batch_limit,
            )
            more: list[dict[str, Any]] = out.get("Records", [])
            if not more:
                return None
            records, next_iterator = records + more, out.get("NextShardIterator")
        kept = [record for record in records if int(record["SequenceNumber"]) <= last]
        return kept, next_iterator, len(kept) < len(records)

    def caught_up_on_closed(self, lease: Lease) -> bool:
        """A closed shard with nothing left after the checkpoint (for endpoints that keep
        returning an iterator past a closed shard's end, such as the emulator)."""
        ending = self.closed.get(lease.shard_id)
        if ending is None:
            return False
        return lease.checkpoint is None or int(lease.checkpoint) >= int(ending) or int(ending) == 0

    def finish(self, lease: Lease) -> None:
        """Shard end: mark it finished (its children become eligible) and let it go."""
        if self.table.checkpoint(lease, SHARD_END, lease.state or "{}"):
            self.table.release(lease)
            if lease.snapshot is not None:  # nobody restores a finished shard: its last snapshot is no one's
                snapshots.forget_at(self, lease.shard_id, lease.snapshot)
            self.next_sync = 0.0  # its children's leases: at the next round, not the next sync
            log.info("shard %s finished", lease.shard_id)
        self.drop(lease.shard_id)

    def send_to_dlq(self, entries: list[dict[str, Any]]) -> None:
        send_to_dlq(self.sqs, self.cfg.dlq_url, entries, self.cfg.max_backoff_s)

    # --- metrics ------------------------------------------------------------------------------

    def beat(self, force: bool = False) -> None:
        if not self.cfg.metric_namespace or (not force and time.monotonic() < self.next_beat):
            return
        self.next_beat = time.monotonic() + self.cfg.heartbeat_s
        dims = [{"Name": "StreamName", "Value": self.cfg.stream_name}]
        data = [{"MetricName": "Heartbeat", "Dimensions": dims, "Value": 1.0, "Unit": "Count"}]
        data += [
            {"MetricName": k, "Dimensions": dims, "Value": float(v), "Unit": "Count"} for k, v in self.counts.items()
        ]
        data.append({"MetricName": "LeasesHeld", "Dimensions": dims, "Value": float(len(self.held)), "Unit": "Count"})
        try:
            with_backoff(
                self.cloudwatch.put_metric_data,
                self.cfg.max_backoff_s,
                Namespace=self.cfg.metric_namespace,
                MetricData=data,
            )
            self.counts = dict.fromkeys(self.counts, 0)
        except ClientError as exc:  # metrics must never stop processing
            log.warning("heartbeat metric not sent: %s", exc)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    Worker(config).run()
    return 0
