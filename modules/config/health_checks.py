"""The ALB health checks of a stack's targets: the same three settings in the section of each
stack with a load balancer (``[serving]``, ``[ha_failover]``, ``[target_groups]``), so that
a variable changes the checks of one stack only."""

from __future__ import annotations

from pydantic import Field

from modules.config.checks import Section
from modules.core.input_rules import HealthCheckIntervalS, HealthThreshold


class HealthCheckSettings(Section):
    """A section with its stack's target health checks (interval x unhealthy threshold = the time a
    failed target keeps getting traffic)."""

    health_check_interval_s: HealthCheckIntervalS = Field(
        default=10, description="ALB health check interval of the targets (seconds)"
    )
    healthy_threshold: HealthThreshold = Field(
        default=2, description="consecutive passed checks before a target gets traffic"
    )
    unhealthy_threshold: HealthThreshold = Field(
        default=2, description="consecutive failed checks before a target loses traffic"
    )
