"""``[serving]``: the `model-serving` stack (ECS Fargate model server behind the ALB): its tasks,
scaling and health checks. The server's own settings, the same in every serving stack, are
``[model_server]`` (:mod:`modules.config.model_server`)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import Field, Strict, model_validator

from modules.config.checks import (
    ExposureOverride,
    FargateCpu,
    ImageUri,
    Int,
    between,
    fargate_memory_problem,
    refuse,
)
from modules.config.health_checks import HealthCheckSettings
from modules.core.input_rules import (
    CpuTargetPercent,
    LogRetentionDays,
    RequestsPerTarget,
    ServerPort,
    where,
)

# The server's rule for a served name (MODEL_NAME) that is also a CloudWatch dimension value
# (`Model`): ASCII letters, digits, `_ . -`; CloudWatch allows up to 1024 characters.
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,1024}")
ModelName = Annotated[
    str,
    Strict(),
    where(lambda v: v == "" or bool(_MODEL_NAME.fullmatch(v)), "empty, or 1-1024 ASCII letters, digits, _ . -"),
]
# The bundled model (handlers/model_server/model_server/wine.onnx) serves under its stem.
BUNDLED_MODEL_NAME = "wine"


def served_name(model_name: str, model_uri: str) -> str:
    """The name a server serves its model under: ``model_name``, else the stem of the model
    file (the server's own default: ``s3://b/wine/v2.onnx`` -> ``v2``), else the bundled model's."""
    if model_name:
        return model_name
    if not model_uri:
        return BUNDLED_MODEL_NAME
    return PurePosixPath(model_uri.rsplit("/", 1)[-1]).stem or "model"


class ServingSettings(HealthCheckSettings):
    """The `model-serving` stack: ECS Fargate model server behind the ALB (tasks, scaling, health checks)."""

    model_name: ModelName = Field(
        default="",
        description="the name every serving stack's servers serve the model under (`/v2/models/<name>/infer`: "
        "what clients call; passed as `MODEL_NAME`); empty = the stem of `model_server.model_uri` (`wine` for "
        "the bundled model). Set it, so that a new model file keeps the name clients call",
    )
    image_uri: ImageUri = Field(
        default="",
        description="deploy this existing image (no build); empty = build `handlers/model_server/` and push it to ECR",
    )
    cpu: FargateCpu = Field(default=512, description="task CPU units")
    memory_mib: Annotated[Int, between(512, 122880)] = Field(
        default=1024, description="task memory (MiB), one of Fargate's sizes for `cpu`"
    )
    container_port: ServerPort = Field(default=8080, description="port the server listens on")
    min_tasks: Annotated[Int, between(2, 1000)] = Field(
        default=2, description="autoscaling minimum (and initial desired) task count"
    )
    max_tasks: Annotated[Int, between(2, 1000)] = Field(default=10, description="autoscaling maximum task count")
    on_demand_base: Annotated[Int, between(0, 100000)] = Field(
        default=1, description="tasks always on FARGATE (on-demand) before weights apply"
    )
    on_demand_weight: Annotated[Int, between(0, 1000)] = Field(
        default=1, description="FARGATE share of tasks beyond the base"
    )
    spot_weight: Annotated[Int, between(0, 1000)] = Field(
        default=3, description="FARGATE_SPOT share of tasks beyond the base"
    )
    cpu_target_percent: CpuTargetPercent = Field(default=60, description="target tracking: average service CPU (%)")
    requests_per_target: RequestsPerTarget = Field(
        default=500, description="target tracking: ALB requests per task per minute"
    )
    exposure: ExposureOverride = Field(default="", description="`internal` or `public`; empty = load_balancer.exposure")
    stop_timeout_s: Annotated[Int, between(2, 120)] = Field(
        default=30, description="SIGTERM to SIGKILL: time a task gets to drain"
    )
    health_check_grace_s: Annotated[Int, between(0, 2147483647)] = Field(
        default=60, description="ALB health checks ignored this long after a task starts"
    )
    log_retention_days: LogRetentionDays = Field(default=365, description="container log retention (days)")
    images_kept: Annotated[Int, between(1, 10000)] = Field(
        default=20, description="ECR keeps the newest this many images"
    )
    p99_latency_alarm_ms: Annotated[Int, between(1, 60000)] = Field(
        default=1000, description="alarm when the ALB's p99 target response time exceeds this"
    )

    @model_validator(mode="after")
    def _across_fields(self) -> ServingSettings:
        out = []
        memory = fargate_memory_problem(self.cpu, self.memory_mib, "serving.cpu")
        if memory:
            out.append(f"serving.memory_mib = {self.memory_mib}: must be {memory}")
        if self.min_tasks > self.max_tasks:
            out.append(f"serving.max_tasks = {self.max_tasks}: must be >= serving.min_tasks = {self.min_tasks}")
        if self.on_demand_weight + self.spot_weight == 0:
            out.append("serving.on_demand_weight and serving.spot_weight: at least one must be > 0")
        refuse(out)
        return self
