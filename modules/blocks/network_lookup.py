"""A VPC the stack does not own, read with data sources: the user's, or the `network` stack's.

Nothing is created: a stack that uses a looked-up network owns only its security groups,
load balancer and logs inside it, and ``destroy`` leaves the VPC, subnets, routes, NAT
and endpoints as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Postcondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.data_aws_subnet import DataAwsSubnet
from cdktf_cdktf_provider_aws.data_aws_vpc import DataAwsVpc
from constructs import Construct

from modules.blocks.network import NetworkHandles
from modules.core.input_rules import AzCount, OptionalVpcId, SubnetIds
from modules.core.props_check import field_problems


@dataclass(frozen=True, kw_only=True)
class NetworkLookupProps:
    """Either ``vpc_id`` and the subnet ids (the user's VPC), or ``name``: the ``Name`` tags the
    network block gave the VPC (``<name>``) and its subnets (``<name>-private-<i>``)."""

    az_count: AzCount  # private subnets in this many distinct AZs, checked at plan time
    vpc_id: OptionalVpcId = ""
    private_subnet_ids: SubnetIds = ()
    public_subnet_ids: SubnetIds = ()
    name: str = ""
    public: bool = False  # also look up the public subnets (a public load balancer)
    cidr: str = ""  # the VPC's range when known at synth (the `network` stack's); empty: read at plan time
    # How the plan-time messages name what to fix (the settings, e.g. "network." or "network.secondary_").
    setting_prefix: str = "network."

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if bool(self.name) == bool(self.vpc_id):
            problems.append("name, vpc_id: exactly one of them (a network by its Name tag, or by ids)")
        for tier, ids in (("private", self.private_subnet_ids), ("public", self.public_subnet_ids)):
            if self.vpc_id and (tier == "private" or self.public) and len(ids) < self.az_count:
                problems.append(f"{tier}_subnet_ids: {len(ids)} given, az_count = {self.az_count} needs as many")
        if self.name and (self.private_subnet_ids or self.public_subnet_ids):
            problems.append("private_subnet_ids, public_subnet_ids: only with vpc_id")
        if problems:
            raise ValueError("NetworkLookupProps: " + "; ".join(problems))


class NetworkLookup(Construct):
    """The VPC and one subnet per AZ, read at plan time; ``handles`` is what the stack uses.

    Checked before anything is created (lifecycle postconditions, so ``terraform plan``
    fails with a plain message): the VPC resolves DNS (interface endpoints' private names
    need it), every subnet exists and is in that VPC, and the private subnets (and the public
    ones, when looked up) span ``az_count`` distinct AZs (fewer would make the stack's fault
    tolerance a claim only). Of more subnets than ``az_count``, the first ``az_count`` are used.
    """

    def __init__(self, scope: Construct, id: str, props: NetworkLookupProps) -> None:
        super().__init__(scope, id)
        self.props = props
        p = props.setting_prefix
        self.vpc = DataAwsVpc(
            self,
            "vpc",
            **({"id": props.vpc_id} if props.vpc_id else {"tags": {"Name": props.name}}),
            lifecycle=_postcondition(
                "${self.enable_dns_support}",
                f"The VPC {props.vpc_id or props.name} does not resolve DNS (enable_dns_support): "
                f"turn it on, or set {p}vpc_id to a VPC that does.",
            ),
        )
        self.private_subnets = self._subnets("private", props.private_subnet_ids)
        self.public_subnets = self._subnets("public", props.public_subnet_ids) if props.public else []

    def _subnets(self, tier: str, ids: tuple[str, ...]) -> list[DataAwsSubnet]:
        """The first ``az_count`` subnets of ``tier`` (by id, else by Name tag)."""
        p, props = self.props.setting_prefix, self.props
        out: list[DataAwsSubnet] = []
        count = props.az_count
        for i in range(count):
            what = ids[i] if ids else f"{props.name}-{tier}-{i}"
            conditions = [
                Postcondition(
                    condition=f"${{self.vpc_id == {self.vpc.fqn}.id}}",
                    error_message=f"The subnet {what} is not in the VPC {props.vpc_id or props.name}: "
                    f"set {p}{tier}_subnet_ids to subnets of {p}vpc_id.",
                )
            ]
            if i == count - 1:
                zones = ", ".join([*(f"{s.fqn}.availability_zone_id" for s in out), "self.availability_zone_id"])
                conditions.append(
                    Postcondition(
                        condition=f"${{length(distinct([{zones}])) >= {props.az_count}}}",
                        error_message=f"The {tier} subnets are in fewer than az_count = {props.az_count} distinct "
                        f"availability zones: set {p}{tier}_subnet_ids to one subnet in each of "
                        f"{props.az_count} zones.",
                    )
                )
            lookup = {"id": ids[i]} if ids else {"vpc_id": self.vpc.id, "tags": {"Name": what}}
            out.append(
                DataAwsSubnet(
                    self, f"{tier}-{i}", **lookup, lifecycle=TerraformResourceLifecycle(postcondition=conditions)
                )
            )
        return out

    @property
    def handles(self) -> NetworkHandles:
        return NetworkHandles(
            vpc_id=self.vpc.id,
            cidr=self.props.cidr or self.vpc.cidr_block,
            private_subnet_ids=[s.id for s in self.private_subnets],
            public_subnet_ids=[s.id for s in self.public_subnets],
        )


def _postcondition(condition: str, message: str) -> TerraformResourceLifecycle:
    return TerraformResourceLifecycle(postcondition=[Postcondition(condition=condition, error_message=message)])
