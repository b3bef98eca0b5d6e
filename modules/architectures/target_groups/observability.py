"""What the ``target-groups`` stack watches, per target group (stable, canary): unhealthy
targets, target 5xx, the client-error share, instances in service, the own metrics of the
group's servers (p99 latency, 5xx rate, rejection rate, metrics missing) and the EMF documents
CloudWatch dropped from their log; the ALB's own 5xx; the canary controller (errors,
throttles, missed runs); and one dashboard over both groups, their fleets and the controller.

Each group's servers publish as a service of their own (the fleet's name), so the canary's
alarms see the canary alone. The group alarms made before the fleets (all but "metrics
missing") guard a rollout: a group's instance refresh undoes itself when its own servers go
bad, and the canary controller sets the canary's weight to 0 when one of the canary's fires.
The others page: what they say (no capacity, a blind pipeline, a controller that cannot move
the weights) is nothing a rollback fixes. While a controller alarm fires, a rolling canary
is unguarded: the dashboard's first widget and ``make canary-status`` say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from constructs import Construct

from modules.architectures.target_groups.settings import CONTROLLER_ALARMS, TargetGroupsSettings
from modules.blocks.alarms import AlarmSpec, MetricMath, lambda_metric, metric_alarms
from modules.blocks.dashboard import AlarmStatus, DashboardProps, Graph, dashboard
from modules.blocks.fleet_metrics import (
    TargetMetrics,
    alb_5xx_alarm,
    fleet_graphs,
    group_metrics,
    in_service_alarm,
)
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.blocks.server_metrics import ServerMetrics, server_graphs
from modules.config import Settings
from modules.patterns.server_metrics import (
    configured_server_metrics,
    emf_error_alarms,
    emf_error_graph,
    server_alarms,
)
from modules.patterns.serving_site import ModelServerRegion
from modules.stack.contract import Observability

UNGUARDED = "canary controller: any of these in ALARM = a rolling canary is UNGUARDED (make canary-status)"


def group_alarms(settings: Settings, key: str, t: TargetMetrics, service: str) -> list[AlarmSpec]:
    """The rollout guards of target group ``key`` (its keys start with ``<key>-``), whose servers
    publish their metrics as ``service``, and its servers' metrics-missing alarm."""
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
        client_error_alarm(settings, key, t, server),
        *server_alarms(settings.server_metrics, server, key_prefix=f"{key}-", who=key),
    ]


def client_error_alarm(settings: Settings, key: str, t: TargetMetrics, server: ServerMetrics) -> AlarmSpec:
    """The share of group ``key``'s calls its servers answer 4xx, other than 401 (a caller's
    missing token says nothing of the model), with the same traffic floor as the servers' own
    rates. The ALB counts what the server does not: a 404 for a model name it does not serve."""
    percent = settings.section(TargetGroupsSettings).client_error_alarm_percent
    floor = settings.server_metrics.alarm_min_requests
    return AlarmSpec(
        key=f"{key}-client-error-rate",
        metric=MetricMath(
            id="clienterrorrate",
            # The ALB writes 4xx only in minutes that have some: a missing minute is 0.
            expression=f"IF(requests >= {floor}, 100 * (FILL(clienterrors, 0) - FILL(unauthorized, 0)) / requests, 0)",
            label="client errors but 401 (%)",
            metrics={"clienterrors": t.target_4xx, "unauthorized": server.unauthorized, "requests": t.target_requests},
            statistic="Sum",
        ),
        threshold=percent,
        periods=3,
        datapoints=2,
        guards_rollout=True,
        description=f"more than {percent} % of calls to {key} model servers are answered 4xx (not 401): a model "
        "served under another name (404), or inputs it refuses (400). Compare the served names "
        "(serving.model_name, target_groups.canary_model_name) and the model's inputs",
    )


def controller_alarms(function_name: str) -> list[AlarmSpec]:
    """The canary controller's errors, throttles and missed runs (it runs every minute): they
    page; while one fires, nothing moves a bad canary's weight to 0."""
    metric = partial(lambda_metric, function_name)

    unguarded = "a rolling canary is unguarded meanwhile (make canary-status); make canary-abort if in doubt"
    errors, throttles, missed = CONTROLLER_ALARMS
    return [
        AlarmSpec(
            key=errors,
            metric=metric("Errors"),
            statistic="Sum",
            threshold=0,
            periods=3,
            datapoints=2,
            description=f"the canary controller fails (read its log: permissions, state, listener): {unguarded}",
        ),
        AlarmSpec(
            key=throttles,
            metric=metric("Throttles"),
            statistic="Sum",
            threshold=0,
            periods=3,
            datapoints=2,
            description=f"the canary controller's runs are throttled (a run over a minute, or the account's "
            f"concurrency): {unguarded}",
        ),
        AlarmSpec(
            key=missed,
            metric=metric("Invocations"),
            statistic="Sum",
            threshold=1,
            comparison="LessThanThreshold",
            periods=3,
            datapoints=3,
            # The schedule runs it every minute: three silent minutes are the failure.
            missing="breaching",
            description=f"the canary controller has not run for 3 minutes (its schedule disabled or its role "
            f"broken): {unguarded}",
        ),
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
    controller: str,
) -> Observability:
    """The alarms of every target group (``specs``, plus their fleets' here), of the ALB and of the
    ``controller`` function (in the site: their ids are Terraform addresses, to its topic) and
    the stack's dashboard (in ``scope``), one row of graphs per group."""
    min_size = settings.section(TargetGroupsSettings).min_size
    every = [spec for group_specs in specs.values() for spec in group_specs]
    graphs: list[Graph] = []
    for key in specs:
        group = group_metrics(fleets[key])
        log_group = fleets[key].log_group.name
        every += [
            in_service_alarm(group, min_size, key=f"{key}-in-service-below-min", who=key),
            *emf_error_alarms(log_group, key_prefix=f"{key}-", who=key),
        ]
        graphs += fleet_graphs(key, site.region, targets[key], group)
        calls = [targets[key].target_requests, targets[key].target_4xx]
        graphs.append(Graph(title=f"{key}: calls / 4xx", lines=calls, region=site.region))
        graphs.append(emf_error_graph(key, log_group, site.region))
    for key in specs:
        server = configured_server_metrics(settings, fleets[key].fleet.props.name)
        graphs += server_graphs(key, server, site.region)
    controller_specs = controller_alarms(controller)
    every += [alb_5xx_alarm(next(iter(targets.values()))), *controller_specs]
    runs = [metric for spec in controller_specs for metric in spec.metrics()]
    graphs.append(Graph(title="canary controller: errors / throttles / runs", lines=runs, region=site.region))
    alarms = metric_alarms(site, site.prefix, every, [site.topic.arn])
    status = AlarmStatus(title=UNGUARDED, alarm_arns=[alarms[key].arn for key in CONTROLLER_ALARMS])
    board = dashboard(
        scope,
        DashboardProps(name=prefix, region=settings.region, graphs=graphs, alarms=every, status=[status]),
    )
    return Observability(specs={site.prefix: every}, alarms={site.prefix: alarms}, dashboard=board)
