"""The resilience policy: each rule on a small stack that breaks it and one that passes,
the synth failing with stack, construct path and rule, waivers listed, and every real
stack (dev, prod, emulator) passing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.policy.check import PolicyError, evaluate
from modules.policy.document import StackDocument
from modules.policy.rules import RULES
from tests.conftest import StackDoc, settings_from

SUBNETS = {
    f"s{i}": {"availability_zone": f"${{element(data.aws_availability_zones.zones.names, {i})}}"} for i in range(2)
}
BUCKET_OK = {
    "aws_s3_bucket": {"b": {"bucket": "x"}},
    "aws_s3_bucket_versioning": {
        "v": {"bucket": "${aws_s3_bucket.b.id}", "versioning_configuration": {"status": "Enabled"}}
    },
    "aws_s3_bucket_server_side_encryption_configuration": {
        "e": {
            "bucket": "${aws_s3_bucket.b.id}",
            "rule": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}],
        }
    },
    "aws_s3_bucket_public_access_block": {
        "p": {
            "bucket": "${aws_s3_bucket.b.id}",
            **dict.fromkeys(
                ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"), True
            ),
        }
    },
    "aws_s3_bucket_policy": {
        "t": {
            "bucket": "${aws_s3_bucket.b.id}",
            "policy": json.dumps(
                {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
            ),
        }
    },
}


def _without(resources: dict[str, Any], rtype: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if k != rtype}


def _fn(**extra: Any) -> dict[str, Any]:
    return {"aws_lambda_function": {"f": {"function_name": "f", **extra}}}


S3_NOTIFIES_FN = {
    "aws_s3_bucket_notification": {"n": {"lambda_function": [{"lambda_function_arn": "${aws_lambda_function.f.arn}"}]}}
}
KINESIS = {"aws_kinesis_stream": {"k": {"encryption_type": "KMS"}}}
# A stack of a protected environment says so in its JSON comment block (modules/stack/base.py).
PROTECTED = {"//": {"protected": True}}
PROTECTED_REPOSITORY = {"name": "r", "lifecycle": {"prevent_destroy": True}}

# rule id -> (resources of a stack that breaks it, of one that passes[, top-level extras])
FIS_ALARM = {"aws_cloudwatch_metric_alarm": {"a": {"alarm_name": "a"}}}
FIS_UNSCOPED = {"name": "t", "resource_type": "aws:ec2:instance", "selection_mode": "COUNT(1)"}
FIS_STOP = {"source": "aws:cloudwatch:alarm", "value": "${aws_cloudwatch_metric_alarm.a.arn}"}
FIS_TEMPLATE = {
    "stop_condition": [FIS_STOP],
    "target": [{**FIS_UNSCOPED, "resource_tag": [{"key": "aws:autoscaling:groupName", "value": "g"}]}],
    "experiment_options": {"account_targeting": "single-account", "empty_target_resolution_mode": "fail"},
}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "multi-az": (
        {"aws_subnet": SUBNETS, "aws_lb": {"lb": {"subnets": ["${aws_subnet.s0.id}", "subnet-0123"]}}},
        {"aws_subnet": SUBNETS, "aws_lb": {"lb": {"subnets": ["${aws_subnet.s0.id}", "${aws_subnet.s1.id}"]}}},
        {},
    ),
    "no-launch-configuration": ({"aws_launch_configuration": {"lc": {"image_id": "ami-1"}}}, {}, {}),
    "imdsv2": (
        {"aws_launch_template": {"lt": {"metadata_options": {"http_tokens": "optional"}}}},
        {"aws_launch_template": {"lt": {"metadata_options": {"http_tokens": "required"}}}},
        {},
    ),
    "lambda-async-failure-destination": (
        {**_fn(), **S3_NOTIFIES_FN},
        {
            **_fn(),
            **S3_NOTIFIES_FN,
            "aws_sqs_queue": {"dlq": {"kms_master_key_id": "k"}},
            "aws_lambda_function_event_invoke_config": {
                "c": {
                    "function_name": "${aws_lambda_function.f.function_name}",
                    "destination_config": {"on_failure": {"destination": "${aws_sqs_queue.dlq.arn}"}},
                }
            },
        },
        {},
    ),
    "esm-on-failure-destination": (
        {**KINESIS, "aws_lambda_event_source_mapping": {"m": {"event_source_arn": "${aws_kinesis_stream.k.arn}"}}},
        {
            **KINESIS,
            "aws_lambda_event_source_mapping": {
                "m": {
                    "event_source_arn": "${aws_kinesis_stream.k.arn}",
                    "destination_config": {"on_failure": {"destination_arn": "arn:aws:sqs:us-east-1:123456789012:d"}},
                }
            },
        },
        {},
    ),
    "sqs-redrive": (
        {"aws_sqs_queue": {"q": {"kms_master_key_id": "k"}}},
        {
            "aws_sqs_queue": {
                "dlq": {"kms_master_key_id": "k"},
                "q": {
                    "kms_master_key_id": "k",
                    "redrive_policy": json.dumps(
                        {"deadLetterTargetArn": "${aws_sqs_queue.dlq.arn}", "maxReceiveCount": 5}
                    ),
                },
            }
        },
        {},
    ),
    "s3-encryption": (_without(BUCKET_OK, "aws_s3_bucket_server_side_encryption_configuration"), BUCKET_OK, {}),
    "s3-versioning": (_without(BUCKET_OK, "aws_s3_bucket_versioning"), BUCKET_OK, {}),
    "s3-public-access-block": (
        {
            **BUCKET_OK,
            "aws_s3_bucket_public_access_block": {"p": {"bucket": "${aws_s3_bucket.b.id}", "block_public_acls": True}},
        },
        BUCKET_OK,
        {},
    ),
    "s3-tls-only": (_without(BUCKET_OK, "aws_s3_bucket_policy"), BUCKET_OK, {}),
    "encryption-at-rest": (
        {"aws_sns_topic": {"t": {"name": "t"}}},
        {"aws_sns_topic": {"t": {"kms_master_key_id": "k"}}},
        {},
    ),
    "log-retention": (
        {"aws_cloudwatch_log_group": {"g": {"name": "g"}}},
        {"aws_cloudwatch_log_group": {"g": {"name": "g", "retention_in_days": 30}}},
        {},
    ),
    "open-ingress": (
        {
            "aws_vpc_security_group_ingress_rule": {
                "r": {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 22, "to_port": 22}
            }
        },
        {
            "aws_vpc_security_group_ingress_rule": {
                "r": {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 443, "to_port": 443}
            }
        },
        {},
    ),
    "public-endpoint-protected": (
        {
            "aws_subnet": SUBNETS,
            "aws_lb": {"lb": {"internal": False, "subnets": ["${aws_subnet.s0.id}", "${aws_subnet.s1.id}"]}},
            "aws_lb_listener": {
                "http": {
                    "load_balancer_arn": "${aws_lb.lb.arn}",
                    "protocol": "HTTP",
                    "default_action": [{"type": "forward"}],
                }
            },
        },
        {
            "aws_subnet": SUBNETS,
            "aws_lb": {"lb": {"internal": False, "subnets": ["${aws_subnet.s0.id}", "${aws_subnet.s1.id}"]}},
            "aws_lb_listener": {
                "http": {
                    "load_balancer_arn": "${aws_lb.lb.arn}",
                    "protocol": "HTTP",
                    "default_action": [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}],
                },
                "https": {
                    "load_balancer_arn": "${aws_lb.lb.arn}",
                    "protocol": "HTTPS",
                    "default_action": [{"type": "forward"}],
                },
            },
            "aws_wafv2_web_acl": {
                "acl": {
                    "rule": [
                        {"name": "rate-per-ip", "statement": {"rate_based_statement": {"limit": 100}}},
                        {"name": "bearer-token-required", "statement": {"not_statement": {}}},
                    ]
                }
            },
            "aws_wafv2_web_acl_association": {
                "a": {"resource_arn": "${aws_lb.lb.arn}", "web_acl_arn": "${aws_wafv2_web_acl.acl.arn}"}
            },
        },
        {},
    ),
    "prod-lb-deletion-protection": (
        {"aws_subnet": SUBNETS, "aws_lb": {"lb": {"subnets": ["${aws_subnet.s0.id}", "${aws_subnet.s1.id}"]}}},
        {
            "aws_subnet": SUBNETS,
            "aws_lb": {
                "lb": {"subnets": ["${aws_subnet.s0.id}", "${aws_subnet.s1.id}"], "enable_deletion_protection": True}
            },
        },
        PROTECTED,
    ),
    "experiment-stop-condition": (
        {**FIS_ALARM, "aws_fis_experiment_template": {"x": {**FIS_TEMPLATE, "stop_condition": [{"source": "none"}]}}},
        {**FIS_ALARM, "aws_fis_experiment_template": {"x": FIS_TEMPLATE}},
        {},
    ),
    "experiment-targets-scoped": (
        {**FIS_ALARM, "aws_fis_experiment_template": {"x": {**FIS_TEMPLATE, "target": [FIS_UNSCOPED]}}},
        {**FIS_ALARM, "aws_fis_experiment_template": {"x": FIS_TEMPLATE}},
        {},
    ),
    "experiment-fis-limits": (
        {
            **FIS_ALARM,
            "aws_fis_experiment_template": {"x": {**FIS_TEMPLATE, "stop_condition": [FIS_STOP] * 6}},
        },
        {
            **FIS_ALARM,
            "aws_fis_experiment_template": {"x": {**FIS_TEMPLATE, "stop_condition": [FIS_STOP] * 5}},
        },
        {},
    ),
    "prod-stateful-protected": (
        KINESIS,
        {"aws_kinesis_stream": {"k": {**KINESIS["aws_kinesis_stream"]["k"], "lifecycle": {"prevent_destroy": True}}}},
        PROTECTED,
    ),
    "prod-no-force-destroy": (
        {"aws_ecr_repository": {"r": {**PROTECTED_REPOSITORY, "force_delete": True}}},
        {"aws_ecr_repository": {"r": PROTECTED_REPOSITORY}},
        PROTECTED,
    ),
}


def _rules_broken(resources: dict[str, Any], extra: dict[str, Any]) -> set[str]:
    return {f.rule for f in evaluate(StackDocument("probe", {"resource": resources, **extra}))}


def test_every_rule_has_a_breaking_and_a_passing_case() -> None:
    assert set(CASES) == {r.id for r in RULES}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fails_the_breaking_stack_and_passes_the_good_one(rule: str) -> None:
    bad, good, extra = CASES[rule]
    assert rule in _rules_broken(bad, extra), f"{rule} missed its breaking case"
    assert _rules_broken(good, extra) == set(), f"a passing stack for {rule} broke a rule"


@pytest.mark.parametrize("rule", ["prod-stateful-protected", "prod-no-force-destroy", "prod-lb-deletion-protection"])
def test_the_production_rules_key_on_protection_not_on_the_environment_name(rule: str) -> None:
    bad, _, _ = CASES[rule]
    named_prod = {"provider": {"aws": [{"default_tags": [{"tags": {"environment": "prod"}}]}]}}
    assert rule not in _rules_broken(bad, {**named_prod, "//": {"protected": False}}), "unprotected prod"
    assert rule not in _rules_broken(bad, named_prod), "a document that does not say is not protected"
    assert rule in _rules_broken(bad, {"//": {"protected": True}}), "protected, whatever its name"


def test_a_stream_mapping_is_exempt_only_when_its_source_is_a_queue() -> None:
    """SQS has no on-failure destination for mappings: the queue's own redrive is the DLQ."""
    queue_source = {
        "aws_sqs_queue": {"q": {"kms_master_key_id": "k", "redrive_policy": "{}"}},
        "aws_lambda_event_source_mapping": {"m": {"event_source_arn": "${aws_sqs_queue.q.arn}"}},
    }
    assert _rules_broken(queue_source, {}) == set()


