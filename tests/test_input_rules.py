"""An input rule exists once (modules/core/input_rules.py): a setting and the block props it
is mapped to refuse the same values, in the same words, and a props object names every bad
field in one error. No synth: settings are loaded and props built, nothing more."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.alarm_topic import AlarmTopicProps
from modules.blocks.fleet import FleetProps
from modules.blocks.load_balancer import LoadBalancerProps, TargetGroupProps
from modules.blocks.model_server_fleet import ModelServerFleetProps
from modules.blocks.network import NetworkProps
from modules.blocks.python_function import PythonFunctionProps
from modules.blocks.queue import QueueProps
from modules.blocks.secure_bucket import SecureBucketProps
from modules.blocks.web_acl import WebAclProps
from modules.config import SettingsError, env_var
from tests.conftest import PROJECT_ROOT, settings_from

# What CloudWatch Logs accepts as a retention period (PutRetentionPolicy, "Possible values",
# in the AWS API reference and the SDKs generated from it). Written out here, not imported:
# the test holds the code to AWS's list.
CLOUDWATCH_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
KEY = "arn:aws:kms:us-east-1:123456789012:key/x"


# --- props with their required fields filled in, one field overridden ---------------------


def network(**kw: Any) -> NetworkProps:
    return NetworkProps(**{"name": "n", "logs_kms_key_arn": KEY, "zone_ids": ("use1-az1", "use1-az2"), **kw})


def target_group(**kw: Any) -> TargetGroupProps:
    return TargetGroupProps(**{"name": "tg", "port": 8080, **kw})


def load_balancer(**kw: Any) -> LoadBalancerProps:
    return LoadBalancerProps(**{"name": "lb", "vpc_id": "v", "subnet_ids": ["a", "b"], "target": target_group(), **kw})


def web_acl(**kw: Any) -> WebAclProps:
    return WebAclProps(**{"name": "w", "resource_arn": "arn:lb", "logs_kms_key_arn": KEY, **kw})


def function(**kw: Any) -> PythonFunctionProps:
    code_dir = PROJECT_ROOT / "handlers" / "event_processor"
    base = {"name": "f", "code_dir": code_dir, "kms_key_arn": KEY, "account_id": "123456789012", "region": "us-east-1"}
    return PythonFunctionProps(**{**base, "handler": "handler.handler", **kw})


def fleet(**kw: Any) -> FleetProps:
    base = {
        "name": "s",
        "subnet_ids": ["a", "b"],
        "instance_types": ["m5.large", "m6i.large"],
        "target_group_arns": ["t"],
    }
    return FleetProps(**{**base, **kw})


def server_fleet(**kw: Any) -> ModelServerFleetProps:
    base = {"name": "s", "region": "us-east-1", "artifact_bucket": "b", "artifact_bucket_arn": "arn:aws:s3:::b"}
    return ModelServerFleetProps(**{**base, "kms_key_arn": KEY, "security_group_ids": ["sg"], "fleet": fleet(), **kw})


def bucket(**kw: Any) -> SecureBucketProps:
    return SecureBucketProps(**{"bucket_name": "a-bucket", "kms_key_arn": KEY, **kw})


def queue(**kw: Any) -> QueueProps:
    return QueueProps(**{"name": "q", "kms_key_arn": KEY, **kw})


# --- the rules: a setting (env form) and a props field (Python form) given the same bad value ----


@dataclass(frozen=True)
class Rule:
    setting: str  # "<section>.<key>" or a top-level key
    env_value: str  # as in RAI_<...>=
    props: Callable[..., object]
    field: str
    value: object  # the same value as the props field takes it

    @property
    def variable(self) -> str:
        section, _, key = self.setting.rpartition(".")
        return env_var(section or None, key)

    def __str__(self) -> str:
        return f"{self.setting}->{self.props.__name__}.{self.field}={self.value!r}"


RULES = [
    # log retention: exactly the CloudWatch Logs periods, in every setting and every props that makes a log group
    Rule("network.flow_log_retention_days", "10", network, "flow_log_retention_days", 10),
    Rule("load_balancer.waf_log_retention_days", "10", web_acl, "log_retention_days", 10),
    Rule("event_processing.log_retention_days", "10", function, "log_retention_days", 10),
    Rule("fleet.log_retention_days", "10", server_fleet, "log_retention_days", 10),
    Rule("serving.log_retention_days", "0", network, "flow_log_retention_days", 0),  # 0 = never expire
    Rule("stream.log_retention_days", "3650", web_acl, "log_retention_days", 3650),
    # S3 expiry days
    Rule("state.noncurrent_version_expiry_days", "0", bucket, "noncurrent_version_expiry_days", 0),
    Rule("state.noncurrent_version_expiry_days", "3651", bucket, "expiry_days", 3651),
    Rule("state.noncurrent_version_expiry_days", "3651", load_balancer, "access_log_retention_days", 3651),
    # CIDRs
    Rule("vpc_cidr", "10.0.0.0/8", network, "cidr", "10.0.0.0/8"),  # larger than AWS's /16
    Rule("vpc_cidr", "10.0.0.1/16", network, "cidr", "10.0.0.1/16"),  # host bits set
    Rule("load_balancer.allowed_cidrs", "10.0.0.1/8", load_balancer, "allowed_cidrs", ("10.0.0.1/8",)),
    Rule(
        "target_groups.allowed_cidrs", "10.0.0.0/8,nowhere", load_balancer, "allowed_cidrs", ("10.0.0.0/8", "nowhere")
    ),
    # zone ids
    Rule("zone_ids", "use1-az1,use1-az1,use1-az2", network, "zone_ids", ("use1-az1", "use1-az1", "use1-az2")),
    Rule("zone_ids", "use1-az1,usw2-az1,use1-az2", network, "zone_ids", ("use1-az1", "usw2-az1", "use1-az2")),
    Rule("zone_ids", "use1-az1,use1-az2,us-east-1a", network, "zone_ids", ("use1-az1", "use1-az2", "us-east-1a")),
    # interface endpoints
    Rule("network.interface_endpoints", "ecr.api,ecr.api", network, "interface_endpoints", ("ecr.api", "ecr.api")),
    Rule("network.interface_endpoints", "ECR API", network, "interface_endpoints", ("ECR API",)),
    # load balancer timings
    Rule("load_balancer.idle_timeout_s", "0", load_balancer, "idle_timeout_s", 0),
    Rule("load_balancer.idle_timeout_s", "4001", load_balancer, "idle_timeout_s", 4001),
    Rule("serving.health_check_interval_s", "4", target_group, "health_check_interval_s", 4),
    Rule("serving.healthy_threshold", "1", target_group, "healthy_threshold", 1),
    Rule("target_groups.unhealthy_threshold", "11", target_group, "unhealthy_threshold", 11),
    Rule("ha_failover.unhealthy_threshold", "11", target_group, "unhealthy_threshold", 11),
    Rule("load_balancer.deregistration_delay_s", "3601", target_group, "deregistration_delay_s", 3601),
    Rule("load_balancer.slow_start_s", "10", target_group, "slow_start_s", 10),  # AWS: 0 or 30-900
    Rule("target_groups.stickiness_s", "604801", target_group, "stickiness_s", 604801),
    Rule("load_balancer.rate_limit_per_5min", "9", web_acl, "rate_limit_per_5min", 9),
    # names
    Rule("state.bucket", "Bad_Bucket", bucket, "bucket_name", "Bad_Bucket"),
    # fleets
    Rule("fleet.instance_types", "m5.large", fleet, "instance_types", ("m5.large",)),  # one spot pool
    Rule("stream.instance_types", "m5.large,m5.large", fleet, "instance_types", ("m5.large", "m5.large")),
    Rule("fleet.refresh_checkpoints", "50,20,100", fleet, "refresh_checkpoints", (50, 20, 100)),
    Rule("fleet.refresh_checkpoints", "20,50", fleet, "refresh_checkpoints", (20, 50)),  # never reaches 100
    Rule("fleet.drain_s", "29", fleet, "drain_s", 29),
    Rule("fleet.cpu_target_percent", "95", fleet, "cpu_target_percent", 95),
    Rule("fleet.min_healthy_percent", "101", fleet, "min_healthy_percent", 101),
    Rule("stream.on_demand_count", "1001", fleet, "on_demand_base", 1001),
    Rule("fleet.requests_per_target", "0", fleet, "requests_per_target", 0),
    Rule("fleet.root_volume_gib", "7", server_fleet, "root_volume_gib", 7),
    # model servers
    Rule("serving.container_port", "80", server_fleet, "port", 80),  # privileged
    Rule("model_server.max_body_bytes", "63", web_acl, "max_body_bytes", 63),
    # model URIs: one object, so the servers' read grant reads that object only
    Rule("model_server.model_uri", "s3://acme-models/*", server_fleet, "model_uri", "s3://acme-models/*"),
    Rule("target_groups.canary_model_uri", "s3://acme-models", server_fleet, "model_uri", "s3://acme-models"),
    # functions and queues
    Rule("event_processing.function_memory_mib", "127", function, "memory_mib", 127),
    Rule("event_processing.ephemeral_storage_mib", "10241", function, "ephemeral_storage_mib", 10241),
    Rule("event_processing.max_receive_count", "0", queue, "max_receive_count", 0),
]


def setting_problem(rule: Rule) -> str:
    """The settings error's line for ``rule.setting``."""
    with pytest.raises(SettingsError) as err:
        settings_from({rule.variable: rule.env_value})
    lines = [p for p in err.value.problems if p.startswith(f"{rule.setting} = ")]
    assert len(lines) == 1, err.value.problems
    return lines[0]


