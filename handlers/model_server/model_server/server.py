"""HTTP model server: one asyncio event loop (stdlib only) plus numpy.

Routes: ``GET /health`` (alive), ``GET /ready`` (model loaded and not draining),
``POST /predict`` (a batch of rows in, labels and probabilities out), ``GET /metrics``
(Prometheus text), ``GET /openapi.json`` and ``GET /docs``.

Behaviour that matters in production:

* the model is loaded once, before the port opens; a bad model stops the process with
  a clear message instead of serving errors;
* at most ``MAX_IN_FLIGHT`` predictions are admitted at once, counted from a request's
  headers to its answer (bodies still arriving and predictions queued behind the one
  running); one more gets 503 with ``Retry-After`` at once and its connection is closed
  (no unbounded queue), while health, readiness and metrics stay answered so a busy task
  is not mistaken for a dead one;
* bad input is a 4xx naming the problem, never a 500;
* SIGTERM: ``/ready`` turns 503 first, the listener closes after ``DRAIN_DELAY_S``, and
  in-flight requests finish (up to ``DRAIN_TIMEOUT_S``) before the process exits 0.

Why one event loop and no threads: a prediction is ~50 us of CPU that holds the GIL; with a
thread per connection every response handed the GIL to other request threads and back, and
the server spent more time switching than predicting (README, model-serving "Choices").
Here the loop reads every ready socket, then answers the admitted predictions in order:
no GIL handoffs, and the requests read in one pass are what counts against the limit.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any

from model_server import auth
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
    # Public exposure: every route but the probes needs a bearer JWT of this issuer/audience.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwks_url: str = ""

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
            "JWT_ISSUER": ("jwt_issuer", str, lambda v: v.startswith("https://")),
            "JWT_AUDIENCE": ("jwt_audience", str, lambda v: bool(v)),
            # https, or a loopback sidecar (a local key cache, the tests' stand-in issuer).
            "JWKS_URL": ("jwks_url", str, lambda v: v.startswith(("https://", "http://127.0.0.1:"))),
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
        jwt = [var for var in ("JWT_ISSUER", "JWT_AUDIENCE", "JWKS_URL") if environ.get(var)]
        if jwt and len(jwt) != 3:
            problems.append("JWT_ISSUER, JWT_AUDIENCE and JWKS_URL: set all three or none")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**{**{f: getattr(defaults, f) for f in cls.__dataclass_fields__}, **kwargs})


MAX_HEAD_BYTES = 16 * 1024  # request line + headers; more is 431
PROBES = ("/health", "/ready")  # the load balancer's checks: never behind authentication
GET_ROUTES = ("/health", "/ready", "/metrics", "/openapi.json", "/docs")
ROUTES = (*GET_ROUTES, "/predict")
SWEEP_S = 0.5  # idle and slow connections are checked this often


class HttpError(Exception):
    def __init__(
        self, status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None, *, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.close = close  # the connection cannot carry another request (body unread or unframed)


Predictor = Callable[[Any], dict[str, Any]]


class App:
    """The model, the limits, the metrics and the drain flag (one thread uses them)."""

    def __init__(
        self, config: Config, model: model_lib.LinearClassifier, verifier: auth.JwtVerifier | None = None
    ) -> None:
        self.config = config
        self.verifier = verifier  # None: no authentication (an internal endpoint trusts its VPC)
        self.model = model
        self.metrics = Metrics()
        self.draining = False
        self.in_flight = 0
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
        if self.in_flight >= self.config.max_in_flight:
            return False
        self.in_flight += 1
        self.metrics.set_in_flight(self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1
        self.metrics.set_in_flight(self.in_flight)


@dataclass(slots=True)
class Request:
    method: str
    route: str
    headers: dict[str, str]
    keep_alive: bool
    length: int = 0  # of the body, from Content-Length
    admitted: bool = False  # holds one of the MAX_IN_FLIGHT slots
    started: float = 0.0


def parse_head(head: bytes) -> Request:
    """Request line and headers (without the blank line). HttpError names what is wrong."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"malformed request line {lines[0][:80]!r}", close=True)
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"{version[:16]!r}: HTTP/1.1 or 1.0 only", close=True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[0] in " \t" or name[-1] in " \t":
            raise HttpError(HTTPStatus.BAD_REQUEST, f"malformed header line {line[:80]!r}", close=True)
        name, value = name.lower(), value.strip(" \t")
        if name in headers:
            if name == "content-length" and headers[name] != value:
                raise HttpError(HTTPStatus.BAD_REQUEST, "conflicting Content-Length headers", close=True)
            if name != "content-length":
                headers[name] += ", " + value
        else:
            headers[name] = value
    tokens = headers.get("connection", "").lower()
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return Request(method.upper(), target.split("?", 1)[0], headers, keep_alive)


