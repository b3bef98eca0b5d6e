"""The in-process fake AWS of ``make bench-stream-scale`` gives the emulator's answers on the
calls the stream worker makes: the same script runs against both and must read the same.

The lease table through the worker's own :class:`LeaseTable` (conditional creates, takes,
handoff requests, checkpoints, releases, worker registrations, scans, a legacy item's state
removed at its checkpoint); the stream through the worker's calls (routing by partition key,
reads from the trim horizon and after a sequence number, a split and a merge with their
lineage, parents keeping their records, children getting the new ones, closed shards read
to their end). Sequence numbers are compared by order, not value: the emulator numbers each
shard from 1, AWS and the fake number the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stream_worker.leases import LeaseTable

from tools.harness.fake_aws import FakeAws
from tools.harness.moto_server import MotoServer
from tools.harness.stream_harness import StreamRig

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def both(moto: MotoServer, tmp_path: Path) -> dict[str, tuple[Any, Any, str, str]]:
    """(kinesis, dynamodb, stream, table) of the emulator and of the fake, each 2 shards."""
    rig = StreamRig(moto.endpoint, tmp_path, shards=2)
    fake = FakeAws("fake", 2, latency=False)
    clients = fake.clients("test")
    return {
        "emulator": (rig.kinesis, rig.ddb, rig.stream, rig.table),
        "fake": (clients["kinesis"], clients["dynamodb"], "fake", fake.table.name),
    }


LEGACY_ITEM = {
    "lease_key": {"S": "s3"},
    "owner": {"S": ""},
    "counter": {"N": "0"},
    "expiry": {"N": "0"},
    "checkpoint": {"S": "9"},
    "state": {"S": '{"k": [0, 1, 2, 0]}'},
}


def lease_script(ddb: Any, table: str) -> list[Any]:
    one, two = LeaseTable(ddb, table, "w1", 30), LeaseTable(ddb, table, "w2", 30)
    seen: list[Any] = []
    one.ensure("s1", [])
    one.ensure("s1", [])  # exists: no error, unchanged
    one.ensure("s2", ["s1"])
    leases = one.scan()[0]
    stale = LeaseTable(ddb, table, "w2", 30).scan()[0]["s1"]
    seen += [one.take(leases["s1"]), two.take(stale)]  # same counter seen: one of them wins
    seen += [two.request_handoff(one.scan()[0]["s1"]), two.request_handoff(one.scan()[0]["s1"])]
    lease = leases["s1"]
    seen += [one.checkpoint(lease, "5", "{}", snapshot="5"), two.checkpoint(stale, "6", "{}")]
    seen += [one.renew(lease), one.release(lease, to="w2"), one.renew(lease)]
    ddb.put_item(TableName=table, Item=LEGACY_ITEM)  # written before snapshots: the state inline
    legacy = one.scan()[0]["s3"]
    seen += [legacy.state, one.take(legacy), one.checkpoint(legacy, "10", "{}"), legacy.state]
    one.register()
    two.register()
    two.deregister()
    leases, workers = one.scan()
    seen.append(sorted(workers))
    for key, found in sorted(leases.items()):
        seen.append((key, found.owner, found.counter, found.checkpoint, found.snapshot, found.parents))
        seen.append((found.pending_owner, found.state, found.expiry > 0))
    return seen


def test_the_lease_table_answers_like_the_emulator(moto: MotoServer, tmp_path: Path) -> None:
    answers = {name: lease_script(ddb, table) for name, (_, ddb, _, table) in both(moto, tmp_path).items()}
    assert answers["fake"] == answers["emulator"]


def read_all(kinesis: Any, stream: str, shard: str, after: str | None = None) -> tuple[list[str], list[str], bool]:
    """(data, sequence numbers, the end was reported) of one shard, read with limit 2."""
    kwargs: dict[str, Any] = {"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
    if after:
        kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
    iterator = kinesis.get_shard_iterator(**kwargs)["ShardIterator"]
    data: list[str] = []
    sequences: list[str] = []
    while True:
        out = kinesis.get_records(ShardIterator=iterator, Limit=2)
        data += [r["Data"].decode() for r in out["Records"]]
        sequences += [r["SequenceNumber"] for r in out["Records"]]
        iterator = out.get("NextShardIterator")
        if iterator is None or not out["Records"]:
            return data, sequences, iterator is None


def lineage(shard: dict[str, Any]) -> tuple[Any, ...]:
    closed = "EndingSequenceNumber" in shard["SequenceNumberRange"]
    parents = (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
    return (shard["ShardId"], *parents, shard["HashKeyRange"], closed)


def stream_script(kinesis: Any, stream: str) -> list[Any]:
    def put(start: int, n: int) -> list[str]:
        records = [{"Data": f"r{i}".encode(), "PartitionKey": f"key-{i}"} for i in range(start, start + n)]
        return [r["ShardId"] for r in kinesis.put_records(StreamName=stream, Records=records)["Records"]]

    def shards() -> list[Any]:
        return [lineage(s) for s in kinesis.list_shards(StreamName=stream)["Shards"]]

    seen: list[Any] = [shards(), put(0, 12)]
    data, sequences, _ = read_all(kinesis, stream, "shardId-000000000000")
    after_second = read_all(kinesis, stream, "shardId-000000000000", sequences[1])[0]
    seen += [data, sequences == sorted(sequences, key=int), after_second]
    middle = (int(shards()[0][3]["StartingHashKey"]) + int(shards()[0][3]["EndingHashKey"]) + 1) // 2
    kinesis.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(middle))
    kinesis.merge_shards(
        StreamName=stream, ShardToMerge="shardId-000000000003", AdjacentShardToMerge="shardId-000000000001"
    )
    seen += [shards(), put(12, 12)]
    for shard in ("shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000004"):
        seen.append((shard, read_all(kinesis, stream, shard)[0]))
    return seen


def test_the_stream_answers_like_the_emulator(moto: MotoServer, tmp_path: Path) -> None:
    answers = {name: stream_script(kinesis, stream) for name, (kinesis, _, stream, _) in both(moto, tmp_path).items()}
    assert answers["fake"] == answers["emulator"]