def props_problem(rule: Rule) -> str:
    """The props error's part for ``rule.field`` ("<Props>: <part>; <part>...")."""
    with pytest.raises(ValueError) as err:
        rule.props(**{rule.field: rule.value})
    body = re.sub(r"^\w+Props: ", "", str(err.value))
    parts = [p for p in body.split("; ") if p.startswith(f"{rule.field}=")]
    assert len(parts) == 1, str(err.value)
    return parts[0]


def allowed(problem: str) -> str:
    return problem.split(": must be ", 1)[1]


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_the_setting_refuses_the_value_naming_itself_both_ways(rule: Rule) -> None:
    """GIVEN a bad value in RAI_<SECTION>_<KEY> THEN the error names the dotted setting, the
    variable it came from and what is allowed."""
    problem = setting_problem(rule)
    assert problem.startswith(f"{rule.setting} = ")
    assert f"(from {rule.variable}): must be " in problem


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_the_props_refuse_the_same_value_in_the_same_words(rule: Rule) -> None:
    """GIVEN the same bad value in the props field the setting is mapped to THEN the props
    refuse it, naming the field, and say what is allowed exactly as the setting does."""
    problem = props_problem(rule)
    assert problem.startswith(f"{rule.field}={rule.value!r}: must be ")
    assert allowed(problem) == allowed(setting_problem(rule))


