"""The model server's CloudWatch Embedded Metric Format (EMF) output: each document is one
CloudWatch can extract (spec checks below), one is written per interval and never per
request, its counts add up to the calls the server received, a sink that fails never
touches serving, and with EMF off nothing extra is printed."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from model_server import emf
from model_server.config import Config, ConfigError

from tests.test_model_server import INFER, JSON, ROW, finish, model_path, partial_request  # noqa: F401  # fixture
from tests.test_model_server_auth import AUDIENCE, ISSUER, bearer, issuer, token  # noqa: F401  # fixture
from tools.harness.model_server_process import ModelServerProcess, infer_body
from tools.harness.moto_server import HOST

NAMESPACE = "Test/ModelServer"
# CloudWatch's units (MetricDatum.Unit)
UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}
CONTRACT = {  # what the alarms, scaling and dashboards are built on: name -> unit
    "Requests": "Count",
    "ServerErrors": "Count",
    "Rejected": "Count",
    "Unauthorized": "Count",
    "InferredRows": "Count",
    "InFlight": "Count",
    "Draining": "None",
    "Latency": "Milliseconds",
    "BatchRequests": "Count",
    "BatchRows": "Count",
}


def check_emf(doc: dict[str, Any]) -> None:
    """The EMF specification's rules, each one an assertion."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and abs(meta["Timestamp"] - time.time() * 1000) < 3600_000, "ms"
    assert meta["CloudWatchMetrics"], "at least one directive"
    for directive in meta["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        assert 1 <= len(directive["Metrics"]) <= 100
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(doc[name], str) and doc[name], f"dimension {name} is a top-level string"
        for metric in directive["Metrics"]:
            assert metric["Unit"] in UNITS, metric
            value = doc[metric["Name"]]  # every metric named is a top-level member
            if isinstance(value, dict):  # a distribution: each value once, with how often it occurred
                assert set(value) == {"Values", "Counts"}
                assert 1 <= len(value["Values"]) == len(value["Counts"]) <= 100
                assert all(math.isfinite(v) for v in value["Values"]) and all(c > 0 for c in value["Counts"])
            elif isinstance(value, list):  # EMF_DISTRIBUTION=values: plain observations
                assert 1 <= len(value) <= 100 and all(math.isfinite(v) for v in value)
            else:
                assert isinstance(value, int | float) and math.isfinite(value), metric


def identity() -> emf.Identity:
    return emf.Identity(namespace=NAMESPACE, service="model-server", model="wine", version="3")


# --- the document -------------------------------------------------------------------------


def test_a_document_meets_the_emf_specification_and_the_contract() -> None:
    window = emf.Window(now=100.0)
    window.requests, window.rejected, window.rows = 7, 2, 40
    for seconds in (0.0004, 0.0011, 0.0011, 0.25):
        window.latency.add(seconds)
    window.observe_batch(3, 24)
    doc = emf.document(identity(), window, now=110.0, in_flight=0, draining=False)
    check_emf(doc)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["Service"], ["Service", "Model", "Version"]], "alarms use Service alone"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == CONTRACT
    assert (doc["Service"], doc["Model"], doc["Version"]) == ("model-server", "wine", "3")
    assert (doc["Requests"], doc["Rejected"], doc["InferredRows"], doc["Draining"]) == (7, 2, 40, 0)
    assert doc["Latency"]["Counts"] == [1, 2, 1]
    for value, ms in zip(doc["Latency"]["Values"], (0.4, 1.1, 250), strict=True):
        assert abs(value / ms - 1) <= emf.GRID_STEP / 2, "milliseconds, on the grid"


def test_an_idle_interval_still_writes_every_count_as_zero_and_no_empty_distribution() -> None:
    """Alarms on rates need the zeros; an empty Values array would not be a valid metric."""
    doc = emf.document(identity(), emf.Window(now=0.0), now=10.0, in_flight=0, draining=True)
    check_emf(doc)
    names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["Requests", "ServerErrors", "Rejected", "Unauthorized", "InferredRows", "InFlight", "Draining"]
    assert [doc[n] for n in names[:-1]] == [0] * 6 and doc["Draining"] == 1
    assert "Latency" not in doc


