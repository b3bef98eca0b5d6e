"""The metrics of a model-server site on EC2 (an ALB, a target group, the Auto Scaling group
behind it) and the graphs that show them: shared by the ``ha-failover`` and
``target-groups`` stacks' ``observability.py``."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup

from modules.blocks.alarms import AlarmSpec, Metric
from modules.blocks.dashboard import Graph
from modules.blocks.load_balancer import LoadBalancer
from modules.blocks.model_server_fleet import ModelServerFleet

ELB = "AWS/ApplicationELB"


@dataclass(frozen=True)
class TargetMetrics:
    """One target group behind the site's ALB (requests and ALB 5xx are the ALB's;
    ``target_requests`` and ``target_4xx`` the group's)."""

    requests: Metric
    alb_5xx: Metric
    target_requests: Metric
    target_4xx: Metric
    target_5xx: Metric
    healthy_hosts: Metric
    unhealthy_hosts: Metric
    response_time: Metric


@dataclass(frozen=True)
class GroupMetrics:
    """One Auto Scaling group of model servers."""

    in_service: Metric
    desired: Metric
    cpu: Metric


def target_metrics(lb: LoadBalancer, group: LbTargetGroup) -> TargetMetrics:
    alb = {"LoadBalancer": lb.lb.arn_suffix}
    tg = {**alb, "TargetGroup": group.arn_suffix}
    return TargetMetrics(
        requests=Metric(namespace=ELB, name="RequestCount", dimensions=alb),
        alb_5xx=Metric(namespace=ELB, name="HTTPCode_ELB_5XX_Count", dimensions=alb),
        target_requests=Metric(namespace=ELB, name="RequestCount", dimensions=tg),
        target_4xx=Metric(namespace=ELB, name="HTTPCode_Target_4XX_Count", dimensions=tg),
        target_5xx=Metric(namespace=ELB, name="HTTPCode_Target_5XX_Count", dimensions=tg),
        healthy_hosts=Metric(namespace=ELB, name="HealthyHostCount", dimensions=tg),
        unhealthy_hosts=Metric(namespace=ELB, name="UnHealthyHostCount", dimensions=tg),
        response_time=Metric(namespace=ELB, name="TargetResponseTime", dimensions=tg),
    )


def group_metrics(fleet: ModelServerFleet) -> GroupMetrics:
    asg = {"AutoScalingGroupName": fleet.fleet.name}
    return GroupMetrics(
        in_service=Metric(namespace="AWS/AutoScaling", name="GroupInServiceInstances", dimensions=asg),
        desired=Metric(namespace="AWS/AutoScaling", name="GroupDesiredCapacity", dimensions=asg),
        cpu=Metric(namespace="AWS/EC2", name="CPUUtilization", dimensions=asg),
    )


def alb_5xx_alarm(t: TargetMetrics) -> AlarmSpec:
    """The ALB's own 5xx: pages (a rollback cannot fix a missing target or a timeout)."""
    return AlarmSpec(
        key="alb-5xx",
        metric=t.alb_5xx,
        statistic="Sum",
        threshold=0,
        periods=3,
        datapoints=2,
        description="the ALB answers 5xx itself: no healthy target, or targets time out",
    )


def in_service_alarm(g: GroupMetrics, min_size: int, *, key: str = "in-service-below-min", who: str = "") -> AlarmSpec:
    """Fewer instances in service than ``min_size`` in 2 of 3 minutes; ``who`` names the group."""
    return AlarmSpec(
        key=key,
        metric=g.in_service,
        statistic="Minimum",
        threshold=min_size,
        comparison="LessThanThreshold",
        periods=3,
        datapoints=2,
        # The group always reports its metrics: silence means something is wrong.
        missing="breaching",
        description=f"fewer {who + ' ' if who else ''}instances in service than the minimum (no capacity, or a "
        "crash loop)",
    )


def fleet_graphs(label: str, region: str, t: TargetMetrics, g: GroupMetrics) -> list[Graph]:
    """Targets, requests and 5xx, instances, CPU and p99 latency of one fleet, titled
    ``<label>: ...``, in ``region``."""
    return [
        Graph(
            title=f"{label}: healthy / unhealthy targets",
            lines=[t.healthy_hosts, t.unhealthy_hosts],
            stat="Maximum",
            region=region,
        ),
        Graph(title=f"{label}: requests / 5xx", lines=[t.requests, t.alb_5xx, t.target_5xx], region=region),
        Graph(title=f"{label}: in service / desired", lines=[g.in_service, g.desired], stat="Minimum", region=region),
        Graph(title=f"{label}: CPU (%)", lines=[g.cpu], stat="Average", region=region),
        Graph(title=f"{label}: p99 response time (s)", lines=[t.response_time], stat="p99", region=region),
    ]
