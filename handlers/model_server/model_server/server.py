"""HTTP model server: stdlib ``http.server`` threads plus numpy.

Routes: ``GET /health`` (alive), ``GET /ready`` (model loaded and not draining),
``POST /predict`` (a batch of rows in, labels and probabilities out), ``GET /metrics``
(Prometheus text), ``GET /openapi.json`` and ``GET /docs``.

Behaviour that matters in production:

* the model is loaded once, before the port opens; a bad model stops the process with
  a clear message instead of serving errors;
* at most ``MAX_IN_FLIGHT`` predictions run at once; one more gets 503 with
  ``Retry-After`` at once (no unbounded queue), while health, readiness and metrics stay
  answered so a busy task is not mistaken for a dead one;
* bad input is a 4xx naming the problem, never a 500;
* SIGTERM: ``/ready`` turns 503 first, the listener closes after ``DRAIN_DELAY_S``, and
  in-flight requests finish (up to ``DRAIN_TIMEOUT_S``) before the process exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from model_server import model as model_lib
from model_server.metrics import Metrics
from model_server.openapi import docs_html, openapi_spec

log = logging.getLogger("model_server")

DEFAULT_MODEL_PATH = str(Path(__file__).resolve().parent / "model.json")


class ConfigError(ValueError):
    """Bad server configuration; the message names every bad variable."""


@dataclass(frozen=True, kw_only=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 8080
    model_uri: str = DEFAULT_MODEL_PATH
    max_in_flight: int = 32
    max_batch_rows: int = 1000
    max_body_bytes: int = 1024 * 1024
    retry_after_s: int = 1
    drain_delay_s: float = 2.0  # readiness is already false; lets a load balancer notice
    drain_timeout_s: float = 25.0  # below ECS's 30 s stop timeout: we exit before SIGKILL
    socket_timeout_s: float = 15.0  # idle keep-alive and slow bodies are dropped after this

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Read once at start. Every bad variable is named in one ConfigError."""
        defaults = cls()
        kwargs: dict[str, Any] = {}
        problems: list[str] = []
        fields: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], bool]]] = {
            "HOST": ("host", str, lambda v: bool(v)),
            "PORT": ("port", int, lambda v: 1 <= v <= 65535),
            "MODEL_URI": ("model_uri", str, lambda v: bool(v)),
            "MAX_IN_FLIGHT": ("max_in_flight", int, lambda v: v >= 1),
            "MAX_BATCH_ROWS": ("max_batch_rows", int, lambda v: v >= 1),
            "MAX_BODY_BYTES": ("max_body_bytes", int, lambda v: v >= 64),
            "RETRY_AFTER_S": ("retry_after_s", int, lambda v: v >= 1),
            "DRAIN_DELAY_S": ("drain_delay_s", float, lambda v: v >= 0),
            "DRAIN_TIMEOUT_S": ("drain_timeout_s", float, lambda v: v > 0),
            "SOCKET_TIMEOUT_S": ("socket_timeout_s", float, lambda v: v > 0),
        }
        for var, (name, parse, ok) in fields.items():
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            try:
                value = parse(raw)
            except ValueError:
                value = None
            if value is None or not ok(value):
                problems.append(f"{var}={raw!r}: expected {parse.__name__}, got an invalid value")
                continue
            kwargs[name] = value
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**{**{f: getattr(defaults, f) for f in cls.__dataclass_fields__}, **kwargs})


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


Predictor = Callable[[Any], dict[str, Any]]


class App:
    """State shared by every request thread: model, limits, metrics, drain flag."""

    def __init__(self, config: Config, model: model_lib.LinearClassifier) -> None:
        self.config = config
        self.model = model
        self.metrics = Metrics()
        self.draining = threading.Event()
        self._slots = threading.BoundedSemaphore(config.max_in_flight)
        self._in_flight = 0
        self._idle = threading.Condition()
        self.spec = json.dumps(openapi_spec(model, config.max_batch_rows, config.max_body_bytes)).encode()
        self.docs = docs_html(model).encode()

    def predict(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or "instances" not in payload:
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "body must be a JSON object with an 'instances' list")
        if len(payload) > 1:
            extra = sorted(set(payload) - {"instances"})
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"unknown field(s): {', '.join(extra)}")
        try:
            x = model_lib.to_matrix(payload["instances"], self.model.n_features, self.config.max_batch_rows)
        except model_lib.InputError as exc:
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
        labels, proba = self.model.predict(x)
        self.metrics.add_rows(len(labels))
        return {
            "model": self.model.name,
            "version": self.model.version,
            "labels": labels,
            "probabilities": proba.round(6).tolist(),
        }

    def try_enter(self) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._idle:
            self._in_flight += 1
        self.metrics.set_in_flight(self._in_flight)
        return True

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()
        self.metrics.set_in_flight(self._in_flight)
        self._slots.release()

    def wait_idle(self, timeout_s: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)


