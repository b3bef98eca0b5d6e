"""The model-server benchmark's report (tools.bench.server): the machine and versions, the
table of every point, and each target judged on the medians."""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.bench.cpu_steal import CpuTimes, steal_report
from tools.bench.server_measure import LIMIT_ROWS, ROWS_PER_CALL, Spread, summarize
from tools.bench.server_points import EMF_CLIENTS, PAIR_NAMES, PAIRS, Point
from tools.bench.server_wrk import Result

EMF_THROUGHPUT_TARGET = 0.97  # EMF on / off, req/s

EMF_P99_TARGET = 1.05  # EMF on / off, p99: no worse, within the noise of 2-s runs

EMF_CPU_TARGET = 1 / EMF_THROUGHPUT_TARGET  # EMF on / off, the server's CPU time per request

P50_OVER_MODEL_MS = 0.5  # 1 client: p50 <= the model's time + this

UNBATCHED_TARGET = 0.9  # x raw, 16 clients, no batching

BATCHED_TARGET = 1.6  # x raw, 64 clients, batching

LIMIT_TARGET = 0.7  # x the machine limit in rows/s, 64 clients, batching

RSS_TARGET_MIB = 131.0

NOISY_OTHERS = 0.10  # other processes' share of the CPU above which the host was not quiet


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name, with its AVX level: the figures mean little without it."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return "unknown CPU"
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    avx = next((f for f in ("avx512f", "avx2", "avx") if f in flags), "no AVX")
    return f"{name.group(1).strip() if name else 'unknown CPU'}, {avx}"


def versions() -> str:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    from tools.harness.model_server_process import SERVER_DIR

    server = re.search(r'__version__ = "([^"]+)"', (SERVER_DIR / "model_server" / "__init__.py").read_text())
    return (
        f"model server {server.group(1) if server else '?'} (uvicorn {version('uvicorn')}, uvloop "
        f"{version('uvloop')}, httptools {version('httptools')}), onnxruntime {version('onnxruntime')}, "
        f"Python {sys.version.split()[0]}"
    )


def targets(
    table: dict[Point, dict[str, Spread]],
    raw: Spread,
    limit: float,
    memory: dict[str, tuple[float, float]],
) -> list[tuple[str, bool]]:
    """Each target, in words with its figure, and whether the median meets it."""
    model_ms = 1000 / raw.median
    p50 = table[("no batching", 1, "json")]["p50 ms"].median
    unbatched = table[("no batching", 16, "json")]["x raw"].median
    batched = table[("batching", 64, "json")]
    rows = batched["req/s"].median * ROWS_PER_CALL
    rss = max(now for now, _ in memory.values())
    return [
        (
            f"1 client: p50 {p50:.2f} ms <= model {model_ms:.2f} + {P50_OVER_MODEL_MS} ms",
            p50 <= model_ms + P50_OVER_MODEL_MS,
        ),
        (f"16 clients, no batching: {unbatched:.2f}x raw >= {UNBATCHED_TARGET}x", unbatched >= UNBATCHED_TARGET),
        (
            f"64 clients, batching: {batched['x raw'].median:.2f}x raw >= {BATCHED_TARGET}x",
            batched["x raw"].median >= BATCHED_TARGET,
        ),
        (
            f"64 clients, batching: {rows:.0f} rows/s = {rows / limit:.2f}x the machine limit >= {LIMIT_TARGET}x",
            rows / limit >= LIMIT_TARGET,
        ),
        (f"RSS per process: {rss:.1f} MiB <= {RSS_TARGET_MIB:.0f} MiB", rss <= RSS_TARGET_MIB),
    ]


def emf_comparison(results: dict[Point, list[Result]]) -> list[tuple[str, bool]]:
    """Per pair (EMF on/off, prediction metrics on/off), run by run: req/s, p99 and CPU time
    per request, on over off; each in words, and whether the median meets its target."""
    verdicts = []
    for on_server, off_server in PAIRS.items():
        what = f"batching, {PAIR_NAMES[on_server]} on/off"
        for clients in EMF_CLIENTS:
            off, on = results[(off_server, clients, "json")], results[(on_server, clients, "json")]
            pairs = list(zip(off, on, strict=True))
            rps = Spread([b.rps / a.rps for a, b in pairs if a.rps])
            p99 = Spread([b.p99_ms / a.p99_ms for a, b in pairs if a.p99_ms])
            cpu = Spread([b.cpu_us / a.cpu_us for a, b in pairs if a.cpu_us])
            verdicts += [
                (
                    f"{clients} clients, {what}: req/s {rps.show('.3f')} >= {EMF_THROUGHPUT_TARGET}",
                    rps.median >= EMF_THROUGHPUT_TARGET,
                ),
                (
                    f"{clients} clients, {what}: p99 {p99.show('.3f')} <= {EMF_P99_TARGET}",
                    p99.median <= EMF_P99_TARGET,
                ),
                # what req/s means on a busy host: the server's CPU time per request, which neighbours move least
                (
                    f"{clients} clients, {what}: CPU us/req {cpu.show('.3f')} <= {EMF_CPU_TARGET:.2f}",
                    cpu.median <= EMF_CPU_TARGET,
                ),
            ]
    return verdicts


