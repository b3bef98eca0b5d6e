"""The `ha-failover` stack: an ALB and a self-healing Auto Scaling group over N AZs, and
optionally the same in a second region behind Route 53 failover records."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modules.architectures.ha_failover.stack import detection_and_replacement_s
from modules.config import Settings, SettingsError
from tests.conftest import (
    FLEET_VARIANT_ENV,
    ONCALL_SECONDARY_TOPIC_ARN,
    ONCALL_TOPIC_ARN,
    StackDoc,
    one,
    resources,
    settings_from,
)


@pytest.fixture
def ha(stacks: dict[str, StackDoc]) -> StackDoc:
    return stacks["ha-failover"]


@pytest.fixture
def two(fleet_variant: dict[str, StackDoc]) -> StackDoc:
    return fleet_variant["ha-failover"]


def alarms(doc: StackDoc) -> dict[str, dict[str, Any]]:
    return {a["alarm_name"].rsplit("-ha-", 1)[1]: a for a in resources(doc, "aws_cloudwatch_metric_alarm")}


def test_network_spans_three_azs_by_default_with_a_nat_per_az(ha: StackDoc, stacks: dict[str, StackDoc]) -> None:
    """The default network is the `network` stack's: ha-failover reads 3 private subnets, builds none."""
    assert not resources(ha, "aws_subnet") and not resources(ha, "aws_nat_gateway")
    assert len(ha["data"]["aws_subnet"]) == 3
    subnets = resources(stacks["network"], "aws_subnet")
    assert Counter(s["tags"]["tier"] for s in subnets) == {"public": 3, "private": 3}
    assert len(resources(stacks["network"], "aws_nat_gateway")) == 3


def test_alb_is_internal_in_the_private_subnets_of_every_az_and_forwards_to_the_target_group(ha: StackDoc) -> None:
    lb = one(ha, "aws_lb")
    private = {
        f"${{data.aws_subnet.{n}.id}}" for n, s in ha["data"]["aws_subnet"].items() if "-private-" in s["tags"]["Name"]
    }
    assert len(private) == 3
    assert lb["internal"] is True and set(lb["subnets"]) == private and lb["security_groups"]
    listener = one(ha, "aws_lb_listener")
    (name,) = ha["resource"]["aws_lb_target_group"]
    assert listener["default_action"][0]["target_group_arn"] == f"${{aws_lb_target_group.{name}.arn}}"


def test_target_group_checks_health_fast_on_the_server_port(ha: StackDoc) -> None:
    group = one(ha, "aws_lb_target_group")
    assert (group["port"], group["target_type"]) == (8080, "instance")
    check = group["health_check"]
    assert (check["path"], check["interval"], check["timeout"]) == ("/v2/health/ready", 10, 3)
    assert (check["healthy_threshold"], check["unhealthy_threshold"], check["matcher"]) == (2, 2, "200")


def test_group_keeps_two_to_four_instances(ha: StackDoc) -> None:
    group = one(ha, "aws_autoscaling_group")
    assert (group["min_size"], group["desired_capacity"], group["max_size"]) == (2, 2, 4)


def test_failure_detection_is_at_most_20_s_and_replacement_is_grace_plus_launch(
    ha: StackDoc, default_settings: Settings
) -> None:
    """The stack's README states these numbers; they follow from the synthesized checks and settings."""
    check = one(ha, "aws_lb_target_group")["health_check"]
    detection, replacement = detection_and_replacement_s(default_settings)
    assert detection == check["interval"] * check["unhealthy_threshold"] == 20
    assert replacement == one(ha, "aws_autoscaling_group")["health_check_grace_period"] + 60 == 300
    faster = settings_from({"RAI_HA_FAILOVER_HEALTH_CHECK_INTERVAL_S": "5", "RAI_FLEET_HEALTH_CHECK_GRACE_S": "120"})
    assert detection_and_replacement_s(faster) == (10, 180)


