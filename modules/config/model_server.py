"""``[model_server]``: the model server's own settings (its model and limits), the same in every
stack that runs it: `model-serving` (Fargate tasks), `ha-failover` and `target-groups` (EC2 fleets)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modules.config.checks import Int, ModelUri, Section, Sha256, between
from modules.core.input_rules import MaxBodyBytes


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
