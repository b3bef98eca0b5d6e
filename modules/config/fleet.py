"""``[fleet]``: the Auto Scaling fleets of model servers (`ha-failover`, `target-groups`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modules.config.checks import DEFAULT_INSTANCE_TYPES, Checkpoints, InstanceTypes, Int, Section, between
from modules.core.choices import SpotAllocation
from modules.core.input_rules import (
    CpuTargetPercent,
    DrainS,
    HealthCheckGraceS,
    LogRetentionDays,
    OnDemandBase,
    Percent,
    RefreshBakeS,
    RequestsPerTarget,
    RootVolumeGib,
    WarmupS,
)


class FleetSettings(Section):
    """The Auto Scaling fleets of model servers (`ha-failover`, `target-groups`)."""

    instance_types: InstanceTypes = Field(
        default=DEFAULT_INSTANCE_TYPES,
        description="instance types of the mixed instances policy (more spot pools, fewer interruptions)",
    )
    on_demand_base: OnDemandBase = Field(default=1, description="instances always on-demand, whatever spot does")
    on_demand_percent_above_base: Percent = Field(
        default=0, description="on-demand share (%) of instances beyond the base; the rest is spot"
    )
    spot_allocation: SpotAllocation = Field(
        default="capacity-optimized",
        description="spot allocation: the pools least likely to be interrupted, or weighing price too",
    )
    health_check_grace_s: HealthCheckGraceS = Field(
        default=240, description="ELB health checks ignored this long after launch (boot installs and trains the model)"
    )
    launch_s: Annotated[Int, between(1, 3600)] = Field(
        default=60, description="expected time from launch to boot script start; only documents the replacement time"
    )
    min_healthy_percent: Percent = Field(
        default=100, description="instance refresh keeps this share (%) of capacity healthy"
    )
    refresh_checkpoints: Checkpoints = Field(
        default=(20, 100),
        description="instance refresh replaces this share (%) of the group, bakes, then the next; ends at 100",
    )
    refresh_bake_s: RefreshBakeS = Field(
        default=300,
        description="instance refresh waits this long at each checkpoint while the fleet's alarms watch "
        "(one firing rolls the refresh back)",
    )
    warmup_s: WarmupS = Field(default=300, description="a new instance's metrics count for scaling after this long")
    drain_s: DrainS = Field(
        default=120, description="termination lifecycle hook: time an instance gets to drain before it goes"
    )
    cpu_target_percent: CpuTargetPercent = Field(
        default=60, description="target tracking: average CPU of the group (%)"
    )
    requests_per_target: RequestsPerTarget = Field(
        default=1000, description="target tracking: ALB requests per instance per minute"
    )
    root_volume_gib: RootVolumeGib = Field(default=20, description="encrypted gp3 root volume size")
    log_retention_days: LogRetentionDays = Field(default=365, description="model server log retention (days)")
