"""The model server as a real process, over HTTP: correct predictions, bad input answered
with a 4xx (never a 500), bounded in-flight work, and a SIGTERM drain that drops nothing."""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tools.harness.model_server_process import ModelServerProcess, train_default_model
from tools.harness.moto_server import HOST

pytestmark = pytest.mark.slow  # starts processes; each test takes a second or more

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_default_model(tmp_path_factory.mktemp("model") / "model.json")


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProcess]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with ModelServerProcess(str(model_path), {"MAX_BATCH_ROWS": "200", "MAX_BODY_BYTES": "65536"}, log) as srv:
        yield srv


def offline_model() -> tuple[Any, Any]:
    """The same training as the image build, in-process with scikit-learn: (pipeline, X)."""
    import train  # handlers/model_server/train.py
    from sklearn.datasets import load_wine

    pipeline, _ = train.build()
    return pipeline, load_wine().data


def partial_request(port: int, instances: list[list[float]]) -> tuple[socket.socket, bytes]:
    """Headers and the first half of a /predict body sent; the rest is returned to send later."""
    body = json.dumps({"instances": instances}).encode()
    sock = socket.create_connection((HOST, port), timeout=20)
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return sock, body[half:]


def finish(sock: socket.socket, rest: bytes) -> tuple[int, Any]:
    sock.sendall(rest)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    sock.close()
    return int(head.split()[1]), json.loads(body)


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# --- predictions --------------------------------------------------------------------------


def test_predictions_equal_the_offline_model(server: ModelServerProcess) -> None:
    pipeline, x = offline_model()
    status, out = server.predict(x[:150].tolist())
    assert status == 200
    expected = pipeline.predict_proba(x[:150])
    assert np.allclose(np.asarray(out["probabilities"]), expected, atol=1e-6)
    names = ["class_0", "class_1", "class_2"]
    assert out["labels"] == [names[i] for i in pipeline.predict(x[:150])]
    assert out["model"] == "wine-logistic-regression"


def test_probes_metrics_and_openapi(server: ModelServerProcess) -> None:
    assert server.request("GET", "/health")[0] == 200
    assert server.request("GET", "/ready")[0] == 200
    status, headers, body = server.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'model_requests_total{route="/ready",code="200"}' in body.decode()
    assert "model_predict_duration_seconds_bucket" in body.decode()
    spec = json.loads(server.request("GET", "/openapi.json")[2])
    assert spec["openapi"].startswith("3.") and "/predict" in spec["paths"]
    row = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert row["properties"]["instances"]["items"]["minItems"] == 13
    assert server.request("GET", "/docs")[0] == 200


# --- bad input: a 4xx naming the problem, never a 500 --------------------------------------

ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]

