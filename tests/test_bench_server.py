"""The model-server benchmark's process readings (the benchmark itself is `make bench-server`)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from model_server import model as model_lib
from model_server.protocol import parse

from tools.bench.server import main
from tools.bench.server_measure import (
    LIMIT_ROWS,
    Spread,
    cpu_seconds,
    machine_limit,
    raw_rate,
    rss_mib,
    session,
    summarize,
)
from tools.bench.server_points import EMF, EMF_PAIRS, NO_PREDICTIONS, PAIRS, POINTS, PREDICTIONS, in_order
from tools.bench.server_report import cpu_model, emf_comparison, targets, versions
from tools.bench.server_wrk import Result, binary_body, parse_wrk, wrk_script
from tools.harness.model_server_process import train_default_model


def test_cpu_seconds_counts_this_process_s_work_not_its_sleep() -> None:
    before = cpu_seconds(os.getpid())
    time.sleep(0.3)
    slept = cpu_seconds(os.getpid()) - before
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    worked = cpu_seconds(os.getpid()) - before - slept
    assert slept < 0.1 and 0.2 <= worked < 1.0, (slept, worked)


def test_rss_reads_current_and_peak_memory() -> None:
    now, peak = rss_mib(os.getpid())
    assert 1 < now <= peak


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8080/v2/models/mlp/infer
  2 threads and 16 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.31ms
     99%   12.50ms
  3001 requests in 2.00s, 1.01MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1500.25
"""


def test_wrk_output_is_read_in_milliseconds_with_errors_counted() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert (r.rps, r.p50_ms, r.p99_ms, r.requests, r.errors) == (1500.25, 0.812, 12.5, 3001, 3)


def test_spread_pairs_each_run_with_its_own_raw_run() -> None:
    runs = [
        Result(900, 1.0, 2.0, 1, 0, raw=1000),
        Result(400, 3.0, 9.0, 1, 0, raw=500),
        Result(1200, 0.9, 1.5, 1, 0, raw=1000),
    ]
    s = summarize(runs)
    # the slow run came with a slow raw run: its ratio is not an outlier
    assert s["x raw"].values == [0.9, 0.8, 1.2] and s["x raw"].median == 0.9
    assert s["req/s"].show() == "900 (400-1200)"
    assert Spread().show() == "-"


def test_binary_body_is_what_the_server_parses_to_the_same_rows(tmp_path: Path) -> None:
    rows = [[float(i + j) / 3 for j in range(13)] for i in range(8)]
    body, head = binary_body(rows)
    model = model_lib.load(str(train_default_model(tmp_path / "wine.onnx")), "wine")
    request = parse(body, str(head), model, 100)
    assert np.array_equal(request.inputs["input"], np.asarray(rows, np.float32))
    assert request.binary_outputs == set(request.outputs) == {"label", "probabilities"}


def test_wrk_script_carries_every_byte_of_a_binary_body() -> None:
    body = bytes(range(256)) + b'\r\n"\\'
    script = wrk_script(body, {"Inference-Header-Content-Length": "3"})
    assert 'wrk.headers["Inference-Header-Content-Length"] = "3"' in script
    literal = re.search(r'^wrk\.body = "(.*)"$', script, re.M)
    assert literal is not None
    decoded = bytes(int(n) for n in literal.group(1).split("\\")[1:])
    assert decoded == body


