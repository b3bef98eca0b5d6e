"""The public variant of model-serving on the emulator, in the user's own VPC: apply, re-plan
with no changes, destroy.

GIVEN ``exposure = public`` (the settings of tests/test_exposure.py) and a certificate that
exists in the emulator's ACM, the deployed ALB is internet-facing, answers HTTPS with the
TLS 1.3/1.2 policy and redirects HTTP; a WAF web ACL with its rules in order is associated
with it and logs to its ``aws-waf-logs-`` group with the bearer token redacted.

GIVEN ``network.mode = existing`` and a VPC with private and public subnets made with boto3
first, as a platform team's would be, the stack creates none of the network, runs in the
given subnets, and its destroy leaves the VPC, subnets and routes as they were. (One deploy
for both: the suite's wall time.)
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.web_acl import MANAGED_RULE_GROUPS, greater_than_pattern
from modules.config import Settings
from tests.conftest import PUBLIC_ENV
from tests.test_emulator_round_trip import SERVING_IMAGE
from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform, round_trip
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

DOMAIN = "models.example.com"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def self_signed_certificate(domain: str) -> tuple[bytes, bytes]:
    """(certificate, private key) in PEM: what a user would import into ACM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def _public_alb_is_https_only_behind_the_waf(settings: Settings, certificate_arn: str) -> None:
    elbv2, wafv2, ec2, ecs = (aws_client(s, settings) for s in ("elbv2", "wafv2", "ec2", "ecs"))
    (lb,) = elbv2.describe_load_balancers(Names=[f"{settings.name_prefix}-ms"])["LoadBalancers"]
    # The provider sends a Scheme only for internal (internet-facing is AWS's default); moto then stores none.
    assert lb.get("Scheme", "internet-facing") == "internet-facing"
    assert len(lb["AvailabilityZones"]) == settings.az_count
    subnets = ec2.describe_subnets(SubnetIds=[az["SubnetId"] for az in lb["AvailabilityZones"]])["Subnets"]
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)
    names = {t["Value"] for s in subnets for t in s.get("Tags", []) if t["Key"] == "Name"}
    assert names and all("public" in n for n in names), names

    listeners = {li["Port"]: li for li in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert (https["Protocol"], https["SslPolicy"]) == ("HTTPS", TLS_POLICY)
    assert [c["CertificateArn"] for c in https["Certificates"]] == [certificate_arn]
    in_use = aws_client("acm", settings).describe_certificate(CertificateArn=certificate_arn)["Certificate"]["InUseBy"]
    assert in_use == [https["ListenerArn"]]
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    config = redirect["RedirectConfig"]
    assert (config["Protocol"], config["Port"], config["StatusCode"]) == ("HTTPS", "443", "HTTP_301")

    acl = wafv2.get_web_acl_for_resource(ResourceArn=lb["LoadBalancerArn"])["WebACL"]
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = sorted(acl["Rules"], key=lambda r: r["Priority"])
    assert [r["Name"] for r in rules] == [
        "rate-per-ip",
        "body-size",
        "bearer-token-required",
        *MANAGED_RULE_GROUPS,  # Common, KnownBadInputs, AnonymousIpList
    ]
    rate, size, bearer = rules[0]["Statement"], rules[1]["Statement"], rules[2]["Statement"]
    assert rate["RateBasedStatement"]["Limit"] == int(PUBLIC_ENV["RAI_LOAD_BALANCER_RATE_LIMIT_PER_5MIN"])
    assert size["RegexMatchStatement"]["RegexString"] == greater_than_pattern(settings.model_server.max_body_bytes)
    token = bearer["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert (token["SearchString"], token["PositionalConstraint"]) == (b"bearer ", "STARTS_WITH")
    assert token["FieldToMatch"] == {"SingleHeader": {"Name": "authorization"}}
    assert all(r["Action"] == {"Block": {}} for r in rules[:3])
    assert all(r["OverrideAction"] == {"None": {}} for r in rules[3:])

    logging = wafv2.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    (destination,) = logging["LogDestinationConfigs"]
    group_name = destination.split(":log-group:")[1].removesuffix(":*")
    assert group_name.startswith("aws-waf-logs-")
    (group,) = aws_client("logs", settings).describe_log_groups(logGroupNamePrefix=group_name)["logGroups"]
    assert group["kmsKeyId"] and group["retentionInDays"] == settings.load_balancer.waf_log_retention_days
    assert logging["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]

    group_filter = [{"Name": "group-id", "Values": lb["SecurityGroups"]}]
    sg_rules = ec2.describe_security_group_rules(Filters=group_filter)["SecurityGroupRules"]
    ports = {(r["FromPort"], r["ToPort"]) for r in sg_rules if not r["IsEgress"] and r.get("CidrIpv4") == "0.0.0.0/0"}
    assert ports == {(80, 80), (443, 443)}

    (service,) = ecs.describe_services(cluster=f"{settings.name_prefix}-serving", services=["model-server"])["services"]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    lb_settings = settings.load_balancer
    assert (env["JWT_ISSUER"], env["JWT_AUDIENCE"]) == (lb_settings.jwt_issuer, lb_settings.jwt_audience)


def _users_network(ec2: Any, vpc_id: str) -> dict[str, Any]:
    """What destroy must leave as it was: the VPC, its subnets, route tables and gateways.
    (Free IP counts are left out: they only say an ENI is in use.)"""
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    (vpc,) = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    return {
        "vpc": {k: vpc.get(k) for k in ("VpcId", "CidrBlock", "State", "DhcpOptionsId", "Tags")},
        "subnets": sorted(
            (s["SubnetId"], s["CidrBlock"], s["AvailabilityZone"], s["State"], str(s.get("Tags"))) for s in subnets
        ),
        "route_tables": sorted((t["RouteTableId"], str(t["Routes"]), len(t["Associations"])) for t in tables),
        "internet_gateways": ec2.describe_internet_gateways()["InternetGateways"],
    }


def users_vpc(ec2: Any) -> tuple[str, list[str], list[str]]:
    """(VPC id, private subnet ids, public subnet ids): 3 AZs, the public ones routed to an
    internet gateway."""
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": "platform-team"}])
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    public_table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"][:3]]
    private: list[str] = []
    public: list[str] = []
    for i, zone in enumerate(zones):
        for tier, ids, offset in (("private", private, 0), ("public", public, 100)):
            subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{offset + i}.0/24", AvailabilityZone=zone)
            ids.append(subnet["Subnet"]["SubnetId"])
            ec2.create_tags(Resources=[ids[-1]], Tags=[{"Key": "Name", "Value": f"platform-team-{tier}-{i}"}])
        ec2.associate_route_table(RouteTableId=public_table, SubnetId=public[-1])
    return vpc_id, private, public


def _none_of_the_network_was_created(
    settings: Settings, vpc_id: str, private: list[str], public: list[str], before: dict[str, Any]
) -> None:
    ec2, ecs, elbv2 = (aws_client(s, settings) for s in ("ec2", "ecs", "elbv2"))
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == [vpc_id]
    now = _users_network(ec2, vpc_id)
    assert (now["subnets"], now["route_tables"]) == (before["subnets"], before["route_tables"])
    assert now["internet_gateways"] == before["internet_gateways"]
    assert not ec2.describe_nat_gateways()["NatGateways"] and not ec2.describe_flow_logs()["FlowLogs"]
    assert not ec2.describe_vpc_endpoints()["VpcEndpoints"]
    (service,) = ecs.describe_services(cluster=f"{settings.name_prefix}-serving", services=["model-server"])["services"]
    assert sorted(service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]) == sorted(private)
    (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(public), "the ALB in the public subnets"
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert len([g for g in groups if g["GroupName"] != "default"]) >= 2, "the stack's own security groups"


def test_public_model_serving_applies_converges_and_destroys(tmp_path: Path) -> None:
    """The certificate is imported into the emulator's ACM first, and the VPC made, as a user's
    would exist."""
    from modules.app import synth

    with MotoServer(tmp_path / "moto.log") as moto:
        base = emulator_settings(moto.endpoint, environ={})
        acm, ec2 = aws_client("acm", base), aws_client("ec2", base)
        certificate, private_key = self_signed_certificate(DOMAIN)
        certificate_arn = acm.import_certificate(Certificate=certificate, PrivateKey=private_key)["CertificateArn"]
        vpc_id, private, public = users_vpc(ec2)
        before = _users_network(ec2, vpc_id)
        environ = {
            **PUBLIC_ENV,
            "RAI_LOAD_BALANCER_CERTIFICATE_ARN": certificate_arn,
            "RAI_SERVING_IMAGE_URI": SERVING_IMAGE,
            "RAI_NETWORK_MODE": "existing",
            "RAI_NETWORK_VPC_ID": vpc_id,
            "RAI_NETWORK_PRIVATE_SUBNET_IDS": ",".join(private),
            "RAI_NETWORK_PUBLIC_SUBNET_IDS": ",".join(public),
        }
        settings = emulator_settings(moto.endpoint, environ=environ)
        synth(settings, tmp_path / "out", only=["model-serving"])

        def deployed() -> None:
            _public_alb_is_https_only_behind_the_waf(settings, certificate_arn)
            _none_of_the_network_was_created(settings, vpc_id, private, public, before)

        result = round_trip(
            emulator_terraform(settings), settings, tmp_path / "out" / "stacks" / "model-serving", deployed
        )
        print(result)
        assert set(result.seconds) == {"init", "apply", "plan", "destroy"}
        elbv2, wafv2 = aws_client("elbv2", settings), aws_client("wafv2", settings)
        assert not elbv2.describe_load_balancers()["LoadBalancers"], "destroy deleted the ALB"
        assert not wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"], "destroy deleted the web ACL"
        assert not wafv2.list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"]
        assert _users_network(ec2, vpc_id) == before, "destroy left the user's network as it was"
        groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        assert [g["GroupName"] for g in groups] == ["default"], "the stack's own security groups are gone"
