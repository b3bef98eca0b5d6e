"""The model's routes in the OpenAPI schema: parameters, the infer request body for this
model, the answers and the error codes.

model_server.admission answers the model's routes before the FastAPI app sees the request.
The routes added here are in the app's router all the same, rather than patched into a
custom ``openapi()``, for two reasons: FastAPI writes their operations as it writes every
other route's (operation ids, merged responses, components), so the schema cannot drift
from what it would write for a handler; and the router answers 405 to a method a route
does not take, as it does for the app's own routes. Their endpoint is never called:
Admission takes every request to a model path with the one method its route takes
(model_server.paths.METHOD, the only method each route here is given), and for any other
method the router answers 405 before it would call the endpoint
(tests/test_model_server_paths.py). Were it ever called, it fails loudly, a 500 that the
tests refuse, rather than answer as a second implementation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from model_server.infer import JSON
from model_server.model import OnnxModel
from model_server.paths import METHOD, TEMPLATES, Action

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
# Per route: its summary and its operation's name (what FastAPI builds the operationId from).
SUMMARY: dict[Action, str] = {
    "metadata": "model metadata",
    "ready": "the model is ready (false, with a reason, when its golden set failed or the server drains)",
    "infer": "inference on a batch of tensors",
}
OPERATION: dict[Action, str] = {"metadata": "metadata", "ready": "model_ready", "infer": "infer"}


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


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {str(c): {"description": "the problem, named", "content": {JSON: {"schema": ERROR_SCHEMA}}} for c in codes}


async def answered_by_admission(request: Request) -> Response:
    # The endpoint of every model route: never called (the module's docstring says why). A
    # comment, not a docstring: FastAPI would publish a docstring as the operation's description.
    raise RuntimeError(f"{request.method} {request.url.path} reached the router: Admission answers it")


def document_model_routes(app: FastAPI, model: OnnxModel, max_rows: int) -> None:
    """The model's routes, with the parameters' enums (this model's name and version)."""
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": [model.name]}}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "enum": [model.version]}}
    request_body = {"required": True, "content": {JSON: {"schema": infer_schema(model, max_rows)}}}
    answer = {"description": "the outputs, in the order requested", "content": {JSON: {"schema": RESPONSE_SCHEMA}}}
    for template, action, versioned in TEMPLATES:
        extra: dict[str, Any] = {"parameters": [name, version] if versioned else [name]}
        responses = errors(404)
        if action == "infer":
            extra["requestBody"] = request_body
            responses = {200: answer, **errors(400, 404, 408, 413, 503)}
        app.add_api_route(
            template,
            answered_by_admission,
            methods=[METHOD[action]],
            name=OPERATION[action],
            summary=SUMMARY[action],
            openapi_extra=extra,
            responses=responses,
        )