BAD_BODIES = {
    "not JSON": (b"{instances: nope", 400, "not valid JSON"),
    "not UTF-8": (b"\xff\xfe{}", 400, "not valid JSON"),
    "top-level array": (b"[[1, 2]]", 422, "'instances'"),
    "missing instances": (b'{"rows": []}', 422, "'instances'"),
    "extra field": (json.dumps({"instances": [ROW], "x": 1}).encode(), 422, "unknown field"),
    "instances not a list": (b'{"instances": {"a": 1}}', 422, "must be a list"),
    "empty batch": (b'{"instances": []}', 422, "at least one row"),
    "row not a list": (b'{"instances": [5]}', 422, "instances[0]"),
    "short row": (json.dumps({"instances": [ROW[:5]]}).encode(), 422, "has 5 values"),
    "string value": (json.dumps({"instances": [[*ROW[:12], "big"]]}).encode(), 422, "instances[0][12]"),
    "bool value": (json.dumps({"instances": [[True, *ROW[1:]]]}).encode(), 422, "instances[0][0]"),
    "null value": (json.dumps({"instances": [[None, *ROW[1:]]]}).encode(), 422, "finite number"),
    "NaN value": (json.dumps({"instances": [[float("nan"), *ROW[1:]]]}).encode(), 422, "finite"),
    "huge integer": (json.dumps({"instances": [[10**400, *ROW[1:]]]}).encode(), 422, "within"),
    "out of range": (json.dumps({"instances": [[*ROW[:12], -1e300]]}).encode(), 422, "instances[0][12]"),
    "too many rows": (json.dumps({"instances": [ROW] * 201}).encode(), 422, "at most 200"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_body_is_a_4xx_with_a_message(server: ModelServerProcess, case: str) -> None:
    body, expected, fragment = BAD_BODIES[case]
    status, _, out = server.request("POST", "/predict", body, JSON)
    assert status == expected, out
    assert fragment in json.loads(out)["detail"]


def test_body_over_the_size_limit_is_413_and_never_read(server: ModelServerProcess) -> None:
    status, body = raw(
        server.port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
    )
    assert status == 413 and b"at most 65536" in body


def test_missing_length_chunked_and_wrong_type_are_4xx(server: ModelServerProcess) -> None:
    assert raw(server.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")[0] == 411
    chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    assert raw(server.port, chunked)[0] == 411
    body = json.dumps({"instances": [ROW]}).encode()
    assert server.request("POST", "/predict", body, {"Content-Type": "text/plain"})[0] == 415
    assert server.request("GET", "/predict")[0] == 405
    assert server.request("POST", "/health", b"")[0] == 405
    assert server.request("GET", "/nope")[0] == 404


def test_after_all_bad_input_no_500_was_ever_answered(server: ModelServerProcess) -> None:
    for body, _, _ in BAD_BODIES.values():
        server.request("POST", "/predict", body, JSON)
    metrics = server.request("GET", "/metrics")[2].decode()
    assert 'code="5' not in metrics, metrics
    assert server.predict([ROW])[0] == 200


# --- overload and shutdown -----------------------------------------------------------------


def test_overload_gets_503_with_retry_after_and_the_server_keeps_serving(model_path: Path, tmp_path: Path) -> None:
    with ModelServerProcess(str(model_path), {"MAX_IN_FLIGHT": "2"}, tmp_path / "server.log") as srv:
        held = [partial_request(srv.port, [ROW] * 3) for _ in range(2)]
        time.sleep(0.3)  # both are in flight, reading their bodies
        status, headers, body = srv.request("POST", "/predict", json.dumps({"instances": [ROW]}).encode(), JSON)
        assert status == 503 and headers["retry-after"] == "1", body
        assert srv.request("GET", "/health")[0] == 200, "probes are answered while busy"
        assert srv.request("GET", "/ready")[0] == 200
        results = [finish(sock, rest) for sock, rest in held]
        assert [s for s, _ in results] == [200, 200] and all(len(r["labels"]) == 3 for _, r in results)
        assert srv.predict([ROW])[0] == 200, "serving again once a slot is free"
        assert "model_rejected_total 1" in srv.request("GET", "/metrics")[2].decode()


def test_sigterm_drains_in_flight_requests_and_exits_cleanly(model_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with ModelServerProcess(str(model_path), {"DRAIN_DELAY_S": "1", "DRAIN_TIMEOUT_S": "10"}, log) as srv:
        held = [partial_request(srv.port, [ROW] * (i + 1)) for i in range(5)]
        time.sleep(0.3)
        srv.signal()
        deadline = time.monotonic() + 5
        while srv.request("GET", "/ready")[0] != 503:  # readiness turns false first
            assert time.monotonic() < deadline, "readiness never went false"
            time.sleep(0.05)
        time.sleep(1.5)  # the listener is closed now: no new work is accepted
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, srv.port), timeout=2).close()
        results = [finish(sock, rest) for sock, rest in held]
        assert [s for s, _ in results] == [200] * 5, "no in-flight request was dropped"
        assert [len(r["labels"]) for _, r in results] == [1, 2, 3, 4, 5]
        assert srv.wait(15) == 0
    assert '"drained"' in log.read_text()


# --- connections: one event loop serves them all -----------------------------------------


class Responses:
    """Reads HTTP/1.1 responses one after another from one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.data = sock, b""

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.data:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before a full response: {self.data!r}"
            self.data += chunk
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.data) < length:
            self.data += self.sock.recv(65536)
        body, self.data = self.data[:length], self.data[length:]
        return int(lines[0].split()[1]), headers, body


def post(instances: list[list[float]], extra: str = "") -> bytes:
    body = json.dumps({"instances": instances}).encode()
    return (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_pipelined_requests_are_answered_in_order_on_one_connection(server: ModelServerProcess) -> None:
    """Requests sent back to back before any answer (what a keep-alive client may do):
    each is answered, in order, on the same connection."""
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(post([ROW]) + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post([ROW] * 3)
                     + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + post([ROW] * 2))  # fmt: skip
        answers = Responses(sock)
        got = [answers.next() for _ in range(5)]
    assert [status for status, _, _ in got] == [200, 200, 200, 404, 200]
    assert [len(json.loads(got[i][2])["labels"]) for i in (0, 2, 4)] == [1, 3, 2]


def test_a_client_that_leaves_mid_body_frees_its_slot(model_path: Path, tmp_path: Path) -> None:
    with ModelServerProcess(str(model_path), {"MAX_IN_FLIGHT": "1"}, tmp_path / "server.log") as srv:
        sock, _ = partial_request(srv.port, [ROW] * 3)
        time.sleep(0.3)
        assert srv.predict([ROW])[0] == 503, "the one slot is held by the half-sent body"
        sock.close()
        deadline = time.monotonic() + 5
        while srv.predict([ROW])[0] != 200:
            assert time.monotonic() < deadline, "the slot of a client that left was never freed"
            time.sleep(0.05)
        assert "model_in_flight 0" in srv.request("GET", "/metrics")[2].decode()


def test_a_stalled_body_gets_408_and_an_idle_connection_is_closed(model_path: Path, tmp_path: Path) -> None:
    with ModelServerProcess(str(model_path), {"SOCKET_TIMEOUT_S": "1"}, tmp_path / "server.log") as srv:
        stalled, _ = partial_request(srv.port, [ROW] * 3)
        idle = socket.create_connection((HOST, srv.port), timeout=10)
        t = time.monotonic()
        status, headers, body = Responses(stalled).next()
        assert status == 408 and headers["connection"] == "close" and b"not received in time" in body
        assert idle.recv(1) == b"", "an idle keep-alive connection is closed after SOCKET_TIMEOUT_S"
        assert time.monotonic() - t < 5
        stalled.close()
        idle.close()
        assert srv.predict([ROW])[0] == 200 and "model_in_flight 0" in srv.request("GET", "/metrics")[2].decode()


def test_malformed_requests_are_4xx_and_expect_continue_is_honoured(server: ModelServerProcess) -> None:
    assert raw(server.port, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")[0] == 431
    assert raw(server.port, b"HELLO\r\n\r\n")[0] == 400
    assert raw(server.port, b"GET /health HTTP/1.1\r\n bad header\r\n\r\n")[0] == 400
    assert raw(server.port, b"GET /health HTTP/2.0\r\n\r\n")[0] == 505
    two_lengths = b"POST /predict HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n{}"
    assert raw(server.port, two_lengths)[0] == 400
    request = post([ROW], extra="Expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        answers = Responses(sock)
        assert answers.next()[0] == 100, "the client is told to send its body"
        sock.sendall(body)
        assert answers.next()[0] == 200


# --- configuration and model loading ------------------------------------------------------


def test_a_bad_model_stops_the_process_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "linear-classifier/v1", "feature_names": ["a"], "classes": ["x"]}))
    srv = ModelServerProcess(str(bad), log_path=tmp_path / "server.log")
    with pytest.raises(RuntimeError, match="exited with 3"):
        srv.start()
    text = (tmp_path / "server.log").read_text()
    assert "classes must be a list of >= 2 strings" in text and "mean must have shape" in text


def test_bad_configuration_names_every_variable(model_path: Path, tmp_path: Path) -> None:
    srv = ModelServerProcess(str(model_path), {"MAX_IN_FLIGHT": "0", "DRAIN_DELAY_S": "soon"}, tmp_path / "s.log")
    with pytest.raises(RuntimeError, match="exited with 2"):
        srv.start()
    text = (tmp_path / "s.log").read_text()
    assert "MAX_IN_FLIGHT='0'" in text and "DRAIN_DELAY_S='soon'" in text


@pytest.mark.emulator
def test_model_loads_from_s3(model_path: Path, tmp_path: Path) -> None:
    """MODEL_URI=s3://... against a moto server this test starts (no AWS)."""
    from tools.deploy.round_trip import aws_client, emulator_settings
    from tools.harness.moto_server import MotoServer

    with MotoServer(tmp_path / "moto.log") as moto:
        s3 = aws_client("s3", emulator_settings(moto.endpoint, environ={}))
        s3.create_bucket(Bucket="models")
        s3.put_object(Bucket="models", Key="wine/v1.json", Body=model_path.read_bytes())
        env = {
            "AWS_ENDPOINT_URL": moto.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with ModelServerProcess("s3://models/wine/v1.json", env, tmp_path / "server.log") as srv:
            status, out = srv.predict([ROW])
            assert status == 200 and out["labels"] == ["class_0"]
            assert math.isclose(sum(out["probabilities"][0]), 1.0, abs_tol=1e-5)


# --- the OpenAPI contract, property-based ---------------------------------------------------


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_server_honours_its_openapi_contract(server: ModelServerProcess, mode: str) -> None:
    """Schema-valid and schema-violating requests to every operation: documented status
    codes and content types, schema-valid responses, never a 5xx, invalid data rejected
    (schemathesis's default checks). Driven without its pytest plugin, which does not
    support pytest 9 yet."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"http://{HOST}:{server.port}/openapi.json")
    generation = schemathesis.GenerationMode(mode)
    results: list[Any] = list(schema.get_all_operations())  # Ok | Err; an Err raises on .ok()
    operations = [result.ok() for result in results]
    assert "POST /predict" in {op.label for op in operations}
    before = predict_calls(server)
    for operation in operations:
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # GETs take no input: nothing to violate

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate()

        check()
    assert predict_calls(server) >= before + 20, "schemathesis really called /predict"


def predict_calls(server: ModelServerProcess) -> int:
    metrics = server.request("GET", "/metrics")[2].decode()
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('model_requests_total{route="/predict"')
    )
