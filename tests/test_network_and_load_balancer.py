"""The shared network and load-balancer blocks: their defaults (as the network and
model-serving stacks use them) and their variants (shared NAT, interface endpoints, internal ALB with TLS,
weighted target groups), built once in a stack of their own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.blocks.load_balancer import LoadBalancerProps, TargetGroupProps
from modules.blocks.network import NetworkProps
from tests.conftest import StackDoc, one, resources, settings_from

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"


@pytest.fixture(scope="module")
def variant() -> StackDoc:
    """Blocks with non-default props: 2 AZs, one shared NAT, interface endpoints, an
    internal ALB with a certificate, two allowed CIDRs and a 90/10 canary split."""
    import cdktf

    from modules.blocks.load_balancer import LoadBalancer
    from modules.blocks.network import Network
    from modules.stack.base import BaseStack

    stack = BaseStack(cdktf.Testing.app(), "blocks", settings=settings_from())
    net = Network(
        stack,
        "net",
        NetworkProps(
            name="blocks",
            logs_kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
            zone_ids=("use1-az1", "use1-az2"),
            cidr="10.20.0.0/16",
            nat="shared",
            interface_endpoints=("ecr.api", "logs"),
        ),
    )
    lb = LoadBalancer(
        stack,
        "lb",
        LoadBalancerProps(
            name="blocks",
            vpc_id=net.vpc.id,
            subnet_ids=net.private_subnet_ids,
            internal=True,
            certificate_arn=CERT,
            allowed_cidrs=("10.0.0.0/8", "192.168.0.0/16"),
            access_logs_bucket="existing-log-bucket",
            target=TargetGroupProps(name="blocks-blue", port=8080, target_type="instance"),
        ),
    )
    lb.add_target_group("canary", TargetGroupProps(name="blocks-canary", port=8080, target_type="instance"))
    lb.forward({"default": 90, "canary": 10})
    doc: StackDoc = json.loads(cdktf.Testing.synth(stack))
    return doc


def by_id(doc: StackDoc, rtype: str, fragment: str) -> dict[str, Any]:
    (found,) = [r for key, r in doc["resource"][rtype].items() if fragment in key]
    return dict(found)


# --- defaults, as the network stack builds them (network.mode = "shared") -----------------


def test_subnets_span_every_az_and_assign_no_public_ip(stacks: dict[str, StackDoc]) -> None:
    subnets = resources(stacks["network"], "aws_subnet")
    assert len(subnets) == 6, "a public and a private subnet in each of the 3 default AZs"
    azs = sorted(s["availability_zone_id"] for s in subnets)
    assert azs == sorted(["use1-az1", "use1-az2", "use1-az4"] * 2), "pinned by zone id, use1-az3 left out"
    assert not any("availability_zone" in s for s in subnets), "never by name: names differ per account"
    assert all(s["map_public_ip_on_launch"] is False for s in subnets)
    assert len({s["cidr_block"] for s in subnets}) == 6, "no overlapping subnets"


def test_the_plan_fails_unless_every_zone_id_is_a_regular_zone_of_the_region(stacks: dict[str, StackDoc]) -> None:
    zones = one({"resource": stacks["network"]["data"]}, "aws_availability_zones")
    assert zones["filter"] == [
        {"name": "zone-id", "values": ["use1-az1", "use1-az2", "use1-az4"]},
        {"name": "opt-in-status", "values": ["opt-in-not-required"]},
    ]
    assert "state" not in zones, "an impaired zone must not fail every plan"
    (check,) = zones["lifecycle"]["postcondition"]
    assert check["condition"] == "${length(self.zone_ids) == 3}"


def test_one_nat_per_az_so_an_az_outage_cuts_off_no_other_az(stacks: dict[str, StackDoc]) -> None:
    doc = stacks["network"]
    nats = doc["resource"]["aws_nat_gateway"]
    assert len(nats) == 3
    routes = [r for r in resources(doc, "aws_route") if "nat_gateway_id" in r]
    assert len({r["nat_gateway_id"] for r in routes}) == 3, "each private route table uses its own AZ's NAT"
    assert len({r["route_table_id"] for r in routes}) == 3
    public = [r for r in resources(doc, "aws_route") if "gateway_id" in r]
    assert len(public) == 1 and public[0]["gateway_id"].startswith("${aws_internet_gateway.")


def test_flow_logs_capture_all_traffic_into_an_encrypted_retained_group(stacks: dict[str, StackDoc]) -> None:
    doc = stacks["network"]
    flow = one(doc, "aws_flow_log")
    assert flow["traffic_type"] == "ALL" and flow["max_aggregation_interval"] == 60
    group = by_id(doc, "aws_cloudwatch_log_group", "flow-logs")
    assert group["retention_in_days"] == 365
    assert group["kms_key_id"].startswith("${aws_kms_key.")
    policy = json.loads(by_id(doc, "aws_iam_role_policy", "flow-logs")["policy"])
    assert policy["Statement"][0]["Resource"].endswith(".arn}:*"), "the role writes to its own log group only"


def test_default_security_group_has_no_rules(stacks: dict[str, StackDoc]) -> None:
    sg = one(stacks["network"], "aws_default_security_group")
    assert "ingress" not in sg and "egress" not in sg, "declaring it without rules strips AWS's allow-all"


def test_s3_gateway_endpoint_serves_every_route_table(stacks: dict[str, StackDoc]) -> None:
    endpoint = one(stacks["network"], "aws_vpc_endpoint")
    assert endpoint["vpc_endpoint_type"] == "Gateway" and endpoint["service_name"].endswith(".s3")
    assert len(endpoint["route_table_ids"]) == 4, "public + 3 private"


def test_alb_drops_invalid_headers_and_logs_access(stacks: dict[str, StackDoc]) -> None:
    alb = one(stacks["model-serving"], "aws_lb")
    assert alb["drop_invalid_header_fields"] is True
    assert alb["internal"] is True and alb["load_balancer_type"] == "application"
    assert alb["access_logs"]["enabled"] is True
    assert alb["enable_cross_zone_load_balancing"] is True
    assert len(alb["subnets"]) == 3 and all("private" in s for s in alb["subnets"])


def test_alb_log_bucket_is_private_and_writable_by_elb_log_delivery(stacks: dict[str, StackDoc]) -> None:
    doc = stacks["model-serving"]
    sse = one(doc, "aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
    assert sse["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}, "ALB logs need SSE-S3"
    policy = json.loads(one(doc, "aws_s3_bucket_policy")["policy"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert {"DenyInsecureTransport", "DenyOutdatedTls", "ElbAccountWritesLogs", "LogDeliveryWritesLogs"} <= set(sids)
    assert sids["LogDeliveryWritesLogs"]["Action"] == "s3:PutObject"
    (rule,) = one(doc, "aws_s3_bucket_lifecycle_configuration")["rule"]
    assert rule["expiration"] == [{"days": 90}], "logs expire"


def test_target_group_detects_failure_fast_and_drains_briefly(stacks: dict[str, StackDoc]) -> None:
    tg = one(stacks["model-serving"], "aws_lb_target_group")
    hc = tg["health_check"]
    assert (hc["interval"], hc["healthy_threshold"], hc["unhealthy_threshold"]) == (10, 2, 2)
    assert hc["timeout"] < hc["interval"] and hc["matcher"] == "200"
    assert tg["deregistration_delay"] == "30" and tg["slow_start"] == 30
    assert tg["target_type"] == "ip", "Fargate tasks register by IP"


def test_http_listener_forwards_when_there_is_no_certificate(stacks: dict[str, StackDoc]) -> None:
    listener = one(stacks["model-serving"], "aws_lb_listener")
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["default_action"][0]["type"] == "forward"


def test_alb_accepts_only_allowed_cidrs_and_targets_only_the_alb(stacks: dict[str, StackDoc]) -> None:
    doc = stacks["model-serving"]
    ingress = resources(doc, "aws_vpc_security_group_ingress_rule")
    from_cidrs = [r for r in ingress if "cidr_ipv4" in r]
    assert [(r["from_port"], r["cidr_ipv4"]) for r in from_cidrs] == [(80, "10.0.0.0/16")], "the VPC only"
    (to_targets,) = [r for r in ingress if "referenced_security_group_id" in r]
    assert to_targets["from_port"] == to_targets["to_port"] == 8080
    assert "alb_sg_" in to_targets["referenced_security_group_id"]
    egress = resources(doc, "aws_vpc_security_group_egress_rule")
    (alb_out,) = [r for r in egress if "referenced_security_group_id" in r]
    assert alb_out["from_port"] == 8080 and "targets-sg" in alb_out["referenced_security_group_id"]


# --- variants ----------------------------------------------------------------------------


def test_shared_nat_serves_every_private_route_table(variant: StackDoc) -> None:
    assert len(resources(variant, "aws_nat_gateway")) == 1
    routes = [r for r in resources(variant, "aws_route") if "nat_gateway_id" in r]
    assert len(routes) == 2 and len({r["nat_gateway_id"] for r in routes}) == 1


def test_two_azs_carve_subnets_from_the_vpc_cidr(variant: StackDoc) -> None:
    cidrs = sorted(s["cidr_block"] for s in resources(variant, "aws_subnet"))
    assert cidrs == ["10.20.0.0/20", "10.20.128.0/20", "10.20.144.0/20", "10.20.16.0/20"]


def test_interface_endpoints_use_private_dns_in_private_subnets_from_the_vpc_only(variant: StackDoc) -> None:
    endpoints = [e for e in resources(variant, "aws_vpc_endpoint") if e["vpc_endpoint_type"] == "Interface"]
    assert sorted(e["service_name"].rsplit(".", 2)[-2:][-1] for e in endpoints) == ["api", "logs"]
    assert all(e["private_dns_enabled"] is True and len(e["subnet_ids"]) == 2 for e in endpoints)
    rule = by_id(variant, "aws_vpc_security_group_ingress_rule", "endpoints-https")
    assert (rule["from_port"], rule["cidr_ipv4"]) == (443, "10.20.0.0/16")


def test_with_a_certificate_http_redirects_to_tls12_https(variant: StackDoc) -> None:
    http = by_id(variant, "aws_lb_listener", "lb_http_")
    assert http["default_action"][0]["redirect"] == {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}
    https = by_id(variant, "aws_lb_listener", "lb_https_")
    assert https["protocol"] == "HTTPS" and https["certificate_arn"] == CERT
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def test_internal_alb_with_given_log_bucket_and_cidrs(variant: StackDoc) -> None:
    alb = one(variant, "aws_lb")
    assert alb["internal"] is True and alb["access_logs"]["bucket"] == "existing-log-bucket"
    assert "aws_s3_bucket" not in variant["resource"], "bring-your-own bucket: none is created"
    rules = [r for r in resources(variant, "aws_vpc_security_group_ingress_rule") if "cidr_ipv4" in r]
    pairs = {(r["from_port"], r["cidr_ipv4"]) for r in rules if r["cidr_ipv4"] != "10.20.0.0/16"}
    assert pairs == {(p, c) for p in (80, 443) for c in ("10.0.0.0/8", "192.168.0.0/16")}


def test_weighted_forward_splits_traffic_for_a_canary(variant: StackDoc) -> None:
    https = by_id(variant, "aws_lb_listener", "lb_https_")
    groups = https["default_action"][0]["forward"]["target_group"]
    assert sorted(g["weight"] for g in groups) == [10, 90]
    assert len(resources(variant, "aws_lb_target_group")) == 2
    # Both groups use port 8080: the SG path is opened once, not twice.
    assert len([r for r in resources(variant, "aws_vpc_security_group_egress_rule")]) == 1


# --- props validation --------------------------------------------------------------------


def test_network_props_name_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as err:
        NetworkProps(
            name="",
            logs_kms_key_arn="k",
            zone_ids=("use1-az1",),
            cidr="10.0.0.1/16",
            flow_log_retention_days=0,
            interface_endpoints=("ECR API",),
        )
    message = str(err.value)
    for fragment in ("cidr=", "zone_ids=", "flow_log_retention_days=0", "interface_endpoints=", "name:"):
        assert fragment in message


def test_load_balancer_props_reject_one_subnet_bad_cidr_and_weak_tls() -> None:
    target = TargetGroupProps(name="t", port=80)
    with pytest.raises(ValueError) as err:
        LoadBalancerProps(
            name="x" * 33,
            vpc_id="v",
            subnet_ids=["a"],
            target=target,
            allowed_cidrs=("1.2.3.4/8",),
            ssl_policy="ELBSecurityPolicy-2016-08",
        )
    message = str(err.value)
    for fragment in ("name=", "subnet_ids", "allowed_cidrs", "ssl_policy"):
        assert fragment in message


def test_target_group_props_reject_slow_or_inconsistent_checks() -> None:
    with pytest.raises(ValueError) as err:
        TargetGroupProps(
            name="t",
            port=0,
            health_check_path="health",
            health_check_interval_s=5,
            health_check_timeout_s=5,
            unhealthy_threshold=1,
            slow_start_s=10,
        )
    message = str(err.value)
    for fragment in ("port=0", "health_check_path", "health_check_timeout_s", "unhealthy_threshold", "slow_start_s"):
        assert fragment in message
