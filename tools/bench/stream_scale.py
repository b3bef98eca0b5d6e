"""``make bench-stream-scale``: the stream worker at 200 shards and 20 workers, through joins,
``kill -9``, spot drains, a reshard and a shrink; per event and overall, with a price line.

The fleet runs on the in-process fake AWS (:mod:`tools.bench.stream_sim`): the emulator
serves one call at a time and could not carry 25 workers polling 200 shards on 2 cores.
``tests/test_fake_aws_matches_moto.py`` holds the fake to the emulator's answers.

Times are scaled down from the stack's defaults (lease TTL 30 s, poll 1 s, shard sync 30 s)
to a 6 s TTL with the same ratios (0.2 s poll, 6 s sync), so the scenario fits minutes;
rebalance times are printed in lease TTLs. Calls still wait real round trips
(:data:`tools.harness.fake_aws.LATENCY_S`), which the scaling makes relatively 5x longer:
a worker's round is longer against its TTL than it would be deployed.

The anchor is the Kinesis Client Library (KCL) with its documented defaults (KCL
configuration, https://docs.aws.amazon.com/streams/latest/dev/kcl-configuration.html):
``failoverTimeMillis`` 10 s, lease taking every 2 x (failover + epsilon) (its log line in
awslabs/amazon-kinesis-client#136: "renew leases every 9975 ms, takeleases every 60050 ms
... steal 1 lease(s) at a time" at a 30 s failover), ``maxLeasesToStealAtOneTime`` 1, from
the most loaded worker only (#708). A new KCL worker short of n leases needs about n taker
runs, 2n lease TTLs: 16 TTLs for the 8 leases of a 25th worker on 200 shards.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

from modules.core.paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "handlers"))  # the worker, as the stack ships it

from tools.bench.cpu_steal import CpuTimes, steal_report
from tools.bench.server_measure import Spread
from tools.bench.server_report import cpu_model
from tools.bench.stream_scenario import Scenario, ScenarioError, load
from tools.bench.stream_sim import SimConfig, Simulation, Window
from tools.cost.prices import load_prices
from tools.harness.fake_dynamodb import item_size

SCENARIO = Path(__file__).with_name("stream_scale.scenario")
KINESIS_LIMITS = {"kinesis.get_records": 5, "kinesis.get_shard_iterator": 5, "kinesis.list_shards": 1000}
AT_SCALE = (1000, 100)  # shards, workers of the price line
STACK_SNAPSHOT_S = 60.0  # STATE_SNAPSHOT_S's default: one S3 put per shard per minute (plus one per release)
STACK_POLL_S = 1.0  # stream.poll_interval_s's default: the stack's workers poll 5x less often than the bench's


def overall(sim: Simulation) -> dict[str, float]:
    calls: Counter[str] = Counter()
    units: Counter[str] = Counter()
    for usage in sim.aws.usage.values():
        calls.update(usage.calls)
        for operation, used in usage.units.items():
            units[operation] += used  # type: ignore[assignment]
    worker_s = sum((s.stopped or sim.ended) - s.started for s in sim.workers.values())
    reads, writes = ("scan", "get_item"), ("put_item", "update_item", "delete_item")
    leases = [i for k, i in sim.aws.table.items.items() if k.startswith("shardId")]
    peaks = Counter[str]()
    for (operation, _, _), n in sim.acct.calls_per_second.items():
        peaks[operation] = max(peaks[operation], n)
    return {
        "worker_s": worker_s,
        "reads/worker/s": sum(calls[f"dynamodb.{o}"] for o in reads) / worker_s,
        "writes/worker/s": sum(calls[f"dynamodb.{o}"] for o in writes) / worker_s,
        "RCU/worker/s": sum(units[f"dynamodb.{o}"] for o in reads) / worker_s,
        "WCU/worker/s": sum(units[f"dynamodb.{o}"] for o in writes) / worker_s,
        "scans/worker/s": calls["dynamodb.scan"] / worker_s,
        "shard WCU/shard/s": units["dynamodb.update_item"] / sim.open_shard_s,
        "worker WCU/worker/s": (units["dynamodb.put_item"] + units["dynamodb.delete_item"]) / worker_s,
        "lease item bytes": sum(item_size(i) for i in leases) / len(leases),
        "state bytes": sum(item_size({"state": i["state"]}) for i in leases if "state" in i) / len(leases),
        "GetRecords/shard/s": calls["kinesis.get_records"] / sim.open_shard_s,
        **{f"peak {op}": float(peaks[op]) for op in KINESIS_LIMITS},
    }


def price_line(figures: dict[str, float], poll_s: float) -> list[str]:
    """The lease table's month at :data:`AT_SCALE`, from the measured rates per worker and per
    shard. Every lease-table call is paced by the poll (rounds, syncs, renewals at TTL/2), so
    the rates are scaled from the bench's poll to the stack's."""
    prices = load_prices()
    scale = poll_s / STACK_POLL_S
    shards, workers = AT_SCALE
    read_usd, write_usd = prices.usage["dynamodb_reads"].usd, prices.usage["dynamodb_writes"].usd
    table_bytes = shards * figures["lease item bytes"] + workers * 40
    per_scan = math.ceil(table_bytes / 4096)
    scans, shard_wru = figures["scans/worker/s"] * scale, figures["shard WCU/shard/s"] * scale
    worker_wru = figures["worker WCU/worker/s"] * scale
    rru = workers * scans * per_scan
    wru = shards * shard_wru + workers * worker_wru
    seconds = 3600 * prices.hours_per_month
    monthly = (rru * read_usd + wru * write_usd) / 1e6 * seconds
    put_usd = prices.usage["s3_put"].usd
    snapshots = shards / STACK_SNAPSHOT_S * seconds
    return [
        f"lease table at {shards} shards, {workers} workers (on demand, {prices.region}, prices of {prices.date}; "
        f"rates measured here x {scale:g}, the stack polling every {STACK_POLL_S:g} s):",
        f"  reads  = {workers} workers x {scans:.2f} scans/s x ceil(({shards} x "
        f"{figures['lease item bytes']:.0f} B + {workers} x 40 B) / 4 KB) = {per_scan} RRU per consistent scan"
        f" = {rru:,.0f} RRU/s",
        f"  writes = {shards} shards x {shard_wru:.2f} WRU/s (checkpoints, renewals, handovers)"
        f" + {workers} workers x {worker_wru:.2f} WRU/s (registrations, lease creation) = {wru:,.0f} WRU/s",
        f"  month  = ({rru:,.0f} x ${read_usd} + {wru:,.0f} x ${write_usd}) / 1e6 x {seconds:,} s"
        f" = ${monthly:,.0f} per month",
        f"  and the state snapshots in S3: {shards} shards / {STACK_SNAPSHOT_S:g} s x {seconds:,} s"
        f" x ${put_usd} / 1,000 = ${snapshots * put_usd / 1000:,.0f} per month ({snapshots / 1e6:.1f} M puts)",
    ]


def show_events(runs: list[list[Window]], ttl: float) -> None:
    print(
        f"{'event':<28} {'rebalance (TTLs)':>18} {'leases moved':>14} {'dup records':>14} {'dup batches':>13} "
        f"{'state re-read':>14} {'lost':>5} {'max lag s':>14} {'above share':>12}"
    )
    for i, window in enumerate(runs[0]):
        column = [run[i] for run in runs]
        rebalance = [w.balanced_after_s / ttl if w.balanced_after_s is not None else math.inf for w in column]
        print(
            f"{window.event.label():<28} {Spread(rebalance).show('.2f'):>18} "
            f"{Spread([float(w.moved) for w in column]).show():>14} "
            f"{Spread([float(w.duplicates) for w in column]).show():>14} "
            f"{Spread([float(w.duplicate_batches) for w in column]).show():>13} "
            f"{Spread([float(w.rebuilt) for w in column]).show():>14} "
            f"{sum(w.lost for w in column):>5} {Spread([w.max_lag_s for w in column]).show('.1f'):>14} "
            f"{max(w.max_over_share for w in column):>12.2f}"
        )


def goals(runs: list[list[Window]], sims: list[Simulation], ttl: float) -> list[tuple[str, bool]]:
    events = [w for run in runs for w in run if w.event.kind not in ("start", "steady")]
    windows = [w for run in runs for w in run]
    return [
        (
            "rebalance within 2 lease TTLs after every event",
            all(w.balanced_after_s is not None and w.balanced_after_s <= 2 * ttl for w in events),
        ),
        ("0 records lost", sum(w.lost for w in windows) == 0),
        ("every record in the results exactly once", all(s.result_duplicates == 0 for s in sims)),
        ("duplicates at most one batch per moved lease", all(w.duplicate_batches <= w.moved for w in windows)),
        ("no worker above its share + 1 once balanced", all(w.max_over_share <= 1 for w in windows)),
        ("no analytics state in the scanned lease items", all(overall(s)["state bytes"] == 0 for s in sims)),
        ("every poison record in the DLQ", all(s.poison_in_dlq == s.poison_put for s in sims)),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ttl", type=float, default=6.0, help="lease TTL (s); poll TTL/30, shard sync = TTL")
    args = parser.parse_args(argv[1:])
    try:
        scenario: Scenario = load(args.scenario)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    ttl = args.ttl
    cfg = SimConfig(lease_ttl_s=ttl, poll_interval_s=ttl / 30, shard_sync_s=ttl, state_snapshot_s=2 * ttl)
    print(
        f"stream at scale: {scenario.shards} shards, {scenario.workers} workers (threads, fake AWS with modelled "
        f"latency), {args.scenario.name}; lease TTL {cfg.lease_ttl_s:g}s, poll {cfg.poll_interval_s:g}s, "
        f"shard sync {cfg.shard_sync_s:g}s, {cfg.records_per_shard_s:g} records/s per shard over {cfg.keys} keys"
    )
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average at start {os.getloadavg()[0]:.2f}")
    cpu_before, started = CpuTimes.now(), time.monotonic()
    sims, runs = [], []
    for n in range(args.runs):
        sim = Simulation(scenario, SimConfig(**{**cfg.__dict__, "seed": n + 1}))
        runs.append(sim.run())
        sims.append(sim)
        print(f"run {n + 1}: {sim.ended - sim.started:.0f}s, worker errors: {sim.errors or 'none'}")
        show_events([runs[-1]], cfg.lease_ttl_s)
    print(
        f"median (min-max) of {args.runs} runs; dup: records read again past the checkpoint (processed twice); "
        "state re-read: records up to the checkpoint read again to rebuild a state after a crash (no output); "
        "above share: most leases above its fair share a live worker held once balanced"
    )
    show_events(runs, cfg.lease_ttl_s)
    figures = [overall(s) for s in sims]

    def spread(key: str, fmt: str = ".2f") -> str:
        return Spread([f[key] for f in figures]).show(fmt)

    print(
        f"DynamoDB per worker per second: {spread('reads/worker/s')} reads, {spread('writes/worker/s')} writes; "
        f"{spread('RCU/worker/s')} RCU, {spread('WCU/worker/s')} WCU (from item sizes); "
        f"lease item {spread('lease item bytes', '.0f')} B of which analytics state {spread('state bytes', '.0f')} B"
    )
    print(
        f"Kinesis: GetRecords {spread('GetRecords/shard/s')} per shard per second; peak on one shard in one second: "
        + ", ".join(f"{op.split('.')[1]} {spread('peak ' + op, '.0f')} (limit {n})" for op, n in KINESIS_LIMITS.items())
    )
    poison = sims[0]
    print(
        f"poison records: {poison.poison_put} put, {poison.poison_in_dlq} in the DLQ "
        f"({', '.join(f'{r}: {n}' for r, n in poison.poison_reasons.items())}), counted apart from lost"
    )
    for line in price_line({k: Spread([f[k] for f in figures]).median for k in figures[0]}, cfg.poll_interval_s):
        print(line)
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(steal_report(cpu_before, CpuTimes.now()) + f"; {time.monotonic() - started:.0f}s in all")
    verdicts = goals(runs, sims, cfg.lease_ttl_s)
    for text, ok in verdicts:
        print(f"{'met  ' if ok else 'MISSED'} {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
