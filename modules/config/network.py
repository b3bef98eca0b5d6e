"""``[network]``: the VPC every multi-AZ stack builds with the network block (AZs and CIDR are top-level)."""

from __future__ import annotations

from pydantic import Field

from modules.config.checks import Section, ServiceNames
from modules.core.choices import NatMode
from modules.core.input_rules import LogRetentionDays


class NetworkSettings(Section):
    """The VPC every multi-AZ stack builds with the network block (AZs and CIDR are top-level)."""

    nat: NatMode = Field(
        default="per_az",
        description="NAT gateways: `per_az` (an AZ outage cuts no other AZ off), `shared` (one, cheaper), "
        "`none` (private subnets without internet egress)",
    )
    interface_endpoints: ServiceNames = Field(
        default=(),
        description="interface endpoints in the private subnets, e.g. `ecr.api,ecr.dkr,logs`; "
        "empty = none (traffic goes through NAT)",
    )
    flow_log_retention_days: LogRetentionDays = Field(
        default=365, description="VPC flow log retention in CloudWatch Logs (days)"
    )