def test_a_lambda_only_fed_by_a_mapping_is_not_async() -> None:
    """Event source mappings invoke synchronously: no async destination is needed."""
    assert _rules_broken(_fn(), {}) == set()


def test_an_asg_over_a_zone_list_expression_cannot_prove_two_azs_but_two_literal_zones_can() -> None:
    expr = {"aws_autoscaling_group": {"g": {"availability_zones": "${data.aws_availability_zones.z.names}"}}}
    literal = {"aws_autoscaling_group": {"g": {"availability_zones": ["us-east-1a", "us-east-1b"]}}}
    assert _rules_broken(expr, {}) == {"multi-az"}
    assert _rules_broken(literal, {}) == set()


def test_resources_with_count_zero_do_not_exist() -> None:
    assert _rules_broken({"aws_launch_configuration": {"lc": {"count": 0}}}, {}) == set()


def test_an_az_list_of_one_literal_subnet_cannot_prove_two_azs() -> None:
    findings = evaluate(StackDocument("probe", {"resource": CASES["multi-az"][0]}))
    assert [f.problem for f in findings] == ["spans 1 provable AZ(s), needs >= 2; cannot tell the AZ of subnet-0123"]


# --- through cdktf: the stack base runs the policy on every stack ------------------------------


def _synth_probe(tmp_path: Path, waiver: str | None) -> list[str]:
    """A stack with one open SSH rule through the app's synth; the printed waivers."""
    from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

    from modules import app as app_module
    from modules.policy.check import waive
    from modules.stack.base import BaseStack

    class Probe(BaseStack):
        def __init__(self, scope: Any, name: str, settings: Any) -> None:
            super().__init__(scope, name, settings=settings)
            rule = VpcSecurityGroupIngressRule(
                self,
                "ssh",
                security_group_id="sg-1",
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=22,
                to_port=22,
            )
            if waiver:
                waive(rule, "open-ingress", waiver)

    printed: list[str] = []
    saved = dict(app_module.STACKS)
    app_module.STACKS.clear()
    app_module.STACKS["probe"] = Probe
    try:
        app_module.synth(settings_from(), tmp_path / "out", on_waiver=lambda f: printed.append(str(f)))
    finally:
        app_module.STACKS.clear()
        app_module.STACKS.update(saved)
    return printed


