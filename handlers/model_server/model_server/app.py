"""The ASGI application (FastAPI): the Open Inference Protocol's REST routes over one
ONNX model, ``/metrics`` and the OpenAPI docs, plus the admission control in front.

Routes: ``GET /v2`` (server metadata), ``GET /v2/health/live``, ``GET /v2/health/ready``
(false while draining), ``GET /v2/models/{name}[/versions/{v}]`` (model metadata),
``GET /v2/models/{name}[/versions/{v}]/ready``, ``POST /v2/models/{name}[/versions/{v}]/infer``,
``GET /metrics`` (Prometheus), ``GET /openapi.json`` and ``GET /docs``.

With ``JWT_ISSUER`` set (public exposure), every route but the two probes needs a valid
bearer token (model_server.auth); a refusal is 401 before admission and before the body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from model_server import __version__
from model_server.auth import AuthError, JwtVerifier
from model_server.batcher import Batcher
from model_server.config import Config
from model_server.emf import EmfWriter
from model_server.infer import INFER_PATH, JSON, Answer, InferCall, Message, Receive, Send, body_chunks, send_answer
from model_server.infer import error as error_answer
from model_server.metrics import CONTENT_TYPE, Metrics
from model_server.model import OnnxModel
from model_server.protocol import HEADER_LENGTH

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBES = frozenset({"/v2/health/live", "/v2/health/ready"})  # the load balancer's: never behind authentication
CLOSE = {"connection": "close"}
UNAUTHORIZED = {"www-authenticate": 'Bearer error="invalid_token"', **CLOSE}
EXTENSIONS = ["binary_tensor_data"]


class State:
    """What the routes share: one event loop uses it, so there are no locks."""

    def __init__(self, config: Config, model: OnnxModel, metrics: Metrics, batcher: Batcher) -> None:
        self.config = config
        self.model = model
        self.metrics = metrics
        self.batcher = batcher
        self.infer = InferCall(config, model, batcher, metrics)
        self.draining = False
        self.in_flight = 0
        # Read when /metrics is scraped, not set twice per request.
        metrics.in_flight.set_function(lambda: self.in_flight)

    def set_draining(self) -> None:
        self.draining = True
        self.metrics.draining.set(1)


def _response(answer: Answer) -> Response:
    return Response(answer.body, answer.status, answer.headers)


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type=JSON)


class Admission:
    """ASGI middleware: at most ``max_in_flight`` infer calls, counted from their headers to
    their answer (bodies still arriving included); one more gets 503 + Retry-After at once,
    while every other route stays answered. Bodies over ``max_body_bytes`` are 413 before
    they are read. Every answer is counted by route and status.

    With a verifier, a request to any route but the probes without a valid bearer token is
    401 first, from its headers alone: its body is never read and it never takes an
    admission slot.

    An admitted infer call is answered here (infer.InferCall), not by the framework's
    router and middleware stack; every other route goes to the FastAPI app."""

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
        infer = scope["method"] == "POST" and path.startswith("/v2/models/") and path.endswith("/infer")
        route = _route(path)
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
                await send_answer(counted, error_answer(401, refusal, UNAUTHORIZED))
            elif length is not None and length > state.config.max_body_bytes:
                limit = state.config.max_body_bytes
                await send_answer(counted, error_answer(413, f"body of {length} bytes; at most {limit}", CLOSE))
            elif not infer:
                await self.app(scope, receive, counted)
            elif state.in_flight >= state.config.max_in_flight:
                metrics.rejected.inc()
                metrics.window.rejected += 1
                headers = {"retry-after": str(state.config.retry_after_s), **CLOSE}
                await send_answer(counted, error_answer(503, "server busy, retry later", headers))
            else:
                started = time.perf_counter()
                metrics.window.in_flight(state.in_flight, started)
                state.in_flight += 1
                try:
                    await self._infer(scope, receive, counted)
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

    async def _infer(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INFER_PATH.fullmatch(scope["path"])
        if match is None:  # not a model's infer path: the app's 404
            await self.app(scope, receive, send)
            return
        name, version = match.groups()
        header_length = _header(scope, HEADER_LENGTH.encode())
        answer = await self.state.infer.answer(name, version, body_chunks(receive), header_length)
        await send_answer(send, answer)

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


def _route(path: str) -> str:
    """A low-cardinality label: the route's template, not the model name in the path."""
    if path.startswith("/v2/models/"):
        parts = path.split("/")
        tail = parts[-1] if len(parts) > 4 else ""
        versioned = "/versions/{version}" if "versions" in parts else ""
        suffix = f"/{tail}" if tail in ("infer", "ready") else ""
        return f"/v2/models/{{name}}{versioned}{suffix}"
    if path in ("/v2", "/v2/health/live", "/v2/health/ready", "/metrics", "/openapi.json", "/docs"):
        return path
    return "other"


