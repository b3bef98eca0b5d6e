"""The model-server benchmark's readings (tools.bench.server): a measured wrk run with the
server's CPU time and batching over it, process readings from /proc, raw onnxruntime runs
and the machine limit, and each figure's spread over a point's runs."""

from __future__ import annotations

import os
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tools.bench.server_wrk import Result, wrk
from tools.harness.model_server_process import ModelServerProcess

ROWS_PER_CALL = 8

LIMIT_ROWS = 256  # rows per call for the machine limit: large calls, twice the server's default stacking cap

ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]


@dataclass
class Spread:
    """Median and range of one figure over a point's runs."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def show(self, fmt: str = ".0f") -> str:
        if not self.values:
            return "-"
        return f"{self.median:{fmt}} ({min(self.values):{fmt}}-{max(self.values):{fmt}})"


def summarize(runs: Sequence[Result]) -> dict[str, Spread]:
    """Per figure, its spread over the runs; ``x raw`` pairs each run with its own raw run."""
    figures: dict[str, Callable[[Result], float]] = {
        "req/s": lambda r: r.rps,
        "x raw": lambda r: r.rps / r.raw if r.raw else float("nan"),
        "p50 ms": lambda r: r.p50_ms,
        "p99 ms": lambda r: r.p99_ms,
        "req/call": lambda r: r.per_call,
        "cores": lambda r: r.server_cores,
        "CPU us/req": lambda r: r.cpu_us,
    }
    return {name: Spread([get(r) for r in runs]) for name, get in figures.items()}


def batch_counts(server: ModelServerProcess) -> tuple[float, float]:
    """(requests, onnxruntime calls) the server has counted so far, from its /metrics."""
    text = server.request("GET", "/metrics")[2].decode()
    found = dict(re.findall(r"^model_batch_requests_(sum|count) ([\d.e+]+)$", text, re.M))
    return float(found.get("sum", 0)), float(found.get("count", 0))


def measure(server: ModelServerProcess, script: Path, connections: int, seconds: float) -> Result:
    """wrk at ``connections``, with the server's CPU use and batching over the same time."""
    assert server.proc is not None
    cpu, (requests, calls), t = cpu_seconds(server.proc.pid), batch_counts(server), time.perf_counter()
    result = wrk(server.port, server.infer_path, script, connections, seconds)
    used = cpu_seconds(server.proc.pid) - cpu
    result.server_cores = used / (time.perf_counter() - t)
    result.cpu_us = used / max(1, result.requests) * 1e6
    requests_after, calls_after = batch_counts(server)
    result.per_call = (requests_after - requests) / max(1.0, calls_after - calls)
    return result


def own_cpu_seconds() -> float:
    """CPU time of this process and of its finished children (wrk runs, the trainer)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def session(model: Path, threads: int = 1) -> object:
    """An InferenceSession with the server's options (model_server.model.OnnxModel)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def raw_rate(sess: object, seconds: float, rows: int = ROWS_PER_CALL) -> float:
    """Calls per second of ``sess.run`` on ``rows`` copies of the benchmark's row."""
    return raw_run(sess, seconds, rows)[0]


def raw_run(sess: object, seconds: float, rows: int = ROWS_PER_CALL) -> tuple[float, float]:
    """(calls per second, CPU microseconds per call) of ``sess.run`` on ``rows`` copies of
    the benchmark's row; the CPU time is this thread's (the session runs on it)."""
    x = {"input": np.asarray([ROW] * rows, dtype=np.float32)}
    run = sess.run  # type: ignore[attr-defined]
    for _ in range(5):
        run(None, x)
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        run(None, x)
        n += 1
    return n / (time.perf_counter() - t0), (time.thread_time() - c0) / n * 1e6


def machine_limit(model: Path, seconds: float, cores: int | None = None) -> float:
    """Rows/s of onnxruntime alone with every core busy: one single-threaded session per
    core, each on its own thread (onnxruntime releases the GIL), on 256-row calls."""
    cores = cores or os.cpu_count() or 1
    sessions = [session(model) for _ in range(cores)]
    rates = [0.0] * cores

    def work(i: int) -> None:
        rates[i] = raw_rate(sessions[i], seconds, LIMIT_ROWS)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(cores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rates) * LIMIT_ROWS