def test_synth_fails_naming_stack_construct_path_and_rule_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        _synth_probe(tmp_path, waiver=None)
    assert "probe: probe/ssh (aws_vpc_security_group_ingress_rule.ssh) breaks open-ingress" in str(err.value)
    assert not (tmp_path / "out").exists(), "a failed synth must leave the output directory untouched"


def test_a_waiver_lets_the_synth_pass_and_is_listed_with_its_reason(tmp_path: Path) -> None:
    printed = _synth_probe(tmp_path, waiver="a bastion for the incident runbook, closed by an SCP outside the lab")
    assert printed == [
        "probe: probe/ssh (aws_vpc_security_group_ingress_rule.ssh) breaks open-ingress: "
        "ingress from 0.0.0.0/0 on 22-22/tcp\n"
        "    waived: a bastion for the incident runbook, closed by an SCP outside the lab"
    ]
    assert (tmp_path / "out" / "stacks" / "probe" / "cdk.tf.json").exists()


# --- every real stack -------------------------------------------------------------------------------

# (stack, construct path, rule): every waiver the real stacks carry, each with its reason in the code.
EXPECTED_WAIVERS = {
    ("stream-analytics", "stream-analytics/dlq", "sqs-redrive"),
}
EXPECTED_PROD_WAIVERS = EXPECTED_WAIVERS | {
    ("stream-analytics", "stream-analytics/artifacts/bucket", "prod-stateful-protected"),
    ("model-serving", "model-serving/alb/logs/bucket", "prod-stateful-protected"),
    ("ha-failover", "ha-failover/primary/artifacts/bucket", "prod-stateful-protected"),
    ("ha-failover", "ha-failover/primary/alb/logs/bucket", "prod-stateful-protected"),
    ("target-groups", "target-groups/site/artifacts/bucket", "prod-stateful-protected"),
    ("target-groups", "target-groups/site/alb/logs/bucket", "prod-stateful-protected"),
}