def make_handler(app: App, predict: Predictor | None = None) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``app``. ``predict`` replaces the model call
    (the benchmark's constant baseline runs through the very same handler)."""
    run_predict = predict or app.predict

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the ALB reuses connections
        server_version = "model-server"
        sys_version = ""
        timeout = app.config.socket_timeout_s
        # One send per response (headers + body, flushed by the stdlib after each request)
        # and no Nagle: otherwise a small response waits ~40 ms on the client's delayed ACK.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would cost more than the prediction; see /metrics

        def do_GET(self) -> None:
            route = self.path.split("?", 1)[0]
            if route == "/health":
                self._json(HTTPStatus.OK, {"status": "alive"}, route)
            elif route == "/ready":
                if app.draining.is_set():
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "draining"}, route)
                else:
                    self._json(HTTPStatus.OK, {"status": "ready", "model": app.model.name}, route)
            elif route == "/metrics":
                self._send(HTTPStatus.OK, app.metrics.render().encode(), "text/plain; version=0.0.4", route)
            elif route == "/openapi.json":
                self._send(HTTPStatus.OK, app.spec, "application/json", route)
            elif route == "/docs":
                self._send(HTTPStatus.OK, app.docs, "text/html; charset=utf-8", route)
            elif route == "/predict":
                self._error(HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", {"Allow": "POST"}), route)
            else:
                self._error(HttpError(HTTPStatus.NOT_FOUND, f"no route {route}"), "other")

        def do_POST(self) -> None:
            route = self.path.split("?", 1)[0]
            if route != "/predict":
                known = route in ("/health", "/ready", "/metrics", "/openapi.json", "/docs")
                status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
                self._discard_body()
                self._error(
                    HttpError(status, f"no POST route {route}", {"Allow": "GET"} if known else None),
                    route if known else "other",
                )
                return
            started = time.perf_counter()
            if not app.try_enter():
                app.metrics.rejected()
                self.close_connection = True  # the unread body must not be parsed as a request
                self._error(
                    HttpError(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        "server busy, retry later",
                        {"Retry-After": str(app.config.retry_after_s)},
                    ),
                    route,
                )
                return
            try:
                body = self._read_body()
                try:
                    payload = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {exc}") from None
                result = run_predict(payload)
                self._json(HTTPStatus.OK, result, route)
            except HttpError as exc:
                self._error(exc, route)
            except Exception:  # a bug must not kill the connection thread silently
                log.exception("predict failed")
                self._error(HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"), route)
            finally:
                app.leave()
                app.metrics.observe(time.perf_counter() - started)

        def do_PUT(self) -> None:
            self._discard_body()
            allow = "POST" if self.path.split("?", 1)[0] == "/predict" else "GET"
            self._error(HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allow}", {"Allow": allow}), "other")

        do_DELETE = do_PATCH = do_PUT

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send Content-Length, not chunked encoding")
            ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                self.close_connection = True
                raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer") from None
            if length > app.config.max_body_bytes:
                self.close_connection = True  # never read it: that is the point of the limit
                raise HttpError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body is {length} bytes; at most {app.config.max_body_bytes}"
                )
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                raise HttpError(HTTPStatus.REQUEST_TIMEOUT, "body not received in time") from None
            if len(body) < length:
                self.close_connection = True
                raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
            if ctype != "application/json":
                raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
            return body

        def _discard_body(self) -> None:
            length = self.headers.get("Content-Length", "0")
            if length.isdigit() and int(length) <= app.config.max_body_bytes:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

        def _error(self, exc: HttpError, route: str) -> None:
            self._json(exc.status, {"error": exc.status.phrase, "detail": exc.message}, route, exc.headers)

        def _json(self, status: HTTPStatus, doc: Any, route: str, headers: Mapping[str, str] | None = None) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json", route, headers)

        def _send(
            self, status: HTTPStatus, body: bytes, ctype: str, route: str, headers: Mapping[str, str] | None = None
        ) -> None:
            if app.draining.is_set():
                self.close_connection = True  # clients reconnect elsewhere, not to a closing socket
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            app.metrics.count(route, int(status))

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections never block the exit
    request_queue_size = 128  # bounded accept backlog


def build(config: Config, model: model_lib.LinearClassifier, predict: Predictor | None = None) -> tuple[App, Server]:
    app = App(config, model)
    server = Server((config.host, config.port), make_handler(app, predict))
    return app, server


def run(config: Config, predict: Predictor | None = None) -> int:
    """Load the model, serve until SIGTERM/SIGINT, drain, return the exit code."""
    t = time.perf_counter()
    try:
        model = model_lib.load(config.model_uri)
    except model_lib.ModelError as exc:
        log.error("cannot load model: %s", exc)
        return 3
    app, server = build(config, model, predict)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    log.info(
        "serving %s v%s on %s:%d (model loaded in %.0f ms, %d features, classes %s)",
        model.name,
        model.version,
        config.host,
        server.server_address[1],
        (time.perf_counter() - t) * 1000,
        model.n_features,
        ",".join(model.classes),
    )
    while not stop.wait(0.5):
        pass
    log.info("SIGTERM: not ready; closing the listener in %.1f s", config.drain_delay_s)
    app.draining.set()
    app.metrics.set_draining()
    time.sleep(config.drain_delay_s)
    server.shutdown()
    server.server_close()
    drained = app.wait_idle(config.drain_timeout_s)
    log.info("drained" if drained else "drain timeout: exiting with requests in flight")
    return 0 if drained else 1


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format='{"time":"%(asctime)s","level":"%(levelname)s","message":"%(message)s"}',
        stream=sys.stdout,
    )
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return run(config)
