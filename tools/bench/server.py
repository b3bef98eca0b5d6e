"""Benchmark of the model server (``make bench-server``; not a test).

The heavier model (train.py --heavy: an MLP, 3 x 1024 hidden units) is served by
``python -m model_server`` twice at once: without dynamic batching (``MAX_BATCH_SIZE=0``:
one onnxruntime call per request) and with the server's default batching, each with
``INFER_THREADS`` = the CPU count (one single-threaded model call per core at once). ``wrk`` drives
each with keep-alive connections at concurrency 1, 16 and 64, POSTing the same 8-row infer
request as JSON tensors, and at the target points also with the binary tensor extension.

Each point is measured in ``RUNS`` short runs; each run is paired with a raw run just before
it (one ``InferenceSession.run`` on the same 8 rows in-process, same session options), so a
noisy neighbour slows both sides of a pair alike. Reported per point: the median and range
of req/s, of the pairs' x raw ratios, of p50 and p99. The machine limit is the most rows
per second onnxruntime reaches here with every core busy and 256-row calls; the server's
rows/s is shown against it. ``CPU us/req`` is the server's CPU time per request: on a
shared machine it moves far less than req/s, and beside the raw call's CPU time it is what
the server costs on top of the model.

A third server is the batching one with CloudWatch EMF on (``EMF_NAMESPACE``, a document every
second to stdout, here a file; prediction metrics off, as EMF was before them); at 16 and 64
clients each of its runs is paired with the EMF-off server's run just before or after it,
``EMF_PAIRS`` pairs per run back to back (the order alternates from pair to pair and from run
to run). A second pair measures the prediction metrics the same way: EMF on with them off
against EMF on with them on (the server's default). The
batching servers of the pairs are started anew for every run (in swapped order every other
run): a difference between two particular processes (the core each lands on, its memory
layout) would otherwise stay on one side of every pair.

Targets (docs/model-server-benchmark.md): one client, p50 <= the model's own time + 0.5 ms;
16 clients without batching >= 0.9x raw; 64 clients with batching >= 1.6x raw and >= 0.7x
the machine limit in rows/s; RSS of each server process <= 131 MiB; EMF on over off, and
prediction metrics on over off, in req/s >= 0.97, in p99 <= 1.05 and in the server's CPU
time per request <= 1/0.97, at 16 and 64 clients.

The points and their order are in tools.bench.server_points, the load (wrk) in
server_wrk, the readings and their spread in server_measure, the report and the targets
in server_report; this module runs them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from tools.bench.cpu_steal import CpuTimes, others_share
from tools.bench.server_measure import (
    ROW,
    ROWS_PER_CALL,
    cpu_seconds,
    machine_limit,
    measure,
    own_cpu_seconds,
    raw_run,
    rss_mib,
    session,
)
from tools.bench.server_points import FRESH_EACH_RUN, POINTS, SERVERS, Point, in_order
from tools.bench.server_report import Readings, report
from tools.bench.server_wrk import Result, binary_body, wrk, wrk_script
from tools.harness.model_server_process import ModelServerProcess, infer_body, train_default_model


def main(argv: Sequence[str]) -> int:
    try:  # wrk takes whole seconds
        seconds = int(argv[1]) if len(argv) > 1 else 2  # per run
        runs = int(argv[2]) if len(argv) > 2 else 5
    except ValueError:
        print(f"usage: {argv[0]} [SECONDS_PER_RUN (whole seconds)] [RUNS]; got {' '.join(argv[1:])!r}", file=sys.stderr)
        return 2
    if seconds < 1 or runs < 1:
        print(f"SECONDS_PER_RUN and RUNS must be at least 1; got {seconds} and {runs}", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("wrk is missing: `make wrk` (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    return report(run_all(seconds, runs))


def run_all(seconds: int, runs: int) -> Readings:
    """Every point ``runs`` times, ``seconds`` each, with the servers started for it."""
    results: dict[Point, list[Result]] = {p: [] for p in POINTS}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp, ExitStack() as stack:
        model = train_default_model(Path(tmp) / "mlp.onnx", heavy=True)
        scripts = {"json": Path(tmp) / "json.lua", "binary": Path(tmp) / "binary.lua"}
        scripts["json"].write_text(wrk_script(infer_body([ROW] * ROWS_PER_CALL), {"Content-Type": "application/json"}))
        body, head = binary_body([ROW] * ROWS_PER_CALL)
        scripts["binary"].write_text(
            wrk_script(body, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(head)})
        )
        sess = session(model)
        raw_cpu: list[float] = []
        cpu_before, own_before = CpuTimes.now(), own_cpu_seconds()
        limits = [machine_limit(model, 1.0)]
        servers: dict[str, ModelServerProcess] = {}
        memory: dict[str, tuple[float, float]] = {}
        servers_cpu = 0.0

        def start(name: str, within: ExitStack) -> None:
            # One onnxruntime call per core at once: what a server on a machine of this size is set to
            # (the server's default, 1, suits the 0.5-vCPU task of the model-serving stack).
            env = {
                "MAX_IN_FLIGHT": "256",
                "LOG_LEVEL": "WARNING",
                "INFER_THREADS": str(os.cpu_count() or 1),
                **SERVERS[name],
            }
            servers[name] = within.enter_context(ModelServerProcess(str(model), env, Path(tmp) / f"{name}.log"))
            wrk(servers[name].port, servers[name].infer_path, scripts["json"], 4, 1)  # warm-up

        def retire(name: str) -> None:
            """Its memory (the largest seen) and CPU time, before the process goes."""
            nonlocal servers_cpu
            proc = servers[name].proc
            assert proc is not None
            now, peak = rss_mib(proc.pid)
            memory[name] = max(memory.get(name, (0.0, 0.0)), (now, peak))
            servers_cpu += cpu_seconds(proc.pid)

        for name in SERVERS:
            if name not in FRESH_EACH_RUN:
                start(name, stack)
        for run in range(runs):
            with ExitStack() as this_run:
                # The EMF pair in new processes every run, started in swapped order every other run:
                # no process's own luck (its core, its memory layout) stays on one side of the pair.
                for name in FRESH_EACH_RUN[:: 1 if run % 2 == 0 else -1]:
                    start(name, this_run)
                for name, clients, kind in in_order(run):
                    paired, cpu_us = raw_run(sess, min(1.0, seconds))
                    raw_cpu.append(cpu_us)
                    result = measure(servers[name], scripts[kind], clients, seconds)
                    result.raw = paired
                    results[(name, clients, kind)].append(result)
                for name in FRESH_EACH_RUN:
                    retire(name)
        limits.append(machine_limit(model, 1.0))
        for name in SERVERS:
            if name not in FRESH_EACH_RUN:
                retire(name)
        cpu_after = CpuTimes.now()
        others = others_share(cpu_before, cpu_after, own_cpu_seconds() - own_before + servers_cpu)
    return Readings(seconds, runs, results, raw_cpu, limits, memory, cpu_before, cpu_after, others)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