def test_in_flight_is_the_time_weighted_mean_over_the_interval() -> None:
    window = emf.Window(now=0.0)
    window.in_flight(0, 2.0)  # 0 until t=2, then 1
    window.in_flight(1, 4.0)  # 1 until t=4, then 2
    doc = emf.document(identity(), window, now=10.0, in_flight=2, draining=False)  # 2 until the end
    assert doc["InFlight"] == pytest.approx((0 * 2 + 1 * 2 + 2 * 6) / 10)


def test_a_distribution_of_many_values_keeps_at_most_100_with_the_count_and_the_mean() -> None:
    dist = emf.Distribution()
    for v in range(1, 1001):
        for _ in range(v % 3 + 1):
            dist.add(v)
    encoded = dist.encode()
    assert encoded is not None and len(encoded["Values"]) <= 100
    n = sum(v % 3 + 1 for v in range(1, 1001))
    total = sum(v * (v % 3 + 1) for v in range(1, 1001))
    assert sum(encoded["Counts"]) == n
    mean = sum(v * c for v, c in zip(encoded["Values"], encoded["Counts"], strict=True)) / n
    assert mean == pytest.approx(total / n, rel=1e-4)
    assert encoded["Values"] == sorted(encoded["Values"])


def test_latencies_share_keys_within_two_percent() -> None:
    latencies = emf.Latencies()
    seconds = [0.0001 * 1.003**i for i in range(2000)]  # 0.1 ms to 40 ms
    for s in seconds:
        latencies.add(s)
    assert len(latencies.counts) < 320, "close latencies share a key"
    for key in latencies.counts:
        value = latencies.value(key)
        assert min(abs(value / (s * 1000) - 1) for s in seconds) <= emf.GRID_STEP / 2


# --- configuration ---------------------------------------------------------------------------


def test_emf_is_off_by_default_and_every_bad_variable_is_named() -> None:
    config = Config.from_env({})
    assert (config.emf_namespace, config.emf_interval_s, config.emf_service, config.emf_sink) == (
        "",
        10,
        "model-server",
        "stdout",
    )
    good = {
        "EMF_NAMESPACE": "RAI/Model Server",
        "EMF_INTERVAL_S": "60",
        "EMF_SERVICE": "wine-a.1",
        "EMF_SINK": "udp://127.0.0.1:25888",
    }
    assert Config.from_env(good).emf_sink == "udp://127.0.0.1:25888"
    assert emf.sink_for("tcp://127.0.0.1").address == ("127.0.0.1", 25888)  # type: ignore[attr-defined]
    bad = {
        "EMF_NAMESPACE": "AWS/Mine",
        "EMF_INTERVAL_S": "0",
        "EMF_SERVICE": "model server",
        "EMF_SINK": "http://127.0.0.1:25888",
    }
    with pytest.raises(ConfigError) as raised:
        Config.from_env(bad)
    for var, value in bad.items():
        assert f"{var}={value!r}" in str(raised.value)
    for interval in ("3601", "1.5", "x"):
        with pytest.raises(ConfigError, match="EMF_INTERVAL_S"):
            Config.from_env({"EMF_INTERVAL_S": interval})
    with pytest.raises(ConfigError, match="EMF_SINK"):
        Config.from_env({"EMF_SINK": "tcp://127.0.0.1:70000"})


# --- sinks -----------------------------------------------------------------------------------


class State:
    """What the writer reads: the open window, calls in flight, draining."""

    def __init__(self) -> None:
        self.metrics = self
        self.window = emf.Window(time.perf_counter())
        self.in_flight = 0
        self.draining = False
        self.unfit: str | None = None


