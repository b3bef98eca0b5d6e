"""Two stream workers driven in-process through the interleavings that break exactly-once.

A worker passes its lease check and then stalls (GC, CPU starvation, a paused VM) longer
than the lease TTL; another takes the lease over and reads from the same checkpoint, so it
writes the same result key, with a batch that may be longer or shorter. A crash replay can
read a batch of another length too, and a retried put may already have succeeded. Every
record must still be in the results exactly once, and the checkpoint where it must be.

The stall and the crash are injected at the result put: the worker's real call runs, with
the other worker's whole round before it (a stall) or an exception after it (a crash or a
lost response). Everything else is the real worker against a moto server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stream_worker.config import Config
from stream_worker.results import result_key
from stream_worker.worker import Worker

from tests.test_stream_worker_processes import assert_exactly_once
from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.moto_server import MotoServer
from tools.harness.stream_harness import POISON, StreamRig

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

TTL_S = 1.0
SHARD = "shardId-000000000000"


class Crash(BaseException):
    """The process dies here: nothing in the worker catches it."""


@pytest.fixture
def rig(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StreamRig:
    for name, value in CREDENTIALS.items():  # in-process workers take credentials from the environment
        monkeypatch.setenv(name, value)
    return StreamRig(moto.endpoint, tmp_path, shards=1, lease_ttl_s=TTL_S, poll_interval_s=0.2)


def worker(rig: StreamRig, worker_id: str, batch_limit: int) -> Worker:
    return Worker(Config.from_env(rig.env(worker_id, BATCH_LIMIT=str(batch_limit), METRIC_NAMESPACE="")))


def around_first_put(
    w: Worker, before: Callable[[], None] = lambda: None, after: Callable[[], None] = lambda: None
) -> None:
    """Run ``before`` and ``after`` around the worker's next result put (once)."""
    real = w.s3.put_object
    calls = []

    def put(**kwargs: Any) -> Any:
        calls.append(kwargs["Key"])
        if len(calls) > 1:  # a retry of this put (the retry wrapper holds on to this function)
            return real(**kwargs)
        w.s3.put_object = real
        before()
        out = real(**kwargs)
        after()
        return out

    w.s3.put_object = put


def checkpoint(rig: StreamRig) -> str:
    return str(rig.leases()[SHARD].get("checkpoint", ""))


def sequences(rig: StreamRig) -> list[str]:
    """The shard's sequence numbers in order, straight from the stream."""
    iterator = rig.kinesis.get_shard_iterator(StreamName=rig.stream, ShardId=SHARD, ShardIteratorType="TRIM_HORIZON")
    out = rig.kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=10000)
    return [record["SequenceNumber"] for record in out["Records"]]


def run_until_checkpointed(rig: StreamRig, w: Worker, rounds: int = 20) -> None:
    for _ in range(rounds):
        if rig.all_checkpointed():
            return
        w.round()
    raise AssertionError(f"{w.cfg.worker_id} did not checkpoint every record in {rounds} rounds: {rig.leases()}")


def take_over_during_stall(rig: StreamRig, stalled: Worker, other: Worker) -> Iterator[None]:
    """``stalled`` checks its lease, stalls past the TTL while ``other`` takes the lease and
    completes a batch, then writes; yields after that round, then ``other`` drains the rest."""

    def stall() -> None:
        time.sleep(TTL_S + 0.2)
        other.round()
        assert other.cfg.worker_id in rig.owners()[SHARD]

    around_first_put(stalled, before=stall)
    stalled.round()
    yield
    run_until_checkpointed(rig, other)


@pytest.mark.parametrize(("stalled_limit", "other_limit"), [(4, 8), (8, 4)], ids=["stalled-shorter", "stalled-longer"])
def test_a_stalled_worker_writing_after_a_takeover_loses_and_duplicates_nothing(
    rig: StreamRig, stalled_limit: int, other_limit: int
) -> None:
    ids = rig.put_events(12)
    a, b = worker(rig, "a", stalled_limit), worker(rig, "b", other_limit)
    steps = take_over_during_stall(rig, a, b)
    next(steps)
    # b's checkpoint stands: a's stale batch neither moved it nor replaced b's results.
    assert checkpoint(rig) == sequences(rig)[other_limit - 1]
    next(steps, None)
    assert_exactly_once(rig, ids)
    assert checkpoint(rig) == str(rig.last_sequence[SHARD])


def test_a_retried_put_whose_first_attempt_succeeded_counts_as_written(rig: StreamRig) -> None:
    ids = rig.put_events(6)
    a = worker(rig, "a", 10)

    def response_lost() -> None:  # the put landed, the client saw an error and retries
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "PutObject")

    around_first_put(a, after=response_lost)
    a.round()
    assert checkpoint(rig) == str(rig.last_sequence[SHARD]), "one round: written once, then checkpointed"
    assert_exactly_once(rig, ids)


@pytest.mark.parametrize("replay_limit", [4, 7, 14])
def test_a_replay_after_a_crash_with_another_batch_length_writes_each_record_once(
    rig: StreamRig, replay_limit: int
) -> None:
    # Poison first: a replay that reads only poison has no result of its own to write.
    poison = rig.put(POISON)
    ids = rig.put_events(6)
    a = worker(rig, "a", 10)

    def crash() -> None:
        raise Crash

    around_first_put(a, after=crash)
    with pytest.raises(Crash):
        a.round()
    ids += rig.put_events(4)  # more arrived while the lease expired
    time.sleep(TTL_S + 0.2)
    replay = worker(rig, "a-restarted", replay_limit)
    run_until_checkpointed(rig, replay)
    assert_exactly_once(rig, ids)
    time.sleep(0.5)
    assert len(rig.dlq_messages()) == poison, "each poison record once in the DLQ"


def test_an_object_written_before_objects_carried_their_last_sequence_number_is_honoured(rig: StreamRig) -> None:
    ids = rig.put_events(8)
    w = worker(rig, "a", 10)
    iterator = rig.kinesis.get_shard_iterator(StreamName=rig.stream, ShardId=SHARD, ShardIteratorType="TRIM_HORIZON")
    records = rig.kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=5)["Records"]
    lines, _, _ = w.analyse(SHARD, records, "{}")
    key = result_key(w.cfg.results_prefix, rig.stream, SHARD, records[0]["SequenceNumber"])
    # What the worker wrote before this change: the lines, no metadata; then it crashed.
    rig.s3.put_object(Bucket=rig.bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    run_until_checkpointed(rig, w)
    assert_exactly_once(rig, ids)
