"""``[model_server]``: the model server's own settings (its model and limits), the same in every
stack that runs it: `model-serving` (Fargate tasks), `ha-failover` and `target-groups` (EC2 fleets)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, Strict

from modules.config.checks import Bool, Int, ModelUri, Section, Sha256, between
from modules.core.input_rules import S3_OBJECT_URI_ALLOWED, MaxBodyBytes, object_or_path, where

GOLDEN_SUFFIX = ".golden.json"  # the server's default: <model stem>.golden.json beside the model

GoldenUri = Annotated[
    str,
    Strict(),
    where(
        object_or_path,
        f"empty (<model stem>{GOLDEN_SUFFIX} beside the model), an absolute path, or {S3_OBJECT_URI_ALLOWED}",
    ),
]


class ModelServerSettings(Section):
    """The model server in every serving stack: the model it loads and the limits it keeps."""

    model_uri: ModelUri = Field(
        default="",
        description="ONNX model the server loads at start: an `s3://` URI or a path in the image (on the instance "
        "for the fleets); empty = the bundled model",
    )
    model_sha256: Sha256 = Field(
        default="",
        description="SHA-256 of the model's bytes (`sha256sum model.onnx`): other bytes stop the server at start; "
        "empty = not checked",
    )
    max_body_bytes: MaxBodyBytes = Field(
        default=1024 * 1024, description="largest request body the server reads (413 beyond); the WAF refuses the same"
    )
    max_in_flight: Annotated[Int, between(1, 10000)] = Field(
        default=32, description="requests a task or instance serves at once; beyond it 503 + Retry-After"
    )
    max_rows_per_request: Annotated[Int, between(1, 100000)] = Field(
        default=1000, description="rows one infer request may carry; a request with more is refused"
    )
    max_batch_size: Annotated[Int, between(0, 100000)] = Field(
        default=128,
        description="dynamic batching: rows of concurrent infer calls stacked into one onnxruntime call; "
        "0 = every call runs alone",
    )
    max_batch_delay_ms: Annotated[Int, between(0, 1000)] = Field(
        default=0, description="dynamic batching: wait this long after a call for others to stack with it"
    )
    infer_threads: Annotated[Int, between(1, 64)] = Field(
        default=1, description="onnxruntime calls a server runs at once (each on one thread)"
    )
    golden_uri: GoldenUri = Field(
        default="",
        description="the model's golden set (labelled rows it must answer within tolerance before the server is "
        f"ready): an `s3://` URI or a path; empty = `<model stem>{GOLDEN_SUFFIX}` beside the model (a canary's "
        "other model: always beside it)",
    )
    golden_sha256: Sha256 = Field(
        default="",
        description="SHA-256 of the golden set's bytes: other bytes stop the server at start; empty = not checked "
        "(like `model_sha256`, for `model_uri`'s set only)",
    )
    golden_required: Bool = Field(
        default=True,
        description="a model without a golden set does not start; false = it serves unchecked (a warning in its log)",
    )
    prediction_metrics: Bool = Field(
        default=True,
        description="the servers write what the model predicts (per class, or the distribution of its first output) "
        "in their EMF metrics: what a canary is judged on",
    )
    prediction_kind: Literal["auto", "classifier", "regressor"] = Field(
        default="auto",
        description="classifier (rows per class) or regressor (distribution of the first output); auto = from the "
        "model's outputs (an integer or string label, or scores named like probabilities: a classifier)",
    )
    prediction_classes_max: Annotated[Int, between(1, 1000)] = Field(
        default=16,
        description="distinct classes a server names in its prediction metrics; the rest are counted as `_other`",
    )


def golden_beside(model_uri: str) -> str:
    """``<stem>.golden.json`` in the model's folder or S3 prefix (as the server looks for it)."""
    head, slash, name = model_uri.rpartition("/")
    return f"{head}{slash}{PurePosixPath(name).stem}{GOLDEN_SUFFIX}"


def golden_set_uri(server: ModelServerSettings, model_uri: str | None = None) -> str:
    """Where the server loading ``model_uri`` (None: ``server.model_uri``) finds its golden set;
    empty for the bundled model (its set is in the image, beside it)."""
    if model_uri is None or model_uri == server.model_uri:
        return server.golden_uri or (golden_beside(server.model_uri) if server.model_uri else "")
    return golden_beside(model_uri) if model_uri else ""
