"""A multi-AZ VPC: public and private subnets per AZ, NAT, flow logs, locked default SG."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.blocks.account_checks import zones_exist
from modules.blocks.iam import allow, assume_role_policy, policy_document
from modules.core.choices import NatMode
from modules.core.input_rules import KmsKeyArn, LogRetentionDays, MultiAzZoneIds, ServiceNames, VpcCidr
from modules.core.props_check import field_problems

# The VPC is cut into 16 equal blocks: public subnets take blocks 0-5, private 8-13,
# so adding an AZ later never renumbers an existing subnet.
_PRIVATE_OFFSET = 8


@dataclass(frozen=True, kw_only=True)
class NetworkHandles:
    """What a stack uses of a network, wherever the network comes from (its own, the
    `network` stack's, or the user's): Terraform references, one subnet per AZ."""

    vpc_id: str
    cidr: str  # the VPC's range: a literal, or a reference read at plan time (an existing VPC)
    private_subnet_ids: list[str]
    public_subnet_ids: list[str]  # empty when nothing of the stack is public (existing mode)


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    name: str  # prefix of every Name tag and log group
    logs_kms_key_arn: KmsKeyArn  # encrypts the flow log group; its policy must admit logs.<region>.amazonaws.com
    # One subnet pair per zone, in this order. Zone ids (use1-az1) are the same physical zone
    # in every account, unlike names; no default: they belong to the provider's region.
    zone_ids: MultiAzZoneIds
    cidr: VpcCidr = "10.0.0.0/16"
    nat: NatMode = "per_az"  # one NAT per AZ: an AZ outage never cuts the other AZs' egress
    flow_log_retention_days: LogRetentionDays = 365
    flow_log_traffic: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    flow_log_aggregation_s: Literal[60, 600] = 60
    interface_endpoints: ServiceNames = field(default_factory=tuple)  # e.g. ("ecr.api", "ecr.dkr", "logs")

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if self.nat not in ("per_az", "shared", "none"):
            problems.append(f"nat={self.nat!r}: must be per_az, shared or none")
        if not self.name:
            problems.append("name: must not be empty")
        if problems:
            raise ValueError("NetworkProps: " + "; ".join(problems))

    @property
    def az_count(self) -> int:
        return len(self.zone_ids)

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(public, private) subnet CIDRs, one of each per AZ."""
        net = ipaddress.IPv4Network(self.cidr)
        blocks = list(net.subnets(prefixlen_diff=4))
        public = [str(blocks[i]) for i in range(self.az_count)]
        private = [str(blocks[_PRIVATE_OFFSET + i]) for i in range(self.az_count)]
        return public, private


