"""``[stream]``: the `stream-analytics` stack (Kinesis stream and the fleet of stream workers)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modules.config.checks import DEFAULT_INSTANCE_TYPES, InstanceTypes, Int, Section, between, refuse
from modules.core.choices import SpotAllocation
from modules.core.input_rules import LogRetentionDays, OnDemandBase

CapacityMode = Literal["on_demand", "provisioned"]
FleetKind = Literal["spot_fleet", "asg"]


class StreamSettings(Section):
    """The `stream-analytics` stack: Kinesis stream and the fleet of stream workers."""

    capacity_mode: CapacityMode = Field(
        default="on_demand",
        description="stream capacity: `on_demand` (scales itself) or `provisioned` (`shard_count` shards)",
    )
    shard_count: Annotated[Int, between(1, 500)] = Field(
        default=2, description="shards of a provisioned stream (ignored on demand)"
    )
    retention_hours: Annotated[Int, between(24, 8760)] = Field(
        default=24, description="how long records stay readable: time to recover a stopped fleet"
    )
    fleet_kind: FleetKind = Field(
        default="spot_fleet",
        description="`spot_fleet` (an EC2 Spot Fleet request) or `asg` (Auto Scaling group, mixed instances)",
    )
    allocation_strategy: SpotAllocation = Field(
        default="capacity-optimized",
        description="spot allocation: from the pools least likely to be interrupted, or weighing price too",
    )
    instance_types: InstanceTypes = Field(
        default=DEFAULT_INSTANCE_TYPES,
        description="instance types the fleet may use (more pools, fewer interruptions)",
    )
    target_capacity: Annotated[Int, between(1, 1000)] = Field(default=3, description="worker instances the fleet keeps")
    on_demand_count: OnDemandBase = Field(default=0, description="of those, on-demand instances (the rest are spot)")
    lease_ttl_s: Annotated[Int, between(6, 600)] = Field(
        default=30, description="a worker's shard lease expires this long after its last renewal"
    )
    poll_interval_s: Annotated[Int, between(1, 60)] = Field(
        default=1, description="pause between a worker's read rounds (seconds)"
    )
    state_snapshot_s: Annotated[Int, between(5, 3600)] = Field(
        default=60,
        description="how often a worker saves a shard's analytics state to S3: a worker taking over "
        "after a crash re-reads at most this much of the shard (one S3 put per shard per interval)",
    )
    iterator_age_alarm_s: Annotated[Int, between(1, 86400)] = Field(
        default=300, description="alarm when the oldest unread record is older than this (seconds)"
    )
    dlq_retention_days: Annotated[Int, between(1, 14)] = Field(
        default=14, description="poison records stay in the DLQ this long (days)"
    )
    log_retention_days: LogRetentionDays = Field(default=365, description="worker log retention (days)")

    @model_validator(mode="after")
    def _across_fields(self) -> StreamSettings:
        out = []
        if self.on_demand_count > self.target_capacity:
            out.append(
                f"stream.on_demand_count = {self.on_demand_count}: must be <= "
                f"stream.target_capacity = {self.target_capacity}"
            )
        if self.poll_interval_s * 3 >= self.lease_ttl_s:
            out.append(
                f"stream.poll_interval_s = {self.poll_interval_s}: must be < stream.lease_ttl_s / 3 "
                f"({self.lease_ttl_s / 3:g}) so leases are renewed well before they expire"
            )
        refuse(out)
        return self
