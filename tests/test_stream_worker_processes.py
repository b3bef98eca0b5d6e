"""Stream workers as real processes against the emulator's Kinesis, DynamoDB, S3 and SQS.

Each test creates its own stream, lease table, bucket and DLQ on one moto server, runs 2-3
worker processes with a short lease TTL, and counts what arrived: every record exactly once,
nothing lost when a worker is killed, drained by SIGTERM or by a spot notice, or when the
stream is resharded.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imds_standin import ImdsStandIn
from tools.harness.moto_server import MotoServer
from tools.harness.stream_harness import POISON, StreamRig, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

TTL_S = 3.0
POLL_S = 0.2
SLACK_S = 1.0  # process scheduling and one round of batches on a loaded 2-core machine


@pytest.fixture
def rig(moto: MotoServer, tmp_path: Path) -> Iterator[StreamRig]:
    rig = StreamRig(moto.endpoint, tmp_path, shards=4, lease_ttl_s=TTL_S, poll_interval_s=POLL_S)
    yield rig
    rig.stop_all()


def assert_exactly_once(rig: StreamRig, expected_ids: list[str]) -> None:
    lines = rig.result_lines()
    ids = collections.Counter(line["id"] for line in lines)
    missing = set(expected_ids) - set(ids)
    duplicated = {i: n for i, n in ids.items() if n > 1}
    assert not missing, f"{len(missing)} record(s) missing from results, e.g. {sorted(missing)[:5]}"
    assert not duplicated, f"{len(duplicated)} record(s) more than once, e.g. {list(duplicated.items())[:5]}"
    positions = collections.Counter((line["shard_id"], line["sequence_number"]) for line in lines)
    assert max(positions.values()) == 1


def all_results(rig: StreamRig, ids: list[str], timeout_s: float = 60) -> float:
    wanted = set(ids)
    return wait_for(lambda: wanted <= set(rig.result_ids()), timeout_s, 0.3, f"{len(ids)} results")


def test_three_workers_share_the_shards_and_write_every_record_exactly_once(rig: StreamRig) -> None:
    ids = rig.put_events(600)
    workers = [rig.start_worker() for _ in range(3)]
    ids += rig.put_events(600)  # while they read
    print(f"1200 records in {all_results(rig, ids):.1f}s")
    wait_for(lambda: rig.balanced([w.worker_id for w in workers]), 10, what="a balanced share of leases")
    assert_exactly_once(rig, ids)
    lines = rig.result_lines()
    flagged = [line for line in lines if line["anomaly"]]
    assert flagged, "the outliers (every 17th event) are flagged"
    assert all(line["value"] >= 600 for line in flagged), "no in-range value is flagged"


def test_kill_9_shards_are_taken_over_within_ttl_plus_one_poll(rig: StreamRig) -> None:
    ids = rig.put_events(400)
    victim, survivor = rig.start_pair()
    takeover_s = rig.handover(victim, survivor, victim.kill, TTL_S + POLL_S + SLACK_S)
    print(f"takeover after kill -9: {takeover_s:.2f}s (TTL {TTL_S}s, poll {POLL_S}s)")
    ids += rig.put_events(400)
    all_results(rig, ids)
    assert_exactly_once(rig, ids)


def test_sigterm_releases_leases_and_hands_over_faster_than_the_ttl(rig: StreamRig) -> None:
    ids = rig.put_events(400)
    leaving, staying = rig.start_pair()
    handover_s = rig.handover(leaving, staying, leaving.term, TTL_S)
    print(f"handover after SIGTERM: {handover_s:.2f}s (TTL {TTL_S}s)")
    assert leaving.proc.wait(timeout=10) == 0
    assert "drained (SIGTERM): released shardId" in leaving.log()
    ids += rig.put_events(200)
    all_results(rig, ids)
    assert_exactly_once(rig, ids)


@pytest.mark.parametrize("path", ["spot/instance-action", "events/recommendations/rebalance"])
def test_a_spot_notice_from_instance_metadata_drains_the_worker(rig: StreamRig, path: str) -> None:
    ids = rig.put_events(300)
    with ImdsStandIn() as imds:
        on_spot, other = rig.start_pair(IMDS_ENDPOINT=imds.endpoint, IMDS_POLL_S="0.2")
        notice = {"action": "terminate", "time": "2026-11-23T00:02:00Z"}
        handover_s = rig.handover(on_spot, other, lambda: imds.notice(path, notice), TTL_S)
        assert on_spot.proc.wait(timeout=10) == 0
    print(f"handover after {path}: {handover_s:.2f}s")
    assert f"draining: {path}" in on_spot.log()
    assert all(valid for method, _, valid in imds.requests if method == "GET"), "IMDSv2: every read had a token"
    all_results(rig, ids)
    assert_exactly_once(rig, ids)


def test_a_worker_restarted_under_a_spot_notice_takes_no_lease(rig: StreamRig) -> None:
    rig.put_events(50)
    with ImdsStandIn() as imds:
        imds.notice("spot/instance-action", {"action": "terminate", "time": "2026-11-23T00:02:00Z"})
        worker = rig.start_worker(IMDS_ENDPOINT=imds.endpoint)
        assert worker.proc.wait(timeout=20) == 0
    assert "not starting: spot/instance-action" in worker.log()
    assert not any(rig.owners().values()), "no lease taken"


def test_poison_records_go_to_the_dlq_with_shard_sequence_and_reason(rig: StreamRig) -> None:
    ids = rig.put_events(100)
    poison_count = rig.put(POISON * 5)
    ids += rig.put_events(100)  # behind the poison in every shard: the shards keep moving
    rig.start_worker(), rig.start_worker()
    all_results(rig, ids)
    wait_for(
        lambda: (
            len(rig.leases()) == 4 and all(int(lease.get("checkpoint", "0")) > 0 for lease in rig.leases().values())
        ),
        10,
        what="checkpoints",
    )
    time.sleep(1)  # a late duplicate would arrive now
    messages = rig.dlq_messages()
    assert len(messages) == poison_count == 20
    assert len({(m["shard_id"], m["sequence_number"]) for m in messages}) == 20
    reasons = collections.Counter(m["reason"].split(":")[0] for m in messages)
    assert reasons == {"not UTF-8": 5, "not JSON": 5, "schema": 10}
    assert all(m["attributes"]["shard_id"]["StringValue"] == m["shard_id"] for m in messages)
    assert_exactly_once(rig, ids)


def test_a_reshard_during_processing_loses_no_record_and_children_wait_for_parents(rig: StreamRig) -> None:
    before = rig.put_events(600)
    rig.start_worker(BATCH_LIMIT="10"), rig.start_worker(BATCH_LIMIT="10")  # small batches: split mid-shard
    parent = "shardId-000000000000"
    wait_for(lambda: "checkpoint" in rig.leases().get(parent, {}), 20, 0.05, "the parent under way")
    hash_range = rig.kinesis.list_shards(StreamName=rig.stream)["Shards"][0]["HashKeyRange"]
    middle = (int(hash_range["StartingHashKey"]) + int(hash_range["EndingHashKey"])) // 2
    rig.kinesis.split_shard(StreamName=rig.stream, ShardToSplit=parent, NewStartingHashKey=str(middle))
    read_before_split = int(rig.leases()[parent]["checkpoint"])
    after = rig.put_events(600)
    all_results(rig, before + after)
    lines = rig.result_lines()
    children = {
        s["ShardId"]
        for s in rig.kinesis.list_shards(StreamName=rig.stream)["Shards"]
        if s.get("ParentShardId") == parent
    }
    assert len(children) == 2 and children <= {line["shard_id"] for line in lines}
    assert_exactly_once(rig, before + after)
    parent_seqs = [int(line["sequence_number"]) for line in lines if line["shard_id"] == parent]
    assert max(parent_seqs) > read_before_split, "the parent was still being read when it was split"
    assert rig.leases()[parent]["checkpoint"] == "SHARD_END"
    objects = rig.s3.list_objects_v2(Bucket=rig.bucket)["Contents"]
    parent_done = max(o["LastModified"] for o in objects if f"/{parent}/" in o["Key"])
    child_start = min(o["LastModified"] for o in objects if any(f"/{c}/" in o["Key"] for c in children))
    assert child_start >= parent_done, "a child shard starts only after its parent is finished"


def test_a_lease_handed_over_but_not_yet_adopted_is_released_on_drain(moto: MotoServer, tmp_path: Path) -> None:
    rig = StreamRig(moto.endpoint, tmp_path, shards=4, lease_ttl_s=30.0, poll_interval_s=0.2)
    try:
        rig.put_events(100)
        first = rig.start_worker()
        wait_for(lambda: len(rig.held_by(first.worker_id)) == 4, 15, what="one worker holding every lease")
        # A slow-polling second worker asks for a lease at its first round, then sleeps 9 s:
        # the handover lands in the table while it is not looking.
        late = rig.start_worker(POLL_INTERVAL_S="9")
        wait_for(lambda: bool(rig.held_by(late.worker_id)), 15, 0.05, "a lease handed to the sleeping worker")
        handed = rig.held_by(late.worker_id)
        handover_s = rig.handover(late, first, late.term, 5)
        print(f"un-adopted lease released on SIGTERM in {handover_s:.2f}s (TTL 30s)")
        assert late.proc.wait(timeout=10) == 0
        assert handed <= rig.held_by(first.worker_id)
    finally:
        rig.stop_all()
