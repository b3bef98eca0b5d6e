"""The infer call, end to end: check the model name, read the bounded body in time, parse
it against the model's metadata, run it through the batcher, encode the answer.

``admission.Admission`` serves ``POST /v2/models/{name}[/versions/{v}]/infer`` straight
from the ASGI messages with :meth:`InferCall.answer`, without the framework's router and
middleware stack: on the benchmark's MLP that stack cost more Python time per request than
the rest of the call (docs/model-server-benchmark.md). It is the only code that answers the
call; the OpenAPI schema documents it (model_server.openapi).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import ClientDisconnect

from model_server.batcher import Batcher
from model_server.config import Config
from model_server.metrics import Metrics
from model_server.model import OnnxModel
from model_server.predictions import Predictions
from model_server.protocol import ProtocolError, encode, parse

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, content-type included


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, orjson.dumps({"error": message}), {"content-type": JSON, **(headers or {})})


async def send_answer(send: Send, answer: Answer) -> None:
    headers = [(b"content-length", str(len(answer.body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as the ASGI server hands it over; ClientDisconnect if the client leaves."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class InferCall:
    def __init__(
        self,
        config: Config,
        model: OnnxModel,
        batcher: Batcher,
        metrics: Metrics,
        *,
        unfit: str | None = None,
        predictions: Predictions | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.batcher = batcher
        self.metrics = metrics
        self.unfit = unfit  # the golden set failed: every call is refused with this reason
        self.predictions = predictions

    def unknown(self, name: str, version: str | None) -> Answer | None:
        """404 naming what this server serves, when the path names another model or version."""
        model = self.model
        if name != model.name:
            return error(404, f"unknown model {name!r}; this server serves {model.name!r}")
        if version is not None and version != model.version:
            return error(404, f"model {name!r} has no version {version!r}; it has {model.version!r}")
        return None

    async def answer(
        self, name: str, version: str | None, chunks: AsyncIterator[bytes], header_length: str | None
    ) -> Answer:
        problem = self.unknown(name, version)
        if problem is not None:
            return problem
        if self.unfit is not None:
            return error(503, f"model {name!r} is not ready: {self.unfit}")
        config = self.config
        try:
            async with asyncio.timeout(config.socket_timeout_s):
                body = await _read(chunks, config.max_body_bytes)
        except TimeoutError:
            return error(408, "body not received in time", {"connection": "close"})
        except ClientDisconnect:
            return error(400, "client disconnected")  # nobody reads it
        if body is None:
            limit = config.max_body_bytes
            return error(413, f"body over {limit} bytes; at most {limit}", {"connection": "close"})
        try:
            parsed = parse(body, header_length, self.model, config.max_batch_rows)
            results = await self.batcher.infer(parsed)
        except ProtocolError as exc:
            return error(exc.status, str(exc))
        except Exception as exc:  # onnxruntime refused values the metadata allows: name it, 400
            return error(400, f"the model could not run on this input: {str(exc).strip()[:300]}")
        metrics = self.metrics
        metrics.rows.inc(parsed.rows)
        metrics.window.rows += parsed.rows
        if self.predictions is not None:
            self.predictions.observe(metrics.window, results)
        content, headers = encode(self.model, parsed, results)
        media = "application/octet-stream" if headers else JSON
        return Answer(200, content, {"content-type": media, **{k.lower(): v for k, v in headers.items()}})


async def _read(chunks: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The whole body, or None once it grows over ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
