"""Chaos experiments (AWS FIS templates) from typed specs: one :class:`ExperimentSpec` per fault a
stack claims to survive, one :class:`Chaos` construct per stack that builds them.

A template costs nothing until it runs. Each one is stopped by the stack's own alarms (by
ARN), targets only this stack's resources (ARNs, tags or parameters, with a selection mode),
fails when its targets resolve to nothing, and logs to a KMS-encrypted log group of the stack.
Its role may do exactly what its templates' actions need, on those targets only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.fis_experiment_template import (
    FisExperimentTemplate,
    FisExperimentTemplateAction,
    FisExperimentTemplateActionParameter,
    FisExperimentTemplateActionTarget,
    FisExperimentTemplateExperimentOptions,
    FisExperimentTemplateLogConfiguration,
    FisExperimentTemplateLogConfigurationCloudwatchLogsConfiguration,
    FisExperimentTemplateStopCondition,
    FisExperimentTemplateTarget,
    FisExperimentTemplateTargetFilter,
    FisExperimentTemplateTargetResourceTag,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document
from modules.core.input_rules import KmsKeyArn, LogRetentionDays
from modules.core.props_check import field_problems


@dataclass(frozen=True)
class FisAction:
    """What the template needs to know of one FIS action: the key its target goes under, the
    resource type it acts on and the parameters it requires."""

    target_key: str
    resource_type: str
    required: tuple[str, ...] = ()


# The actions the stacks use (FIS actions reference). Another action is added here, with its
# permissions in :func:`_action_statements`.
ACTIONS: Mapping[str, FisAction] = {
    "aws:ecs:stop-task": FisAction("Tasks", "aws:ecs:task"),
    "aws:ec2:terminate-instances": FisAction("Instances", "aws:ec2:instance"),
    "aws:ec2:send-spot-instance-interruptions": FisAction(
        "SpotInstances", "aws:ec2:spot-instance", ("durationBeforeInterruption",)
    ),
    "aws:network:disrupt-connectivity": FisAction("Subnets", "aws:ec2:subnet", ("duration", "scope")),
}
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SELECTION = re.compile(r"^(ALL|COUNT\(([1-9]\d*)\)|PERCENT\(([1-9]\d?|100)\))$")
_ISO_DURATION = re.compile(r"^PT([1-9]\d*[HMS])+$")
# What AWS accepts in a tag value: letters, digits, spaces and _ . : / = + - @ (and 256 of them).
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
DESCRIPTION_MAX = 512  # FIS: an experiment template's description
STOP_CONDITIONS_MAX = 5  # FIS: stop conditions per template


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """What an experiment acts on: this stack's resources only, by ARN, tags or parameters
    (FIS's ``aws:ecs:task`` takes ``cluster`` and ``service``), narrowed by ``filters``
    (path -> values), and how many of them (``COUNT(n)``, ``PERCENT(n)`` or ``ALL``)."""

    resource_type: str
    selection: str
    resource_arns: tuple[str, ...] = ()
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        types = sorted({a.resource_type for a in ACTIONS.values()})
        if self.resource_type not in types:
            problems.append(f"resource_type={self.resource_type!r}: must be one of {', '.join(types)}")
        if not _SELECTION.match(self.selection):
            problems.append(f"selection={self.selection!r}: must be ALL, COUNT(n) (n >= 1) or PERCENT(n) (1-100)")
        scopes = [name for name in ("resource_arns", "resource_tags", "parameters") if getattr(self, name)]
        if not scopes:
            problems.append("resource_arns, resource_tags, parameters: one must name this stack's resources")
        if self.resource_arns and self.resource_tags:
            problems.append("resource_arns, resource_tags: FIS takes one or the other, not both")
        if any(not v for v in [*self.resource_arns, *self.resource_tags.values(), *self.parameters.values()]):
            problems.append("resource_arns, resource_tags, parameters: no value may be empty")
        if any(not values for values in self.filters.values()):
            problems.append(f"filters={dict(self.filters)!r}: each path needs one or more values")
        if problems:
            raise ValueError(f"TargetSpec {self.resource_type!r}: " + "; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class ExperimentSpec:
    """One fault a stack claims to survive, run as a FIS experiment.

    The construct id is ``experiment-<key>`` (a Terraform address: permanent); ``fault`` says
    what it does and ``hypothesis`` what must hold while it runs and by when the stack is back
    (also a tag: AWS's tag characters only, no % or <). ``stop_alarms``: keys of the stack's
    alarms that say users are hurt; any in ALARM stops the experiment.
    """

    key: str
    fault: str
    hypothesis: str
    action: str
    target: TargetSpec
    parameters: Mapping[str, str] = field(default_factory=dict)
    stop_alarms: tuple[str, ...]

    def __post_init__(self) -> None:
        problems = []
        if not _KEY.match(self.key):
            problems.append(f"key={self.key!r}: must be lower-case letters, digits and -")
        if not self.fault.strip():
            problems.append("fault: must say what the experiment does")
        if not self.hypothesis.strip():
            problems.append("hypothesis: must say what holds while the fault runs and by when the stack is back")
        elif not _TAG_VALUE.match(self.hypothesis):
            problems.append(
                f"hypothesis={self.hypothesis!r}: must be a tag value: 256 letters, digits, spaces, _ . : / = + - @"
            )
        if len(self.description) > DESCRIPTION_MAX:
            problems.append(
                f"fault, hypothesis: together {len(self.description)} characters, FIS takes {DESCRIPTION_MAX}"
            )
        action = ACTIONS.get(self.action)
        if action is None:
            problems.append(f"action={self.action!r}: must be one of {', '.join(sorted(ACTIONS))}")
        else:
            if self.target.resource_type != action.resource_type:
                problems.append(
                    f"target.resource_type={self.target.resource_type!r}: {self.action} acts on {action.resource_type}"
                )
            if missing := [p for p in action.required if p not in self.parameters]:
                problems.append(f"parameters: {self.action} needs {', '.join(missing)}")
            # The role's policy is scoped by what the target names: the cluster, or the tags.
            if self.action == "aws:ecs:stop-task" and "cluster" not in self.target.parameters:
                problems.append("target.parameters: aws:ecs:stop-task targets name their cluster (and service)")
            if action.target_key in ("Instances", "SpotInstances") and not self.target.resource_tags:
                problems.append(f"target.resource_tags: {self.action} targets instances by their group's tag")
            if self.action == "aws:network:disrupt-connectivity" and not self.target.resource_arns:
                problems.append("target.resource_arns: aws:network:disrupt-connectivity names its subnets by ARN")
        bad = {k: v for k, v in self.parameters.items() if k.startswith("duration") and not _ISO_DURATION.match(v)}
        if bad:
            problems.append(f"parameters={bad!r}: a duration is ISO 8601, e.g. PT5M")
        if not 1 <= len(self.stop_alarms) <= STOP_CONDITIONS_MAX:
            problems.append(f"stop_alarms={self.stop_alarms!r}: 1-{STOP_CONDITIONS_MAX} alarms (never none)")
        if problems:
            raise ValueError(f"ExperimentSpec {self.key!r}: " + "; ".join(problems))

    @property
    def description(self) -> str:
        return f"{self.fault.rstrip('.')}. Hypothesis: {self.hypothesis}"


@dataclass(frozen=True, kw_only=True)
class ChaosProps:
    """The experiments of one stack and what they need of it: the stack's name prefix (tags
    and the log group), its account and region (ARNs in the role's policy), its alarms by key
    (``alarm_arns``: references), its KMS key and log retention, and the VPC whose subnets an
    ``aws:network:disrupt-connectivity`` experiment may cut (empty: none)."""

    prefix: str
    account_id: str
    region: str
    experiments: Sequence[ExperimentSpec]
    alarm_arns: Mapping[str, str]
    kms_key_arn: KmsKeyArn  # its policy must let logs.<region>.amazonaws.com use it
    log_retention_days: LogRetentionDays = 365
    vpc_id: str = ""

    def __post_init__(self) -> None:
        problems = field_problems(self)
        for name in ("prefix", "account_id", "region"):
            if not getattr(self, name):
                problems.append(f"{name}: must not be empty")
        keys = [e.key for e in self.experiments]
        if not keys:
            problems.append("experiments: must name at least one (no experiment: no Chaos construct)")
        if twice := sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"experiments: keys {twice} are used twice (construct ids must be unique)")
        for spec in self.experiments:
            if unknown := [a for a in spec.stop_alarms if a not in self.alarm_arns]:
                problems.append(
                    f"experiments[{spec.key!r}].stop_alarms: {unknown} are not alarms of the stack "
                    f"({', '.join(sorted(self.alarm_arns))})"
                )
            if spec.action == "aws:network:disrupt-connectivity" and not self.vpc_id:
                problems.append(f"vpc_id: experiment {spec.key!r} cuts subnets, so the role needs their VPC")
        if problems:
            raise ValueError(f"ChaosProps {self.prefix!r}: " + "; ".join(problems))


class Chaos(Construct):
    """The FIS experiments of one stack: a log group, a role and one template per spec.

    Defaults that matter: stop conditions are the stack's alarms, by reference; every target
    is scoped with a selection mode; ``empty_target_resolution_mode = fail`` (nothing found is
    a failed experiment, never a silent pass); single-account targeting; logs (schema 2) to
    ``/aws/vendedlogs/fis/<prefix>``, KMS-encrypted, kept ``log_retention_days``; a role only
    ``fis.amazonaws.com`` of this account assumes, allowed exactly its templates' actions on
    their targets.
    """

    def __init__(self, scope: Construct, id: str, props: ChaosProps) -> None:
        super().__init__(scope, id)
        self.props = props
        # The vendedlogs prefix keeps the log delivery's resource policy to one pattern.
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/aws/vendedlogs/fis/{props.prefix}",
            retention_in_days=props.log_retention_days,
            kms_key_id=props.kms_key_arn,
        )
        self.role = IamRole(
            self,
            "role",
            name_prefix="fis-experiments-",
            description=f"FIS runs the chaos experiments of {props.prefix} as this role",
            assume_role_policy=assume_role_policy(
                "fis.amazonaws.com",
                {
                    "StringEquals": {"aws:SourceAccount": props.account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:fis:{props.region}:{props.account_id}:experiment/*"},
                },
            ),
        )
        IamRolePolicy(self, "policy", role=self.role.id, policy=policy_document(*self.statements()))
        self.templates = {spec.key: self._template(spec) for spec in props.experiments}

    def statements(self) -> list[dict[str, Any]]:
        """The role's policy: what the templates' actions call, on their targets, and the log delivery."""
        out: list[dict[str, Any]] = []
        for spec in self.props.experiments:
            out += [s for s in _action_statements(self.props, spec) if s not in out]
        return [*out, *_log_statements(self.props)]

    def _template(self, spec: ExperimentSpec) -> FisExperimentTemplate:
        action, target = ACTIONS[spec.action], spec.target
        return FisExperimentTemplate(
            self,
            f"experiment-{spec.key}",
            description=spec.description,
            role_arn=self.role.arn,
            stop_condition=[
                FisExperimentTemplateStopCondition(source="aws:cloudwatch:alarm", value=self.props.alarm_arns[key])
                for key in spec.stop_alarms
            ],
            action=[
                FisExperimentTemplateAction(
                    name=spec.key,
                    action_id=spec.action,
                    description=spec.fault,
                    parameter=[FisExperimentTemplateActionParameter(key=k, value=v) for k, v in spec.parameters.items()]
                    or None,
                    target=FisExperimentTemplateActionTarget(key=action.target_key, value=spec.key),
                )
            ],
            target=[
                FisExperimentTemplateTarget(
                    name=spec.key,
                    resource_type=target.resource_type,
                    selection_mode=target.selection,
                    resource_arns=list(target.resource_arns) or None,
                    resource_tag=[
                        FisExperimentTemplateTargetResourceTag(key=k, value=v) for k, v in target.resource_tags.items()
                    ]
                    or None,
                    parameters=dict(target.parameters) or None,
                    filter=[
                        FisExperimentTemplateTargetFilter(path=p, values=list(v)) for p, v in target.filters.items()
                    ]
                    or None,
                )
            ],
            log_configuration=FisExperimentTemplateLogConfiguration(
                log_schema_version=2,
                cloudwatch_logs_configuration=FisExperimentTemplateLogConfigurationCloudwatchLogsConfiguration(
                    log_group_arn=f"{self.log_group.arn}:*"
                ),
            ),
            experiment_options=FisExperimentTemplateExperimentOptions(
                account_targeting="single-account", empty_target_resolution_mode="fail"
            ),
            tags={"Name": f"{self.props.prefix}-{spec.key}", "experiment": spec.key, "hypothesis": spec.hypothesis},
        )


def _arn(props: ChaosProps, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{props.region}:{props.account_id}:{resource}"


def _tag_condition(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in tags.items()}}


def _action_statements(props: ChaosProps, spec: ExperimentSpec) -> list[dict[str, Any]]:
    """What FIS calls for ``spec``'s action (FIS actions reference), on its targets only."""
    target = spec.target
    if spec.action == "aws:ecs:stop-task":
        cluster = target.parameters["cluster"]
        return [
            allow(None, ["ecs:DescribeTasks", "ecs:StopTask"], _arn(props, "ecs", f"task/{cluster}/*")),
            # ListTasks has no resource-level permission; the condition pins the cluster.
            allow(
                None,
                "ecs:ListTasks",
                "*",
                condition={"ArnEquals": {"ecs:cluster": _arn(props, "ecs", f"cluster/{cluster}")}},
            ),
        ]
    if spec.action in ("aws:ec2:terminate-instances", "aws:ec2:send-spot-instance-interruptions"):
        call = (
            "ec2:TerminateInstances"
            if spec.action.endswith("terminate-instances")
            else "ec2:SendSpotInstanceInterruptions"
        )
        return [
            allow(None, call, _arn(props, "ec2", "instance/*"), condition=_tag_condition(target.resource_tags)),
            # DescribeInstances (target resolution) has no resource-level permission.
            allow(None, "ec2:DescribeInstances", "*"),
        ]
    # aws:network:disrupt-connectivity: a deny-all network ACL of FIS's own (tagged managedByFIS)
    # swapped in for the subnets' and swapped back at the end; scope "all" reads no prefix list.
    nacls, fis_made = _arn(props, "ec2", "network-acl/*"), {"aws:RequestTag/managedByFIS": "true"}
    return [
        allow(None, "ec2:CreateNetworkAcl", nacls, condition={"StringEquals": fis_made}),
        allow(None, "ec2:CreateNetworkAcl", _arn(props, "ec2", f"vpc/{props.vpc_id}")),
        allow(
            None,
            "ec2:CreateTags",
            nacls,
            condition={"StringEquals": {"ec2:CreateAction": "CreateNetworkAcl", **fis_made}},
        ),
        allow(
            None,
            ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
            nacls,
            condition={"StringEquals": {"ec2:ResourceTag/managedByFIS": "true"}},
        ),
        # The subnets' own ACL is swapped out and back in: any ACL, these subnets only.
        allow(None, "ec2:ReplaceNetworkAclAssociation", [*target.resource_arns, nacls]),
        # Describe* has no resource-level permission: FIS reads the subnets, their ACLs and VPC.
        allow(None, ["ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", "ec2:DescribeVpcs"], "*"),
    ]


def _log_statements(props: ChaosProps) -> list[dict[str, Any]]:
    """FIS delivers the experiment log as a vended log: it sets up the delivery and the log
    group's resource policy with this role. None of these calls has resource-level permissions
    but DescribeLogGroups."""
    return [
        allow(
            "DeliverTheExperimentLog",
            ["logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"],
            "*",
        ),
        allow("FindTheLogGroup", "logs:DescribeLogGroups", _arn(props, "logs", "log-group:*")),
    ]


def subnet_arn(region: str, account_id: str, subnet_id: str) -> str:
    """The ARN of a subnet by id (an ``aws:ec2:subnet`` target names subnets by ARN)."""
    return f"arn:aws:ec2:{region}:{account_id}:subnet/{subnet_id}"
