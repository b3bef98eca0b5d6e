"""Private by default; public only on purpose, and then HTTPS-only, behind WAF, with JWTs.

GIVEN no settings, no stack has an internet-facing ALB or an ingress from anywhere.
GIVEN ``exposure = public`` with its requirements, the ALB serves HTTPS only (HTTP answers 301),
and a WAF web ACL with managed rules, a per-IP rate limit and a body limit protects it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.web_acl import greater_than_pattern
from modules.config import SettingsError, load_settings
from modules.config.settings import EXPOSED_STACKS
from tests.conftest import PUBLIC_CERT, PUBLIC_ENV, StackDoc, one, resources, settings_from

OPEN = {"0.0.0.0/0", "::/0"}


def by_path(doc: StackDoc, rtype: str, path: str) -> dict[str, Any]:
    """The resource of ``rtype`` whose construct path is ``<stack>/<path>``."""
    found = [r for r in resources(doc, rtype) if r["//"]["metadata"]["path"].split("/", 1)[1] == path]
    assert len(found) == 1, f"{rtype} at {path}: {len(found)} found"
    return found[0]


def open_ingress(doc: StackDoc) -> list[str]:
    """Every security-group ingress (rule resources and inline) from anywhere."""
    found = []
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule"):
        for name, rule in doc.get("resource", {}).get(rtype, {}).items():
            cidrs = {
                rule.get("cidr_ipv4"),
                rule.get("cidr_ipv6"),
                *rule.get("cidr_blocks", []),
                *rule.get("ipv6_cidr_blocks", []),
            }
            if rule.get("type", "ingress") == "ingress" and cidrs & OPEN:
                found.append(f"{rtype}.{name}")
    for name, group in doc.get("resource", {}).get("aws_security_group", {}).items():
        for rule in group.get("ingress", []) or []:
            if {*rule.get("cidr_blocks", []), *rule.get("ipv6_cidr_blocks", [])} & OPEN:
                found.append(f"aws_security_group.{name}")
    return found


# --- GIVEN no settings ----------------------------------------------------------------------


def test_default_synth_has_no_internet_facing_alb_and_no_ingress_from_anywhere(stacks: dict[str, StackDoc]) -> None:
    assert set(EXPOSED_STACKS) <= set(stacks)
    for name, doc in stacks.items():
        assert [lb for lb in resources(doc, "aws_lb") if lb["internal"] is not True] == [], name
        assert open_ingress(doc) == [], name
        assert not resources(doc, "aws_wafv2_web_acl"), f"{name}: nothing public, nothing to filter"


def test_default_albs_are_in_private_subnets_and_admit_only_the_vpc(stacks: dict[str, StackDoc]) -> None:
    paths = {"model-serving": "alb", "ha-failover": "primary/alb", "target-groups": "site/alb"}
    for name, path in paths.items():
        lb = by_path(stacks[name], "aws_lb", f"{path}/alb")
        assert lb["internal"] is True and all("_private-" in s for s in lb["subnets"]), name
        rule = by_path(stacks[name], "aws_vpc_security_group_ingress_rule", f"{path}/in-80-0")
        assert rule["cidr_ipv4"] == "10.0.0.0/16", name


# --- GIVEN exposure = public ----------------------------------------------------------------


def test_public_without_its_requirements_is_one_error_naming_each_missing_field() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(
            {
                "RAI_LOAD_BALANCER_EXPOSURE": "public",
                "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
                "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
            }
        )
    assert len(info.value.problems) == 1
    (problem,) = info.value.problems
    for name in (
        "load_balancer.certificate_arn",
        "load_balancer.jwt_issuer",
        "load_balancer.jwt_audience",
        "ha_failover.secondary_certificate_arn",
    ):
        assert name in problem


def test_a_bad_field_never_hides_the_missing_public_requirements(tmp_path: Path) -> None:
    """pydantic checks the rule across sections only when every field is valid: the loader
    checks it on the valid fields too, so one run names both problems, field first."""
    file = tmp_path / "settings.toml"
    file.write_text('[load_balancer]\nexposure = "public"\nidle_timeout_s = 0\n')
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"RAI_MODEL_SERVER_MAX_IN_FLIGHT": "many"}, settings_file=file)
    field, other, public = info.value.problems
    assert field.startswith("load_balancer.idle_timeout_s = 0 (from ") and str(file) in field
    assert other.startswith("model_server.max_in_flight = 'many' (from RAI_MODEL_SERVER_MAX_IN_FLIGHT)")
    assert public.startswith("exposure = 'public' (model-serving, ha-failover, target-groups) needs: ")
    for name in ("load_balancer.certificate_arn", "load_balancer.jwt_issuer", "load_balancer.jwt_audience"):
        assert name in public


def test_a_required_field_given_badly_is_named_as_bad_not_as_unset() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(
            {**PUBLIC_ENV, "RAI_LOAD_BALANCER_CERTIFICATE_ARN": "my-cert", "RAI_LOAD_BALANCER_JWT_AUDIENCE": ""}
        )
    field, public = info.value.problems
    assert field.startswith("load_balancer.certificate_arn = 'my-cert' (from RAI_LOAD_BALANCER_CERTIFICATE_ARN)")
    assert public == (
        "exposure = 'public' (model-serving, ha-failover, target-groups) needs: load_balancer.certificate_arn "
        "(TLS; the value given is invalid, see above); load_balancer.jwt_audience (auth = jwt)"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({**PUBLIC_ENV, "RAI_LOAD_BALANCER_IDLE_TIMEOUT_S": "0"}, ["load_balancer.idle_timeout_s = 0 "]),
        ({"RAI_LOAD_BALANCER_EXPOSURE": "pubic"}, ["load_balancer.exposure = 'pubic' "]),
        (
            {"RAI_SERVING_EXPOSURE": "public", "RAI_TARGET_GROUPS_EXPOSURE": "x"},
            ["target_groups.exposure = 'x' ", "exposure = 'public' (model-serving) needs: "],
        ),
    ],
    ids=["public-lacks-nothing", "exposure-misspelt", "only-serving-public"],
)
def test_the_public_requirements_appear_only_for_the_stacks_that_are_public(
    env: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(env)
    assert len(info.value.problems) == len(expected), info.value.problems
    for problem, start in zip(info.value.problems, expected, strict=True):
        assert problem.startswith(start)


def test_one_stack_can_be_public_while_the_others_stay_internal() -> None:
    settings = settings_from({**PUBLIC_ENV, "RAI_LOAD_BALANCER_EXPOSURE": "internal", "RAI_SERVING_EXPOSURE": "public"})
    assert [settings.exposure_of(s) for s in EXPOSED_STACKS] == ["public", "internal", "internal"]
    with pytest.raises(SettingsError, match="model-serving"):
        settings_from({"RAI_SERVING_EXPOSURE": "public"})


def test_public_alb_serves_https_with_tls12_or_13_only_and_http_redirects(public_stacks: dict[str, StackDoc]) -> None:
    paths = {"model-serving": "alb", "ha-failover": "primary/alb", "target-groups": "site/alb"}
    for name, path in paths.items():
        doc = public_stacks[name]
        lb = by_path(doc, "aws_lb", f"{path}/alb")
        assert lb["internal"] is False and all("_public-" in s for s in lb["subnets"]), name
        https = by_path(doc, "aws_lb_listener", f"{path}/https")
        assert (https["port"], https["protocol"], https["certificate_arn"]) == (443, "HTTPS", PUBLIC_CERT)
        assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        http = by_path(doc, "aws_lb_listener", f"{path}/http")
        (action,) = http["default_action"]
        assert action["type"] == "redirect", "port 80 forwards nothing: it only redirects"
        assert action["redirect"] == {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}


def test_public_alb_has_a_web_acl_with_managed_rules_rate_and_body_limits(public_stacks: dict[str, StackDoc]) -> None:
    paths = {
        "model-serving": ("", "alb"),
        "ha-failover": ("primary/", "primary/alb"),
        "target-groups": ("site/", "site/alb"),
    }
    for name, (site, alb) in paths.items():
        doc = public_stacks[name]
        acl = by_path(doc, "aws_wafv2_web_acl", f"{site}waf/acl")
        assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
        rules = {r["name"]: r for r in acl["rule"]}
        managed = {
            r["statement"]["managed_rule_group_statement"]["name"]
            for r in acl["rule"]
            if "managed_rule_group_statement" in r["statement"]
        }
        assert managed == {
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAnonymousIpList",
        }
        anonymous = rules["AWSManagedRulesAnonymousIpList"]["statement"]["managed_rule_group_statement"]
        assert anonymous["rule_action_override"] == [
            {"name": "HostingProviderIPList", "action_to_use": {"count": {}}}
        ], "API clients in a cloud are not anonymous: only counted"
        rate = rules["rate-per-ip"]
        assert rate["action"] == {"block": {}}
        assert rate["statement"]["rate_based_statement"] == {"limit": 500, "aggregate_key_type": "IP"}
        size = rules["body-size"]["statement"]["regex_match_statement"]
        assert size["field_to_match"] == {"single_header": {"name": "content-length"}}
        assert size["regex_string"] == greater_than_pattern(262144)
        assert rules["bearer-token-required"]["action"] == {"block": {}}
        assoc = by_path(doc, "aws_wafv2_web_acl_association", f"{site}waf/association")
        assert assoc["web_acl_arn"].startswith("${aws_wafv2_web_acl.") and f"{alb}/alb" in _target(doc, assoc)
        logging = by_path(doc, "aws_wafv2_web_acl_logging_configuration", f"{site}waf/logging")
        group = by_path(doc, "aws_cloudwatch_log_group", f"{site}waf/logs")
        assert group["name"].startswith("aws-waf-logs-") and group["kms_key_id"] and group["retention_in_days"] == 365
        assert logging["redacted_fields"] == [{"single_header": {"name": "authorization"}}]


def _target(doc: StackDoc, assoc: dict[str, Any]) -> str:
    """The construct path of the ALB an association points at."""
    (ref,) = re.findall(r"\$\{aws_lb\.([^.]+)\.arn\}", assoc["resource_arn"])
    return str(doc["resource"]["aws_lb"][ref]["//"]["metadata"]["path"])


def test_public_servers_verify_jwts_of_the_issuer_and_share_the_body_limit(public_stacks: dict[str, StackDoc]) -> None:
    import json

    task = one(public_stacks["model-serving"], "aws_ecs_task_definition")
    (container,) = json.loads(task["container_definitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["JWT_ISSUER"] == "https://idp.example.com/tenant" and env["JWT_AUDIENCE"] == "models"
    assert env["JWKS_URL"] == "https://idp.example.com/tenant/.well-known/jwks.json"
    assert env["MAX_BODY_BYTES"] == "262144"


def test_public_admits_anywhere_on_443_and_80_only(public_stacks: dict[str, StackDoc]) -> None:
    for name in EXPOSED_STACKS:
        rules = resources(public_stacks[name], "aws_vpc_security_group_ingress_rule")
        ports = {(r["from_port"], r["to_port"]) for r in rules if r.get("cidr_ipv4") == "0.0.0.0/0"}
        assert ports == {(80, 80), (443, 443)}, name


@pytest.mark.parametrize("limit", [1, 9, 10, 99, 100, 1048576, 262144, 999, 1000, 8191])
def test_body_size_pattern_matches_exactly_the_lengths_over_the_limit(limit: int) -> None:
    pattern = re.compile(greater_than_pattern(limit))
    for n in {*range(max(0, limit - 120), limit + 120), limit * 10, limit * 10 - 1, 0}:
        assert bool(pattern.match(str(n))) is (n > limit), n
    assert pattern.match("00" + str(limit + 1)) and not pattern.match("00" + str(limit))


def test_policy_finds_an_unauthenticated_public_listener_and_accepts_the_protected_one(
    public_stacks: dict[str, StackDoc], tmp_path: Path
) -> None:
    import json

    from modules.policy.document import StackDocument
    from modules.policy.internet_access_rules import PublicEndpointProtected

    rule = PublicEndpointProtected()
    doc = public_stacks["model-serving"]
    assert [
        p
        for r in StackDocument("model-serving", doc).of_type(*rule.types)
        for p in rule.check(StackDocument("model-serving", doc), r)
    ] == []
    bare = json.loads(json.dumps(doc))
    for acl in bare["resource"]["aws_wafv2_web_acl"].values():
        acl["rule"] = [r for r in acl["rule"] if r["name"] != "bearer-token-required"]
    http = next(r for r in bare["resource"]["aws_lb_listener"].values() if r["protocol"] == "HTTP")
    http["default_action"] = [{"type": "forward", "target_group_arn": "x"}]
    found = StackDocument("model-serving", bare)
    problems = [p for r in found.of_type(*rule.types) for p in rule.check(found, r)]
    assert sorted(problems) == [
        "no authentication: no bearer-token gate and no authenticate action",
        "plain HTTP from the internet (only a redirect to HTTPS may be)",
    ]


def test_auth_none_needs_a_written_reason_and_waives_the_finding() -> None:
    env = {
        "RAI_LOAD_BALANCER_EXPOSURE": "public",
        "RAI_LOAD_BALANCER_CERTIFICATE_ARN": PUBLIC_CERT,
        "RAI_LOAD_BALANCER_AUTH": "none",
    }
    with pytest.raises(SettingsError, match="auth_none_reason"):
        settings_from(env)
    reason = "a public demo model on synthetic data; no client data, rate-limited by WAF"
    assert settings_from({**env, "RAI_LOAD_BALANCER_AUTH_NONE_REASON": reason}).load_balancer.auth == "none"


def test_ha_failover_public_in_two_regions_keeps_dns_failover_between_two_protected_sites(tmp_path: Path) -> None:
    """Public does not break the two-region failover: each region's ALB is internet-facing
    with its own region's certificate and its own web ACL, and Route 53 still fails over
    from the primary record to the secondary on each site's alarm-based health check."""
    from modules.app import synth
    from tests.conftest import load_stacks

    secondary_cert = "arn:aws:acm:us-west-2:123456789012:certificate/5e6f7a8b"
    env = {
        **PUBLIC_ENV,
        "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
        "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
        "RAI_HA_FAILOVER_SECONDARY_CERTIFICATE_ARN": secondary_cert,
        "RAI_HA_FAILOVER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
        "RAI_HA_FAILOVER_RECORD_NAME": "models.example.com",
    }
    synth(settings_from(env), tmp_path / "out", only=["ha-failover"])
    doc = load_stacks(tmp_path / "out")["ha-failover"]
    for site, cert in (("primary", PUBLIC_CERT), ("secondary", secondary_cert)):
        lb = by_path(doc, "aws_lb", f"{site}/alb/alb")
        assert lb["internal"] is False, site
        https = by_path(doc, "aws_lb_listener", f"{site}/alb/https")
        assert https["certificate_arn"] == cert, "an ACM certificate serves its own region only"
        assoc = by_path(doc, "aws_wafv2_web_acl_association", f"{site}/waf/association")
        assert f"{site}/alb/alb" in _target(doc, assoc), "each site's web ACL guards its own ALB"
        acl = by_path(doc, "aws_wafv2_web_acl", f"{site}/waf/acl")
        assert acl.get("provider") == lb.get("provider"), "a regional web ACL in the ALB's region"
    records = resources(doc, "aws_route53_record")
    assert sorted(r["failover_routing_policy"]["type"] for r in records) == ["PRIMARY", "SECONDARY"]
    assert all(r["alias"]["evaluate_target_health"] and r["health_check_id"] for r in records)