def infer_schema(model: OnnxModel, max_rows: int) -> dict[str, Any]:
    """The infer request body for this model (the JSON tensor format)."""
    data_items = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "array"}]}
    if all(s.datatype.startswith(("FP", "INT", "UINT")) for s in model.inputs):
        data_items = {"anyOf": [{"type": "number"}, {"type": "array"}]}
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "enum": [s.name for s in model.inputs]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": sorted({s.datatype for s in model.inputs})},
            "parameters": {"type": "object"},
            "data": {"type": "array", "items": data_items},
        },
        "description": "one input: "
        + "; ".join(f"{s.name} {s.datatype} {list(s.shape)}" for s in model.inputs)
        + f"; at most {max_rows} rows",
    }
    return {
        "type": "object",
        "required": ["inputs"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "minItems": 1, "items": tensor},
            "outputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": [s.name for s in model.outputs]},
                        "parameters": {"type": "object"},
                    },
                },
            },
        },
    }


ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "datatype": {"type": "string"},
                    "data": {"type": "array"},
                },
            },
        },
    },
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {str(c): {"description": "the problem, named", "content": {JSON: {"schema": ERROR_SCHEMA}}} for c in codes}


def create_app(
    config: Config, model: OnnxModel, metrics: Metrics | None = None, verifier: JwtVerifier | None = None
) -> tuple[ASGIApp, State]:
    """The app; with ``verifier`` (required when ``config`` names an issuer) every route but
    the probes needs a bearer token it accepts."""
    if config.auth_required and verifier is None:
        raise ValueError("JWT_ISSUER is set: the app needs a verifier with the issuer's keys")
    metrics = metrics or Metrics()
    batcher = Batcher(
        model,
        max_rows=config.max_batch_size,
        max_delay_s=config.max_batch_delay_ms / 1000,
        threads=config.infer_threads,
        observe_batch=metrics.observe_batch,
    )
    state = State(config, model, metrics, batcher)

    emf = EmfWriter.from_config(config, model.name, model.version, state) if config.emf_namespace else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        flusher = asyncio.create_task(emf.run()) if emf else None
        yield
        if emf and flusher:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            emf.close()  # the last interval's document: the requests the drain finished included
        await batcher.stop()

    app = FastAPI(
        title="model server",
        version=__version__,
        description=f"Serves {model.name} (ONNX, onnxruntime on CPU) over the Open Inference Protocol (KServe V2). "
        f"At most {config.max_batch_rows} rows and {config.max_body_bytes} bytes per infer call.",
        lifespan=lifespan,
        redoc_url=None,
    )
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": [model.name]}}
    version_param = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [model.version]},
    }

    def known(request: Request) -> Response | None:
        problem = state.infer.unknown(request.path_params["name"], request.path_params.get("version"))
        return None if problem is None else _response(problem)

    @app.get("/v2", summary="server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "model-server", "version": __version__, "extensions": EXTENSIONS}

    @app.get("/v2/health/live", summary="the process is alive (liveness)")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(
        "/v2/health/ready",
        summary="the model is loaded and the server is not draining (readiness)",
        responses={503: {"description": "draining after SIGTERM"}},
    )
    async def ready() -> Response:
        return _json({"ready": False}, 503) if state.draining else _json({"ready": True})

    not_found: dict[int | str, dict[str, Any]] = dict(_errors(404))

    # Handlers read the path themselves: the parameters are documented once, with their enums.
    async def metadata(request: Request) -> Response:
        return known(request) or _json(model.metadata())

    async def model_ready(request: Request) -> Response:
        return known(request) or _json({"name": model.name, "ready": not state.draining})

    async def infer(request: Request) -> Response:  # Admission answers it first; this documents it
        name, version = request.path_params["name"], request.path_params.get("version")
        answer = await state.infer.answer(name, version, request.stream(), request.headers.get(HEADER_LENGTH))
        return _response(answer)

    request_body = {"required": True, "content": {JSON: {"schema": infer_schema(model, config.max_batch_rows)}}}
    answer = {"description": "the outputs, in the order requested", "content": {JSON: {"schema": RESPONSE_SCHEMA}}}
    for prefix, params in (
        ("/v2/models/{name}", [name_param]),
        ("/v2/models/{name}/versions/{version}", [name_param, version_param]),
    ):
        extra = {"parameters": params}
        app.add_api_route(
            prefix, metadata, methods=["GET"], summary="model metadata", openapi_extra=extra, responses=not_found
        )
        app.add_api_route(
            f"{prefix}/ready",
            model_ready,
            methods=["GET"],
            summary="the model is ready",
            openapi_extra=extra,
            responses=not_found,
        )
        app.add_api_route(
            f"{prefix}/infer",
            infer,
            methods=["POST"],
            summary="inference on a batch of tensors",
            openapi_extra={"parameters": params, "requestBody": request_body},
            responses={200: answer, **_errors(400, 404, 408, 413, 503)},
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics_route() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Admission(app, state, verifier), state
