"""``[load_balancer]``: the application load balancer built with the load-balancer block."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modules.config.checks import AcmArn, Bool, CidrList, Int, Section, between


class LoadBalancerSettings(Section):
    """The application load balancer built with the load-balancer block."""

    internal: Bool = Field(default=False, description="internal ALB (private subnets) instead of internet-facing")
    allowed_cidrs: CidrList = Field(default=("0.0.0.0/0",), description="IPv4 CIDRs allowed to reach the ALB on 80/443")
    certificate_arn: AcmArn = Field(
        default="",
        description="ACM certificate ARN: adds an HTTPS listener (TLS 1.2+) and HTTP redirects to it; "
        "empty = HTTP only",
    )
    idle_timeout_s: Annotated[Int, between(1, 4000)] = Field(
        default=60, description="ALB idle connection timeout (seconds)"
    )
    health_check_interval_s: Annotated[Int, between(5, 300)] = Field(
        default=10, description="target health check interval (seconds)"
    )
    healthy_threshold: Annotated[Int, between(2, 10)] = Field(
        default=2, description="consecutive passed checks before a target gets traffic"
    )
    unhealthy_threshold: Annotated[Int, between(2, 10)] = Field(
        default=2, description="consecutive failed checks before a target loses traffic"
    )
    deregistration_delay_s: Annotated[Int, between(0, 3600)] = Field(
        default=30, description="time in-flight requests get to finish on a deregistered target"
    )
    slow_start_s: Annotated[Int, between(0, 900)] = Field(
        default=30, description="a new target's traffic ramps up over this many seconds; 0 = off"
    )
