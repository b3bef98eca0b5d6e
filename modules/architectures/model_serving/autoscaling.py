"""The model-serving stack's service autoscaling: target tracking on CPU, on requests per task
and on the servers' own in-flight calls per task.

Application Auto Scaling runs the three policies side by side: it scales out when any of them
asks for more tasks (the largest count wins) and scales in only when all of them allow it, so
the policy that sees the most load decides."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensions,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.ecs_service import EcsService
from constructs import Construct

from modules.blocks.fleet import MetricTarget
from modules.blocks.load_balancer import LoadBalancer
from modules.config import Settings
from modules.patterns.server_metrics import configured_server_metrics, in_flight_target


def autoscaling(
    scope: Construct,
    settings: Settings,
    prefix: str,
    resource_id: str,
    *,
    service: EcsService,
    load_balancer: LoadBalancer,
) -> AppautoscalingTarget:
    """The service's scalable target and its three policies, in ``scope`` (the stack: their ids
    are Terraform addresses); the servers publish their metrics as service ``prefix``.
    ``resource_id`` is literal, not the target's attribute: the
    emulator leaves the target out (modules/stack/emulator.py) and the policies must still be
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
        _policy(
            scope,
            prefix,
            resource_id,
            scalable,
            key,
            target_value,
            predefined=(
                AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type=metric, resource_label=label
                )
            ),
        )
    tracked = in_flight_target(settings, configured_server_metrics(settings, prefix))
    _policy(scope, prefix, resource_id, scalable, tracked.key, tracked.target, customized=_customized(tracked))
    return scalable


def _customized(
    tracked: MetricTarget,
) -> AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification:
    metric = tracked.metric
    return AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification(
        namespace=metric.namespace,
        metric_name=metric.name,
        statistic=tracked.statistic,
        dimensions=[
            AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensions(
                name=name, value=value
            )
            for name, value in metric.dimensions.items()
        ],
    )


def _policy(
    scope: Construct,
    prefix: str,
    resource_id: str,
    scalable: AppautoscalingTarget,
    key: str,
    target_value: float,
    *,
    predefined: AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification | None = None,
    customized: AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification | None = None,
) -> AppautoscalingPolicy:
    return AppautoscalingPolicy(
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
            predefined_metric_specification=predefined,
            customized_metric_specification=customized,
        ),
        depends_on=[scalable],
    )
