"""What the ``target-groups`` stack watches, per target group (stable, canary): unhealthy
targets and target 5xx, and the own metrics of the group's servers (p99 latency, 5xx rate,
rejection rate, metrics missing); and one dashboard over both groups and their fleets.

Each group's servers publish as a service of their own (the fleet's name), so the canary's
alarms see the canary alone. Every alarm here but "metrics missing" guards a rollout: a
group's instance refresh undoes itself when its own servers go bad, and the canary
controller sets the canary's weight to 0 when one of the canary's fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from constructs import Construct

from modules.blocks.alarms import AlarmSpec, metric_alarms
from modules.blocks.dashboard import DashboardProps, dashboard
from modules.blocks.fleet_metrics import TargetMetrics, fleet_graphs, group_metrics
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.blocks.server_metrics import server_graphs
from modules.config import Settings
from modules.patterns.server_metrics import configured_server_metrics, server_alarms
from modules.patterns.serving_site import ModelServerRegion
from modules.stack.contract import Observability


def group_alarms(settings: Settings, key: str, t: TargetMetrics, service: str) -> list[AlarmSpec]:
    """The alarms of target group ``key`` (its keys start with ``<key>-``), whose servers
    publish their metrics as ``service``."""
    server = configured_server_metrics(settings, service)
    return [
        AlarmSpec(
            key=f"{key}-unhealthy-hosts",
            metric=t.unhealthy_hosts,
            statistic="Maximum",
            threshold=0,
            periods=1,
            datapoints=1,
            guards_rollout=True,
            description=f"a {key} target fails its health checks (its group replaces it)",
        ),
        AlarmSpec(
            key=f"{key}-target-5xx",
            metric=t.target_5xx,
            statistic="Sum",
            threshold=0,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description=f"{key} model servers answer 5xx" + (": consider its weight 0" if key == "canary" else ""),
        ),
        *server_alarms(settings.server_metrics, server, key_prefix=f"{key}-", who=key),
    ]


def observe(
    scope: Construct,
    settings: Settings,
    prefix: str,
    site: ModelServerRegion,
    *,
    specs: Mapping[str, Sequence[AlarmSpec]],
    targets: Mapping[str, TargetMetrics],
    fleets: Mapping[str, ModelServerFleet],
) -> Observability:
    """The alarms of every target group (in the site: their ids are Terraform addresses, to
    its topic) and the stack's dashboard (in ``scope``), one row of graphs per group."""
    every = [spec for group_specs in specs.values() for spec in group_specs]
    alarms = metric_alarms(site, site.prefix, every, [site.topic.arn])
    graphs = []
    for key in specs:
        graphs += fleet_graphs(key, site.region, targets[key], group_metrics(fleets[key]))
    for key in specs:
        server = configured_server_metrics(settings, fleets[key].fleet.props.name)
        graphs += server_graphs(key, server, site.region)
    board = dashboard(scope, DashboardProps(name=prefix, region=settings.region, graphs=graphs, alarms=every))
    return Observability(specs={site.prefix: every}, alarms={site.prefix: alarms}, dashboard=board)
