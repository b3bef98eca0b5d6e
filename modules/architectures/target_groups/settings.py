"""``[target_groups]``: the `target-groups` stack (stable and canary target groups, weighted)."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated

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
from modules.config.serving import ModelName, served_name
from modules.core.input_rules import HealthCheckIntervalS, StickinessS, where

if TYPE_CHECKING:
    from modules.config.settings import Settings

# The divergence of the canary's predictions from stable's (the largest difference of their
# distribution functions, 0-1): below 0.01 chance alone exceeds it; 1 is never exceeded.
DRIFT_RANGE = (0.01, 0.99)
DriftThreshold = Annotated[
    float,
    where(lambda v: DRIFT_RANGE[0] <= v <= DRIFT_RANGE[1], f"a number from {DRIFT_RANGE[0]} to {DRIFT_RANGE[1]}"),
]


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
    canary_model_name: ModelName = Field(
        default="",
        description="the name the canary servers serve their model under; empty = stable's (`serving.model_name`, "
        "else the stem of `model_server.model_uri`): clients call one name whichever group answers",
    )
    canary_name_differs_on_purpose: bool = Field(
        default=False,
        description="allow a `canary_model_name` other than stable's served name (clients calling stable's name "
        "get 404 from the canary, and the canary's client-error alarm rolls it back)",
    )
    client_error_alarm_percent: Annotated[Int, between(1, 100)] = Field(
        default=5,
        description="a group's client-error alarm (a rollout guard) fires when more than this share (%) of its "
        "calls is answered 4xx other than 401, in 2 of 3 minutes with `server_metrics.alarm_min_requests` calls",
    )
    canary_judge_predictions: bool = Field(
        default=True,
        description="at the end of each step that splits traffic, compare the canary's predictions with stable's "
        "over the step's minutes and roll back above `canary_drift_threshold`",
    )
    canary_drift_threshold: DriftThreshold = Field(
        default=0.08,
        description="largest difference of the distribution functions of the canary's and stable's predictions "
        "(0-1: for classes, the largest share of rows any set of classes gains or loses) above which the canary "
        "is rolled back; identical models drift by chance far less at the default `canary_drift_min_rows` "
        "(target-groups README)",
    )
    canary_drift_min_rows: Annotated[Int, between(100, 10_000_000)] = Field(
        default=1000,
        description="predictions each side (canary and stable) needs in a step before its drift is judged; with "
        "fewer, the step's bake is extended",
    )
    canary_drift_max_wait_s: Annotated[Int, between(0, 86400)] = Field(
        default=3600,
        description="how long (seconds) a step may extend its bake waiting for `canary_drift_min_rows`; then the "
        "canary is rolled back unjudged: a model that did not prove its predictions is not promoted",
    )

    @model_validator(mode="after")
    def _across_fields(self) -> TargetGroupsSettings:
        if self.min_size > self.max_size:
            refuse([f"target_groups.max_size = {self.max_size}: must be >= target_groups.min_size = {self.min_size}"])
        return self

    def problems_across(self, settings: Settings) -> list[str]:
        """A canary serving another name than stable is refused unless it says so on purpose."""
        names = self.served_names(settings)
        stable, canary = names["stable"], names["canary"]
        if canary == stable or self.canary_name_differs_on_purpose:
            return []
        return [
            f"target_groups.canary_model_name = {canary!r}: the canary would serve another name than stable "
            f"({stable!r}, from serving.model_name or model_server.model_uri), so clients calling {stable!r} get "
            "404 from the canary; empty it, or set target_groups.canary_name_differs_on_purpose = true"
        ]

    def served_names(self, settings: Settings) -> dict[str, str]:
        """The name each group (stable, canary) serves its model under."""
        stable = served_name(settings.serving.model_name, settings.model_server.model_uri)
        return {"stable": stable, "canary": self.canary_model_name or stable}


def canary_state_parameter(name_prefix: str) -> str:
    """The SSM parameter holding the canary rollout's state (the stack writes it, the controller
    and ``make canary-*`` read it): here, construct-free, so the tool reads it without jsii."""
    return f"/{name_prefix}-tg/canary/rollout"


# The canary controller's own alarms (keys of observability.py): while one fires, a rolling
# canary is unguarded. Here, construct-free, so ``make canary-status`` reads them without jsii.
CONTROLLER_ALARMS = ("controller-errors", "controller-throttles", "controller-missed-runs")


def controller_alarm_names(name_prefix: str) -> list[str]:
    """The names of the controller's alarms (the stack's alarms are named ``<name_prefix>-tg-<key>``)."""
    return [f"{name_prefix}-tg-{key}" for key in CONTROLLER_ALARMS]
