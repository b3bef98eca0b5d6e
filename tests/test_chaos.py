"""Chaos experiments (FIS templates): every claimed fault of every stack has its template,
stopped by that stack's own alarms, scoped to its resources, logged to an encrypted group, run by
a role allowed exactly its actions; ``chaos.enabled = false`` ships none; bad settings and specs
are named; the resilience policy refuses an unstoppable or unscoped experiment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modules.config import SettingsError, load_settings
from modules.policy.chaos_rules import ExperimentStopConditions, ExperimentTargetsScoped
from modules.policy.check import evaluate
from modules.policy.document import StackDocument
from modules.registry import STACKS
from modules.stack.faults import FaultClaim, claims_in, claims_of
from tests.conftest import StackDoc, by_path, load_stacks, resources, shared_synth

# Every registered stack that claims a fault with an experiment (its faults.py): a new one is
# covered by the checks below without an edit here.
CHAOS_STACKS = tuple(entry.name for entry in STACKS if any(c.experiment for c in claims_in(entry)))
# The FIS action each experiment of this project's stacks runs (a stack added later pins its own
# in its own test file).
ACTIONS = {
    "model-serving": {"stop-tasks": "aws:ecs:stop-task", "az-outage": "aws:network:disrupt-connectivity"},
    "ha-failover": {
        "terminate-instances": "aws:ec2:terminate-instances",
        "az-outage": "aws:network:disrupt-connectivity",
    },
    "target-groups": {
        "terminate-instance": "aws:ec2:terminate-instances",
        "terminate-canary": "aws:ec2:terminate-instances",
        "spot-interruptions": "aws:ec2:send-spot-instance-interruptions",
        "spot-interruptions-canary": "aws:ec2:send-spot-instance-interruptions",
    },
    "stream-analytics": {
        "spot-interruptions": "aws:ec2:send-spot-instance-interruptions",
        "terminate-worker": "aws:ec2:terminate-instances",
    },
}
# The IAM actions each FIS action needs (FIS actions reference), and nothing else.
CALLS = {
    "aws:ecs:stop-task": {"ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks"},
    "aws:ec2:terminate-instances": {"ec2:TerminateInstances", "ec2:DescribeInstances"},
    "aws:ec2:send-spot-instance-interruptions": {"ec2:SendSpotInstanceInterruptions", "ec2:DescribeInstances"},
    "aws:network:disrupt-connectivity": {
        "ec2:CreateNetworkAcl",
        "ec2:CreateTags",
        "ec2:CreateNetworkAclEntry",
        "ec2:DeleteNetworkAcl",
        "ec2:ReplaceNetworkAclAssociation",
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeVpcs",
    },
}
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# Actions that may have Resource "*" because they have no resource-level permission.
UNSCOPABLE = {
    "ec2:DescribeInstances",
    "ec2:DescribeSubnets",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeVpcs",
    "logs:CreateLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
}


def templates(doc: StackDoc) -> dict[str, dict[str, Any]]:
    """The stack's FIS templates by experiment key (their construct path ends in ``chaos/experiment-<key>``)."""
    out = {}
    for t in resources(doc, "aws_fis_experiment_template"):
        match = re.fullmatch(r"[^/]+/chaos/experiment-([a-z0-9-]+)", t["//"]["metadata"]["path"])
        assert match, t["//"]["metadata"]["path"]
        out[match.group(1)] = t
    return out


def experiments(doc: StackDoc, stack: str) -> dict[str, dict[str, Any]]:
    """The stack's templates, asserted to be exactly its expected experiments first, so that a
    check looping over them cannot pass on a stack that ships none."""
    found = templates(doc)
    assert sorted(found) == sorted(c.experiment for c in claims_of(stack) if c.experiment), stack
    return found


def alarm_arn_refs(doc: StackDoc) -> set[str]:
    return {f"${{aws_cloudwatch_metric_alarm.{name}.arn}}" for name in doc["resource"]["aws_cloudwatch_metric_alarm"]}


