"""An Auto Scaling group that heals itself: the fleet block for instances behind a load balancer.

It runs a launch template (:class:`modules.blocks.instance_template.InstanceTemplate`) over the
private subnets of several AZs, replaces what fails its load balancer's health checks,
rolls out new template versions, rebalances spot capacity before an interruption and
gives every instance time to drain before it is terminated. No launch configurations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cdktf import Token
from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInstanceMaintenancePolicy,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupInstanceRefreshPreferencesAlarmSpecification,
    AutoscalingGroupMixedInstancesPolicy,
    AutoscalingGroupMixedInstancesPolicyInstancesDistribution,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplate,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification,
    AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride,
    AutoscalingGroupTag,
)
from cdktf_cdktf_provider_aws.autoscaling_lifecycle_hook import AutoscalingLifecycleHook
from cdktf_cdktf_provider_aws.autoscaling_policy import (
    AutoscalingPolicy,
    AutoscalingPolicyTargetTrackingConfiguration,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification,
    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension,
    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.launch_template import LaunchTemplate
from constructs import Construct

from modules.blocks.alarms import Metric, statistic_problem
from modules.core.choices import SpotAllocation
from modules.core.input_rules import (
    CpuTargetPercent,
    DrainS,
    HealthCheckGraceS,
    InstanceTypes,
    OnDemandBase,
    Percent,
    RefreshBakeS,
    RefreshCheckpoints,
    RequestsPerTarget,
    WarmupS,
)
from modules.core.props_check import field_problems

GROUP_METRICS = (
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
)


@dataclass(frozen=True, kw_only=True)
class MetricTarget:
    """Target tracking on a metric of the service's own (e.g. its in-flight calls): the group
    keeps ``statistic`` of ``metric`` near ``target``. ``key`` names the policy (``scale-<key>``)."""

    key: str
    metric: Metric
    target: float
    statistic: str = "Average"

    def __post_init__(self) -> None:
        problems = []
        if not self.key:
            problems.append("key: must not be empty")
        if isinstance(self.target, bool) or not isinstance(self.target, int | float) or self.target <= 0:
            problems.append(f"target={self.target!r}: must be a number above 0")
        if (problem := statistic_problem(self.statistic)) or self.statistic.startswith("p"):
            problems.append(f"statistic={self.statistic!r}: {problem or 'target tracking takes no percentile'}")
        if problems:
            raise ValueError(f"MetricTarget {self.key!r}: " + "; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class FleetProps:
    name: str  # group name prefix and Name tag
    subnet_ids: Sequence[str]  # private subnets, one per AZ, >= 2 AZs
    instance_types: InstanceTypes
    target_group_arns: Sequence[str] = ()
    health_check_type: Literal["ELB", "EC2"] = "ELB"  # ELB: an instance failing the ALB's checks is replaced
    min_size: int = 2
    max_size: int = 4
    desired_capacity: int | None = None  # None: min_size at creation, scaling policies own it afterwards
    health_check_grace_s: HealthCheckGraceS = 240  # boot, install, start: no ELB verdict before that
    warmup_s: WarmupS = 300
    min_healthy_percent: Percent = 100  # instance refresh and maintenance launch before they terminate
    # Instance refresh: replace this share (%) of the group, bake, then the next; the last is 100.
    refresh_checkpoints: RefreshCheckpoints = (20, 100)
    refresh_bake_s: RefreshBakeS = 300  # wait at each checkpoint, while the alarms watch the new instances
    # A refresh whose new instances make one of these fire rolls itself back (by name: the
    # alarms usually read the group's name, a reference back would be a cycle).
    rollback_alarm_names: Sequence[str] = ()
    on_demand_base: OnDemandBase = 1
    on_demand_percent_above_base: Percent = 0
    spot_allocation: SpotAllocation = "capacity-optimized"
    drain_s: DrainS = 120  # termination lifecycle hook: deregistration and the service's stop fit in it
    cpu_target_percent: CpuTargetPercent | None = 60  # None: no CPU target tracking
    requests_per_target: RequestsPerTarget | None = None  # ALBRequestCountPerTarget target; needs request_count_label
    request_count_label: str = ""  # "<alb arn_suffix>/<target group arn_suffix>"
    metric_targets: Sequence[MetricTarget] = ()  # more target tracking, on the service's own metrics

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not self.name:
            problems.append("name: must not be empty")
        if len(self.subnet_ids) < 2:
            problems.append(f"subnet_ids: {len(self.subnet_ids)} given, a fleet needs subnets in >= 2 AZs")
        if not 0 <= self.min_size <= self.max_size or self.max_size < 1:
            problems.append(f"min_size={self.min_size}, max_size={self.max_size}: need 0 <= min <= max, max >= 1")
        if self.desired_capacity is not None and not self.min_size <= self.desired_capacity <= self.max_size:
            problems.append(f"desired_capacity={self.desired_capacity}: must be from min_size to max_size")
        if self.health_check_type == "ELB" and not self.target_group_arns:
            problems.append("target_group_arns: ELB health checks need at least one target group")
        if self.requests_per_target is not None and not self.request_count_label:
            problems.append("requests_per_target: comes with request_count_label")
        keys = [t.key for t in self.metric_targets]
        if clash := sorted({k for k in keys if keys.count(k) > 1 or k in ("cpu", "requests")}):
            problems.append(f"metric_targets: keys {clash} used twice (cpu and requests are taken)")
        if problems:
            raise ValueError("FleetProps: " + "; ".join(problems))


class Fleet(Construct):
    """An Auto Scaling group with a mixed instances policy, behind target groups.

    Defaults that matter: ELB health checks (a target the ALB finds unhealthy is replaced,
    not only a dead instance) after a 240 s grace period; subnets in >= 2 AZs; instance
    refresh (rolling, 100 % healthy: launch before terminate) whenever the launch
    template gets a new version, 20 % then 100 % with a 300 s bake at each checkpoint,
    rolled back automatically on a failure or when ``rollback_alarm_names`` fire, and the
    same floor for maintenance replacements;
    capacity rebalance (a spot instance at risk is replaced before its notice); one
    on-demand instance as a base, spot beyond it, capacity-optimized over several
    instance types; a termination lifecycle hook that holds an instance 120 s (deregistered
    from its target groups, draining) before it goes; target tracking on CPU and, with a
    target group label, on ALB requests per target, and on each of ``metric_targets`` (the
    group scales out when any policy asks, in only when all do); group metrics enabled.
    """

    def __init__(self, scope: Construct, id: str, props: FleetProps, *, launch_template: LaunchTemplate) -> None:
        super().__init__(scope, id)
        self.props = props
        self.group = AutoscalingGroup(
            self,
            "asg",
            name_prefix=f"{props.name}-",
            min_size=props.min_size,
            max_size=props.max_size,
            desired_capacity=props.desired_capacity,
            vpc_zone_identifier=list(props.subnet_ids),
            target_group_arns=list(props.target_group_arns) or None,
            health_check_type=props.health_check_type,
            health_check_grace_period=props.health_check_grace_s,
            default_instance_warmup=props.warmup_s,
            capacity_rebalance=True,
            mixed_instances_policy=AutoscalingGroupMixedInstancesPolicy(
                instances_distribution=AutoscalingGroupMixedInstancesPolicyInstancesDistribution(
                    on_demand_base_capacity=props.on_demand_base,
                    on_demand_percentage_above_base_capacity=props.on_demand_percent_above_base,
                    spot_allocation_strategy=props.spot_allocation,
                ),
                launch_template=AutoscalingGroupMixedInstancesPolicyLaunchTemplate(
                    launch_template_specification=(
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecification(
                            # The latest version: a new one starts an instance refresh.
                            launch_template_id=launch_template.id,
                            version=Token.as_string(launch_template.latest_version),
                        )
                    ),
                    override=[
                        AutoscalingGroupMixedInstancesPolicyLaunchTemplateOverride(instance_type=t)
                        for t in props.instance_types
                    ],
                ),
            ),
            instance_maintenance_policy=AutoscalingGroupInstanceMaintenancePolicy(
                min_healthy_percentage=props.min_healthy_percent, max_healthy_percentage=200
            ),
            # A new artifact or AMI is a new template version: roll it out, capacity kept, a
            # share at a time with a bake at each checkpoint; an alarm or a failed launch rolls
            # the group back to the previous version without a person.
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=props.min_healthy_percent,
                    max_healthy_percentage=200,
                    instance_warmup=str(props.warmup_s),
                    checkpoint_percentages=list(props.refresh_checkpoints),
                    checkpoint_delay=str(props.refresh_bake_s),
                    skip_matching=True,  # instances already on the new version stay
                    auto_rollback=True,
                    alarm_specification=(
                        AutoscalingGroupInstanceRefreshPreferencesAlarmSpecification(
                            alarms=list(props.rollback_alarm_names)
                        )
                        if props.rollback_alarm_names
                        else None
                    ),
                ),
            ),
            # The launch template tags instances too; this one also names the group's activity.
            tag=[AutoscalingGroupTag(key="Name", value=props.name, propagate_at_launch=True)],
            enabled_metrics=list(GROUP_METRICS),
        )
        self.drain_hook = AutoscalingLifecycleHook(
            self,
            "drain",
            name="drain",
            autoscaling_group_name=self.group.name,
            lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
            heartbeat_timeout=props.drain_s,
            # Nobody has to answer: after the timeout the termination goes on.
            default_result="CONTINUE",
        )
        self.policies: dict[str, AutoscalingPolicy] = {}
        if props.cpu_target_percent is not None:
            self._target_tracking("cpu", "ASGAverageCPUUtilization", props.cpu_target_percent, None)
        if props.requests_per_target is not None:
            self._target_tracking(
                "requests", "ALBRequestCountPerTarget", props.requests_per_target, props.request_count_label
            )
        for tracked in props.metric_targets:
            self._metric_tracking(tracked)

    @property
    def name(self) -> str:
        return self.group.name

    def _tracking(self, key: str, configuration: AutoscalingPolicyTargetTrackingConfiguration) -> None:
        self.policies[key] = AutoscalingPolicy(
            self,
            f"scale-{key}",
            # Unique in the account, not only in the group: moto keys policies by name alone.
            name=f"{self.props.name}-{key}-target",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=configuration,
        )

    def _target_tracking(self, key: str, metric: str, target: int, label: str | None) -> None:
        self._tracking(
            key,
            AutoscalingPolicyTargetTrackingConfiguration(
                target_value=target,
                predefined_metric_specification=(
                    AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=metric, resource_label=label
                    )
                ),
            ),
        )

    def _metric_tracking(self, tracked: MetricTarget) -> None:
        metric = tracked.metric
        self._tracking(
            tracked.key,
            AutoscalingPolicyTargetTrackingConfiguration(
                target_value=tracked.target,
                customized_metric_specification=(
                    AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecification(
                        namespace=metric.namespace,
                        metric_name=metric.name,
                        statistic=tracked.statistic,
                        metric_dimension=[
                            AutoscalingPolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimension(
                                name=name, value=value
                            )
                            for name, value in metric.dimensions.items()
                        ],
                    )
                ),
            ),
        )


def detection_s(interval_s: int, unhealthy_threshold: int) -> int:
    """Worst case until the ALB stops routing to a failed target."""
    return interval_s * unhealthy_threshold


def replacement_s(grace_s: int, launch_s: int) -> int:
    """Until a replacement instance can be judged healthy: launch, then the grace period."""
    return grace_s + launch_s
