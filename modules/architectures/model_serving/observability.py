"""What the ``model-serving`` stack watches: alarms on the ALB, the target group and the
service (5xx, unhealthy hosts, p99 latency, CPU, running < desired), on the servers' own
metrics (model p99 latency, 5xx rate, rejection rate, metrics missing), on the EMF documents
CloudWatch dropped from their log (these page only), and its dashboard.

The deployment guards (``guards_rollout``) are what an ECS deployment watches on its new
revision, with rollback: errors, latency (the ALB's and the model's), rejections and missing
tasks. The others (ALB 5xx, unhealthy hosts, CPU, metrics missing) also fire for reasons a
rollback cannot fix (no capacity, a noisy client, a broken log pipeline), so they page instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster
from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup
from constructs import Construct

from modules.blocks.alarms import AlarmSpec, Metric, MetricMath, metric_alarms
from modules.blocks.dashboard import DashboardProps, Graph, Line, dashboard
from modules.blocks.server_metrics import ServerMetrics, server_graphs
from modules.config import Settings
from modules.patterns.server_metrics import (
    configured_server_metrics,
    emf_error_alarms,
    emf_error_graph,
    server_alarms,
)
from modules.stack.contract import Observability

ELB = "AWS/ApplicationELB"


@dataclass(frozen=True)
class ServiceMetrics:
    """The metrics of the service, its ALB and its target group."""

    requests: Metric
    alb_5xx: Metric
    target_5xx: Metric
    response_time: Metric
    healthy_hosts: Metric
    unhealthy_hosts: Metric
    cpu: Metric
    memory: Metric
    running_tasks: Metric
    desired_tasks: Metric


def service_metrics(lb: Lb, tg: LbTargetGroup, cluster: EcsCluster, service_name: str) -> ServiceMetrics:
    """``service_name`` written out, not the service's attribute: the service depends on its
    rollout guards (it names them by string), so a guard reading it back would be a cycle."""
    alb = {"LoadBalancer": lb.arn_suffix}
    group = {"LoadBalancer": alb["LoadBalancer"], "TargetGroup": tg.arn_suffix}
    svc = {"ClusterName": cluster.name, "ServiceName": service_name}
    return ServiceMetrics(
        requests=Metric(namespace=ELB, name="RequestCount", dimensions=alb),
        alb_5xx=Metric(namespace=ELB, name="HTTPCode_ELB_5XX_Count", dimensions=alb),
        target_5xx=Metric(namespace=ELB, name="HTTPCode_Target_5XX_Count", dimensions=group),
        response_time=Metric(namespace=ELB, name="TargetResponseTime", dimensions=group),
        healthy_hosts=Metric(namespace=ELB, name="HealthyHostCount", dimensions=group),
        unhealthy_hosts=Metric(namespace=ELB, name="UnHealthyHostCount", dimensions=group),
        cpu=Metric(namespace="AWS/ECS", name="CPUUtilization", dimensions=svc),
        memory=Metric(namespace="AWS/ECS", name="MemoryUtilization", dimensions=svc),
        running_tasks=Metric(namespace="ECS/ContainerInsights", name="RunningTaskCount", dimensions=svc),
        desired_tasks=Metric(namespace="ECS/ContainerInsights", name="DesiredTaskCount", dimensions=svc),
    )


def alarm_specs(settings: Settings, m: ServiceMetrics, server: ServerMetrics) -> list[AlarmSpec]:
    p99_ms = settings.serving.p99_latency_alarm_ms
    return [*_service_alarms(m, p99_ms), *server_alarms(settings.server_metrics, server)]


def _service_alarms(m: ServiceMetrics, p99_ms: int) -> list[AlarmSpec]:
    return [
        AlarmSpec(
            key="alb-5xx",
            metric=m.alb_5xx,
            statistic="Sum",
            threshold=5,
            periods=3,
            datapoints=2,
            description="the ALB answers 5xx itself (no healthy target, or targets refusing)",
        ),
        AlarmSpec(
            key="target-5xx",
            metric=m.target_5xx,
            statistic="Sum",
            threshold=5,
            periods=3,
            datapoints=2,
            guards_rollout=True,
            description="model servers answer 5xx (503 = in-flight limit reached: scale or raise it)",
        ),
        AlarmSpec(
            key="unhealthy-hosts",
            metric=m.unhealthy_hosts,
            statistic="Maximum",
            threshold=0,
            periods=3,
            datapoints=2,
            description="a task fails its /v2/health/ready health check",
        ),
        AlarmSpec(
            key="cpu-high",
            metric=m.cpu,
            statistic="Average",
            threshold=85,
            periods=5,
            datapoints=4,
            description="CPU stays high: autoscaling is at max_tasks or too slow",
        ),
        AlarmSpec(
            key="p99-latency",
            metric=m.response_time,
            statistic="p99",
            threshold=p99_ms / 1000,
            periods=5,
            datapoints=3,
            guards_rollout=True,
            description=f"p99 target response time above {p99_ms} ms",
        ),
        AlarmSpec(
            key="running-tasks",
            name="running-below-desired",
            metric=MetricMath(
                id="missing",
                expression="desired - running",
                label="tasks missing",
                metrics={"desired": m.desired_tasks, "running": m.running_tasks},
                statistic="Average",
            ),
            threshold=0,
            periods=5,
            datapoints=5,
            # Missing data means Container Insights stopped reporting: treat it as a problem.
            missing="breaching",
            guards_rollout=True,
            description="fewer tasks run than desired (spot reclaimed, tasks crash-looping, no capacity)",
        ),
    ]


def graphs(m: ServiceMetrics, server: ServerMetrics) -> list[Graph]:
    """Requests, 5xx, latency, targets, CPU and memory, tasks; then the servers' own latency,
    calls by outcome, in-flight calls and batch sizes."""
    return [
        Graph(title="Requests", lines=[m.requests]),
        Graph(title="5xx", lines=[m.alb_5xx, m.target_5xx]),
        Graph(
            title="Latency p50 / p99 (s)",
            lines=[Line(metric=m.response_time, stat="p50"), Line(metric=m.response_time, stat="p99")],
            stat="p99",
        ),
        Graph(title="Healthy / unhealthy targets", lines=[m.healthy_hosts, m.unhealthy_hosts], stat="Maximum"),
        Graph(title="CPU / memory (%)", lines=[m.cpu, m.memory], stat="Average"),
        Graph(title="Tasks running / desired", lines=[m.running_tasks, m.desired_tasks], stat="Average"),
        *server_graphs("", server),
    ]


def observe(
    scope: Construct,
    settings: Settings,
    prefix: str,
    *,
    topic_arn: str,
    lb: Lb,
    tg: LbTargetGroup,
    cluster: EcsCluster,
    service_name: str,
    log_group_name: str,
) -> Observability:
    """The alarms of the service, its ALB and its target group (to ``topic_arn``), and the EMF
    documents dropped from the servers' ``log_group_name``; its dashboard, created in ``scope``
    (the stack: their ids are Terraform addresses)."""
    metrics = service_metrics(lb, tg, cluster, service_name)
    server = configured_server_metrics(settings, prefix)  # the task publishes as service ``prefix``
    specs = [*alarm_specs(settings, metrics, server), *emf_error_alarms(log_group_name)]
    alarms = metric_alarms(scope, prefix, specs, [topic_arn])
    board = dashboard(
        scope,
        DashboardProps(
            name=prefix,
            region=settings.region,
            graphs=[*graphs(metrics, server), emf_error_graph("", log_group_name)],
            alarms=specs,
            view="timeSeries",
            line_options=True,
        ),
    )
    return Observability(specs={prefix: specs}, alarms={prefix: alarms}, dashboard=board)
