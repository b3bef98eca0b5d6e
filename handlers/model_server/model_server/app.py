"""The ASGI application: the Open Inference Protocol's REST routes over one ONNX model,
``/metrics`` and the OpenAPI docs, behind the admission control (model_server.admission).

Routes: ``GET /v2`` (server metadata), ``GET /v2/health/live``, ``GET /v2/health/ready``
(false while draining), ``GET /v2/models/{name}[/versions/{v}]`` (model metadata),
``GET /v2/models/{name}[/versions/{v}]/ready``, ``POST /v2/models/{name}[/versions/{v}]/infer``,
``GET /metrics`` (Prometheus), ``GET /openapi.json`` and ``GET /docs``. The model's routes
(the three under ``/v2/models``) are answered by model_server.admission; the FastAPI app
serves the others and documents them all (model_server.openapi).

With ``JWT_ISSUER`` set (public exposure), every route but the two probes needs a valid
bearer token (model_server.auth); a refusal is 401 before admission and before the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse

from model_server import __version__
from model_server.admission import Admission, ASGIApp
from model_server.auth import JwtVerifier
from model_server.batcher import Batcher
from model_server.config import Config
from model_server.emf import EmfWriter
from model_server.infer import JSON
from model_server.metrics import CONTENT_TYPE, Metrics
from model_server.model import OnnxModel
from model_server.openapi import document_model_routes
from model_server.predictions import Predictions, detect
from model_server.state import State

EXTENSIONS = ["binary_tensor_data"]


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type=JSON)


def create_app(
    config: Config,
    model: OnnxModel,
    metrics: Metrics | None = None,
    verifier: JwtVerifier | None = None,
    unfit: str | None = None,
) -> tuple[ASGIApp, State]:
    """The app; with ``verifier`` (required when ``config`` names an issuer) every route but
    the probes needs a bearer token it accepts. With ``unfit`` (why the model failed its golden
    set) it is never ready and refuses every infer call. PredictionError when the prediction
    metrics cannot read the model's outputs."""
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
    predictions = None
    if config.emf_namespace and config.prediction_metrics == "on":
        source = detect(model, config.prediction_kind)
        logging.getLogger("model_server").info("prediction metrics: %s", source.describe())
        predictions = Predictions(source, config.prediction_classes_max)
    state = State(config, model, metrics, batcher, unfit=unfit, predictions=predictions)

    emf = None
    if config.emf_namespace:
        emf = EmfWriter.from_config(config, model.name, model.version, state, predictions)

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

    @app.get("/v2", summary="server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "model-server", "version": __version__, "extensions": EXTENSIONS}

    @app.get("/v2/health/live", summary="the process is alive (liveness)")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(
        "/v2/health/ready",
        summary="the model is loaded, has passed its golden set and the server is not draining (readiness)",
        responses={503: {"description": "draining after SIGTERM, or the model failed its golden set (reason)"}},
    )
    async def ready() -> Response:
        if state.ready:
            return _json({"ready": True})
        return _json({"ready": False, "reason": state.not_ready_reason()}, 503)

    document_model_routes(app, model, config.max_batch_rows)

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics_route() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Admission(app, state, verifier), state
