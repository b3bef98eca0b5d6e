"""The EC2 variant of a serving site: one region of model servers behind the serving front
(:mod:`modules.patterns.serving_front`), with the artifact bucket they boot from.

Shared by the ``ha-failover`` and ``target-groups`` stacks. Fleets
(:class:`modules.blocks.model_server_fleet.ModelServerFleet`) are added by the stack, one per
target group, with :meth:`ModelServerRegion.add_fleet`. The Fargate variant is
:mod:`modules.patterns.serving_fargate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup
from constructs import Construct

from modules.blocks.alarms import AlarmSpec, rollout_guards
from modules.blocks.fleet import FleetProps, MetricTarget, replacement_s
from modules.blocks.load_balancer import TargetGroupProps
from modules.blocks.model_server_fleet import ModelServerFleet, ModelServerFleetProps
from modules.blocks.secure_bucket import SecureBucket, SecureBucketProps
from modules.config import FleetSettings, Settings
from modules.patterns.account_limits import check_instance_types
from modules.patterns.exposure import Exposure
from modules.patterns.server_environment import server_environment
from modules.patterns.server_metrics import configured_server_metrics, in_flight_target
from modules.patterns.serving_front import ServingFront, ServingFrontProps, short_name
from modules.policy.check import waive
from modules.stack.base import store_teardown
from modules.stack.contract import Observability, depend_on

SERVER_PORT = 8080
HEALTH_PATH = "/v2/health/ready"  # readiness: a draining instance leaves rotation
HEALTH_TIMEOUT_S = 3  # the seed's; the server answers readiness from memory


def server_target_group(
    settings: Settings,
    name: str,
    *,
    interval_s: int,
    healthy_threshold: int,
    unhealthy_threshold: int,
    matcher: str = "200",
    stickiness_s: int = 0,
) -> TargetGroupProps:
    """A target group of model server instances checked on ``/v2/health/ready`` with a 3 s timeout."""
    return TargetGroupProps(
        name=short_name(name),
        port=SERVER_PORT,
        target_type="instance",
        health_check_path=HEALTH_PATH,
        health_check_interval_s=interval_s,
        health_check_timeout_s=HEALTH_TIMEOUT_S,
        healthy_threshold=healthy_threshold,
        unhealthy_threshold=unhealthy_threshold,
        health_check_matcher=matcher,
        deregistration_delay_s=settings.load_balancer.deregistration_delay_s,
        slow_start_s=settings.load_balancer.slow_start_s,
        stickiness_s=stickiness_s,
    )


def fleet_props(
    cfg: FleetSettings,
    *,
    name: str,
    subnet_ids: Sequence[str],
    target_group_arn: str,
    request_count_label: str,
    min_size: int,
    max_size: int,
    desired_capacity: int | None = None,
    rollback_alarm_names: Sequence[str] = (),
    metric_targets: Sequence[MetricTarget] = (),
) -> FleetProps:
    """The fleet block's props from the shared ``fleet`` settings."""
    return FleetProps(
        name=name,
        subnet_ids=subnet_ids,
        instance_types=cfg.instance_types,
        target_group_arns=(target_group_arn,),
        min_size=min_size,
        max_size=max_size,
        desired_capacity=desired_capacity,
        health_check_grace_s=cfg.health_check_grace_s,
        warmup_s=cfg.warmup_s,
        min_healthy_percent=cfg.min_healthy_percent,
        refresh_checkpoints=cfg.refresh_checkpoints,
        refresh_bake_s=cfg.refresh_bake_s,
        rollback_alarm_names=rollback_alarm_names,
        on_demand_base=cfg.on_demand_base,
        on_demand_percent_above_base=cfg.on_demand_percent_above_base,
        spot_allocation=cfg.spot_allocation,
        drain_s=cfg.drain_s,
        cpu_target_percent=cfg.cpu_target_percent,
        requests_per_target=cfg.requests_per_target,
        request_count_label=request_count_label,
        metric_targets=metric_targets,
    )


def after_rollback_alarms(fleets: Iterable[ModelServerFleet], observability: Observability) -> None:
    """Each fleet's group is created after the alarms its instance refresh names (by string:
    the alarms read the group's servers, a reference back could be a cycle)."""
    for fleet in fleets:
        depend_on(fleet.fleet.group, observability.alarms_named(fleet.fleet.props.rollback_alarm_names))