def role_policy(doc: StackDoc) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(by_path(doc, "aws_iam_role_policy", "chaos/policy")["policy"])[
        "Statement"
    ]
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_every_claimed_fault_has_its_template_with_the_catalogue_fault_text(
    stacks: dict[str, StackDoc], stack: str
) -> None:
    """The scorecard lists the catalogue's claims with their experiments: each key must be a template
    of the stack, running the expected FIS action, its description starting with the claim's fault."""
    found = experiments(stacks[stack], stack)
    assert {k: t["action"][0]["action_id"] for k, t in found.items()} == ACTIONS[stack]
    claimed = {c.experiment: c.fault for c in claims_of(stack) if c.experiment}
    assert set(claimed) == set(found)
    for key, t in found.items():
        assert t["description"].startswith(claimed[key]) and "Hypothesis: " in t["description"]
        assert len(t["description"]) <= 512
        assert t["tags"]["experiment"] == key and t["tags"]["Name"].endswith(f"-{key}")
        assert t["tags"]["hypothesis"] and t["description"].endswith(t["tags"]["hypothesis"])


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_stop_conditions_are_alarms_of_the_same_stack_by_reference(stacks: dict[str, StackDoc], stack: str) -> None:
    """A literal ARN could name an alarm of another stack, or none: each stop condition must be a
    reference to an alarm this stack creates, or FIS would keep hurting users it cannot see."""
    doc = stacks[stack]
    own = alarm_arn_refs(doc)
    for key, t in experiments(doc, stack).items():
        conditions = t["stop_condition"]
        assert 1 <= len(conditions) <= 5, key
        for c in conditions:
            assert c["source"] == "aws:cloudwatch:alarm" and c["value"] in own, (key, c)


def test_stop_alarms_are_the_ones_that_say_users_are_hurt(stacks: dict[str, StackDoc]) -> None:
    """Alarms the fault itself fires (tasks missing, unhealthy hosts) would stop every run at once:
    the stop conditions are the 5xx, latency, no-healthy-host and iterator-age alarms."""
    names = {
        stack: {c["value"].split(".")[1] for t in templates(stacks[stack]).values() for c in t["stop_condition"]}
        for stack in CHAOS_STACKS
    }
    assert names["model-serving"] == {"alarm-alb-5xx", "alarm-target-5xx", "alarm-p99-latency", "alarm-server-5xx-rate"}
    assert "alarm-running-tasks" not in names["model-serving"]
    assert all("unhealthy" not in n for stack in CHAOS_STACKS for n in names[stack]), names
    assert any("no-healthy-hosts" in n for n in names["ha-failover"])
    assert {n.rsplit("_", 1)[0] for n in names["stream-analytics"]} == {"alarm-iterator-age", "alarm-heartbeats"}


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_targets_are_scoped_counted_and_fail_when_empty(stacks: dict[str, StackDoc], stack: str) -> None:
    """Never "every instance in the account": each target names this stack's group, fleet, service or
    subnet, takes a counted share, and an experiment that finds nothing fails instead of passing."""
    doc = stacks[stack]
    for key, t in experiments(doc, stack).items():
        (target,) = t["target"]
        assert re.fullmatch(r"ALL|COUNT\(\d+\)|PERCENT\(\d+\)", target["selection_mode"]), key
        scope = json.dumps({k: target.get(k) for k in ("resource_arns", "resource_tag", "parameters")})
        assert "${" in scope, f"{key}: the target names none of this stack's resources: {scope}"
        assert t["experiment_options"] == {
            "account_targeting": "single-account",
            "empty_target_resolution_mode": "fail",
        }
        assert t["action"][0]["target"]["value"] == target["name"]