class Broken:
    def write(self, line: bytes) -> None:
        raise ConnectionRefusedError("agent down")

    def close(self) -> None:
        pass


def test_a_failing_sink_drops_the_document_and_says_so_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    writer = emf.EmfWriter(identity(), 1, Broken(), State())
    writer.send(writer.take())
    writer.send(writer.take())
    assert writer.dropped == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "agent down" in err[1] and "2 so far" in err[1]


def test_the_udp_sink_sends_one_datagram_per_document() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind((HOST, 0))
        listener.settimeout(5)
        writer = emf.EmfWriter(identity(), 1, emf.sink_for(f"udp://{HOST}:{listener.getsockname()[1]}"), State())
        writer.send(writer.take())
        check_emf(json.loads(listener.recv(65536)))


# --- the server process ------------------------------------------------------------------------


def emf_lines(log: Path, *, classes: bool = False) -> list[dict[str, Any]]:
    """The server's own documents, or with ``classes`` a classifier's one-per-class documents."""
    docs = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"_aws"')]
    for doc in docs:
        check_emf(doc)
    return [doc for doc in docs if ("Class" in doc) == classes]


def total(docs: list[dict[str, Any]], name: str) -> int:
    return sum(doc[name] for doc in docs)


@pytest.mark.slow
def test_the_server_writes_one_document_per_interval_that_counts_every_call(model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "server.log"
    env = {"EMF_NAMESPACE": NAMESPACE, "EMF_INTERVAL_S": "1", "MAX_IN_FLIGHT": "2", "MODEL_VERSION": "7"}
    with ModelServerProcess(str(model_path), env, log) as srv:
        started = time.monotonic()
        held = [partial_request(srv.port, [ROW] * 2) for _ in range(2)]
        time.sleep(0.3)  # both hold their slots
        assert [srv.request("POST", INFER, infer_body([ROW]), JSON)[0] for _ in range(3)] == [503] * 3
        assert [s for s, _ in (finish(sock, rest) for sock, rest in held)] == [200, 200]
        assert srv.request("POST", INFER, b"{not json", JSON)[0] == 400
        statuses = [srv.infer([ROW] * 3)[0] for _ in range(300)]
        assert statuses == [200] * 300
        time.sleep(1.5)  # an idle interval or more
        srv.signal()
        assert srv.wait(15) == 0
        elapsed = time.monotonic() - started
    docs = emf_lines(log)
    # one per second from the start, plus the last one at shutdown: tied to time, not to calls
    assert elapsed - 1 <= len(docs) <= elapsed + 3, (len(docs), elapsed)
    assert total(docs, "Requests") == 2 + 3 + 1 + 300
    assert (total(docs, "Rejected"), total(docs, "ServerErrors"), total(docs, "Unauthorized")) == (3, 0, 0)
    assert total(docs, "InferredRows") == 2 * 2 + 300 * 3
    latencies = [c for doc in docs if "Latency" in doc for c in doc["Latency"]["Counts"]]
    assert sum(latencies) == 2 + 1 + 300, "every admitted call's time, the 503s answered at the door excluded"
    batches = [c for doc in docs if "BatchRows" in doc for c in doc["BatchRows"]["Counts"]]
    assert sum(batches) == 302, "one onnxruntime call per request at one client (the bad body never ran)"
    assert max(doc["InFlight"] for doc in docs) > 0 and docs[0]["Draining"] == 0 and docs[-1]["Draining"] == 1
    assert {(d["Service"], d["Model"], d["Version"]) for d in docs} == {("model-server", "wine", "7")}
    assert {d["GoldenSetFailed"] for d in docs} == {0}, "no golden set beside this model: served unchecked"
    # what the model predicted: the rows of the successful calls only (not the 503s, not the 400)
    predicted = emf_lines(log, classes=True)
    assert {tuple(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for d in predicted} == {
        ("Service", "Model", "Version", "Class")
    }
    assert {m["Name"]: m["Unit"] for d in predicted for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        "Predictions": "Count"
    }
    per_class = {d["Class"]: 0 for d in predicted}
    for d in predicted:
        per_class[d["Class"]] += d["Predictions"]
    assert per_class == {"0": 2 * 2 + 300 * 3}, "ROW is class 0: every row of every successful call"


@pytest.mark.slow
def test_with_emf_off_the_server_prints_no_document(model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "server.log"
    with ModelServerProcess(str(model_path), {"EMF_INTERVAL_S": "1"}, log) as srv:
        assert srv.infer([ROW])[0] == 200
        time.sleep(1.5)
    assert log.read_text() and "_aws" not in log.read_text()


@pytest.mark.slow
def test_unauthorized_calls_are_counted(model_path: Path, issuer: str, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "server.log"
    env = {
        "EMF_NAMESPACE": NAMESPACE,
        "EMF_INTERVAL_S": "1",
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWKS_URL": issuer,
    }
    with ModelServerProcess(str(model_path), env, log) as srv:
        body = infer_body([ROW])
        assert [srv.request("POST", INFER, body, bearer("nope"))[0] for _ in range(4)] == [401] * 4
        assert srv.request("POST", INFER, body, bearer(token()))[0] == 200
    docs = emf_lines(log)
    assert (total(docs, "Unauthorized"), total(docs, "Requests")) == (4, 5)


@pytest.fixture
def agent() -> Iterator[tuple[int, list[bytes]]]:
    """A stand-in for the CloudWatch agent's TCP EMF listener: (port, lines received)."""
    server = socket.create_server((HOST, 0))
    lines: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                lines.extend(line.rstrip(b"\n") for line in stream)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], lines
    server.close()


@pytest.mark.slow
def test_the_tcp_sink_delivers_the_documents_to_the_agent(
    model_path: Path,  # noqa: F811
    agent: tuple[int, list[bytes]],
    tmp_path: Path,
) -> None:
    port, lines = agent
    log = tmp_path / "server.log"
    env = {"EMF_NAMESPACE": NAMESPACE, "EMF_INTERVAL_S": "1", "EMF_SINK": f"tcp://{HOST}:{port}"}
    with ModelServerProcess(str(model_path), env, log) as srv:
        assert [srv.infer([ROW])[0] for _ in range(20)] == [200] * 20
        time.sleep(1.5)
    deadline = time.monotonic() + 5
    while sum(json.loads(line).get("Requests", 0) for line in lines) < 20:
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        check_emf(doc)
    docs = [doc for doc in docs if "Class" not in doc]  # the server's own; a classifier's per class besides
    assert total(docs, "Requests") == 20 and len(docs) >= 2
    assert "_aws" not in log.read_text(), "to the agent, not to stdout"


@pytest.mark.slow
def test_an_agent_that_is_down_never_touches_serving(model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    closed = socket.create_server((HOST, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    log = tmp_path / "server.log"
    env = {"EMF_NAMESPACE": NAMESPACE, "EMF_INTERVAL_S": "1", "EMF_SINK": f"tcp://{HOST}:{port}"}
    with ModelServerProcess(str(model_path), env, log) as srv:
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            assert srv.infer([ROW])[0] == 200
        assert srv.request("GET", "/v2/health/ready")[0] == 200
        srv.signal()
        assert srv.wait(15) == 0
        elapsed = time.monotonic() - started
    warnings = [line for line in log.read_text().splitlines() if "EMF document dropped" in line]
    # once per interval, and the last one at shutdown; each document counted (the server's own and,
    # once a class was seen, the classifier's one for that class)
    assert elapsed - 1 <= len(warnings) <= elapsed + 3, (len(warnings), elapsed)
    so_far = re.search(r"\((\d+) so far\)", warnings[-1])
    assert so_far and len(warnings) < int(so_far.group(1)) <= 2 * len(warnings)
