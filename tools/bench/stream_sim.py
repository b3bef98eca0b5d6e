"""A fleet of real stream workers (threads) on the in-process fake AWS, run through a scenario.

Every worker is the project's :class:`stream_worker.worker.Worker`, unchanged, in its own
thread with its own clients (:class:`tools.harness.fake_aws.FakeAws`). Threads rather than
processes so that 25 workers, their calls and the accounting fit 2 cores; it does not
flatter them: every call waits a modelled network round trip, and the GIL runs the
workers' Python one at a time, where a real fleet has a core or more per worker.

A producer puts uniquely numbered events (a poison record every ``poison_every``), and a
monitor samples the lease table every :data:`SAMPLE_S`. :meth:`Simulation.run` plays the
events; each gets a :class:`Window` with what happened until the next one.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stream_worker.config import Config
from stream_worker.worker import Worker

from tools.bench.stream_scenario import Event, Scenario
from tools.harness.fake_aws import FakeAws, Killed
from tools.harness.fake_kinesis import MAX_HASH

SAMPLE_S = 0.1
STREAM = "scale"


@dataclass(frozen=True)
class SimConfig:
    lease_ttl_s: float = 6.0
    poll_interval_s: float = 0.2
    shard_sync_s: float = 6.0
    state_snapshot_s: float = 12.0
    batch_limit: int = 1000
    records_per_shard_s: float = 2.0
    keys: int = 4096
    poison_every: int = 997
    latency: bool = True
    settle_ttls: float = 2.0  # observed after the fleet is balanced
    timeout_ttls: float = 8.0  # a window gives up waiting for balance after this
    seed: int = 1


@dataclass
class Window:
    event: Event
    started: float
    balanced_after_s: float | None = None
    moved: int = 0
    duplicates: int = 0
    duplicate_batches: int = 0
    rebuilt: int = 0  # records at or before the checkpoint, re-read to rebuild a state (no output)
    lost: int = 0
    max_lag_s: float = 0.0
    max_over_share: float = -math.inf  # after balance: most leases above the share any live worker held
    put: int = 0


@dataclass
class SimWorker:
    worker: Worker
    thread: threading.Thread
    started: float
    stopped: float | None = None


@dataclass
class Accounting:
    offered: Counter[str] = field(default_factory=Counter)  # record id -> result puts that held it
    calls_per_second: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (op, shard, second)
    last_owner: dict[str, str] = field(default_factory=dict)


class Simulation:
    def __init__(self, scenario: Scenario, cfg: SimConfig) -> None:
        self.scenario, self.cfg = scenario, cfg
        self.aws = FakeAws(STREAM, scenario.shards, latency=cfg.latency)
        self.rng = random.Random(cfg.seed)
        self.workers: dict[str, SimWorker] = {}
        self.windows: list[Window] = []
        self.acct = Accounting()
        self.errors: list[str] = []
        self.puts: list[tuple[str, str, str, int]] = []  # (id or "", shard, sequence number, window)
        self.halt = threading.Event()
        self.producing = threading.Event()
        self.lock = threading.Lock()
        self.aws.observers.append(self._observe)
        self.aws.table.on_write = self._on_write
        self.started = self.ended = self.last_sample = time.monotonic()
        self.open_shard_s = 0.0  # open shards x seconds, for calls per shard per second

    # --- workers ----------------------------------------------------------------------------

    def config(self, worker_id: str) -> Config:
        c = self.cfg
        return Config.from_env(
            {
                "STREAM_NAME": STREAM,
                "LEASE_TABLE": self.aws.table.name,
                "RESULTS_BUCKET": "results",
                "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/dlq.fifo",
                "WORKER_ID": worker_id,
                "LEASE_TTL_S": str(c.lease_ttl_s),
                "POLL_INTERVAL_S": str(c.poll_interval_s),
                "SHARD_SYNC_S": str(c.shard_sync_s),
                "STATE_SNAPSHOT_S": str(c.state_snapshot_s),
                "BATCH_LIMIT": str(c.batch_limit),
                "IMDS_ENDPOINT": "",
                "METRIC_NAMESPACE": "",
                "MAX_BACKOFF_S": "1",
            }
        )

    def start_worker(self) -> str:
        worker_id = f"w{len(self.workers) + 1:03d}"
        worker = Worker(self.config(worker_id), self.aws.clients(worker_id))

        def body() -> None:
            try:
                worker.run()
            except Killed:
                pass
            except Exception as exc:  # a worker that crashes is a finding: report it
                self.errors.append(f"{worker_id}: {type(exc).__name__}: {exc}")
            finally:
                self.workers[worker_id].stopped = time.monotonic()

        thread = threading.Thread(target=body, name=worker_id, daemon=True)
        self.workers[worker_id] = SimWorker(worker, thread, time.monotonic())
        thread.start()
        return worker_id

    def live(self) -> list[str]:
        return sorted(
            w
            for w, s in self.workers.items()
            if s.stopped is None and w not in self.aws.killed and not s.worker.stop.is_set()
        )

    # --- accounting hooks -----------------------------------------------------------------------

    def _observe(self, worker_id: str, operation: str, kwargs: dict[str, Any], out: Any) -> None:
        second = int(time.monotonic())
        if isinstance(out, Exception) and operation != "s3.put_object":
            return
        if operation == "s3.put_object" and kwargs["Key"].endswith(".jsonl"):
            # Results offered for a batch, kept or refused: a record offered twice was processed twice.
            ids = [json.loads(line)["id"] for line in kwargs["Body"].decode().splitlines() if line]
            with self.lock:
                twice = [i for i in ids if self.acct.offered[i]]
                self.acct.offered.update(ids)
                if self.windows:
                    self.windows[-1].duplicates += len(twice)
                    self.windows[-1].duplicate_batches += 1 if twice else 0
        elif operation == "kinesis.get_records":
            shard = kwargs["ShardIterator"].partition("|")[0]
            checkpoint = self.aws.table.items.get(shard, {}).get("checkpoint", {}).get("S", "0")
            done = int(checkpoint) if checkpoint.isdigit() else 0
            with self.lock:
                self.acct.calls_per_second[(operation, shard, second)] += 1
                rebuilt = sum(1 for r in out["Records"] if int(r["SequenceNumber"]) <= done)
                if self.windows:
                    self.windows[-1].rebuilt += rebuilt
        elif operation == "kinesis.get_shard_iterator":
            with self.lock:
                self.acct.calls_per_second[(operation, kwargs["ShardId"], second)] += 1
        elif operation == "kinesis.list_shards":
            with self.lock:
                self.acct.calls_per_second[(operation, "", second)] += 1

    def _on_write(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        item = new or old or {}
        key = item.get("lease_key", {}).get("S", "")
        owner = (new or {}).get("owner", {}).get("S", "")
        if not key.startswith("shardId") or not owner:
            return
        previous = self.acct.last_owner.get(key)
        self.acct.last_owner[key] = owner
        if previous and previous != owner and self.windows:
            self.windows[-1].moved += 1

    # --- producer and monitor ---------------------------------------------------------------------

    def produce(self) -> None:
        n = 0
        expected = 0.0
        next_put = time.monotonic()
        while not self.halt.is_set():
            next_put += SAMPLE_S
            if self.producing.is_set():
                open_shards = sum(1 for s in self.aws.stream.shards.values() if s.open)
                expected += open_shards * self.cfg.records_per_shard_s * SAMPLE_S
                count = int(expected)
                expected -= count
                entries, ids = [], []
                for _ in range(count):
                    n += 1
                    key = f"k{self.rng.randrange(self.cfg.keys)}"
                    if n % self.cfg.poison_every == 0:
                        data, rid = f"{{not json {n}".encode(), ""
                    else:
                        rid = f"r{n:09d}"
                        value = 100.0 + self.rng.gauss(0, 5)
                        data = json.dumps({"id": rid, "key": key, "value": value, "ts": time.time()}).encode()
                    entries.append({"Data": data, "PartitionKey": key})
                    ids.append(rid)
                if entries:
                    out = self.aws.stream.put_records({"Records": entries})
                    window = len(self.windows) - 1
                    with self.lock:
                        for rid, r in zip(ids, out["Records"], strict=True):
                            self.puts.append((rid, r["ShardId"], r["SequenceNumber"], window))
                        self.windows[window].put += len(ids)
            time.sleep(max(0.0, next_put - time.monotonic()))

    def table_view(self) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Shard leases (flattened) and the shards that are eligible to be read."""
        with self.aws.table.lock:
            items = {k: dict(v) for k, v in self.aws.table.items.items() if k.startswith("shardId")}
        leases = {
            k: {
                "owner": v.get("owner", {}).get("S", ""),
                "checkpoint": v.get("checkpoint", {}).get("S"),
                "parents": [p["S"] for p in v.get("parents", {}).get("L", [])],
            }
            for k, v in items.items()
        }
        finished = {k for k, v in leases.items() if v["checkpoint"] == "SHARD_END"}
        eligible = {k for k, v in leases.items() if k not in finished and all(p in finished for p in v["parents"])}
        return leases, eligible

    def sample(self, window: Window, now: float) -> None:
        leases, eligible = self.table_view()
        live = self.live()
        open_shards = {s.shard_id for s in self.aws.stream.shards.values() if s.open}
        self.open_shard_s += len(open_shards) * (now - self.last_sample)
        self.last_sample = now
        held = Counter(leases[k]["owner"] for k in eligible)
        share = len(eligible) / max(1, len(live))
        balanced = (
            open_shards <= eligible
            and all(leases[k]["owner"] in live for k in eligible)
            and all(abs(held[w] - share) <= 1 for w in live)
        )
        if balanced and window.balanced_after_s is None:
            window.balanced_after_s = now - window.started
        if window.balanced_after_s is not None:
            window.max_over_share = max(window.max_over_share, max(held[w] - share for w in live))
        window.max_lag_s = max(window.max_lag_s, self.max_lag(leases))

    def max_lag(self, leases: dict[str, dict[str, Any]]) -> float:
        """Seconds since the oldest record not yet checkpointed arrived, over every shard."""
        now, worst = time.time(), 0.0
        with self.aws.stream.lock:
            for shard in self.aws.stream.shards.values():
                checkpoint = leases.get(shard.shard_id, {}).get("checkpoint")
                if checkpoint == "SHARD_END" or not shard.sequences:
                    continue
                after = int(checkpoint) if checkpoint else 0
                i = bisect.bisect_right(shard.sequences, after)
                if i < len(shard.sequences):
                    worst = max(worst, now - shard.arrivals[i])
        return worst

    # --- events -------------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        live = self.live()
        if event.kind == "join":
            for _ in range(event.count):
                self.start_worker()
        elif event.kind == "kill":
            for worker_id in self.rng.sample(live, event.count):
                self.aws.kill(worker_id)
        elif event.kind in ("drain", "shrink"):
            leaving = event.count if event.kind == "drain" else len(live) - event.count
            for worker_id in self.rng.sample(live, leaving):
                self.workers[worker_id].worker.request_stop("spot/instance-action: {'action': 'terminate'}")
        elif event.kind == "reshard":
            self.reshard(event.split, event.merge)

    def reshard(self, splits: int, merges: int) -> None:
        stream = self.aws.stream
        open_shards = sorted((s for s in stream.shards.values() if s.open), key=lambda s: s.start_hash)
        pairs = list(zip(open_shards[0::2], open_shards[1::2], strict=False))[:merges]
        merged = {s.shard_id for pair in pairs for s in pair}
        for low, high in pairs:
            stream.merge_shards({"ShardToMerge": low.shard_id, "AdjacentShardToMerge": high.shard_id})
        for shard in [s for s in open_shards if s.shard_id not in merged][:splits]:
            middle = (shard.start_hash + shard.end_hash + 1) // 2
            stream.split_shard({"ShardToSplit": shard.shard_id, "NewStartingHashKey": str(min(middle, MAX_HASH))})

    def run(self) -> list[Window]:
        ttl = self.cfg.lease_ttl_s
        self.started = self.last_sample = time.monotonic()
        self.windows.append(Window(Event("start", self.scenario.workers), time.monotonic()))
        threads = [threading.Thread(target=self.produce, daemon=True)]
        for _ in range(self.scenario.workers):
            self.start_worker()
        self.producing.set()
        threads[0].start()
        for event in (Event("start", self.scenario.workers), *self.scenario.events):
            if event.kind != "start":
                self.windows.append(Window(event, time.monotonic()))
                self.apply(event)
            window = self.windows[-1]
            hold = event.count * ttl if event.kind == "steady" else 0.0
            while True:
                now = time.monotonic()
                self.sample(window, now)
                elapsed = now - window.started
                if window.balanced_after_s is not None and elapsed >= max(
                    hold, window.balanced_after_s + self.cfg.settle_ttls * ttl
                ):
                    break
                if window.balanced_after_s is None and elapsed > self.cfg.timeout_ttls * ttl:
                    break
                time.sleep(SAMPLE_S)
        self.producing.clear()
        self.finish()
        self.halt.set()
        return self.windows

    def finish(self) -> None:
        """Wait until every record is checkpointed, drain the fleet, then account for each record."""
        deadline = time.monotonic() + 10 * self.cfg.lease_ttl_s
        while time.monotonic() < deadline and self.max_lag(self.table_view()[0]) > 0:
            time.sleep(SAMPLE_S)
        self.ended = time.monotonic()
        for sim in self.workers.values():
            sim.worker.request_stop("end of scenario")
        for sim in self.workers.values():
            sim.thread.join(timeout=30)
        results: Counter[str] = Counter()
        for key, (body, _) in self.aws.s3.objects.items():
            if not key.endswith(".jsonl"):
                continue  # a state snapshot
            results.update(json.loads(line)["id"] for line in body.decode().splitlines() if line)
        bodies = [json.loads(m["MessageBody"]) for m in self.aws.dlq.messages.values()]
        poison = {(b["shard_id"], b["sequence_number"]) for b in bodies}
        self.poison_reasons = Counter(b["reason"].split(":")[0] for b in bodies)
        self.result_duplicates = sum(n - 1 for n in results.values() if n > 1)
        self.poison_put = sum(1 for rid, *_ in self.puts if not rid)
        self.poison_in_dlq = len(poison)
        for rid, shard, seq, window in self.puts:
            if (rid and rid not in results) or (not rid and (shard, seq) not in poison):
                self.windows[window].lost += 1