def test_each_target_names_the_resources_of_its_own_stack(stacks: dict[str, StackDoc]) -> None:
    """The tag values and parameters are this stack's group, fleet, cluster and subnet by reference."""
    ms = templates(stacks["model-serving"])
    assert ms["stop-tasks"]["target"][0]["parameters"] == {
        "cluster": "${aws_ecs_cluster.cluster.name}",
        "service": "${aws_ecs_service.service.name}",
    }
    assert ms["stop-tasks"]["target"][0]["selection_mode"] == "PERCENT(50)"
    (subnet,) = ms["az-outage"]["target"][0]["resource_arns"]
    assert re.fullmatch(
        r"arn:aws:ec2:us-east-1:\$\{data\.aws_caller_identity\.account\.account_id\}:subnet/"
        r"\$\{data\.aws_subnet\.network_private-0_[0-9A-F]+\.id\}",
        subnet,
    ), subnet
    tg = templates(stacks["target-groups"])
    groups = {k: tg[k]["target"][0]["resource_tag"] for k in tg}
    assert all(tag[0]["key"] == "aws:autoscaling:groupName" for tag in groups.values())
    # Each group's faults hit that group alone: a spot notice to the canary is the canary's test.
    for key, group in (
        ("terminate-instance", "stable"),
        ("terminate-canary", "canary"),
        ("spot-interruptions", "stable"),
        ("spot-interruptions-canary", "canary"),
    ):
        assert group in groups[key][0]["value"], (key, groups[key])
        assert tg[key]["stop_condition"] and all(group in c["value"] for c in tg[key]["stop_condition"]), key
    sa = experiments(stacks["stream-analytics"], "stream-analytics")
    for t in sa.values():
        (tag,) = t["target"][0]["resource_tag"]
        assert tag == {"key": "aws:ec2spot:fleet-request-id", "value": "${aws_spot_fleet_request.spot-fleet.id}"}
    assert sa["spot-interruptions"]["target"][0]["resource_type"] == "aws:ec2:spot-instance"
    assert {"key": "durationBeforeInterruption", "value": "PT2M"} in sa["spot-interruptions"]["action"][0]["parameter"]


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_experiment_log_is_kms_encrypted_kept_and_schema_2(stacks: dict[str, StackDoc], stack: str) -> None:
    doc = stacks[stack]
    group = by_path(doc, "aws_cloudwatch_log_group", "chaos/logs")
    assert group["kms_key_id"].startswith("${aws_kms_key.") and group["retention_in_days"] == 365
    arn = "${aws_cloudwatch_log_group." + group["//"]["metadata"]["uniqueId"] + ".arn}:*"
    for t in experiments(doc, stack).values():
        assert t["log_configuration"] == {
            "log_schema_version": 2,
            "cloudwatch_logs_configuration": {"log_group_arn": arn},
        }


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_role_is_assumed_by_fis_of_this_account_only(stacks: dict[str, StackDoc], stack: str) -> None:
    """Confused deputy: only FIS, running an experiment of this account, may assume the role."""
    doc = stacks[stack]
    role = by_path(doc, "aws_iam_role", "chaos/role")
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert re.fullmatch(
        r"\$\{data\.aws_caller_identity\.[\w-]*account[\w-]*\.account_id\}",
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
    )
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":experiment/*")
    ref = "${aws_iam_role." + role["//"]["metadata"]["uniqueId"] + ".arn}"
    assert all(t["role_arn"] == ref for t in experiments(doc, stack).values())


@pytest.mark.parametrize("stack", CHAOS_STACKS)
def test_role_may_do_exactly_what_its_templates_need_on_their_targets(stacks: dict[str, StackDoc], stack: str) -> None:
    """Least privilege: the policy's actions are those of the FIS actions the templates run plus the
    log delivery, and every action that has resource-level permissions is scoped by ARN or tag."""
    doc = stacks[stack]
    statements = role_policy(doc)
    granted = {a for s in statements for a in actions_of(s)}
    needed = {a for t in experiments(doc, stack).values() for a in CALLS[t["action"][0]["action_id"]]} | LOG_DELIVERY
    assert granted == needed
    for s in statements:
        if s["Resource"] == "*":
            assert set(actions_of(s)) <= UNSCOPABLE or s.get("Condition"), s
        if {"ec2:TerminateInstances", "ec2:SendSpotInstanceInterruptions"} & set(actions_of(s)):
            tags = s["Condition"]["StringEquals"]
            assert all(k.startswith("aws:ResourceTag/aws:") and "${" in v for k, v in tags.items()), s


@pytest.fixture(scope="module")
def chaos_off(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackDoc]:
    out: Path = shared_synth(tmp_path_factory, "chaos-off", {"RAI_CHAOS_ENABLED": "false"}, only=list(CHAOS_STACKS))
    return load_stacks(out)


def test_chaos_disabled_ships_no_fis_resource(chaos_off: dict[str, StackDoc]) -> None:
    assert set(chaos_off) >= set(CHAOS_STACKS)
    for stack in CHAOS_STACKS:
        doc = chaos_off[stack]
        assert not resources(doc, "aws_fis_experiment_template"), stack
        paths = [r["//"]["metadata"]["path"] for rs in doc["resource"].values() for r in rs.values()]
        assert not [p for p in paths if "/chaos/" in p], stack


