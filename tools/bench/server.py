"""Benchmark of the model server (``make bench-server``; not a test).

Starts two server processes of the same stack on 127.0.0.1: the real one
(``python -m model_server`` with the default model), and a baseline whose ``/predict``
parses the JSON body and returns a constant of the same size as the model's answer (same
handler, same limits, no model: tools/harness/constant_server.py). Drives
each with keep-alive HTTP clients at concurrency 1, 16 and 64 and prints throughput, p50
and p99 latency, the model/baseline throughput ratio (the median of paired, interleaved
rounds of about a second; target >= 0.7 at every concurrency), each server's CPU time per
request (from /proc: the throughput ratio only shows the server's cost while the server,
not the client process, is the bottleneck) and each process's resident memory.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.bench.cpu_steal import CpuTimes, steal_report
from tools.harness.model_server_process import ModelServerProcess, train_default_model
from tools.harness.moto_server import HOST

CONCURRENCY = (1, 16, 64)
TARGET_RATIO = 0.7
ROWS_PER_CALL = 8
ROUNDS = 3
ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float = 0.0  # the server process's user + system time over the requests

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def drive(port: int, concurrency: int, duration_s: float, body: bytes) -> Result:
    """``concurrency`` clients, each on one keep-alive connection, for ``duration_s``."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        headers = {"Content-Type": "application/json"}
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            conn.request("POST", "/predict", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            latencies[i].append((time.perf_counter() - t) * 1000)
            if resp.status != 200:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for th in threads:
        th.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + duration_s
    start.wait()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    flat = [x for per in latencies for x in per]
    return Result(len(flat), sum(errors), elapsed, flat)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main(argv: Sequence[str]) -> int:
    duration_s = float(argv[1]) if len(argv) > 1 else 9.0
    body = json.dumps({"instances": [ROW] * ROWS_PER_CALL}).encode()
    # Both servers get a limit above the highest concurrency: this measures speed, not shedding.
    env = {"MAX_IN_FLIGHT": str(max(CONCURRENCY) * 2), "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        model = train_default_model(Path(tmp) / "model.json")
        servers = {
            "baseline": ModelServerProcess(
                str(model),
                {**env, "CONSTANT_ROWS": str(ROWS_PER_CALL)},
                Path(tmp) / "baseline.log",
                module="tools.harness.constant_server",
            ),
            "model": ModelServerProcess(str(model), env, Path(tmp) / "model.log"),
        }
        results: dict[tuple[str, int], Result] = {}
        memory: dict[str, tuple[float, float]] = {}
        round_ratios: dict[int, list[float]] = {}
        with servers["baseline"], servers["model"]:
            pids = {name: s.proc.pid for name, s in servers.items() if s.proc is not None}
            memory.update({f"{name} idle": rss_mib(pid) for name, pid in pids.items()})
            for server in servers.values():
                drive(server.port, 4, 0.5, body)  # warm-up
            cpu_before = CpuTimes.now()
            # Paired, interleaved rounds of about a second: a noisy neighbour (these are shared
            # VMs) slows both servers of a round alike, and the order alternates (ABBA) so
            # neither always runs second. The ratio is the median of the rounds' ratios.
            rounds = max(ROUNDS, round(duration_s))
            for c in CONCURRENCY:
                for i in range(rounds):
                    order = list(servers.items()) if i % 2 == 0 else list(reversed(servers.items()))
                    round_rps: dict[str, float] = {}
                    for name, server in order:
                        cpu = cpu_seconds(pids[name])
                        r = drive(server.port, c, duration_s / rounds, body)
                        r.cpu_s = cpu_seconds(pids[name]) - cpu
                        round_rps[name] = r.rps
                        total = results.setdefault((name, c), Result(0, 0, 0.0, []))
                        total.cpu_s += r.cpu_s
                        total.requests += r.requests
                        total.errors += r.errors
                        total.seconds += r.seconds
                        total.latencies_ms += r.latencies_ms
                    round_ratios.setdefault(c, []).append(round_rps["model"] / round_rps["baseline"])
            memory.update({name: rss_mib(pid) for name, pid in pids.items()})
            cpu_after = CpuTimes.now()
    print(f"model server benchmark: POST /predict, {ROWS_PER_CALL} rows per call, {duration_s:.0f} s per point, "
          f"keep-alive clients in one process, {rounds} paired rounds, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'server':<9} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8} {'CPU us/req':>10}")
    for (name, c), r in results.items():
        cpu_us = r.cpu_s / max(r.requests, 1) * 1e6
        print(f"{name:<9} {c:>4} {r.rps:>9.0f} {r.pct(0.5):>8.2f} {r.pct(0.99):>8.2f} {r.errors:>8} {cpu_us:>10.0f}")
    ratios = {c: statistics.median(round_ratios[c]) for c in CONCURRENCY}
    spread = {c: f"{min(round_ratios[c]):.2f}-{max(round_ratios[c]):.2f}" for c in CONCURRENCY}
    print("throughput model / baseline, median of the paired rounds (min-max): "
          + ", ".join(f"c={c}: {v:.2f}x ({spread[c]})" for c, v in ratios.items()))  # fmt: skip
    print(f"geometric mean {statistics.geometric_mean(ratios.values()):.2f}x (target >= {TARGET_RATIO}x)")
    for name, (now, peak) in memory.items():
        print(f"memory {name:<14} RSS {now:6.1f} MiB (peak {peak:6.1f} MiB)")
    # Other processes on the machine slow both servers, but not equally: report the load.
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(steal_report(cpu_before, cpu_after))
    below = [c for c, v in ratios.items() if v < TARGET_RATIO]
    errors = sum(r.errors for r in results.values())
    if below or errors:
        print(f"BELOW TARGET at concurrency {below}" if below else f"{errors} non-200 responses", file=sys.stderr)
        return 1
    print("OK: every concurrency at or above the target ratio, no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
