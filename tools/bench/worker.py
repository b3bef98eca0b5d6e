"""Stream worker benchmark (``make bench-worker``): throughput and failover on the emulator.

In one run, on one moto server:

- the baseline: the raw GetRecords read rate of the emulator (one in-process reader, every
  shard to its end, the same batch size the workers use, nothing else done with the data);
- records/s of 1 and of 2 worker processes over the same number of records (from the
  moment the first lease is taken until every shard's checkpoint is at its last record),
  each printed as a ratio to the baseline;
- failover: seconds until a surviving worker holds every lease of a worker killed with
  ``kill -9``, and of one sent SIGTERM, each as a ratio to the lease TTL.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tools.harness.moto_server import MotoServer
from tools.harness.stream_harness import StreamRig, wait_for

BATCH = 200


def raw_read_rate(rig: StreamRig) -> float:
    """Records/s of a bare GetRecords loop over every shard, to the end."""
    shards = [s["ShardId"] for s in rig.kinesis.list_shards(StreamName=rig.stream)["Shards"]]
    total = 0
    start = time.perf_counter()
    for shard in shards:
        it = rig.kinesis.get_shard_iterator(StreamName=rig.stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        iterator = it["ShardIterator"]
        while True:
            out = rig.kinesis.get_records(ShardIterator=iterator, Limit=BATCH)
            total += len(out["Records"])
            iterator = out["NextShardIterator"]
            if not out["Records"]:
                break
    return total / (time.perf_counter() - start)


def worker_rate(endpoint: str, workdir: Path, records: int, workers: int, shards: int) -> float:
    """Records/s of ``workers`` worker processes over ``records`` records."""
    rig = StreamRig(endpoint, workdir, shards=shards)
    rig.put_events(records)
    try:
        for _ in range(workers):
            rig.start_worker(BATCH_LIMIT=str(BATCH))
        wait_for(lambda: any(rig.owners().values()), 30, 0.02, "a first lease")
        start = time.perf_counter()
        wait_for(rig.all_checkpointed, 300, 0.05, "every record checkpointed")
        return records / (time.perf_counter() - start)
    finally:
        rig.stop_all()


def failover(endpoint: str, workdir: Path, ttl_s: float, crash: bool) -> float:
    rig = StreamRig(endpoint, workdir, shards=4, lease_ttl_s=ttl_s, poll_interval_s=0.2)
    rig.put_events(400)
    try:
        leaving, staying = rig.start_pair()
        return rig.handover(leaving, staying, leaving.kill if crash else leaving.term, ttl_s + 10)
    finally:
        rig.stop_all()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="failover measurements of each kind")
    parser.add_argument("--ttl", type=float, default=3.0, help="lease TTL of the failover runs (s)")
    args = parser.parse_args(argv[1:])
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp, MotoServer(Path(tmp) / "moto.log") as moto:
        work = Path(tmp)
        print(f"moto server {moto.endpoint}; {args.records} records over {args.shards} shards, batches of {BATCH}")
        rig = StreamRig(moto.endpoint, work, shards=args.shards)
        rig.put_events(args.records)
        raw = statistics.median(raw_read_rate(rig) for _ in range(3))
        print(f"baseline  raw GetRecords read rate:     {raw:8.0f} records/s")
        one = worker_rate(moto.endpoint, work, args.records, 1, args.shards)
        print(
            f"1 worker  process (parse, score, S3 put, DLQ, checkpoint): {one:8.0f} records/s  = {one / raw:.2f} x raw"
        )
        two = worker_rate(moto.endpoint, work, args.records, 2, args.shards)
        print(
            f"2 workers together: {two:8.0f} records/s = {two / 2:.0f} per worker"
            f"  = {two / 2 / raw:.2f} x raw per worker, {two / one:.2f} x one worker"
        )
        crash = [failover(moto.endpoint, work, args.ttl, crash=True) for _ in range(args.runs)]
        drain = [failover(moto.endpoint, work, args.ttl, crash=False) for _ in range(args.runs)]
        for name, times in (("kill -9", crash), ("SIGTERM", drain)):
            median = statistics.median(times)
            print(
                f"failover after {name}: median {median:.2f}s of {', '.join(f'{t:.2f}' for t in times)}"
                f"  = {median / args.ttl:.2f} x lease TTL ({args.ttl:g}s, poll 0.2s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