def test_chaos_settings_size_the_experiments(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"RAI_CHAOS_STOP_TASKS_PERCENT": "34", "RAI_CHAOS_AZ_OUTAGE_MINUTES": "12", "RAI_CHAOS_AZ_OUTAGE_ZONE": "3"}
    doc = load_stacks(shared_synth(tmp_path_factory, "chaos-sized", env, only=["model-serving"]))["model-serving"]
    found = templates(doc)
    assert found["stop-tasks"]["target"][0]["selection_mode"] == "PERCENT(34)"
    outage = found["az-outage"]
    assert {"key": "duration", "value": "PT12M"} in outage["action"][0]["parameter"]
    assert "network_private-2_" in outage["target"][0]["resource_arns"][0], "zone 3: the third private subnet"
    assert "use1-az4" in outage["tags"]["hypothesis"], "the third of zone_ids (use1-az3 is not among them)"


def test_bad_chaos_settings_are_each_named() -> None:
    env = {
        "RAI_CHAOS_ENABLED": "sometimes",
        "RAI_CHAOS_STOP_TASKS_PERCENT": "0",
        "RAI_CHAOS_SPOT_NOTICE_MINUTES": "1",
        "RAI_CHAOS_AZ_OUTAGE_MINUTES": "721",
        "RAI_CHAOS_AZ_OUTAGE_ZONE": "5",
    }
    with pytest.raises(SettingsError) as err:
        load_settings(environ=env, settings_file=None)
    text = str(err.value)
    for name in ("chaos.enabled", "stop_tasks_percent", "spot_notice_minutes", "az_outage_minutes", "az_outage_zone"):
        assert f"{name} = " in text or f"chaos.{name} = " in text, (name, text)
    assert "at most az_count = 3" in text


# --- the policy -----------------------------------------------------------------------------

ALARM = {"aws_cloudwatch_metric_alarm": {"alb-5xx": {"alarm_name": "x"}}}


def _template(**overrides: Any) -> dict[str, Any]:
    body = {
        "description": "d",
        "role_arn": "${aws_iam_role.r.arn}",
        "stop_condition": [{"source": "aws:cloudwatch:alarm", "value": "${aws_cloudwatch_metric_alarm.alb-5xx.arn}"}],
        "action": [
            {"name": "a", "action_id": "aws:ec2:terminate-instances", "target": {"key": "Instances", "value": "t"}}
        ],
        "target": [
            {
                "name": "t",
                "resource_type": "aws:ec2:instance",
                "selection_mode": "COUNT(1)",
                "resource_tag": [{"key": "aws:autoscaling:groupName", "value": "${aws_autoscaling_group.g.name}"}],
            }
        ],
        "experiment_options": {"account_targeting": "single-account", "empty_target_resolution_mode": "fail"},
    }
    return {**body, **overrides}


def _problems(template: dict[str, Any], extra: dict[str, Any] | None = None) -> list[str]:
    doc = StackDocument("s", {"resource": {**ALARM, **(extra or {}), "aws_fis_experiment_template": {"x": template}}})
    return [f.problem for f in evaluate(doc, [ExperimentStopConditions(), ExperimentTargetsScoped()])]


def test_policy_passes_a_stoppable_scoped_experiment() -> None:
    assert _problems(_template()) == []


