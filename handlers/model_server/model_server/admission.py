"""The ASGI front of the server: authentication, the body limit, admission control and
the model's own routes, answered straight from the ASGI messages; the FastAPI app behind
it serves the rest (model_server.app).

Why not FastAPI's router for the model's routes: on the benchmark's MLP, its router and
middleware stack cost more Python time per request than the rest of the infer call
(docs/model-server-benchmark.md). So the model's paths are parsed once, here, by
model_server.paths, and each route has one implementation: this one. The app only
documents them in its OpenAPI schema (model_server.openapi).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from model_server.auth import AuthError, JwtVerifier
from model_server.infer import JSON, Answer, Message, Receive, Send, body_chunks, error, send_answer
from model_server.paths import METHOD, ModelPath, model_path
from model_server.protocol import HEADER_LENGTH
from model_server.state import State

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBES = frozenset({"/v2/health/live", "/v2/health/ready"})  # the load balancer's: never behind authentication
SERVER_ROUTES = frozenset({"/v2", *PROBES, "/metrics", "/openapi.json", "/docs"})  # labelled by their path
CLOSE = {"connection": "close"}
UNAUTHORIZED = {"www-authenticate": 'Bearer error="invalid_token"', **CLOSE}


class Admission:
    """ASGI middleware: at most ``max_in_flight`` infer calls, counted from their headers to
    their answer (bodies still arriving included); one more gets 503 + Retry-After at once,
    while every other route stays answered. Bodies over ``max_body_bytes`` are 413 before
    they are read. Every answer is counted by route and status.

    With a verifier, a request to any route but the probes without a valid bearer token is
    401 first, from its headers alone: its body is never read and it never takes an
    admission slot.

    The model's routes (metadata, ready, infer: model_server.paths), called with the method
    each takes, are answered here; anything else goes to the FastAPI app, whose router
    answers a model route's other methods with 405."""

    def __init__(self, app: ASGIApp, state: State, verifier: JwtVerifier | None = None) -> None:
        self.app = app
        self.state = state
        self.verifier = verifier  # None: no authentication (an internal endpoint trusts its VPC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        path: str = scope["path"]
        target = model_path(path)
        route = target.route if target is not None else path if path in SERVER_ROUTES else "other"
        if target is not None and scope["method"] != METHOD[target.action]:
            target = None  # the app's router answers 405
        infer = target is not None and target.action == "infer"
        status = [500]

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        metrics = state.metrics
        try:
            refusal = self._refusal(scope, path)
            length = _content_length(scope)
            if refusal is not None:
                metrics.unauthorized.inc()
                metrics.window.unauthorized += 1
                await send_answer(counted, error(401, refusal, UNAUTHORIZED))
            elif length is not None and length > state.config.max_body_bytes:
                limit = state.config.max_body_bytes
                await send_answer(counted, error(413, f"body of {length} bytes; at most {limit}", CLOSE))
            elif target is None:
                await self.app(scope, receive, counted)
            elif not infer:
                await send_answer(counted, self._model(target))
            elif state.in_flight >= state.config.max_in_flight:
                metrics.rejected.inc()
                metrics.window.rejected += 1
                headers = {"retry-after": str(state.config.retry_after_s), **CLOSE}
                await send_answer(counted, error(503, "server busy, retry later", headers))
            else:
                started = time.perf_counter()
                metrics.window.in_flight(state.in_flight, started)
                state.in_flight += 1
                try:
                    header_length = _header(scope, HEADER_LENGTH.encode())
                    chunks = body_chunks(receive)
                    answer = await state.infer.answer(target.name, target.version, chunks, header_length)
                    await send_answer(counted, answer)
                finally:
                    ended = time.perf_counter()
                    window = metrics.window  # the one open now: an interval may have ended meanwhile
                    window.in_flight(state.in_flight, ended)
                    state.in_flight -= 1
                    metrics.duration.observe(ended - started)
                    window.latency.add(ended - started)
                    window.server_errors += status[0] >= 500
        finally:
            metrics.answered(route, status[0]).inc()
            metrics.window.requests += infer

    def _model(self, target: ModelPath) -> Answer:
        """The model's metadata or readiness, or 404 naming the model this server serves."""
        state = self.state
        problem = state.infer.unknown(target.name, target.version)
        if problem is not None:
            return problem
        model = state.model
        if target.action != "ready":
            return Answer(200, orjson.dumps(model.metadata()), {"content-type": JSON})
        doc: dict[str, Any] = {"name": model.name, "ready": state.ready}
        if not state.ready:
            doc["reason"] = state.not_ready_reason()
        return Answer(200, orjson.dumps(doc), {"content-type": JSON})

    def _refusal(self, scope: Scope, path: str) -> str | None:
        """Why the request is refused (never the token), or None."""
        if self.verifier is None or path in PROBES:
            return None
        try:
            self.verifier.verify(_header(scope, b"authorization"))
        except AuthError as exc:
            return str(exc)
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
