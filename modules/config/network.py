"""``[network]``: where the multi-AZ stacks' VPC comes from, and how the `network` stack (or each
stack, ``per_stack``) builds one (AZs and CIDR are top-level)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pydantic import Field, model_validator

from modules.config.checks import Section, ServiceNames, SubnetIdList, refuse
from modules.core.choices import NatMode, NetworkMode
from modules.core.input_rules import LogRetentionDays, OptionalVpcId


@dataclass(frozen=True, kw_only=True)
class ExistingNetwork:
    """The user's network in one region (mode ``existing``), and how the settings name it."""

    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]
    setting_prefix: str  # "network." or "network.secondary_": what an error tells the user to fix

    def given(self) -> list[str]:
        """The settings naming this network that are set (set only with mode ``existing``)."""
        values = (
            ("vpc_id", self.vpc_id),
            ("private_subnet_ids", self.private_subnet_ids),
            ("public_subnet_ids", self.public_subnet_ids),
        )
        return [f"{self.setting_prefix}{name}" for name, value in values if value]


class NetworkSettings(Section):
    """Where the VPC of every multi-AZ stack comes from, and how it is built (AZs and CIDR are top-level)."""

    mode: NetworkMode = Field(
        default="shared",
        description="`shared`: the `network` stack builds one VPC every stack uses; `per_stack`: each stack "
        "builds its own; `existing`: the user's VPC, named by vpc_id and the subnet ids (nothing of it is created)",
    )
    vpc_id: OptionalVpcId = Field(default="", description="mode `existing`: the VPC every stack deploys into")
    private_subnet_ids: SubnetIdList = Field(
        default=(), description="mode `existing`: private subnets of vpc_id, one in each of az_count AZs at least"
    )
    public_subnet_ids: SubnetIdList = Field(
        default=(),
        description="mode `existing`: public subnets of vpc_id (routed to an internet gateway), one per AZ; "
        "needed only where a load balancer is public",
    )
    secondary_vpc_id: OptionalVpcId = Field(
        default="", description="mode `existing` with ha_failover.secondary_region: the VPC there"
    )
    secondary_private_subnet_ids: SubnetIdList = Field(
        default=(), description="mode `existing` with ha_failover.secondary_region: private subnets there"
    )
    secondary_public_subnet_ids: SubnetIdList = Field(
        default=(), description="mode `existing` with ha_failover.secondary_region: public subnets there"
    )
    nat: NatMode = Field(
        default="per_az",
        description="NAT gateways: `per_az` (an AZ outage cuts no other AZ off), `shared` (one, cheaper), "
        "`none` (private subnets without internet egress)",
    )
    interface_endpoints: ServiceNames = Field(
        default=(),
        description="interface endpoints in the private subnets, e.g. `ecr.api,ecr.dkr,logs`; "
        "empty = none (traffic goes through NAT). Not with mode `existing`: the user's VPC provides its own",
    )
    flow_log_retention_days: LogRetentionDays = Field(
        default=365, description="VPC flow log retention in CloudWatch Logs (days)"
    )

    @model_validator(mode="after")
    def _across_fields(self) -> NetworkSettings:
        if self.mode == "existing":
            out = (
                [
                    "network.interface_endpoints: not with network.mode = 'existing' (no stack creates endpoints "
                    "in the user's VPC: it provides its own, or its NAT carries the traffic)"
                ]
                if self.interface_endpoints
                else []
            )
        else:
            given = self.existing(secondary=False).given() + self.existing(secondary=True).given()
            out = (
                [f"{', '.join(given)}: set only with network.mode = 'existing' (mode is {self.mode!r})"]
                if given
                else []
            )
        refuse(out)
        return self

    def existing(self, *, secondary: bool) -> ExistingNetwork:
        """The user's network in the primary region, or in ``ha_failover.secondary_region``."""
        if secondary:
            return ExistingNetwork(
                vpc_id=self.secondary_vpc_id,
                private_subnet_ids=self.secondary_private_subnet_ids,
                public_subnet_ids=self.secondary_public_subnet_ids,
                setting_prefix="network.secondary_",
            )
        return ExistingNetwork(
            vpc_id=self.vpc_id,
            private_subnet_ids=self.private_subnet_ids,
            public_subnet_ids=self.public_subnet_ids,
            setting_prefix="network.",
        )

    def problems_with(self, *, az_count: int, secondary_region: str, public: Collection[str]) -> list[str]:
        """What the other sections make of an ``existing`` network: subnets for ``az_count`` AZs,
        public subnets when a stack in ``public`` is, the secondary region's network when set."""
        if self.mode != "existing":
            return []
        regions = [(self.existing(secondary=False), "")] + (
            [(self.existing(secondary=True), f"ha_failover.secondary_region = {secondary_region!r}")]
            if secondary_region
            else []
        )
        out: list[str] = []
        for net, region in regions:
            where = f" ({region})" if region else ""
            at = net.setting_prefix
            if not net.vpc_id:
                out.append(f"{at}vpc_id: required with network.mode = 'existing'{where}")
            if len(net.private_subnet_ids) < az_count:
                out.append(
                    f"{at}private_subnet_ids: {len(net.private_subnet_ids)} given, az_count = {az_count} needs "
                    f"one in each of {az_count} AZs{where}"
                )
            shown = [s for s in public if not region or s == "ha-failover"]
            if shown and len(net.public_subnet_ids) < az_count:
                out.append(
                    f"{at}public_subnet_ids: {len(net.public_subnet_ids)} given, a public load balancer "
                    f"({', '.join(shown)}) needs one in each of az_count = {az_count} AZs{where}"
                )
        if not secondary_region:
            given = self.existing(secondary=True).given()
            out += [f"{', '.join(given)}: set only with ha_failover.secondary_region"] if given else []
        return out
