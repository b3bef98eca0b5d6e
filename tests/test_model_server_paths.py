"""The model's paths are parsed in one place (model_server.paths), and the FastAPI routes
that document them can never answer: called in-process, without HTTP."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from model_server import model as model_lib
from model_server.admission import Admission
from model_server.app import create_app
from model_server.config import Config
from model_server.infer import Message
from model_server.openapi import answered_by_admission
from model_server.paths import METHOD, TEMPLATES, ModelPath, model_path

from tools.harness.model_server_process import train_default_model

# Every model route, and paths near them that are none.
PATHS = [
    "/v2/models/wine",
    "/v2/models/wine/ready",
    "/v2/models/wine/infer",
    "/v2/models/wine/versions/1",
    "/v2/models/wine/versions/1/ready",
    "/v2/models/wine/versions/1/infer",
    "/v2/models/infer",
    "/v2/models/ready",
    "/v2/models/versions",
    "/v2/models/wine/versions",
    "/v2/models/wine/versions/infer",
    "/v2/models/wine/versions/ready",
    "/v2/models/wine/versions/1/versions/2",
    "/v2/models/a/b/infer",
    "/v2/models/wine/ready/infer",
    "/v2/models/wine/infer/",
    "/v2/models/wine/",
    "/v2/models//infer",
    "/v2/models/",
    "/v2/models",
    "/v2/models/wine/x",
    "/v2/models/w ine/infer",
    "/v2/models/wine/versions/1/infer/x",
    "/v2/models/wine/infers",
    "/v2/health/ready",
    "/nope",
]


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Admission:
    path = train_default_model(tmp_path_factory.mktemp("model") / "wine.onnx")
    model = model_lib.load(str(path), "wine")
    app, _ = create_app(Config.from_env({"MODEL_URI": str(path)}), model)
    assert isinstance(app, Admission)
    return app


def model_routes(front: Admission) -> list[APIRoute]:
    assert isinstance(front.app, FastAPI)
    routes = [r for r in front.app.routes if isinstance(r, APIRoute) and r.endpoint is answered_by_admission]
    assert len(routes) == 6, [r.path for r in routes]
    return routes


def test_a_model_path_names_its_route_name_and_version() -> None:
    assert model_path("/v2/models/wine") == ModelPath("wine", None, "metadata", "/v2/models/{name}")
    assert model_path("/v2/models/wine/versions/1/infer") == ModelPath(
        "wine", "1", "infer", "/v2/models/{name}/versions/{version}/infer"
    )
    # the router reads this one as version 'infer' of wine's metadata: so does the parser
    assert model_path("/v2/models/wine/versions/infer") == ModelPath(
        "wine", "infer", "metadata", "/v2/models/{name}/versions/{version}"
    )
    for junk in ("/v2/models/a/b/infer", "/v2/models//infer", "/v2/models/wine/infer/", "/v2/models/wine/x"):
        assert model_path(junk) is None, junk


def test_the_router_matches_a_model_route_exactly_where_the_parser_gives_it(front: Admission) -> None:
    """What makes the documenting routes unreachable: Admission answers every request the
    parser gives a route with that route's one method, so the router could only match one
    of those routes for another method, which it answers 405 without calling the endpoint."""
    for route in model_routes(front):
        for path in PATHS:
            parsed = model_path(path)
            assert (route.path_regex.match(path) is not None) == (parsed is not None and parsed.route == route.path), (
                route.path,
                path,
            )
        action = next(action for template, action, _ in TEMPLATES if template == route.path)
        assert route.methods == {METHOD[action]}, route.path


def call(front: Admission, method: str, path: str) -> tuple[int, bytes]:
    """One request through the ASGI app, an empty body; (status, body)."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-length", b"0")],
        "scheme": "http",
        "server": ("test", 80),
        "http_version": "1.1",
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_no_request_reaches_a_documenting_route_s_endpoint(front: Admission) -> None:
    """Every method on every path: the model's routes are answered by Admission (an empty
    infer body is a 400 from the infer call), their other methods are the router's 405."""
    for path in PATHS:
        parsed = model_path(path)
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"):
            status, body = call(front, method, path)
            assert status < 500, (method, path, body)
            if parsed is not None and method == METHOD[parsed.action]:
                assert b'"error"' in body or status == 200, (method, path, body)  # Admission's own answer
            elif parsed is not None:
                assert status == 405, (method, path, body)
