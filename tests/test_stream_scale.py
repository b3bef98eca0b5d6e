"""The stream at scale, small: ``make bench-stream-scale``'s scenario, its bad input, and the
lease-table fixes it led to, on the in-process fake AWS (no emulator, no latency).

Timing is loose on purpose (2 busy cores): events must rebalance within the simulation's
timeout (8 lease TTLs), never faster than a TTL allows; what is asserted exactly is what
no scheduling can excuse: records lost, results written twice, poison not in the DLQ.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from stream_worker import analytics
from stream_worker.worker import Worker

from tools.bench.stream_scenario import ScenarioError, parse
from tools.bench.stream_sim import SimConfig, Simulation
from tools.harness.fake_aws import FakeAws

TTL_S = 1.0
SMALL = SimConfig(
    lease_ttl_s=TTL_S,
    poll_interval_s=0.05,
    shard_sync_s=TTL_S,
    state_snapshot_s=2 * TTL_S,
    records_per_shard_s=5,
    keys=256,
    poison_every=50,
    latency=False,
    settle_ttls=1.0,
)


def test_a_small_fleet_through_a_join_a_kill_and_a_reshard_loses_nothing() -> None:
    scenario = parse("start shards=20 workers=4\njoin 1\nkill 1\nreshard split=4 merge=2\n")
    sim = Simulation(scenario, SMALL)
    windows = sim.run()
    assert [w.event.kind for w in windows] == ["start", "join", "kill", "reshard"]
    assert sim.errors == []
    for window in windows:
        assert window.balanced_after_s is not None, f"{window.event.label()}: never balanced"
        assert window.max_over_share <= 1, f"{window.event.label()}: a worker held more than its share + 1"
        assert window.duplicate_batches <= window.moved, f"{window.event.label()}: more than a batch per move"
    assert sum(w.lost for w in windows) == 0
    assert sim.result_duplicates == 0
    kill = windows[2]
    assert kill.balanced_after_s is not None and kill.balanced_after_s >= TTL_S * 0.9, "taken before expiry"
    assert sim.poison_put > 0 and sim.poison_in_dlq == sim.poison_put
    assert set(sim.poison_reasons) == {"not JSON"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("start shards=4 workers=2\njoin 1\njion 2\n", "line 3: unknown event 'jion'"),
        ("start shards=4 workers=2\n# a comment\ndrain -1\n", "line 3: drain '-1': must be a whole number >= 0"),
        ("start shards=4 workers=2\njoin 1\nkill 4\n", "line 3: kill 4: only 3 workers are live at that point"),
        ("start shards=4 workers=2\nreshard split=3 merge=1\n", "line 2: 3 splits and 1 merges need 5 open shards"),
        ("join 1\n", "line 1: the first statement must be 'start shards=N workers=N'"),
        ("start shards=4 workers=2\nshrink 3\n", "line 2: shrink 3: must leave between 1 and the 2 live workers"),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_line(text: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "test.scenario")
    assert problem in str(caught.value)
    assert "test.scenario" in str(caught.value)


def fleet_worker(aws: FakeAws, sim: Simulation, worker_id: str) -> Worker:
    return Worker(sim.config(worker_id), aws.clients(worker_id))


def put(aws: FakeAws, start: int, n: int, keys: int) -> None:
    records = [
        {
            "Data": json.dumps({"id": f"e{i}", "key": f"k{i % keys}", "value": float(i % 13), "ts": i}).encode(),
            "PartitionKey": "one",
        }
        for i in range(start, start + n)
    ]
    aws.stream.put_records({"Records": records})


def test_lease_items_carry_no_state_and_a_takeover_rebuilds_it_exactly() -> None:
    sim = Simulation(parse("start shards=1 workers=1\n"), SMALL)
    aws = sim.aws
    first, second = fleet_worker(aws, sim, "a"), fleet_worker(aws, sim, "b")
    put(aws, 0, 30, keys=7)
    first.round()  # takes the lease, snapshots at the first batch
    put(aws, 30, 40, keys=7)
    first.round()  # no snapshot: the interval has not passed
    (lease,) = first.held.values()
    assert lease.snapshot is not None and lease.snapshot != lease.checkpoint
    item = aws.table.items["shardId-000000000000"]
    assert "state" not in item and item["snapshot"]["S"] == lease.snapshot
    aws.kill("a")  # kill -9: no drain, no snapshot at release
    time.sleep(TTL_S + 0.1)
    second.round()  # takes the expired lease, rebuilds the state, reads on
    rebuilt = second.held["shardId-000000000000"].state
    assert rebuilt is not None
    assert json.loads(rebuilt) == json.loads(lease.state or "")


def test_a_worker_writes_only_the_leases_that_are_missing_and_registers_once_per_third_of_a_ttl() -> None:
    sim = Simulation(parse("start shards=6 workers=1\n"), SMALL)
    worker = fleet_worker(sim.aws, sim, "a")
    worker.round()
    creates = sim.aws.usage["a"].calls["dynamodb.put_item"]
    worker.next_sync = 0.0
    worker.round()
    # No create for the six leases that exist, no registration within a third of a TTL.
    assert sim.aws.usage["a"].calls["dynamodb.put_item"] == creates


def test_the_state_after_records_does_not_depend_on_where_batches_begin() -> None:
    """Eviction after every record, not every batch: a rebuild reads other batches. (Five
    keys in one window, three kept: which are kept changes every window's statistics.)"""
    sim = Simulation(parse("start shards=1 workers=1\n"), SMALL)
    worker = fleet_worker(sim.aws, sim, "a")
    worker.cfg = dataclasses.replace(worker.cfg, analytics=analytics.AnalyticsParams(max_keys=3))
    records = [
        {
            "SequenceNumber": str(i + 1),
            "Data": json.dumps({"id": f"e{i}", "key": f"k{i % 5}", "value": float(i % 4), "ts": i}).encode(),
        }
        for i in range(20)
    ]

    def state_after(batch: int) -> tuple[list[str], str]:
        lines, state = [], "{}"
        for start in range(0, len(records), batch):
            out, _, state = worker.analyse("shardId-000000000000", records[start : start + batch], state)
            lines += out
        return lines, state

    assert state_after(1) == state_after(4) == state_after(20)


def test_a_shard_keeps_one_snapshot_the_superseded_ones_are_deleted() -> None:
    """Snapshots are keyed by sequence number; once the lease points at a newer one, the owner
    deletes the one before, and a finished shard's last one: S3 holds one per live shard."""
    sim = Simulation(parse("start shards=1 workers=1\n"), dataclasses.replace(SMALL, state_snapshot_s=0.001))
    aws = sim.aws
    worker = fleet_worker(aws, sim, "a")

    def snapshots() -> list[str]:
        return sorted(key for key in aws.s3.objects if "/_state/" in key)

    for batch in range(3):
        put(aws, batch * 10, 10, keys=3)
        worker.round()
        time.sleep(0.01)  # the next batch is due a snapshot
    (lease,) = worker.held.values()
    assert lease.snapshot is not None
    assert [key.rsplit("/", 1)[-1] for key in snapshots()] == [f"{lease.snapshot.zfill(56)}.json"]
