"""What the ``network`` stack watches: each NAT gateway's port allocation errors (new
connections out of its AZ fail) and dropped packets; one dashboard over all of them."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.architectures.network.region import NetworkRegion
from modules.blocks.alarms import AlarmSpec, Metric, metric_alarms
from modules.blocks.dashboard import DashboardProps, Graph, dashboard
from modules.config import Settings
from modules.stack.contract import Observability


def nat_alarms(nat_ids: list[str]) -> list[AlarmSpec]:
    """Per NAT gateway (``nat-<i>``, the AZ of private subnet ``i``)."""
    specs: list[AlarmSpec] = []
    for i, nat_id in enumerate(nat_ids):

        def metric(name: str, nat: str = nat_id) -> Metric:
            return Metric(namespace="AWS/NATGateway", name=name, dimensions={"NatGatewayId": nat})

        specs += [
            AlarmSpec(
                key=f"nat-{i}-port-allocation",
                metric=metric("ErrorPortAllocation"),
                statistic="Sum",
                threshold=0,
                periods=3,
                datapoints=2,
                description=f"NAT gateway {i} cannot allocate source ports: new connections out of its AZ fail "
                "(too many to one destination; spread them, or use interface endpoints)",
            ),
            AlarmSpec(
                key=f"nat-{i}-packets-dropped",
                metric=metric("PacketsDropCount"),
                statistic="Sum",
                threshold=100,
                periods=5,
                datapoints=3,
                description=f"NAT gateway {i} drops packets: egress of its AZ is impaired (check the AWS Health "
                "Dashboard for the AZ)",
            ),
        ]
    return specs


def observe(scope: Construct, settings: Settings, regions: Mapping[str, NetworkRegion]) -> Observability:
    """The NAT alarms of each region (in the region, to its topic; by the region's prefix) and the
    stack's dashboard."""
    alarms: dict[str, dict[str, CloudwatchMetricAlarm]] = {}
    specs: dict[str, list[AlarmSpec]] = {}
    graphs: list[Graph] = []
    every: list[AlarmSpec] = []
    for site in regions.values():
        region_specs = nat_alarms([nat.id for nat in site.network.nat_gateways])
        specs[site.prefix] = region_specs
        alarms[site.prefix] = metric_alarms(site, site.prefix, region_specs, [site.topic.arn])
        every += region_specs
        for name in ("ErrorPortAllocation", "PacketsDropCount"):
            lines = [
                spec.metric for spec in region_specs if isinstance(spec.metric, Metric) and spec.metric.name == name
            ]
            if lines:
                graphs.append(Graph(title=f"{site.prefix}: NAT {name}", lines=lines, region=site.region))
    board = dashboard(
        scope,
        DashboardProps(name=f"{settings.name_prefix}-network", region=settings.region, graphs=graphs, alarms=every),
    )
    return Observability(specs=specs, alarms=alarms, dashboard=board)
