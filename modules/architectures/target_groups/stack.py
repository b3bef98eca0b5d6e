"""The ``target-groups`` stack: stable and canary target groups behind one ALB, weighted.

Each target group (e.g. model v1 and v2) has its own self-healing Auto Scaling group of
model servers; the listener forwards by the weights in ``target_groups.weights``.
"""

from __future__ import annotations

import json

from cdktf import TerraformOutput, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from modules.architectures.target_groups.chaos import experiments
from modules.architectures.target_groups.observability import group_alarms, observe
from modules.architectures.target_groups.settings import TargetGroupsSettings, canary_state_parameter
from modules.blocks.alarms import rollout_guards
from modules.blocks.caller_identity import caller_identity
from modules.blocks.fleet import detection_s
from modules.blocks.fleet_metrics import target_metrics
from modules.blocks.iam import allow, assume_role_policy, policy_document
from modules.blocks.load_balancer import TargetGroupProps
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.blocks.python_function import PythonFunction, PythonFunctionProps
from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.patterns.account_limits import CANARY_CONTROLLER_CONCURRENCY, check_lambda_concurrency
from modules.patterns.alarm_routing import publish_statements
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.exposure import exposure
from modules.patterns.network import network_stacks
from modules.patterns.serving_site import (
    ModelServerRegion,
    after_rollback_alarms,
    replacement_time_s,
    server_target_group,
)
from modules.stack.base import BaseStack

CONTROLLER_DIR = PROJECT_ROOT / "handlers" / "canary_controller"
CONTROLLER_PERIOD_S = 60  # EventBridge Scheduler's shortest rate
MATCHER = "200-299"  # the seed's: any 2xx is healthy
GROUPS = ("stable", "canary")


def target_group_props(settings: Settings, name: str) -> TargetGroupProps:
    tg = settings.section(TargetGroupsSettings)
    return server_target_group(
        settings,
        name,
        interval_s=tg.health_check_interval_s,
        healthy_threshold=tg.healthy_threshold,
        unhealthy_threshold=tg.unhealthy_threshold,
        matcher=MATCHER,
        stickiness_s=tg.stickiness_s,
    )


def detection_and_replacement_s(settings: Settings) -> tuple[int, int]:
    """(s until the ALB takes a failed target out, s until a replacement can serve)."""
    tg = settings.section(TargetGroupsSettings)
    detection = detection_s(tg.health_check_interval_s, tg.unhealthy_threshold)
    return detection, replacement_time_s(settings)


