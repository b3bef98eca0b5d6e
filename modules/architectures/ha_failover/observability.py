"""What the ``ha-failover`` stack watches, per site (region): unhealthy and no healthy
targets, ALB and target 5xx, instances in service below the minimum, the servers' own
latency, 5xx rate, rejection rate and metrics, the EMF documents CloudWatch dropped from their
log (these page only); and one dashboard over both sites.

The rollout guards are what an instance refresh of the site's group watches: a refresh
whose new instances fail their checks, answer 5xx, get slow or shed load undoes itself. "No healthy hosts" is
what Route 53 failover keys on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.blocks.alarms import AlarmSpec, metric_alarms
from modules.blocks.dashboard import DashboardProps, Graph, dashboard
from modules.blocks.fleet_metrics import (
    GroupMetrics,
    TargetMetrics,
    alb_5xx_alarm,
    fleet_graphs,
    group_metrics,
    in_service_alarm,
)
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.blocks.server_metrics import server_graphs
from modules.config import Settings
from modules.patterns.server_metrics import (
    configured_server_metrics,
    emf_error_alarms,
    emf_error_graph,
    server_alarms,
)
from modules.patterns.serving_site import ModelServerRegion
from modules.stack.contract import Observability


def target_alarms(t: TargetMetrics) -> list[AlarmSpec]:
    """The site's load-balancer alarms: known before its group exists (its refresh watches them)."""
    return [
        AlarmSpec(
            key="unhealthy-hosts",
            metric=t.unhealthy_hosts,
            statistic="Maximum",
            threshold=0,
            periods=1,
            datapoints=1,
            guards_rollout=True,
            description="a target fails its health checks (the group replaces it after the grace period)",
        ),
        AlarmSpec(
            key="no-healthy-hosts",
            metric=t.healthy_hosts,
            statistic="Minimum",
            threshold=1,
            comparison="LessThanThreshold",
            periods=2,
            datapoints=2,
            # The ALB reports the count every minute while it lives: silence is an outage.
            missing="breaching",
            description="the site serves nothing: no target passes its health checks (DNS failover keys on this)",
        ),
        alb_5xx_alarm(t),
        AlarmSpec(
            key="target-5xx",
            metric=t.target_5xx,
            statistic="Sum",
            threshold=0,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description="model servers answer 5xx",
        ),
    ]


def site_alarms(settings: Settings, t: TargetMetrics, service: str) -> list[AlarmSpec]:
    """The alarms known before the site's group exists (its refresh watches their guards): the
    load balancer's, and those on the own metrics of the servers that publish as ``service``."""
    return [*target_alarms(t), *server_alarms(settings.server_metrics, configured_server_metrics(settings, service))]


def group_alarms(g: GroupMetrics, min_size: int) -> list[AlarmSpec]:
    return [in_service_alarm(g, min_size)]


def observe(
    scope: Construct,
    settings: Settings,
    prefix: str,
    *,
    sites: Mapping[str, ModelServerRegion],
    fleets: Mapping[str, ModelServerFleet],
    targets: Mapping[str, TargetMetrics],
    target_specs: Mapping[str, Sequence[AlarmSpec]],
) -> Observability:
    """Every site's alarms (in the site: their ids are Terraform addresses, to its topic) and
    their specs, by the site's prefix (which names them), and one dashboard over every site (in
    ``scope``, each graph in its site's region).

    ``target_specs`` are the sites' :func:`site_alarms`, made before their groups, whose
    refreshes watch them; the groups' alarms are added here."""
    alarms: dict[str, dict[str, CloudwatchMetricAlarm]] = {}
    by_prefix: dict[str, list[AlarmSpec]] = {}
    graphs: list[Graph] = []
    every: list[AlarmSpec] = []
    for role, site in sites.items():
        group = group_metrics(fleets[role])
        log_group = fleets[role].log_group.name
        specs = [
            *target_specs[role],
            *group_alarms(group, settings.ha_failover.min_size),
            *emf_error_alarms(log_group),
        ]
        alarms[site.prefix] = metric_alarms(site, site.prefix, specs, [site.topic.arn])
        graphs += fleet_graphs(role, site.region, targets[role], group)
        graphs += server_graphs(role, configured_server_metrics(settings, fleets[role].fleet.props.name), site.region)
        graphs.append(emf_error_graph(role, log_group, site.region))
        every += specs
        by_prefix[site.prefix] = specs
    board = dashboard(scope, DashboardProps(name=prefix, region=settings.region, graphs=graphs, alarms=every))
    return Observability(specs=by_prefix, alarms=alarms, dashboard=board)
