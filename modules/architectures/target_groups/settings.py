"""``[target_groups]``: the `target-groups` stack (stable and canary target groups, weighted)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated

from pydantic import Field, model_validator

from modules.config.checks import (
    CanarySteps,
    ExposureOverride,
    Int,
    ModelUri,
    OptionalCidrList,
    Weights,
    between,
    refuse,
)
from modules.config.health_checks import HealthCheckSettings
from modules.core.input_rules import HealthCheckIntervalS, StickinessS


class TargetGroupsSettings(HealthCheckSettings):
    """The `target-groups` stack: stable and canary target groups, weighted, each with its fleet."""

    exposure: ExposureOverride = Field(default="", description="`internal` or `public`; empty = load_balancer.exposure")
    allowed_cidrs: OptionalCidrList = Field(
        default=(), description="IPv4 CIDRs the ALB accepts; empty = load_balancer.allowed_cidrs"
    )
    health_check_interval_s: HealthCheckIntervalS = Field(
        default=5, description="ALB health check interval of the targets (seconds): fast detection"
    )
    weights: Weights = Field(
        default_factory=lambda: MappingProxyType({"stable": 90, "canary": 10}),
        description="listener forward weights of the two target groups when the stack is created; afterwards "
        "the canary controller owns them; env form `stable=90,canary=10`",
    )
    canary_steps: CanarySteps = Field(
        default=(0, 10, 25, 50, 100),
        description="canary weights (%) a rollout moves through, each after its bake time with the canary's "
        "alarms OK; increasing, 0-100, ending at 100 (promotion)",
    )
    canary_bake_s: Annotated[Int, between(60, 86400)] = Field(
        default=300, description="each canary step holds this long (seconds) before the next"
    )
    stickiness_s: StickinessS = Field(
        default=0, description="keep a client on one target group for this long (seconds); 0 = off"
    )
    min_size: Annotated[Int, between(1, 1000)] = Field(default=2, description="instances at least, per target group")
    max_size: Annotated[Int, between(1, 1000)] = Field(default=4, description="instances at most, per target group")
    canary_model_uri: ModelUri = Field(
        default="",
        description="model the canary servers load (e.g. v2 beside a v1 stable): an `s3://` URI or a path on the "
        "instance; empty = the same model as stable (`model_server.model_uri`)",
    )

    @model_validator(mode="after")
    def _across_fields(self) -> TargetGroupsSettings:
        if self.min_size > self.max_size:
            refuse([f"target_groups.max_size = {self.max_size}: must be >= target_groups.min_size = {self.min_size}"])
        return self


def canary_state_parameter(name_prefix: str) -> str:
    """The SSM parameter holding the canary rollout's state (the stack writes it, the controller
    and ``make canary-*`` read it): here, construct-free, so the tool reads it without jsii."""
    return f"/{name_prefix}-tg/canary/rollout"
