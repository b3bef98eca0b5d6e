"""``[ha_failover]``: the `ha-failover` stack (ALB + self-healing Auto Scaling group, optional second region)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from modules.config.checks import (
    ExposureOverride,
    HostedZoneId,
    Int,
    OptionalRegion,
    OptionalZoneIds,
    RecordName,
    SecondaryAcmArn,
    between,
    refuse,
)
from modules.config.health_checks import HealthCheckSettings


class HaFailoverSettings(HealthCheckSettings):
    """The `ha-failover` stack: ALB + self-healing Auto Scaling group, optional second region."""

    exposure: ExposureOverride = Field(default="", description="`internal` or `public`; empty = load_balancer.exposure")
    secondary_certificate_arn: SecondaryAcmArn = Field(
        default="", description="ACM certificate in secondary_region (certificates are regional); required when public"
    )
    min_size: Annotated[Int, between(1, 1000)] = Field(default=2, description="instances at least (over >= 2 AZs)")
    max_size: Annotated[Int, between(1, 1000)] = Field(default=4, description="instances at most")
    desired_capacity: Annotated[Int, between(1, 1000)] = Field(default=2, description="instances at deploy time")
    secondary_region: OptionalRegion = Field(
        default="", description="run the same ALB + fleet in this region too; empty = one region"
    )
    secondary_zone_ids: OptionalZoneIds = Field(
        default=(),
        description="availability zone ids in secondary_region, at least az_count (see zone_ids); "
        "required with secondary_region",
    )
    hosted_zone_id: HostedZoneId = Field(
        default="",
        description="Route 53 zone for PRIMARY/SECONDARY failover records (needs secondary_region and record_name)",
    )
    record_name: RecordName = Field(default="", description="DNS name of the failover records, in that zone")

    @model_validator(mode="after")
    def _across_fields(self) -> HaFailoverSettings:
        out = []
        if not self.min_size <= self.desired_capacity <= self.max_size:
            out.append(
                f"ha_failover.desired_capacity = {self.desired_capacity}: must be from ha_failover.min_size = "
                f"{self.min_size} to ha_failover.max_size = {self.max_size}"
            )
        if self.hosted_zone_id and not (self.secondary_region and self.record_name):
            out.append("ha_failover.hosted_zone_id: needs ha_failover.secondary_region and ha_failover.record_name")
        if self.secondary_zone_ids and not self.secondary_region:
            out.append("ha_failover.secondary_zone_ids: set only together with ha_failover.secondary_region")
        if self.record_name and not self.hosted_zone_id:
            out.append("ha_failover.record_name: set only together with ha_failover.hosted_zone_id")
        refuse(out)
        return self
