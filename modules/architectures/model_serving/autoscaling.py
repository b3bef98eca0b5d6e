"""The model-serving stack's service autoscaling: target tracking on CPU and on requests per task."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.ecs_service import EcsService
from constructs import Construct

from modules.blocks.load_balancer import LoadBalancer
from modules.config import Settings


def autoscaling(
    scope: Construct,
    settings: Settings,
    prefix: str,
    resource_id: str,
    *,
    service: EcsService,
    load_balancer: LoadBalancer,
) -> AppautoscalingTarget:
    """The service's scalable target and its two policies, in ``scope`` (the stack: their ids
    are Terraform addresses). ``resource_id`` is literal, not the target's attribute: the
    emulator leaves the target out (modules/core/emulator.py) and the policies must still be
    valid Terraform."""
    scalable = AppautoscalingTarget(
        scope,
        "scaling-target",
        service_namespace="ecs",
        resource_id=resource_id,
        scalable_dimension="ecs:service:DesiredCount",
        min_capacity=settings.serving.min_tasks,
        max_capacity=settings.serving.max_tasks,
        depends_on=[service],
    )
    lb, tg = load_balancer.lb, load_balancer.target_group
    metrics = {
        "cpu": ("ECSServiceAverageCPUUtilization", settings.serving.cpu_target_percent, None),
        "requests": (
            "ALBRequestCountPerTarget",
            settings.serving.requests_per_target,
            f"{lb.arn_suffix}/{tg.arn_suffix}",
        ),
    }
    for key, (metric, target_value, label) in metrics.items():
        AppautoscalingPolicy(
            scope,
            f"scale-{key}",
            name=f"{prefix}-{key}",
            policy_type="TargetTrackingScaling",
            service_namespace="ecs",
            resource_id=resource_id,
            scalable_dimension="ecs:service:DesiredCount",
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=target_value,
                scale_out_cooldown=60,  # add capacity fast
                scale_in_cooldown=300,  # remove it slowly: no flapping
                predefined_metric_specification=(
                    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=metric, resource_label=label
                    )
                ),
            ),
            depends_on=[scalable],
        )
    return scalable