class Network(Construct):
    """A VPC over the availability zones ``zone_ids``.

    Defaults that matter: a public and a private subnet in each AZ, placed by zone id (the
    same physical zone in every account; a plan fails if one is not a regular zone of the
    region, and no zone's state or a new zone ever moves a subnet); public
    subnets assign no public IPs (only load balancers and NAT live there); one NAT
    gateway per AZ, each private route table using its own AZ's NAT; VPC flow logs of
    all traffic to a KMS-encrypted log group kept 365 days, at 1-minute aggregation;
    the default security group stripped of every rule (nothing can use it by accident);
    an S3 gateway endpoint on every route table (image layers and model downloads stay
    off the NAT); optional interface endpoints with private DNS, reachable on 443 from
    the VPC only.
    """

    def __init__(self, scope: Construct, id: str, props: NetworkProps) -> None:
        super().__init__(scope, id)
        self.props = props
        zones_exist(self, "zones", zone_ids=props.zone_ids)
        region = DataAwsRegion(self, "region")
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=props.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # interface endpoints' private DNS needs both
            tags={"Name": props.name},
        )
        vpc_id = self.vpc.id
        DefaultSecurityGroup(self, "default-sg", vpc_id=vpc_id, tags={"Name": f"{props.name}-default-unused"})
        self.internet_gateway = InternetGateway(self, "igw", vpc_id=vpc_id, tags={"Name": props.name})

        public_cidrs, private_cidrs = props.subnet_cidrs()
        self.zone_ids = props.zone_ids
        self.public_subnets: list[Subnet] = []
        self.private_subnets: list[Subnet] = []
        tiers = (("public", public_cidrs, self.public_subnets), ("private", private_cidrs, self.private_subnets))
        for tier, cidrs, subnets in tiers:
            for i, zone_id in enumerate(self.zone_ids):
                subnets.append(
                    Subnet(
                        self,
                        f"{tier}-{i}",
                        vpc_id=vpc_id,
                        cidr_block=cidrs[i],
                        availability_zone_id=zone_id,
                        map_public_ip_on_launch=False,
                        tags={"Name": f"{props.name}-{tier}-{i}", "tier": tier},
                    )
                )

        self.public_route_table = RouteTable(self, "public-rt", vpc_id=vpc_id, tags={"Name": f"{props.name}-public"})
        Route(
            self,
            "public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
        )
        for i, subnet in enumerate(self.public_subnets):
            RouteTableAssociation(
                self, f"public-rta-{i}", subnet_id=subnet.id, route_table_id=self.public_route_table.id
            )

        nat_count = {"per_az": props.az_count, "shared": 1, "none": 0}[props.nat]
        self.nat_gateways: list[NatGateway] = []
        for i in range(nat_count):
            eip = Eip(self, f"nat-eip-{i}", domain="vpc", tags={"Name": f"{props.name}-nat-{i}"})
            self.nat_gateways.append(
                NatGateway(
                    self,
                    f"nat-{i}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[i].id,
                    tags={"Name": f"{props.name}-nat-{i}"},
                    depends_on=[self.internet_gateway],
                )
            )
        self.private_route_tables: list[RouteTable] = []
        for i, subnet in enumerate(self.private_subnets):
            table = RouteTable(self, f"private-rt-{i}", vpc_id=vpc_id, tags={"Name": f"{props.name}-private-{i}"})
            self.private_route_tables.append(table)
            if self.nat_gateways:
                nat = self.nat_gateways[i if props.nat == "per_az" else 0]
                Route(
                    self,
                    f"private-default-{i}",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                )
            RouteTableAssociation(self, f"private-rta-{i}", subnet_id=subnet.id, route_table_id=table.id)

        self._flow_logs(props)
        self.s3_endpoint = VpcEndpoint(
            self,
            "s3-endpoint",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region.name}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[self.public_route_table.id, *(t.id for t in self.private_route_tables)],
            tags={"Name": f"{props.name}-s3"},
        )
        self.interface_endpoints: dict[str, VpcEndpoint] = {}
        if props.interface_endpoints:
            endpoint_sg = SecurityGroup(
                self,
                "endpoints-sg",
                name=f"{props.name}-endpoints",
                description="Interface endpoints: HTTPS from inside the VPC only",
                vpc_id=vpc_id,
                tags={"Name": f"{props.name}-endpoints"},
            )
            VpcSecurityGroupIngressRule(
                self,
                "endpoints-https",
                security_group_id=endpoint_sg.id,
                description="HTTPS from the VPC",
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=props.cidr,
            )
            for service in props.interface_endpoints:
                self.interface_endpoints[service] = VpcEndpoint(
                    self,
                    f"endpoint-{service.replace('.', '-')}",
                    vpc_id=vpc_id,
                    service_name=f"com.amazonaws.{region.name}.{service}",
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in self.private_subnets],
                    security_group_ids=[endpoint_sg.id],
                    tags={"Name": f"{props.name}-{service}"},
                )

    @property
    def handles(self) -> NetworkHandles:
        return NetworkHandles(
            vpc_id=self.vpc.id,
            cidr=self.props.cidr,
            private_subnet_ids=self.private_subnet_ids,
            public_subnet_ids=self.public_subnet_ids,
        )

    @property
    def public_subnet_ids(self) -> list[str]:
        return [s.id for s in self.public_subnets]

    @property
    def private_subnet_ids(self) -> list[str]:
        return [s.id for s in self.private_subnets]

    def _flow_logs(self, props: NetworkProps) -> None:
        self.flow_log_group = CloudwatchLogGroup(
            self,
            "flow-logs",
            name=f"/vpc/{props.name}/flow-logs",
            retention_in_days=props.flow_log_retention_days,
            kms_key_id=props.logs_kms_key_arn,
        )
        role = IamRole(
            self,
            "flow-logs-role",
            name_prefix=f"{props.name[:24]}-flow-",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
        )
        IamRolePolicy(
            self,
            "flow-logs-policy",
            role=role.id,
            policy=policy_document(
                allow(
                    None,
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    f"{self.flow_log_group.arn}:*",
                )
            ),
        )
        self.flow_log = FlowLog(
            self,
            "flow-log",
            vpc_id=self.vpc.id,
            traffic_type=props.flow_log_traffic,
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=props.flow_log_aggregation_s,
        )


def https_egress(scope: Construct, id: str, security_group_id: str, description: str) -> VpcSecurityGroupEgressRule:
    """HTTPS (443) out to anywhere: how instances and tasks in private subnets reach AWS APIs
    and package repositories, through the NAT or the interface endpoints. ``description``
    names what the group reaches."""
    return VpcSecurityGroupEgressRule(
        scope,
        id,
        security_group_id=security_group_id,
        description=description,
        ip_protocol="tcp",
        from_port=443,
        to_port=443,
        cidr_ipv4="0.0.0.0/0",
    )