def _waived(stacks: dict[str, StackDoc]) -> set[tuple[str, str, str]]:
    findings = [f for name, doc in stacks.items() for f in evaluate(StackDocument(name, doc))]
    assert all(f.waiver for f in findings), [str(f) for f in findings if not f.waiver]
    return {(f.stack, f.path, f.rule) for f in findings}


def test_every_real_stack_passes_with_only_the_listed_waivers(stacks: dict[str, StackDoc]) -> None:
    assert _waived(stacks) == EXPECTED_WAIVERS


def test_every_real_stack_passes_when_protected_with_stateful_resources_protected(
    protected_stacks: dict[str, StackDoc],
) -> None:
    """In a protected environment (here not called prod) the rules bite: every stateful resource
    not waived carries prevent_destroy (tests/test_teardown.py checks each store)."""
    assert _waived(protected_stacks) == EXPECTED_PROD_WAIVERS
    assert protected_stacks["event-processing"]["resource"]["aws_sqs_queue"]["queue_140BE0E7"]["lifecycle"] == {
        "prevent_destroy": True
    }


def test_the_emulator_synth_passes_on_the_real_aws_form_although_it_lifts_prevent_destroy(tmp_path: Path) -> None:
    """In prod the emulator still lifts `prevent_destroy` and sets `force_destroy` (its round trip
    ends with destroy): the policy ran before that adjustment, so the synth passes, while the JSON
    it wrote would break prod-stateful-protected and prod-no-force-destroy."""
    from modules.app import synth
    from tests.conftest import EMULATOR_ENV, PROD_ALARMS, load_stacks

    synth(settings_from({**EMULATOR_ENV, "RAI_ENVIRONMENT": "prod", **PROD_ALARMS}), tmp_path / "out", only=["state"])
    written = load_stacks(tmp_path / "out")["state"]
    assert written["resource"]["aws_s3_bucket"]["bucket_3056591E"]["lifecycle"]["prevent_destroy"] is False
    lifted = {f.rule for f in evaluate(StackDocument("state", written))}
    assert lifted == {"prod-stateful-protected", "prod-no-force-destroy"}