@pytest.mark.parametrize(
    "stop",
    [
        [],
        [{"source": "none"}],
        [{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:other"}],
        [{"source": "aws:cloudwatch:alarm", "value": "${aws_cloudwatch_metric_alarm.elsewhere.arn}"}],
    ],
    ids=["none", "source-none", "literal-arn", "alarm-not-in-stack"],
)
def test_policy_refuses_an_experiment_not_stopped_by_its_own_alarms(stop: list[dict[str, Any]]) -> None:
    problems = _problems(_template(stop_condition=stop))
    assert problems and all("stop condition" in p for p in problems), problems


def test_policy_refuses_an_unscoped_target_an_implicit_selection_and_skip_on_empty() -> None:
    unscoped = {"name": "t", "resource_type": "aws:ec2:instance", "selection_mode": "COUNT(1)"}
    assert _problems(_template(target=[unscoped])) == [
        "target t: unscoped (no resource_arns, resource_tag or parameters)"
    ]
    no_mode = {**_template()["target"][0], "selection_mode": ""}
    assert any("selection_mode" in p for p in _problems(_template(target=[no_mode])))
    skip = {"account_targeting": "single-account", "empty_target_resolution_mode": "skip"}
    assert _problems(_template(experiment_options=skip)) == [
        "experiment_options.empty_target_resolution_mode is 'skip', must be 'fail'"
    ]


def test_policy_refuses_at_synth_time_naming_stack_path_and_rule(stacks: dict[str, StackDoc]) -> None:
    """A real template with its stop conditions removed breaks the rule, at its construct path."""
    doc = json.loads(json.dumps(stacks["model-serving"]))
    for t in doc["resource"]["aws_fis_experiment_template"].values():
        t["stop_condition"] = []
    findings = evaluate(StackDocument("model-serving", doc))
    broken = {(f.path, f.rule) for f in findings if f.waiver is None}
    assert broken == {
        ("model-serving/chaos/experiment-stop-tasks", "experiment-stop-condition"),
        ("model-serving/chaos/experiment-az-outage", "experiment-stop-condition"),
    }


# --- the catalogue --------------------------------------------------------------------------


def test_catalogue_backs_every_claim_with_an_experiment_or_a_reason() -> None:
    """The scorecard reads this: no claim without one or the other; event-processing says why none."""
    stacks = {entry.name for entry in STACKS if len(claims_of(entry.name))}
    assert stacks == {*CHAOS_STACKS, "event-processing"}
    assert set(CHAOS_STACKS) == set(ACTIONS), "every stack with experiments found in its faults.py, none lost"
    (ep,) = claims_of("event-processing")
    assert not ep.experiment and "Functions" in ep.no_experiment and "test_event_processor_handler" in ep.no_experiment
    with pytest.raises(ValueError, match="exactly one"):
        FaultClaim(fault="f", experiment="k", no_experiment="because")
    with pytest.raises(ValueError, match="exactly one"):
        FaultClaim(fault="f")


def test_catalogue_imports_no_construct() -> None:
    """A tool (the scorecard) reads the claims without starting jsii."""
    import subprocess
    import sys

    code = (
        "import sys; from modules.stack.faults import claims_of; claims_of('model-serving'); "
        "print(any(m.startswith(('cdktf', 'jsii', 'constructs')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- the block's specs ----------------------------------------------------------------------


def test_a_bad_experiment_spec_names_every_problem() -> None:
    from modules.blocks.chaos import ExperimentSpec, TargetSpec

    with pytest.raises(ValueError) as err:
        TargetSpec(resource_type="aws:ec2:everything", selection="SOME")
    assert all(
        f in str(err.value) for f in ("resource_type=", "selection=", "resource_arns, resource_tags, parameters")
    )
    target = TargetSpec(resource_type="aws:ec2:instance", selection="COUNT(1)", resource_tags={"k": "v"})
    with pytest.raises(ValueError) as err:
        ExperimentSpec(
            key="Bad Key",
            fault="f",
            hypothesis="5xx < 1%",
            action="aws:network:disrupt-connectivity",
            target=target,
            parameters={"duration": "5 minutes"},
            stop_alarms=(),
        )
    text = str(err.value)
    for part in (
        "key=",
        "hypothesis=",
        "target.resource_type=",
        "needs scope",
        "a duration is ISO 8601",
        "stop_alarms=",
    ):
        assert part in text, (part, text)


def test_props_refuse_a_stop_alarm_the_stack_does_not_have() -> None:
    from modules.blocks.chaos import ChaosProps, ExperimentSpec, TargetSpec

    spec = ExperimentSpec(
        key="kill",
        fault="f",
        hypothesis="h",
        action="aws:ec2:terminate-instances",
        stop_alarms=("ghost",),
        target=TargetSpec(resource_type="aws:ec2:instance", selection="COUNT(1)", resource_tags={"k": "v"}),
    )
    with pytest.raises(ValueError, match=r"stop_alarms: \['ghost'\] are not alarms of the stack \(real\)"):
        ChaosProps(
            prefix="p",
            account_id="1",
            region="r",
            experiments=[spec],
            alarm_arns={"real": "arn"},
            kms_key_arn="${aws_kms_key.k.arn}",
        )