def test_cpu_model_names_the_cpu_and_its_vector_level(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7R13\nflags\t\t: fpu sse avx avx2 fma\n")
    assert cpu_model(info) == "AMD EPYC 7R13, avx2"
    assert cpu_model(tmp_path / "missing") == "unknown CPU"


def test_targets_judge_the_medians() -> None:
    def point(rps: float, ratio: float, p50: float) -> dict[str, Spread]:
        return {"req/s": Spread([rps]), "x raw": Spread([ratio]), "p50 ms": Spread([p50])}

    table = {
        ("no batching", 1, "json"): point(800, 0.5, 1.2),
        ("no batching", 16, "json"): point(1800, 0.95, 9),
        ("batching", 64, "json"): point(3300, 1.65, 19),
    }
    verdicts = targets(table, Spread([2000]), 40000, {"a": (120.0, 121.0), "b": (135.0, 135.0)})
    assert [ok for _, ok in verdicts] == [False, True, True, False, False], verdicts
    assert "1.20 ms <= model 0.50 + 0.5 ms" in verdicts[0][0] and "135.0 MiB" in verdicts[4][0]


def test_machine_limit_runs_every_core_on_large_batches(tmp_path: Path) -> None:
    model = train_default_model(tmp_path / "wine.onnx")  # the small model: the test is about the sum
    one = machine_limit(model, 0.3, cores=1)
    assert one > 0 and raw_rate(session(model), 0.2, rows=LIMIT_ROWS) > 0


def test_versions_name_the_server_and_onnxruntime() -> None:
    text = versions()
    assert re.search(r"model server \d+\.\d+", text) and re.search(r"onnxruntime \d+\.\d+", text), text


def test_run_length_must_be_whole_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server.py", "1.5"]) == 2
    assert "whole seconds" in capsys.readouterr().err
    assert main(["server.py", "2", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_emf_on_is_judged_run_by_run_against_the_emf_off_run_beside_it() -> None:
    def runs(*rps_p99: tuple[float, float]) -> list[Result]:
        return [Result(rps, 1.0, p99, 1, 0, cpu_us=1e6 / rps) for rps, p99 in rps_p99]

    results = {
        ("batching", 16, "json"): runs((1000, 10), (500, 20), (1000, 10)),
        (EMF, 16, "json"): runs((990, 10), (480, 20), (1000, 11)),
        ("batching", 64, "json"): runs((3000, 20), (3000, 20), (3000, 20)),
        (EMF, 64, "json"): runs((2800, 20), (2850, 22), (2900, 23)),
        # the prediction metrics' pair: within target at both concurrencies
        (NO_PREDICTIONS, 16, "json"): runs((1000, 10), (1000, 10), (1000, 10)),
        (PREDICTIONS, 16, "json"): runs((990, 10), (995, 10), (1000, 10)),
        (NO_PREDICTIONS, 64, "json"): runs((3000, 20), (3000, 20), (3000, 20)),
        (PREDICTIONS, 64, "json"): runs((2950, 20), (2990, 20), (3000, 20)),
    }
    verdicts = emf_comparison(results)
    # 16 clients: the slow second run was slow on both sides (0.96), the median pair is 0.99
    assert [ok for _, ok in verdicts] == [True, True, True, False, False, False] + [True] * 6, verdicts
    assert "req/s 0.990 (0.960-1.000)" in verdicts[0][0] and "EMF on/off" in verdicts[0][0]
    assert "16 clients, batching, prediction metrics on/off: req/s 0.995" in verdicts[6][0]
    even, odd = in_order(0), in_order(1)
    assert set(even) == set(odd) == set(POINTS)
    for clients, (on_server, off_server) in ((c, pair) for c in (16, 64) for pair in PAIRS.items()):
        on, off = (on_server, clients, "json"), (off_server, clients, "json")
        for order in (even, odd):
            assert order.count(on) == order.count(off) == EMF_PAIRS
            first = order.index(on) if order.index(on) < order.index(off) else order.index(off)
            pairs = [tuple(order[first + 2 * k : first + 2 * k + 2]) for k in range(EMF_PAIRS)]
            assert all(set(pair) == {on, off} for pair in pairs), "back-to-back pairs"
            assert pairs[0] != pairs[1], "the order alternates from pair to pair"
        assert even[even.index(off) : even.index(off) + 2] == [off, on]
        assert odd[odd.index(on) : odd.index(on) + 2] == [on, off], "and from run to run"