@dataclass
class Readings:
    """What one benchmark measured: each point's runs, and the machine around them."""

    seconds: int  # per run
    runs: int
    results: dict[Point, list[Result]]
    raw_cpu: list[float]  # CPU microseconds per raw call, one per paired raw run
    limits: list[float]  # the machine limit in rows/s, before and after the runs
    memory: dict[str, tuple[float, float]]  # per server: (current, peak) RSS in MiB, the largest seen
    cpu_before: CpuTimes
    cpu_after: CpuTimes
    others: float  # other processes' share of the machine's CPU time meanwhile


def report(readings: Readings) -> int:
    """Print the report; 0 when every target is met with no errors, else 1."""
    results, limits, memory = readings.results, readings.limits, readings.memory
    table = {point: summarize(rs) for point, rs in results.items()}
    raw = Spread([r.raw for rs in results.values() for r in rs])
    limit = max(limits)  # noise only slows a run: the fastest is the machine's
    print(
        f"model server benchmark: MLP 13-1024-1024-1024-3 (ONNX), POST infer with {ROWS_PER_CALL} rows; "
        f"{readings.runs} runs of {readings.seconds:g} s per point, each paired with a raw run"
    )
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; {versions()}")
    print(
        f"raw onnxruntime in-process, same call, 1 thread: {raw.show()} calls/s "
        f"({1000 / raw.median:.3f} ms per call; median (range) of {len(raw.values)} runs); "
        f"CPU per call {Spread(readings.raw_cpu).show()} us"
    )
    print(
        f"machine limit: {limit:.0f} rows/s (onnxruntime alone, {os.cpu_count()} cores busy, {LIMIT_ROWS}-row calls; "
        f"runs: {', '.join(f'{x:.0f}' for x in limits)})"
    )
    print("median (min-max) of the runs; x raw: each run against its own paired raw run")
    print(
        f"{'server':<12} {'conc':>4} {'body':<6} {'req/s':>17} {'x raw':>17} {'rows/s / limit':>14} "
        f"{'p50 ms':>18} {'p99 ms':>18} {'req/call':>8} {'cores':>5} {'CPU us/req':>10} {'errors':>6}"
    )
    for (name, c, kind), s in table.items():
        errors = sum(r.errors for r in results[(name, c, kind)])
        share = s["req/s"].median * ROWS_PER_CALL / limit
        print(
            f"{name:<12} {c:>4} {kind:<6} {s['req/s'].show():>17} {s['x raw'].show('.2f'):>17} {share:>14.2f} "
            f"{s['p50 ms'].show('.2f'):>18} {s['p99 ms'].show('.2f'):>18} {s['req/call'].median:>8.1f} "
            f"{s['cores'].median:>5.2f} {s['CPU us/req'].median:>10.0f} {errors:>6}"
        )
    for name, (now, peak) in memory.items():
        print(f"memory {name:<12} RSS {now:6.1f} MiB (peak {peak:6.1f} MiB)")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(steal_report(readings.cpu_before, readings.cpu_after))
    others = readings.others
    quiet = "quiet" if others <= NOISY_OTHERS else "NOT QUIET: the figures are lower bounds; repeat on a quiet machine"
    print(f"CPU used by processes outside the benchmark: {others:.0%} of the machine ({quiet})")
    verdicts = targets(table, raw, limit, memory) + emf_comparison(results)
    for text, ok in verdicts:
        print(f"{'met  ' if ok else 'MISSED'} {text}")
    errors = sum(r.errors for rs in results.values() for r in rs)
    if errors or not all(ok for _, ok in verdicts):
        print(f"{errors} errors" if errors else "BELOW TARGET", file=sys.stderr)
        return 1
    print("OK: every target met, no errors")
    return 0