def body_length(request: Request, limit: int, *, required: bool) -> int:
    """Content-Length of a body this server reads (at most ``limit``), or an HttpError."""
    if "transfer-encoding" in request.headers:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send Content-Length, not chunked encoding", close=True)
    raw = request.headers.get("content-length")
    if raw is None:
        if required:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", close=True)
        return 0
    if not (raw.isascii() and raw.isdigit()):
        raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer", close=True)
    length = int(raw)
    if length > limit:  # never read it: that is the point of the limit
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body is {length} bytes; at most {limit}", close=True)
    return length


def label(route: str) -> str:
    """The metrics label of a route: unknown paths share one, so clients cannot add series."""
    return route if route in ROUTES else "other"


STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connection(asyncio.Protocol):
    """One client connection: parses requests from the bytes received, one at a time
    (pipelined requests wait in the buffer), and writes each answer in one send."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.app = server.app
        self.buffer = bytearray()
        self.request: Request | None = None
        self.queued = False  # a prediction of this connection waits in the server's queue
        self.closing = False
        self.write_paused = False
        self.read_paused = False
        self.last_active = time.monotonic()
        self.transport: asyncio.Transport | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # no Nagle: a small answer must not wait for the client's delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        if self.request is not None and not self.queued:
            self.release(self.request)  # the client left mid-body; a queued one is released by the queue

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.buffer += data
        if self.queued or self.write_paused:
            if len(self.buffer) > self.app.config.max_body_bytes + MAX_HEAD_BYTES and not self.read_paused:
                self.read_paused = True  # a pipelining client waits in its own socket buffer
                assert self.transport is not None
                self.transport.pause_reading()
            return
        self.parse()

    def pause_writing(self) -> None:
        self.write_paused = True  # the client does not read its answers: read no more requests

    def resume_writing(self) -> None:
        self.write_paused = False
        self.parse()

    # requests

    def parse(self) -> None:
        """Handle every complete request in the buffer; stop at a prediction (queued)."""
        try:
            while not (self.closing or self.queued or self.write_paused):
                if self.request is None:
                    end = self.buffer.find(b"\r\n\r\n")
                    if end > MAX_HEAD_BYTES or (end < 0 and len(self.buffer) > MAX_HEAD_BYTES):
                        raise HttpError(
                            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                            f"request line and headers over {MAX_HEAD_BYTES} bytes",
                            close=True,
                        )
                    if end < 0:
                        break
                    head = bytes(self.buffer[:end])
                    del self.buffer[: end + 4]
                    self.request = parse_head(head)
                    self.start(self.request)
                request = self.request
                if len(self.buffer) < request.length:
                    break
                body = bytes(self.buffer[: request.length])
                del self.buffer[: request.length]
                if request.admitted:
                    self.queued = True
                    self.server.enqueue(self, request, body)
                else:
                    self.request = None
                    self.server.answer_other(self, request)
            if self.read_paused and not (self.queued or self.write_paused or self.closing):
                self.read_paused = False  # waiting for bytes again (a body may be half in)
                assert self.transport is not None
                self.transport.resume_reading()
        except HttpError as exc:
            self.fail(exc)
        except Exception:  # a bug must not leave the client hanging
            log.exception("request parsing failed")
            self.fail(HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", close=True))

    def start(self, request: Request) -> None:
        """Admission and framing of a request whose headers just arrived."""
        request.started = time.perf_counter()
        if self.app.verifier is not None and request.route not in PROBES:
            try:
                self.app.verifier.verify(request.headers.get("authorization"))
            except auth.AuthError as exc:
                raise HttpError(
                    HTTPStatus.UNAUTHORIZED, str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'}, close=True
                ) from None
        if request.method == "POST" and request.route == "/predict":
            if not self.app.try_enter():
                self.app.metrics.rejected()
                raise HttpError(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "server busy, retry later",
                    {"Retry-After": str(self.app.config.retry_after_s)},
                    close=True,  # its body is never read
                )
            request.admitted = True
            request.length = body_length(request, self.app.config.max_body_bytes, required=True)
        else:
            request.length = body_length(request, self.app.config.max_body_bytes, required=False)
        if request.length > len(self.buffer) and request.headers.get("expect", "").lower() == "100-continue":
            assert self.transport is not None
            self.transport.write(CONTINUE)

    def fail(self, exc: HttpError) -> None:
        """The request being read cannot go on: free its slot, answer ``exc``."""
        request, self.request = self.request, None
        if request is not None:
            self.release(request)
        self.send_error(exc, label(request.route) if request else "other", request)

    def release(self, request: Request) -> None:
        if request.admitted:
            request.admitted = False
            self.app.leave()
            self.app.metrics.observe(time.perf_counter() - request.started)

    def finished(self, request: Request) -> None:
        """The queued prediction was answered: release its slot, read on."""
        self.release(request)
        self.request = None
        self.queued = False
        if not self.closing:
            self.parse()

    # answers

    def send_error(self, exc: HttpError, route: str, request: Request | None) -> None:
        doc = {"error": exc.status.phrase, "detail": exc.message}
        self.send(exc.status, json.dumps(doc).encode(), "application/json", route, request, exc.headers, exc.close)

    def send(
        self,
        status: HTTPStatus,
        body: bytes,
        ctype: str,
        route: str,
        request: Request | None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        if self.closing or self.transport is None:
            return
        close = close or request is None or not request.keep_alive or self.app.draining
        head = b"%sContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\nServer: model-server\r\n" % (
            STATUS_LINES[status],
            ctype.encode(),
            len(body),
            self.server.date,
        )
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n".encode("latin-1")
        if close:
            head += b"Connection: close\r\n"
        self.transport.write(head + b"\r\n" + body)
        self.app.metrics.count(route, int(status))
        if close:
            self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()  # after the buffered answer is sent

    def idle(self) -> bool:
        return self.request is None and not self.buffer


class Server:
    """The connections, the queue of admitted predictions, and the answers."""

    def __init__(self, app: App, predict: Predictor | None, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.predict = predict or app.predict
        self.loop = loop
        self.connections: set[Connection] = set()
        self.queue: collections.deque[tuple[Connection, Request, bytes]] = collections.deque()
        self.date = formatdate(usegmt=True).encode()
        self.listening = True

    def enqueue(self, conn: Connection, request: Request, body: bytes) -> None:
        if not self.queue:
            # After this pass of the loop: every socket that is ready is read first, so
            # what arrived together counts against the in-flight limit together.
            self.loop.call_soon(self.run_queue)
        self.queue.append((conn, request, body))

    def run_queue(self) -> None:
        while self.queue:
            conn, request, body = self.queue.popleft()
            if conn.closing:  # the client left while its request waited
                conn.finished(request)
                continue
            try:
                status, doc = HTTPStatus.OK, self.answer_predict(request, body)
                conn.send(status, json.dumps(doc).encode(), "application/json", request.route, request)
            except HttpError as exc:
                conn.send_error(exc, request.route, request)
            except Exception:  # a bug in one request must not stop the others
                log.exception("predict failed")
                conn.send_error(HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"), request.route, request)
            conn.finished(request)

    def answer_predict(self, request: Request, body: bytes) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        try:
            payload = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError included
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {exc}") from None
        return self.predict(payload)

    def answer_other(self, conn: Connection, request: Request) -> None:
        """Every request that is not an admitted prediction: answered at once."""
        app, route = self.app, request.route
        if request.method == "GET":
            if route == "/health":
                conn.send(HTTPStatus.OK, b'{"status": "alive"}', "application/json", route, request)
            elif route == "/ready":
                status, doc = (
                    (HTTPStatus.SERVICE_UNAVAILABLE, {"status": "draining"})
                    if app.draining
                    else (HTTPStatus.OK, {"status": "ready", "model": app.model.name})
                )
                conn.send(status, json.dumps(doc).encode(), "application/json", route, request)
            elif route == "/metrics":
                conn.send(HTTPStatus.OK, app.metrics.render().encode(), "text/plain; version=0.0.4", route, request)
            elif route == "/openapi.json":
                conn.send(HTTPStatus.OK, app.spec, "application/json", route, request)
            elif route == "/docs":
                conn.send(HTTPStatus.OK, app.docs, "text/html; charset=utf-8", route, request)
            elif route == "/predict":
                conn.send_error(HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", {"Allow": "POST"}), route, request)
            else:
                conn.send_error(HttpError(HTTPStatus.NOT_FOUND, f"no route {route}"), "other", request)
            return
        if route not in ROUTES:
            conn.send_error(HttpError(HTTPStatus.NOT_FOUND, f"no {request.method} route {route}"), "other", request)
            return
        allow = "POST" if route == "/predict" else "GET"
        error = HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allow}", {"Allow": allow})
        conn.send_error(error, route if request.method == "POST" else "other", request)

    def tick(self) -> None:
        """sweep() now and every SWEEP_S."""
        self.sweep()
        self.loop.call_later(SWEEP_S, self.tick)

    def sweep(self) -> None:
        """The Date header, and connections idle or stalled for longer than
        SOCKET_TIMEOUT_S are closed (a stalled body gets 408 first); after the listener
        closed, idle keep-alive connections go at once."""
        self.date = formatdate(usegmt=True).encode()
        now = time.monotonic()
        for conn in list(self.connections):
            if conn.queued or conn.closing:
                continue
            stalled = now - conn.last_active > self.app.config.socket_timeout_s
            if conn.request is not None and stalled:
                conn.fail(HttpError(HTTPStatus.REQUEST_TIMEOUT, "body not received in time", close=True))
            elif conn.request is None and (stalled or (not self.listening and not conn.buffer)):
                conn.close()


async def serve(app: App, predict: Predictor | None = None) -> int:
    """Serve until SIGTERM/SIGINT, drain, return the exit code."""
    config = app.config
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = Server(app, predict, loop)
    listener = await loop.create_server(
        lambda: Connection(server), config.host, config.port, backlog=128, reuse_address=True
    )
    server.tick()
    port = listener.sockets[0].getsockname()[1]
    log.info(
        "serving %s v%s on %s:%d (%d features, classes %s)",
        app.model.name, app.model.version, config.host, port, app.model.n_features, ",".join(app.model.classes),
    )  # fmt: skip
    await stop.wait()
    log.info("SIGTERM: not ready; closing the listener in %.1f s", config.drain_delay_s)
    app.draining = True
    app.metrics.set_draining()
    await asyncio.sleep(config.drain_delay_s)
    listener.close()
    server.listening = False
    server.sweep()  # idle keep-alive connections go now, not at the next tick
    deadline = loop.time() + config.drain_timeout_s
    while any(not c.idle() for c in server.connections) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    drained = all(c.idle() for c in server.connections)
    for conn in list(server.connections):
        conn.close()
    log.info("drained" if drained else "drain timeout: exiting with requests in flight")
    return 0 if drained else 1


def run(config: Config, predict: Predictor | None = None) -> int:
    """Load the model, serve until SIGTERM/SIGINT, drain, return the exit code."""
    t = time.perf_counter()
    try:
        model = model_lib.load(config.model_uri)
    except model_lib.ModelError as exc:
        log.error("cannot load model: %s", exc)
        return 3
    log.info("model loaded in %.0f ms", (time.perf_counter() - t) * 1000)
    verifier = None
    if config.jwt_issuer:
        try:
            keys = auth.fetch_jwks(config.jwks_url)
        except (OSError, ValueError, KeyError) as exc:
            log.error("cannot read the signing keys at %s: %s", config.jwks_url, exc)
            return 4
        if not keys:
            log.error("no RS256 signing key of >= %d bits at %s", auth.MIN_KEY_BITS, config.jwks_url)
            return 4
        verifier = auth.JwtVerifier(issuer=config.jwt_issuer, audience=config.jwt_audience, keys=keys)
    return asyncio.run(serve(App(config, model, verifier), predict))


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