def test_alarms_watch_unhealthy_hosts_5xx_and_in_service_below_min_to_the_encrypted_topic(ha: StackDoc) -> None:
    found = alarms(ha)
    server = {"model-p99-latency", "server-5xx-rate", "rejection-rate", "server-metrics-missing"}
    site = {"unhealthy-hosts", "no-healthy-hosts", "alb-5xx", "target-5xx", "in-service-below-min"}
    emf = {"emf-parsing-errors", "emf-validation-errors"}  # documents CloudWatch dropped from the servers' log
    assert set(found) == site | server | emf
    unhealthy = found["unhealthy-hosts"]
    assert (unhealthy["metric_name"], unhealthy["threshold"], unhealthy["comparison_operator"]) == (
        "UnHealthyHostCount",
        0,
        "GreaterThanThreshold",
    )
    assert found["alb-5xx"]["metric_name"] == "HTTPCode_ELB_5XX_Count"
    below = found["in-service-below-min"]
    assert (below["metric_name"], below["threshold"], below["comparison_operator"]) == (
        "GroupInServiceInstances",
        2,
        "LessThanThreshold",
    )
    assert below["treat_missing_data"] == "breaching", "no group metrics at all is a failure too"
    topic = one(ha, "aws_sns_topic")
    assert topic["kms_master_key_id"].startswith("${aws_kms_key.")
    (name,) = ha["resource"]["aws_sns_topic"]
    assert all(a["alarm_actions"] == [f"${{aws_sns_topic.{name}.arn}}"] for a in found.values())


def test_dashboard_shows_targets_errors_instances_and_latency(ha: StackDoc) -> None:
    body = json.loads(one(ha, "aws_cloudwatch_dashboard")["dashboard_body"])
    metrics = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]}
    assert {
        "HealthyHostCount",
        "UnHealthyHostCount",
        "HTTPCode_ELB_5XX_Count",
        "GroupInServiceInstances",
        "CPUUtilization",
        "TargetResponseTime",
    } <= metrics


def test_outputs_url_group_and_target_group_with_descriptions(ha: StackDoc) -> None:
    outputs = ha["output"]
    assert {"alb_url", "asg_name", "target_group_arn"} <= set(outputs)
    assert all(o["description"] for o in outputs.values())
    assert outputs["target_group_arn"]["value"].startswith("${aws_lb_target_group.")


def test_single_region_by_default_without_dns(ha: StackDoc) -> None:
    assert len(ha["provider"]["aws"]) == 1
    assert not resources(ha, "aws_route53_record") and not resources(ha, "aws_route53_health_check")


# --- second region and DNS failover ----------------------------------------------------------


def test_secondary_region_runs_the_same_site_through_its_own_provider(
    two: StackDoc, fleet_variant: dict[str, StackDoc]
) -> None:
    providers = {p.get("alias", "default"): p["region"] for p in two["provider"]["aws"]}
    assert providers == {"default": "us-east-1", "secondary": "us-west-2"}
    per_provider: Counter[tuple[str, str]] = Counter()
    for rtype, items in two["resource"].items():
        for item in items.values():
            per_provider[(rtype, item.get("provider", "default"))] += 1
    for rtype in (
        "aws_lb",
        "aws_autoscaling_group",
        "aws_launch_template",
        "aws_kms_key",
        "aws_s3_object",
        "aws_autoscaling_lifecycle_hook",
    ):
        assert per_provider[(rtype, "default")] == per_provider[(rtype, "aws.secondary")] == 1, rtype
    assert per_provider[("aws_cloudwatch_metric_alarm", "aws.secondary")] == 11, "alarms in the region of their metrics"
    topics = {a.get("provider", "default"): a["alarm_actions"] for a in resources(two, "aws_cloudwatch_metric_alarm")}
    assert topics == {"default": [ONCALL_TOPIC_ARN], "aws.secondary": [ONCALL_SECONDARY_TOPIC_ARN]}, (
        "each region's alarms notify the team's topic in that region"
    )
    ssm = {d.get("provider", "default") for d in two["data"]["aws_ssm_parameter"].values()}
    assert ssm == {"default", "aws.secondary"}, "each region reads its own AMI"
    vpcs = {(d.get("provider", "default"), d["tags"]["Name"]) for d in two["data"]["aws_vpc"].values()}
    assert vpcs == {("default", "resilient-ai-prod-network"), ("aws.secondary", "resilient-ai-prod-network-2")}
    net = fleet_variant["network"]
    zones = {(s.get("provider", "default"), s["availability_zone_id"]) for s in net["resource"]["aws_subnet"].values()}
    primary = {("default", z) for z in ("use1-az1", "use1-az2", "use1-az4")}
    secondary = {("aws.secondary", z) for z in ("usw2-az1", "usw2-az2", "usw2-az3")}
    assert zones == primary | secondary, "each region's subnets in its own zone ids"


