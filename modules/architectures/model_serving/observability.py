"""What the ``model-serving`` stack watches: alarms on the ALB, the target group and the
service (5xx, unhealthy hosts, p99 latency, CPU, running < desired), and its dashboard."""

from __future__ import annotations

import json
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster
from cdktf_cdktf_provider_aws.ecs_service import EcsService
from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup
from constructs import Construct

from modules.blocks.alarms import threshold_alarms
from modules.config import Settings

# The alarms an ECS deployment watches on its new revision (with rollback): errors, latency
# and missing tasks. The others (ALB 5xx, unhealthy hosts, CPU) also fire for reasons a
# rollback cannot fix (no capacity, a noisy client), so they page instead.
DEPLOYMENT_ALARMS = ("target-5xx", "p99-latency", "running-below-desired")


def deployment_alarm_names(prefix: str) -> list[str]:
    """Names of the alarms in :data:`DEPLOYMENT_ALARMS` as :func:`alarms_and_dashboard` creates them.

    By name, not by reference: the alarms read the service's name, so a reference back from
    the service would be a cycle.
    """
    return [f"{prefix}-{key}" for key in DEPLOYMENT_ALARMS]


def alarms_and_dashboard(
    scope: Construct,
    settings: Settings,
    prefix: str,
    *,
    topic_arn: str,
    lb: Lb,
    tg: LbTargetGroup,
    cluster: EcsCluster,
    service: EcsService,
) -> CloudwatchDashboard:
    """The alarms of the service, its ALB and its target group (to ``topic_arn``), and its
    dashboard, created in ``scope`` (the stack: their ids are Terraform addresses)."""
    serving = settings.serving
    alb_dims = {"LoadBalancer": lb.arn_suffix}
    tg_dims = {"LoadBalancer": lb.arn_suffix, "TargetGroup": tg.arn_suffix}
    svc_dims = {"ClusterName": cluster.name, "ServiceName": service.name}
    topic = [topic_arn]
    simple: dict[str, dict[str, Any]] = {
        "alb-5xx": {
            "metric_name": "HTTPCode_ELB_5XX_Count",
            "namespace": "AWS/ApplicationELB",
            "dimensions": alb_dims,
            "statistic": "Sum",
            "threshold": 5,
            "desc": "the ALB answers 5xx itself (no healthy target, or targets refusing)",
        },
        "target-5xx": {
            "metric_name": "HTTPCode_Target_5XX_Count",
            "namespace": "AWS/ApplicationELB",
            "dimensions": tg_dims,
            "statistic": "Sum",
            "threshold": 5,
            "desc": "model servers answer 5xx (503 = in-flight limit reached: scale or raise it)",
        },
        "unhealthy-hosts": {
            "metric_name": "UnHealthyHostCount",
            "namespace": "AWS/ApplicationELB",
            "dimensions": tg_dims,
            "statistic": "Maximum",
            "threshold": 0,
            "desc": "a task fails its /v2/health/ready health check",
        },
        "cpu-high": {
            "metric_name": "CPUUtilization",
            "namespace": "AWS/ECS",
            "dimensions": svc_dims,
            "statistic": "Average",
            "threshold": 85,
            "periods": 5,
            "datapoints": 4,
            "desc": "CPU stays high: autoscaling is at max_tasks or too slow",
        },
        "p99-latency": {
            "metric_name": "TargetResponseTime",
            "namespace": "AWS/ApplicationELB",
            "dimensions": tg_dims,
            "statistic": "p99",
            "threshold": serving.p99_latency_alarm_ms / 1000,
            "periods": 5,
            "datapoints": 3,
            "desc": f"p99 target response time above {serving.p99_latency_alarm_ms} ms",
        },
    }
    threshold_alarms(scope, prefix, simple, topic, periods=3, datapoints=2)
    CloudwatchMetricAlarm(
        scope,
        "alarm-running-tasks",
        alarm_name=f"{prefix}-running-below-desired",
        alarm_description="fewer tasks run than desired (spot reclaimed, tasks crash-looping, no capacity)",
        comparison_operator="GreaterThanThreshold",
        threshold=0,
        evaluation_periods=5,
        datapoints_to_alarm=5,
        # Missing data means Container Insights stopped reporting: treat it as a problem.
        treat_missing_data="breaching",
        metric_query=[
            CloudwatchMetricAlarmMetricQuery(
                id=key,
                metric=CloudwatchMetricAlarmMetricQueryMetric(
                    namespace="ECS/ContainerInsights",
                    metric_name=metric,
                    dimensions=svc_dims,
                    period=60,
                    stat="Average",
                ),
            )
            for key, metric in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount"))
        ]
        + [
            CloudwatchMetricAlarmMetricQuery(
                id="missing", expression="desired - running", label="tasks missing", return_data=True
            )
        ],
        alarm_actions=topic,
        ok_actions=topic,
    )
    return CloudwatchDashboard(
        scope,
        "dashboard",
        dashboard_name=prefix,
        dashboard_body=dashboard(settings, alb_dims, tg_dims, svc_dims),
    )


def dashboard(settings: Settings, alb: dict[str, str], tg: dict[str, str], svc: dict[str, str]) -> str:
    """The dashboard body: requests, 5xx, latency, targets, CPU and memory, tasks."""

    def metric(ns: str, name: str, dims: dict[str, str], **opts: Any) -> list[Any]:
        return [ns, name, *(x for kv in dims.items() for x in kv), opts]

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": settings.region,
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    elb = "AWS/ApplicationELB"
    widgets = [
        widget("Requests", [metric(elb, "RequestCount", alb)]),
        widget("5xx", [metric(elb, "HTTPCode_ELB_5XX_Count", alb), metric(elb, "HTTPCode_Target_5XX_Count", tg)]),
        widget(
            "Latency p50 / p99 (s)",
            [metric(elb, "TargetResponseTime", tg, stat="p50"), metric(elb, "TargetResponseTime", tg, stat="p99")],
            "p99",
        ),
        widget(
            "Healthy / unhealthy targets",
            [metric(elb, "HealthyHostCount", tg), metric(elb, "UnHealthyHostCount", tg)],
            "Maximum",
        ),
        widget(
            "CPU / memory (%)",
            [metric("AWS/ECS", "CPUUtilization", svc), metric("AWS/ECS", "MemoryUtilization", svc)],
            "Average",
        ),
        widget(
            "Tasks running / desired",
            [
                metric("ECS/ContainerInsights", "RunningTaskCount", svc),
                metric("ECS/ContainerInsights", "DesiredTaskCount", svc),
            ],
            "Average",
        ),
    ]
    return json.dumps({"widgets": widgets})
