"""The server's OpenAPI 3.0 document, derived from the loaded model and the limits."""

from __future__ import annotations

import html
from typing import Any

from model_server.model import MAX_ABS_VALUE, LinearClassifier


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _status(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
            }
        },
    }


def openapi_spec(model: LinearClassifier, max_rows: int, max_body_bytes: int) -> dict[str, Any]:
    n = model.n_features
    row = {
        "type": "array",
        "minItems": n,
        "maxItems": n,
        "items": {"type": "number", "minimum": -MAX_ABS_VALUE, "maximum": MAX_ABS_VALUE},
        "description": "feature values in order: " + ", ".join(model.feature_names),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "model server",
            "version": model.version,
            "description": f"Serves {model.name}: {n} features -> one of {', '.join(model.classes)}. "
            f"At most {max_rows} rows and {max_body_bytes} bytes per call.",
        },
        "paths": {
            "/health": {"get": {"summary": "the process is alive", "responses": {"200": _status("alive")}}},
            "/ready": {
                "get": {
                    "summary": "the model is loaded and the server is not draining",
                    "responses": {"200": _status("ready"), "503": _status("draining after SIGTERM")},
                }
            },
            "/predict": {
                "post": {
                    "summary": "predict a batch of rows",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["instances"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "instances": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": max_rows,
                                            "items": row,
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "one label and one probability per class for each row, in order",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}},
                        },
                        "400": _error("body is not JSON, or Content-Length is wrong"),
                        "408": _error("the body did not arrive in time"),
                        "411": _error("no Content-Length"),
                        "413": _error("body over the size limit"),
                        "415": _error("Content-Type is not application/json"),
                        "422": _error("wrong shape or type, or too many rows"),
                        "503": {
                            **_error("too many requests in flight: retry after Retry-After seconds"),
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.0",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/docs": {
                "get": {
                    "summary": "human-readable API page",
                    "responses": {
                        "200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "Prediction": {
                    "type": "object",
                    "required": ["model", "version", "labels", "probabilities"],
                    "properties": {
                        "model": {"type": "string"},
                        "version": {"type": "string"},
                        "labels": {"type": "array", "items": {"type": "string", "enum": list(model.classes)}},
                        "probabilities": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                        },
                    },
                },
            }
        },
    }


def docs_html(model: LinearClassifier) -> str:
    features = "".join(f"<li>{html.escape(f)}</li>" for f in model.feature_names)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>model server</title></head><body>"
        f"<h1>{html.escape(model.name)} v{html.escape(model.version)}</h1>"
        '<p>POST <code>/predict</code> with <code>{"instances": [[...], ...]}</code>; one row per input, '
        f"features in this order:</p><ol>{features}</ol>"
        f"<p>Classes: {html.escape(', '.join(model.classes))}. Machine-readable: "
        "<a href='/openapi.json'>/openapi.json</a>. Probes: <code>/health</code>, <code>/ready</code>; "
        "metrics: <code>/metrics</code>.</p></body></html>"
    )
