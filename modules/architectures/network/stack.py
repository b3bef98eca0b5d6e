"""The ``network`` stack: one VPC per region, for every stack that uses the network.

Built only for ``network.mode = "shared"`` (the default); with ``per_stack`` each stack
builds its own VPC and with ``existing`` the VPC is the user's, and this stack builds
nothing. The other stacks find the VPC and its subnets by their ``Name`` tags
(:func:`modules.patterns.network.stack_network`) and declare they depend on this stack
(:func:`modules.patterns.network.network_stacks`), so
``cdktf deploy '*'`` applies it first and ``cdktf destroy '*'`` destroys it last.
"""

from __future__ import annotations

from cdktf import TerraformDataSource, TerraformOutput, TerraformResource
from constructs import Construct

from modules.architectures.network.observability import observe
from modules.architectures.network.region import NetworkRegion
from modules.config import Settings
from modules.stack.base import BaseStack


class NetworkStack(BaseStack):
    """The shared VPC: public and private subnets in each of ``az_count`` AZs, NAT per
    ``network.nat`` (one per AZ by default: an AZ outage cuts no other AZ off), flow logs, the
    S3 gateway endpoint and the interface endpoints of ``network.interface_endpoints``, built
    once for all stacks; the same in ``ha_failover.secondary_region`` when it is set.
    Alarms on NAT port allocation errors and dropped packets. Security groups are each
    stack's own; this stack holds none but the endpoints' (HTTPS from the VPC only).
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        self.regions: dict[str, NetworkRegion] = {}
        if settings.network.mode != "shared":
            return  # per_stack: each stack builds its own; existing: the user's. An empty stack.
        self.regions["primary"] = NetworkRegion(self, "primary", settings, region=settings.region)
        secondary = settings.ha_failover.secondary_region
        if secondary:
            self.regions["secondary"] = NetworkRegion(self, "secondary", settings, region=secondary)
        self.observability = observe(self, settings, self.regions)
        self.alarm_topic = self.regions["primary"].topic
        if secondary:
            provider = self.region_provider("secondary", secondary)
            for node in self.regions["secondary"].node.find_all():
                if isinstance(node, TerraformResource | TerraformDataSource):
                    node.provider = provider
        for role, site in self.regions.items():
            key = "" if role == "primary" else "secondary_"
            net = site.network
            TerraformOutput(self, f"{key}vpc_id", value=net.vpc.id, description=f"VPC {site.prefix} ({site.region})")
            TerraformOutput(
                self,
                f"{key}private_subnet_ids",
                value=net.private_subnet_ids,
                description=f"private subnets of {site.prefix}, one per AZ",
            )
            TerraformOutput(
                self,
                f"{key}public_subnet_ids",
                value=net.public_subnet_ids,
                description=f"public subnets of {site.prefix} (load balancers and NAT only), one per AZ",
            )
            TerraformOutput(
                self,
                f"{key}alarm_topic_arn",
                value=site.topic.arn,
                description=f"SNS topic the alarms of {site.prefix} ({site.region}) notify",
            )