def replacement_time_s(settings: Settings) -> int:
    """s from a failed instance's launch until its replacement can serve (the ``fleet`` settings)."""
    return replacement_s(settings.fleet.health_check_grace_s, settings.fleet.launch_s)


class ModelServerRegion(Construct):
    """One region of model servers on EC2: the serving front (:class:`ServingFront`: key,
    network, ALB, WAF when public, alarm topic) and the artifact bucket the fleets boot from;
    fleets are added with :meth:`add_fleet`.

    Defaults that matter: those of the front; the artifact bucket versioned, KMS, TLS-only;
    instances reachable only from the ALB on the server port, with HTTPS out (packages,
    artifact, logs) and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        settings: Settings,
        *,
        prefix: str,
        short: str,
        region: str,
        stack: str,
        exposure: Exposure,
        target: TargetGroupProps,
    ) -> None:
        super().__init__(scope, id)
        self.settings, self.prefix, self.region, self.stack = settings, prefix, region, stack
        self.exposure = exposure
        self.front = front = ServingFront(
            self,
            settings,
            ServingFrontProps(
                prefix=prefix,
                short=short,
                region=region,
                stack=stack,
                exposure=exposure,
                encrypts="the artifacts",
                egress_id="instances-https-out",
                egress_description="HTTPS out: packages, the artifact in S3, CloudWatch, Session Manager",
            ),
        )
        self.account, self.key, self.network = front.account, front.key, front.network
        self.artifacts = SecureBucket(
            self,
            "artifacts",
            SecureBucketProps(
                bucket_name=f"{prefix}-artifacts-{region}",
                kms_key_arn=self.key.arn,
                teardown=store_teardown(settings, expendable=True),
            ),
        )
        waive(
            self.artifacts.bucket,
            "prod-stateful-protected",
            "holds only the model server artifact, uploaded again from handlers/ by every deploy",
        )
        self.load_balancer = front.add_load_balancer(target)
        check_instance_types(
            self,
            settings,
            region=region,
            instance_types=settings.fleet.instance_types,
            types_setting="fleet.instance_types",
        )
        self.waf = front.waf
        self.topic = front.add_alarm_topic()

    def add_fleet(
        self,
        id: str,
        group: LbTargetGroup,
        *,
        name: str,
        min_size: int,
        max_size: int,
        desired: int | None = None,
        model_uri: str | None = None,
        model_name: str = "",
        rollback_alarms: Sequence[AlarmSpec] = (),
    ) -> ModelServerFleet:
        """Model servers behind ``group``, scaled on CPU, on requests per target and on their own
        in-flight calls; they load ``model_uri`` (default: ``model_server.model_uri``, the same
        setting as the container's), serve it as ``model_name`` (default: ``serving.model_name``'s
        served name) and publish their metrics as service ``name``.
        An instance refresh rolls back when one of the rollout guards among ``rollback_alarms``
        (the site's alarms, named with its prefix) fires."""
        cfg = self.settings.fleet
        label = f"{self.load_balancer.lb.arn_suffix}/{group.arn_suffix}"
        return ModelServerFleet(
            self,
            id,
            ModelServerFleetProps(
                name=name,
                region=self.region,
                artifact_bucket=self.artifacts.bucket.bucket,
                artifact_bucket_arn=self.artifacts.bucket.arn,
                kms_key_arn=self.key.arn,
                security_group_ids=[self.load_balancer.targets_security_group.id],
                port=SERVER_PORT,
                root_volume_gib=cfg.root_volume_gib,
                log_retention_days=cfg.log_retention_days,
                artifact_prefix=f"artifacts/{id}",
                model_uri=self.settings.model_server.model_uri if model_uri is None else model_uri,
                environment={
                    **server_environment(self.settings, self.stack, name, model_uri),
                    **({"MODEL_NAME": model_name} if model_name else {}),
                },
                # the checksum is of model_server.model_uri's bytes: another model (a canary) is not checked
                model_sha256=self.settings.model_server.model_sha256 if model_uri is None else "",
                fleet=fleet_props(
                    cfg,
                    name=name,
                    subnet_ids=self.network.private_subnet_ids,
                    target_group_arn=group.arn,
                    request_count_label=label,
                    min_size=min_size,
                    max_size=max_size,
                    desired_capacity=desired,
                    rollback_alarm_names=rollout_guards(self.prefix, rollback_alarms),
                    metric_targets=(in_flight_target(self.settings, configured_server_metrics(self.settings, name)),),
                ),
            ),
        )