# --- log retention: exactly CloudWatch's set -----------------------------------------------


def test_every_cloudwatch_retention_period_and_nothing_else_passes_the_props() -> None:
    """Every day count from 0 to 3654: accepted by the props exactly when CloudWatch Logs accepts it
    (0, never expire, is refused too: logs kept forever are a policy finding)."""
    accepted = []
    for days in range(3655):
        try:
            network(flow_log_retention_days=days)
        except ValueError:
            continue
        accepted.append(days)
    assert tuple(accepted) == CLOUDWATCH_RETENTION_DAYS


@pytest.mark.parametrize("days", CLOUDWATCH_RETENTION_DAYS)
def test_every_cloudwatch_retention_period_is_a_valid_setting(days: int) -> None:
    settings = settings_from(
        {"RAI_NETWORK_FLOW_LOG_RETENTION_DAYS": str(days), "RAI_SERVING_LOG_RETENTION_DAYS": str(days)}
    )
    assert (settings.network.flow_log_retention_days, settings.serving.log_retention_days) == (days, days)


def test_a_retention_error_lists_the_periods_cloudwatch_accepts() -> None:
    problem = setting_problem(RULES[0])
    assert problem.endswith(", ".join(map(str, CLOUDWATCH_RETENTION_DAYS)))


def test_a_bad_retention_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """`RAI_NETWORK_FLOW_LOG_RETENTION_DAYS=10 python main.py` used to synthesize four log
    groups AWS would refuse at apply; now main.py exits 2 and writes nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env |= {
        "RAI_NETWORK_FLOW_LOG_RETENTION_DAYS": "10",
        "RAI_SETTINGS_FILE": str(tmp_path / "none.toml"),
        "CDKTF_OUTDIR": str(tmp_path / "out"),
    }
    (tmp_path / "none.toml").write_text("")
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "network.flow_log_retention_days = 10 (from RAI_NETWORK_FLOW_LOG_RETENTION_DAYS)" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- the edges of the ranges, accepted on both sides ---------------------------------------


EDGES = [
    Rule("state.noncurrent_version_expiry_days", "3650", bucket, "expiry_days", 3650),
    Rule("load_balancer.idle_timeout_s", "4000", load_balancer, "idle_timeout_s", 4000),
    Rule("load_balancer.slow_start_s", "0", target_group, "slow_start_s", 0),
    Rule("load_balancer.slow_start_s", "30", target_group, "slow_start_s", 30),
    Rule("vpc_cidr", "10.1.0.0/24", network, "cidr", "10.1.0.0/24"),
    Rule("zone_ids", "euw3-az1,euw3-az2", network, "zone_ids", ("euw3-az1", "euw3-az2")),
    Rule(
        "model_server.model_uri",
        "s3://acme-models/wine/v2.json",
        server_fleet,
        "model_uri",
        "s3://acme-models/wine/v2.json",
    ),
    Rule("model_server.model_uri", "/opt/models/wine.onnx", server_fleet, "model_uri", "/opt/models/wine.onnx"),
]


@pytest.mark.parametrize("rule", EDGES, ids=str)
def test_the_edges_of_a_rule_pass_both(rule: Rule) -> None:
    """GIVEN a value at the edge of a rule THEN the setting reads it and the props keep it."""
    env = {rule.variable: rule.env_value}
    if rule.setting == "zone_ids":
        env |= {"RAI_REGION": "eu-west-3", "RAI_AZ_COUNT": "2"}
    assert attrgetter(rule.setting)(settings_from(env)) == rule.value
    assert getattr(rule.props(**{rule.field: rule.value}), rule.field) == rule.value


def test_an_optional_expiry_may_be_left_out() -> None:
    assert bucket(expiry_days=None).expiry_days is None


# --- names -----------------------------------------------------------------------------------


def test_load_balancer_and_target_group_names_are_at_most_32_characters() -> None:
    """AWS refuses ALB and target group names over 32 characters; the model server region cuts longer ones to fit."""
    from modules.patterns.serving_front import short_name

    with pytest.raises(ValueError, match=r"LoadBalancerProps: name='x{33}': must be 1-32 characters"):
        load_balancer(name="x" * 33)
    with pytest.raises(ValueError, match=r"TargetGroupProps: name='': must be 1-32 characters"):
        target_group(name="")
    cut = short_name("resilient-ai-staging-target-groups-canary")
    assert target_group(name=cut).name == cut and len(cut) == 32


def test_a_data_bucket_name_leaves_room_for_its_log_bucket() -> None:
    with pytest.raises(SettingsError, match="at most 58 characters"):
        settings_from({"RAI_EVENT_PROCESSING_BUCKET": "b" * 59})


# --- customer keys ---------------------------------------------------------------------------


def alarm_topic(**kw: Any) -> AlarmTopicProps:
    return AlarmTopicProps(**{"name": "t", "kms_key_arn": KEY, **kw})


KEYED_PROPS = [
    (network, "logs_kms_key_arn"),
    (web_acl, "logs_kms_key_arn"),
    (function, "kms_key_arn"),
    (server_fleet, "kms_key_arn"),
    (bucket, "kms_key_arn"),
    (queue, "kms_key_arn"),
    (alarm_topic, "kms_key_arn"),
]


@pytest.mark.parametrize(("props", "field"), KEYED_PROPS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("value", ["", "k", "arn:aws:s3:::a-bucket"])
def test_every_props_that_takes_a_customer_key_refuses_what_names_none(
    props: Callable[..., object], field: str, value: str
) -> None:
    """An empty key id makes AWS fall back to its own managed key, silently: refused, by name."""
    with pytest.raises(ValueError, match=rf"{field}='{re.escape(value)}': must be a KMS key or alias ARN"):
        props(**{field: value})


@pytest.mark.parametrize(("props", "field"), KEYED_PROPS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("value", ["arn:aws:kms:eu-west-1:123456789012:alias/a", "${aws_kms_key.key.arn}"])
def test_a_key_or_alias_arn_or_one_known_only_at_apply_passes(
    props: Callable[..., object], field: str, value: str
) -> None:
    assert getattr(props(**{field: value}), field) == value


# --- props name every problem at once --------------------------------------------------------


def test_props_name_every_bad_field_in_one_error() -> None:
    with pytest.raises(ValueError) as err:
        load_balancer(
            name="x" * 33, allowed_cidrs=("nowhere",), idle_timeout_s=0, access_log_retention_days=0, subnet_ids=["a"]
        )
    message = str(err.value)
    assert message.startswith("LoadBalancerProps: ")
    for field in ("name=", "allowed_cidrs=", "idle_timeout_s=0", "access_log_retention_days=0", "subnet_ids"):
        assert field in message, field


def test_a_bool_is_not_a_number_of_days() -> None:
    """Strict like the settings: ``True`` would otherwise pass as 1 day."""
    with pytest.raises(ValueError, match="flow_log_retention_days=True: must be an integer"):
        network(flow_log_retention_days=True)