class TargetGroupsStack(BaseStack):
    """Stable and canary model servers behind one ALB, split by weight.

    Fault tolerance: each target group is checked on ``/v2/health/ready`` every 5 s (2/2
    thresholds, 3 s timeout, 200-299): a failed target is out in 10 s; each has its own
    Auto Scaling group (ELB health checks, on-demand base + spot, capacity rebalance,
    instance refresh, drain hook, target tracking) over every AZ; a bad canary hurts only
    its weight's share and is rolled back by setting its weight to 0. Alarms on unhealthy
    hosts and 5xx per group, and on each group's servers' own p99 latency, 5xx and rejection
    rates (the canary's roll it back); in-flight target tracking per group; FIS experiments
    (terminate a stable or canary instance, spot interruptions). Security: the
    ALB is internal and accepts only the VPC CIDR (or the configured CIDRs) unless exposed on
    purpose; instances accept only the ALB.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        tg = settings.section(TargetGroupsSettings)
        prefix = f"{settings.name_prefix}-tg"
        self.site = ModelServerRegion(
            self,
            "site",
            settings,
            prefix=prefix,
            short=prefix,
            region=settings.region,
            stack=name,
            exposure=exposure(settings, name, allowed_cidrs=tg.allowed_cidrs),
            target=target_group_props(settings, f"{prefix}-stable"),
        )
        self.uses_stacks |= network_stacks(settings)  # the site's network
        lb = self.site.load_balancer
        # The block's default target group is the stable one; the canary is added beside it.
        groups = {
            "stable": lb.target_group,
            "canary": lb.add_target_group("canary", target_group_props(settings, f"{prefix}-canary")),
        }
        weights = tg.weights
        lb.forward({"default": weights["stable"], "canary": weights["canary"]}, stickiness_s=tg.stickiness_s)
        self.target_groups = groups
        targets = {key: target_metrics(lb, group) for key, group in groups.items()}
        # Each group's servers publish their metrics as the group's fleet (its name): their own alarms.
        self.group_alarm_specs = {key: group_alarms(settings, key, targets[key], f"{prefix}-{key}") for key in groups}
        stable_model = settings.model_server.model_uri
        models = {"stable": stable_model, "canary": tg.canary_model_uri or stable_model}
        names = tg.served_names(settings)
        self.fleets: dict[str, ModelServerFleet] = {
            key: self.site.add_fleet(
                key,
                group,
                name=f"{prefix}-{key}",
                min_size=tg.min_size,
                max_size=tg.max_size,
                model_uri=models[key],
                model_name=names[key],
                # A refresh of this group undoes itself when its own targets go bad.
                rollback_alarms=self.group_alarm_specs[key],
            )
            for key, group in groups.items()
        }
        self._canary_controller(settings, prefix)
        self.observability = observe(
            self,
            settings,
            prefix,
            self.site,
            specs=self.group_alarm_specs,
            targets=targets,
            fleets=self.fleets,
            controller=self.canary_controller.function.function_name,
        )
        after_rollback_alarms(self.fleets.values(), self.observability)
        self.alarm_topic = self.site.topic
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=self.site.account.account_id,
            alarms=self.observability.alarms[self.site.prefix],
            experiments=experiments(
                settings,
                group_names={k: f.fleet.name for k, f in self.fleets.items()},
                min_size=tg.min_size,
                back_within_s=sum(detection_and_replacement_s(settings)),
            ),
            kms_key_arn=self.site.key.arn,
            log_retention_days=settings.fleet.log_retention_days,
        )
        outputs = {
            "alb_url": (lb.url, "URL of the load balancer"),
            "stable_target_group_arn": (
                groups["stable"].arn,
                f"stable target group ({weights['stable']} of the weight)",
            ),
            "canary_target_group_arn": (
                groups["canary"].arn,
                f"canary target group ({weights['canary']} of the weight)",
            ),
            "stable_asg_name": (self.fleets["stable"].fleet.name, "Auto Scaling group of the stable servers"),
            "canary_asg_name": (self.fleets["canary"].fleet.name, "Auto Scaling group of the canary servers"),
            "alarm_topic_arn": (self.site.topic.arn, "SNS topic of the alarms"),
            "canary_state_parameter": (self.canary_state.name, "SSM parameter holding the canary rollout's state"),
        }
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)

    def _canary_controller(self, settings: Settings, prefix: str) -> None:
        """The rollout state (SSM), the controller function and the schedule that runs it."""
        tg, site = settings.section(TargetGroupsSettings), self.site
        lb = site.load_balancer
        account_id = caller_identity(self).account_id
        # The controller owns the weights once the listener exists: a plan must not reset a
        # rolled-back canary to the weights of the settings.
        lb.listener.add_override("lifecycle.ignore_changes", ["default_action"])
        self.canary_state = SsmParameter(
            self,
            "canary-state",
            name=canary_state_parameter(settings.name_prefix),
            description="canary rollout state: status idle|rolling|rolled_back|promoted, step, since (epoch s)",
            type="SecureString",
            key_id=site.key.arn,
            value=json.dumps({"status": "idle", "step": 0, "since": 0}),
            # The controller and people write it; Terraform only creates it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["value"]),
        )
        check_lambda_concurrency(self, settings)  # the plan fails if the account cannot reserve it
        self.canary_controller = PythonFunction(
            self,
            "canary-controller",
            PythonFunctionProps(
                name=f"{prefix}-canary-controller",
                code_dir=CONTROLLER_DIR,
                kms_key_arn=site.key.arn,
                account_id=account_id,
                region=settings.region,
                memory_mib=256,
                timeout_s=30,
                reserved_concurrency=CANARY_CONTROLLER_CONCURRENCY,  # one run at a time moves the weights
                environment={
                    "LISTENER_ARN": lb.listener.arn,
                    "STABLE_TARGET_GROUP_ARN": self.target_groups["stable"].arn,
                    "CANARY_TARGET_GROUP_ARN": self.target_groups["canary"].arn,
                    "STATE_PARAMETER": self.canary_state.name,
                    "STATE_KEY_ID": site.key.arn,
                    # The canary's rollout guards: one in ALARM sets the canary's weight to 0.
                    "CANARY_ALARMS": ",".join(rollout_guards(site.prefix, self.group_alarm_specs["canary"])),
                    "ALARM_TOPIC_ARN": site.topic.arn,
                    "STEPS": ",".join(str(step) for step in tg.canary_steps),
                    "BAKE_S": str(tg.canary_bake_s),
                    "STICKINESS_S": str(tg.stickiness_s),
                    **self._prediction_judgement(settings),
                },
                policy_statements=(
                    allow("MoveTheCanaryWeight", "elasticloadbalancing:ModifyListener", lb.listener.arn),
                    # Describe* and DescribeAlarms have no resource-level permissions.
                    allow("ReadTheListener", "elasticloadbalancing:DescribeListeners", "*"),
                    allow("ReadTheAlarms", "cloudwatch:DescribeAlarms", "*"),
                    # The servers' prediction metrics; neither action has resource-level permissions.
                    allow("ReadThePredictions", ["cloudwatch:ListMetrics", "cloudwatch:GetMetricData"], "*"),
                    allow("KeepTheRolloutState", ["ssm:GetParameter", "ssm:PutParameter"], self.canary_state.arn),
                    allow("EncryptTheState", ["kms:Encrypt", "kms:GenerateDataKey"], site.key.arn),
                    allow("PublishTheRollback", "sns:Publish", site.topic.arn),
                    *publish_statements(site.topic, settings.region),
                ),
            ),
        )
        role = IamRole(
            self,
            "canary-schedule-role",
            name_prefix="canary-schedule-",
            assume_role_policy=assume_role_policy(
                "scheduler.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account_id}}
            ),
        )
        IamRolePolicy(
            self,
            "canary-schedule-policy",
            role=role.id,
            policy=policy_document(allow("RunTheController", "lambda:InvokeFunction", self.canary_controller.arn)),
        )
        self.canary_schedule = SchedulerSchedule(
            self,
            "canary-schedule",
            name=f"{prefix}-canary-controller",
            description="runs the canary controller: advance, hold or roll back the canary's weight",
            schedule_expression=f"rate({CONTROLLER_PERIOD_S // 60} minute)",
            flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=SchedulerScheduleTarget(
                arn=self.canary_controller.arn,
                role_arn=role.arn,
                # A missed run is replaced by the next one a minute later; an old one is stale.
                retry_policy=SchedulerScheduleTargetRetryPolicy(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=CONTROLLER_PERIOD_S
                ),
            ),
        )

    def _prediction_judgement(self, settings: Settings) -> dict[str, str]:
        """The controller's environment for judging the canary's predictions (none when off):
        each group's servers publish as their fleet's name."""
        tg = settings.section(TargetGroupsSettings)
        if not tg.canary_judge_predictions:
            return {}
        return {
            "PREDICTION_NAMESPACE": settings.server_metrics.namespace,
            "STABLE_SERVICE": self.fleets["stable"].fleet.props.name,
            "CANARY_SERVICE": self.fleets["canary"].fleet.props.name,
            "DRIFT_THRESHOLD": str(tg.canary_drift_threshold),
            "DRIFT_MIN_ROWS": str(tg.canary_drift_min_rows),
            "DRIFT_MAX_WAIT_S": str(tg.canary_drift_max_wait_s),
        }


def rollback_s(settings: Settings) -> int:
    """Worst case from a bad canary's first 5xx until its weight is 0: the alarm's evaluation
    (3 one-minute periods) plus one controller period."""
    return 3 * 60 + CONTROLLER_PERIOD_S
