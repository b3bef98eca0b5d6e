"""The resilience scorecard: measures read from Terraform JSON, and the checked-in
docs/scorecard.md matches the default synth."""

from __future__ import annotations

import json
from typing import Any

from modules.policy.document import StackDocument, from_plan
from tests.conftest import StackDoc
from tools.docs import scorecard
from tools.docs.measures import claims, coverage, protection, recovery, rollout
from tools.docs.scorecard import DEFAULT_OUT, render


def _doc(resources: dict[str, Any]) -> StackDocument:
    return StackDocument("probe", {"resource": resources})


def test_checked_in_scorecard_is_what_the_default_synth_gives(stacks: dict[str, StackDoc]) -> None:
    """CI regenerates it: a stack change without `make scorecard` fails here."""
    fresh = render(StackDocument(name, doc) for name, doc in stacks.items())
    assert DEFAULT_OUT.read_text() == fresh, "docs/scorecard.md is stale: run `make scorecard`"


def test_detection_time_is_interval_times_unhealthy_threshold_with_aws_defaults() -> None:
    doc = _doc(
        {"aws_lb_target_group": {"fast": {"health_check": {"interval": 5, "unhealthy_threshold": 2}}, "slow": {}}}
    )
    row = recovery.detection(doc)
    assert row.value == "10 s"
    assert "`aws_lb_target_group.slow`: 30 s x 3 = 90 s" in row.detail, "AWS defaults: 30 s interval, 3 failures"


REDRIVE = '{"deadLetterTargetArn": "${aws_sqs_queue.dlq.arn}", "maxReceiveCount": 3}'


def test_dlq_coverage_counts_each_asynchronous_path_and_marks_the_lost_ones() -> None:
    doc = _doc(
        {
            "aws_kinesis_stream": {"k": {"encryption_type": "KMS"}},
            "aws_sqs_queue": {"dlq": {}, "q": {"redrive_policy": REDRIVE}},
            "aws_lambda_event_source_mapping": {"m": {"event_source_arn": "${aws_kinesis_stream.k.arn}"}},
        }
    )
    row = coverage.dlq_coverage(doc)
    assert row.value == "1 of 2 asynchronous paths"
    assert "DLQ after 3 receives" in row.detail and "**mapping `aws_lambda_event_source_mapping.m`" in row.detail


def test_alarm_coverage_needs_the_metric_on_that_resource() -> None:
    doc = _doc(
        {
            "aws_lambda_function": {"f": {}, "g": {}},
            "aws_cloudwatch_metric_alarm": {
                "a": {"metric_name": "Errors", "dimensions": {"FunctionName": "${aws_lambda_function.f.function_name}"}}
            },
        }
    )
    row = coverage.alarm_coverage(doc)
    assert row.value == "1 of 4 failure signals"
    assert "**no alarm: `aws_lambda_function.g` errors**" in row.detail


def test_single_points_of_failure_one_nat_for_three_azs_and_one_task() -> None:
    subnets = {
        f"p{i}": {"availability_zone": f"us-east-1{'abc'[i]}", "map_public_ip_on_launch": False} for i in range(3)
    }
    doc = _doc(
        {
            "aws_subnet": subnets,
            "aws_route_table_association": {f"a{i}": {"subnet_id": f"${{aws_subnet.p{i}.id}}"} for i in range(3)},
            "aws_nat_gateway": {"nat": {}},
            "aws_ecs_service": {
                "s": {"desired_count": 1, "network_configuration": {"subnets": ["${aws_subnet.p0.id}"]}}
            },
        }
    )
    detail = recovery.single_points_of_failure(doc).detail
    assert "1 NAT gateway(s) for private subnets in 3 AZs" in detail
    assert "`aws_ecs_service.s` runs 1 task" in detail and "`aws_ecs_service.s` in 1 AZ" in detail


def test_encryption_coverage_names_the_unencrypted_store() -> None:
    doc = _doc({"aws_sns_topic": {"t": {}}, "aws_sqs_queue": {"q": {"sqs_managed_sse_enabled": True}}})
    row = protection.encryption(doc)
    assert row.value == "1 of 2 data stores (0 with KMS)"
    assert "**`aws_sns_topic.t` unencrypted**" in row.detail


PROD_TAGS = {"environment": "prod"}
LB_SUBNET_REFS = ["aws_subnet.s0.id", "aws_subnet.s0", "aws_subnet.s1.id", "aws_subnet.s1"]