def test_route53_checks_each_site_and_fails_over_from_primary_to_secondary(two: StackDoc) -> None:
    """Route 53's public checkers cannot reach an internal ALB: each check follows its site's
    "no healthy hosts" alarm, in the site's region, and no data counts as unhealthy."""
    checks = two["resource"]["aws_route53_health_check"]
    site_alarms = two["resource"]["aws_cloudwatch_metric_alarm"]
    for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2")):
        check = checks[f"health-{role}"]
        assert (check["type"], check["cloudwatch_alarm_region"]) == ("CLOUDWATCH_METRIC", region)
        assert check["insufficient_data_health_status"] == "Unhealthy"
        (alarm,) = [a for n, a in site_alarms.items() if n.startswith(f"{role}_alarm-no-healthy-hosts_")]
        assert (
            check["cloudwatch_alarm_name"]
            == f"${{aws_cloudwatch_metric_alarm.{next(n for n, a in site_alarms.items() if a is alarm)}.alarm_name}}"
        )
        assert (alarm["metric_name"], alarm["comparison_operator"], alarm["threshold"]) == (
            "HealthyHostCount",
            "LessThanThreshold",
            1,
        )
        assert alarm["treat_missing_data"] == "breaching"
    records = two["resource"]["aws_route53_record"]
    assert {r["failover_routing_policy"]["type"] for r in records.values()} == {"PRIMARY", "SECONDARY"}
    for role, record in (("primary", records["record-primary"]), ("secondary", records["record-secondary"])):
        assert record["zone_id"] == FLEET_VARIANT_ENV["RAI_HA_FAILOVER_HOSTED_ZONE_ID"]
        assert record["name"] == "models.example.com" and record["set_identifier"] == role
        assert record["health_check_id"] == f"${{aws_route53_health_check.health-{role}.id}}"
        assert record["alias"]["evaluate_target_health"] is True
        assert record["alias"]["name"].startswith(f"${{aws_lb.{role}_alb_")


def test_prod_turns_alb_deletion_protection_on_and_a_certificate_adds_https(two: StackDoc) -> None:
    assert {lb["enable_deletion_protection"] for lb in resources(two, "aws_lb")} == {True}
    protocols = Counter(
        (listener.get("provider", "default"), listener["protocol"]) for listener in resources(two, "aws_lb_listener")
    )
    assert protocols == {("default", "HTTP"): 1, ("default", "HTTPS"): 1, ("aws.secondary", "HTTP"): 1}


def test_bad_ha_settings_are_reported_together() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_HA_FAILOVER_HOSTED_ZONE_ID": "Z123", "RAI_HA_FAILOVER_DESIRED_CAPACITY": "9"})
    text = str(info.value)
    assert "ha_failover.desired_capacity" in text and "ha_failover.hosted_zone_id" in text
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_HA_FAILOVER_SECONDARY_REGION": "mars-1", "RAI_HA_FAILOVER_HOSTED_ZONE_ID": "nope"})
    assert "ha_failover.secondary_region" in str(info.value) and "ha_failover.hosted_zone_id" in str(info.value)


@pytest.mark.slow
def test_the_two_region_variants_validate_offline_and_pass_checkov(fleet_variant_dir: Path) -> None:
    """The default synth is covered by the every-stack validate and scan tests; here the
    second region of the shared network too."""
    from tools.deploy.checkov_scan import load_waivers, scan
    from tools.deploy.terraform import Terraform, stack_dirs, validate_all

    results = validate_all(Terraform(settings_from()), stack_dirs(fleet_variant_dir))
    errors = [str(d) for diags in results.values() for d in diags if d.severity == "error"]
    assert set(results) == {"network", "ha-failover", "target-groups"} and not errors, "\n".join(errors)
    result = scan(fleet_variant_dir, load_waivers())
    assert result.passed > 0 and not result.failures, "\n".join(map(str, result.failures))
