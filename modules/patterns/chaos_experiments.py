"""The settings -> chaos experiment mapping the stacks share: the experiments several stacks
run (terminate instances, spot interruptions, one AZ cut off), sized by ``[chaos]``, and the
:class:`~modules.blocks.chaos.Chaos` construct of a stack. Each stack's ``chaos.py`` says which
it runs, on what, stopped by which of its alarms, with which hypothesis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.blocks.chaos import Chaos, ChaosProps, ExperimentSpec, TargetSpec, subnet_arn
from modules.config import Settings
from modules.stack.faults import FaultClaims

# Tags EC2 puts on the instances a group or fleet launches: they name this stack's group only.
ASG_TAG = "aws:autoscaling:groupName"
SPOT_FLEET_TAG = "aws:ec2spot:fleet-request-id"
RUNNING = {"State.Name": ("running",)}  # a stopping or terminated instance is no target


def minutes(seconds: int) -> int:
    """``seconds`` rounded up to whole minutes (what a hypothesis promises)."""
    return max(1, -(-seconds // 60))


def terminate(
    settings: Settings,
    claims: FaultClaims,
    key: str,
    *,
    tags: Mapping[str, str],
    stop_alarms: Sequence[str],
    hypothesis: str,
) -> ExperimentSpec:
    """``chaos.terminate_count`` running instances with ``tags`` terminated, no notice given."""
    return ExperimentSpec(
        key=key,
        fault=claims.fault(key),
        hypothesis=hypothesis,
        action="aws:ec2:terminate-instances",
        target=TargetSpec(
            resource_type="aws:ec2:instance",
            selection=f"COUNT({settings.chaos.terminate_count})",
            resource_tags=dict(tags),
            filters=RUNNING,
        ),
        stop_alarms=tuple(stop_alarms),
    )


def spot_interruptions(
    settings: Settings,
    claims: FaultClaims,
    *,
    tags: Mapping[str, str],
    stop_alarms: Sequence[str],
    hypothesis: str,
    key: str = "spot-interruptions",
) -> ExperimentSpec:
    """``chaos.spot_interruptions_count`` running spot instances with ``tags`` get the notice,
    then are interrupted ``chaos.spot_notice_minutes`` later (on-demand ones are no target)."""
    chaos = settings.chaos
    return ExperimentSpec(
        key=key,
        fault=claims.fault(key),
        hypothesis=hypothesis,
        action="aws:ec2:send-spot-instance-interruptions",
        parameters={"durationBeforeInterruption": f"PT{chaos.spot_notice_minutes}M"},
        target=TargetSpec(
            resource_type="aws:ec2:spot-instance",
            selection=f"COUNT({chaos.spot_interruptions_count})",
            resource_tags=dict(tags),
            filters=RUNNING,
        ),
        stop_alarms=tuple(stop_alarms),
    )


def az_outage(
    settings: Settings,
    claims: FaultClaims,
    *,
    private_subnet_ids: Sequence[str],
    account_id: str,
    stop_alarms: Sequence[str],
    hypothesis: str,
) -> ExperimentSpec:
    """Every packet in and out of the private subnet of zone ``chaos.az_outage_zone`` (one per
    AZ, in ``zone_ids`` order) dropped for ``chaos.az_outage_minutes``: a deny-all network ACL."""
    chaos = settings.chaos
    subnet = private_subnet_ids[chaos.az_outage_zone - 1]
    return ExperimentSpec(
        key="az-outage",
        fault=claims.fault("az-outage"),
        hypothesis=hypothesis,
        action="aws:network:disrupt-connectivity",
        parameters={"duration": f"PT{chaos.az_outage_minutes}M", "scope": "all"},
        target=TargetSpec(
            resource_type="aws:ec2:subnet",
            selection="ALL",
            resource_arns=(subnet_arn(settings.region, account_id, subnet),),
        ),
        stop_alarms=tuple(stop_alarms),
    )


def outage_zone(settings: Settings) -> str:
    """The zone id the ``az-outage`` experiments cut (for hypotheses and docs)."""
    return settings.zones_in(settings.region)[settings.chaos.az_outage_zone - 1]


def add_chaos(
    scope: Construct,
    settings: Settings,
    *,
    prefix: str,
    account_id: str,
    experiments: Sequence[ExperimentSpec],
    alarms: Mapping[str, CloudwatchMetricAlarm],
    kms_key_arn: str,
    log_retention_days: int,
    vpc_id: str = "",
) -> Chaos | None:
    """The stack's experiments (construct id ``chaos``), or nothing with ``chaos.enabled = false``."""
    if not settings.chaos.enabled:
        return None
    return Chaos(
        scope,
        "chaos",
        ChaosProps(
            prefix=prefix,
            account_id=account_id,
            region=settings.region,
            experiments=experiments,
            alarm_arns={key: alarm.arn for key, alarm in alarms.items()},
            kms_key_arn=kms_key_arn,
            log_retention_days=log_retention_days,
            vpc_id=vpc_id,
        ),
    )