def test_a_plan_json_reads_like_the_synthesized_json() -> None:
    """`terraform show -json` keeps expressions in `configuration` and known values in
    `planned_values`: the AZ of each subnet comes from the plan, the subnet refs from the config."""
    plan = {
        "planned_values": {
            "root_module": {
                "resources": [
                    {"address": f"aws_subnet.s{i}", "values": {"availability_zone": f"us-east-1{'ab'[i]}"}}
                    for i in range(2)
                ]
            }
        },
        "configuration": {
            "provider_config": {"aws": {"expressions": {"default_tags": [{"tags": {"constant_value": PROD_TAGS}}]}}},
            "root_module": {
                "resources": [
                    *(
                        {
                            "address": f"aws_subnet.s{i}",
                            "mode": "managed",
                            "type": "aws_subnet",
                            "name": f"s{i}",
                            "expressions": {
                                "availability_zone": {"references": ["data.aws_availability_zones.z.names"]}
                            },
                        }
                        for i in range(2)
                    ),
                    {
                        "address": "aws_lb.lb",
                        "mode": "managed",
                        "type": "aws_lb",
                        "name": "lb",
                        "expressions": {"subnets": {"references": LB_SUBNET_REFS}},
                    },
                ]
            },
        },
    }
    doc = from_plan("probe", plan)
    assert doc.environment == "prod"
    assert recovery.azs(doc).value == "2"


def test_deploy_safety_adds_the_controller_period_to_the_alarm_time_and_names_the_exposure() -> None:
    alarm = {"alarm_name": "c-5xx", "period": 60, "evaluation_periods": 3}
    doc = _doc(
        {
            "aws_cloudwatch_metric_alarm": {"a": alarm},
            "aws_lambda_function": {
                "ctl": {
                    "environment": {"variables": {"STEPS": "0,10,50,100", "BAKE_S": "300", "CANARY_ALARMS": "c-5xx"}}
                }
            },
            "aws_scheduler_schedule": {
                "s": {"schedule_expression": "rate(1 minute)", "target": {"arn": "${aws_lambda_function.ctl.arn}"}}
            },
        }
    )
    row = rollout.deploy_safety(doc)
    assert row.value == "bad rollout caught <= 240 s"
    assert "180 s + 60 s controller = 240 s" in row.detail and "10 % of requests" in row.detail


def test_deploy_safety_marks_a_rollout_that_watches_nothing() -> None:
    doc = _doc(
        {"aws_ecs_service": {"s": {}}, "aws_autoscaling_group": {"g": {"instance_refresh": {"preferences": {}}}}}
    )
    row = rollout.deploy_safety(doc)
    assert row.value == "**gap**"
    assert "deployments watch no alarms" in row.detail and "instance refresh does not roll back" in row.detail


def test_the_overview_gives_each_stack_its_fixed_cost_a_month() -> None:
    """The "fixed $/month" column is the cost tool's total: one NAT gateway, 730 h x $0.045."""
    rows = scorecard.overview([_doc({"aws_nat_gateway": {"nat": {}}})])
    assert rows[-1] == "| `probe` | n/a | none found | n/a | $32.85 |"


def test_each_claimed_fault_shows_its_experiment_and_stop_alarms(stacks: dict[str, StackDoc]) -> None:
    """A fault a stack claims to survive is backed by a template it ships (with the alarms that
    stop it) or says why not: "2 of 2" is a count of templates found in the JSON, not of claims."""
    doc = StackDocument("model-serving", stacks["model-serving"])
    assert claims.experiment_coverage(doc) == "2 of 2"
    section = scorecard.stack_section(doc)
    assert "`chaos/experiment-stop-tasks`: `aws:ecs:stop-task` on PERCENT(50) of `aws:ecs:task`" in section
    assert "`alarm-alb-5xx`" in section.split("experiment-stop-tasks", 1)[1].splitlines()[0]
    events = scorecard.stack_section(StackDocument("event-processing", stacks["event-processing"]))
    assert "| none | hashicorp/aws 5.100.0 refuses the `Functions` target key" in events


def test_a_claim_whose_template_is_missing_is_marked_as_a_gap(stacks: dict[str, StackDoc]) -> None:
    """With the templates gone (chaos off, or a stack that lost one) the claim stays, in bold."""
    raw = json.loads(json.dumps(stacks["model-serving"]))
    raw["resource"].pop("aws_fis_experiment_template")
    doc = StackDocument("model-serving", raw)
    assert claims.experiment_coverage(doc) == "0 of 2"
    assert scorecard.stack_section(doc).count("**no template in this synth**") == 2
