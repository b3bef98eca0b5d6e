"""Settings AWS would refuse are refused at synth, each naming its setting, source and what is allowed.

From AWS's own catalogue (botocore's data) and the dated table of modules/core/aws_facts.py;
the valid neighbours of each still pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from modules.architectures.stream_analytics.settings import StreamSettings
from modules.config import SettingsError, load_settings
from modules.core import aws_catalogue
from modules.core.aws_facts import FARGATE_MEMORY_MIB, ZONE_ID_PREFIX
from modules.core.input_rules import InstanceType, InstanceTypes, ServiceNames
from modules.core.props_check import problem
from tests.conftest import settings_from

CERT = "arn:aws:acm:{}:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
STREAM = "arn:aws:kinesis:{}:123456789012:stream/results"


def problems_of(env: dict[str, str], file: Path | None = None) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env, settings_file=file)
    return info.value.problems


# --- the catalogue -------------------------------------------------------------------------


def test_the_catalogue_knows_regions_instance_types_and_endpoint_names_offline() -> None:
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= aws_catalogue.regions()
    assert "us-gov-west-1" in aws_catalogue.partitions()["aws-us-gov"]
    assert aws_catalogue.partition_of("cn-north-1") == "aws-cn"
    assert not any(r.endswith("-global") for r in aws_catalogue.regions())
    assert {"c7i.large", "m7i.large", "r7i.large", "c5a.large"} <= aws_catalogue.instance_types()
    assert "c7i.lrage" not in aws_catalogue.instance_types()
    names = aws_catalogue.interface_endpoint_names()
    assert {"ecr.api", "ecr.dkr", "logs", "monitoring", "sts", "kms", "ssmmessages", "sagemaker.runtime"} <= names
    assert "logz" not in names


def test_the_dated_table_has_every_zone_prefix_for_a_region_botocore_knows() -> None:
    assert set(ZONE_ID_PREFIX) <= aws_catalogue.regions()
    assert len(set(ZONE_ID_PREFIX.values())) == len(ZONE_ID_PREFIX), "one region per prefix"
    assert aws_catalogue.region_of_zone_prefix("euw1") == "eu-west-1"


def test_fargate_sizes_are_every_step_aws_lists() -> None:
    assert FARGATE_MEMORY_MIB[256] == (512, 1024, 2048)
    assert FARGATE_MEMORY_MIB[8192][0] == 16384 and FARGATE_MEMORY_MIB[8192][-1] == 61440
    assert FARGATE_MEMORY_MIB[16384][1] - FARGATE_MEMORY_MIB[16384][0] == 8192
    assert FARGATE_MEMORY_MIB[16384][-1] == 122880


# --- the cases: refused, each naming its setting, source and what is allowed ---------


@dataclass(frozen=True)
class Case:
    name: str
    env: dict[str, str]
    expected: tuple[str, ...]  # fragments of one problem line
    not_expected: str = ""  # a fragment no line may have

    def __str__(self) -> str:
        return self.name


REFUSED = [
    Case(
        "zone ids of another region",
        {"RAI_REGION": "eu-west-1", "RAI_ZONE_IDS": "use1-az1,use1-az2,use1-az4"},
        ("zone_ids = use1-az1,use1-az2,use1-az4 (from RAI_ZONE_IDS): zone ids of us-east-1", "euw1-az1"),
    ),
    Case(
        "unknown region with zone ids of its shape",
        {"RAI_REGION": "us-east-7", "RAI_ZONE_IDS": "use7-az1,use7-az2,use7-az3"},
        ("region = 'us-east-7' (from RAI_REGION): must be an AWS region", "us-east-1"),
        not_expected="zone_ids",
    ),
    Case(
        "mistyped region with the right zone ids",
        {"RAI_REGION": "eu-wset-1", "RAI_ZONE_IDS": "euw1-az1,euw1-az2,euw1-az3"},
        ("region = 'eu-wset-1' (from RAI_REGION)", "did you mean `eu-west-1`?"),
        not_expected="zone_ids",
    ),
    Case(
        "unknown region alone names the region, not the zone ids",
        {"RAI_REGION": "us-east-7"},
        ("region = 'us-east-7' (from RAI_REGION): must be an AWS region",),
        not_expected="zone_ids",
    ),
    Case(
        "secondary zone ids of a third region",
        {
            "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
            "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "euw1-az1,euw1-az2,euw1-az3",
        },
        (
            "ha_failover.secondary_zone_ids = euw1-az1,euw1-az2,euw1-az3 (from RAI_HA_FAILOVER_SECONDARY_ZONE_IDS)",
            "ha_failover.secondary_region = 'us-west-2' (from RAI_HA_FAILOVER_SECONDARY_REGION)",
            "usw2-az1",
        ),
    ),
    Case(
        "mistyped fleet instance type",
        {"RAI_FLEET_INSTANCE_TYPES": "c7i.lrage,c6i.large"},
        ("fleet.instance_types = 'c7i.lrage,c6i.large' (from RAI_FLEET_INSTANCE_TYPES)", "did you mean `c7i.large`?"),
    ),
    Case(
        "unknown stream instance type",
        {"RAI_STREAM_INSTANCE_TYPES": "z9q.large,c7i.large"},
        ("stream.instance_types = 'z9q.large,c7i.large' (from RAI_STREAM_INSTANCE_TYPES)", "'z9q.large'"),
    ),
    Case(
        "mistyped interface endpoint",
        {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ecr.api,ecr.dkr,logz"},
        ("network.interface_endpoints = 'ecr.api,ecr.dkr,logz' (from RAI_", "'logz' (did you mean `logs`?)"),
    ),
    Case(
        "Fargate memory between the steps of 0.25 vCPU",
        {"RAI_SERVING_CPU": "256", "RAI_SERVING_MEMORY_MIB": "700"},
        (
            "serving.memory_mib = 700 (from RAI_SERVING_MEMORY_MIB): must be one of Fargate's sizes with "
            "serving.cpu = 256 (from RAI_SERVING_CPU): 512, 1024, 2048",
        ),
    ),
    Case(
        "Fargate memory between the steps of 1 vCPU",
        {"RAI_SERVING_CPU": "1024", "RAI_SERVING_MEMORY_MIB": "2500"},
        ("serving.memory_mib = 2500 (from RAI_SERVING_MEMORY_MIB)", "2048 to 8192 in steps of 1024"),
    ),
    Case(
        "certificate of another region than the load balancer's",
        {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": CERT.format("eu-west-1")},
        ("load_balancer.certificate_arn = 'arn:aws:acm:eu-west-1:", "region = 'us-east-1' (default)"),
    ),
    Case(
        "secondary certificate of the primary region",
        {
            "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
            "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
            "RAI_HA_FAILOVER_SECONDARY_CERTIFICATE_ARN": CERT.format("us-east-1"),
        },
        ("ha_failover.secondary_certificate_arn = 'arn:aws:acm:us-east-1:", "give one in us-west-2"),
    ),
    Case(
        "stream ARN of another region",
        {"RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN": STREAM.format("eu-west-1")},
        ("event_processing.kinesis_stream_arn = 'arn:aws:kinesis:eu-west-1:", "(from RAI_EVENT_PROCESSING_"),
    ),
    Case(
        "chaos terminates more than a group of 2 has",
        {"RAI_CHAOS_TERMINATE_COUNT": "5"},
        (
            "chaos.terminate_count = 5 (from RAI_CHAOS_TERMINATE_COUNT)",
            "ha_failover.min_size = 2 (default)",
            "target_groups.min_size = 2 (default)",
        ),
    ),
    Case(
        "chaos interrupts more spot instances than a group has",
        {"RAI_CHAOS_SPOT_INTERRUPTIONS_COUNT": "4", "RAI_STREAM_TARGET_CAPACITY": "3"},
        (
            "chaos.spot_interruptions_count = 4 (from RAI_",
            "stream.target_capacity = 3 (from RAI_STREAM_TARGET_CAPACITY)",
        ),
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_a_setting_aws_would_refuse_is_refused_naming_setting_and_source(case: Case) -> None:
    problems = problems_of(case.env)
    assert any(all(f in line for f in case.expected) for line in problems), problems
    assert not case.not_expected or not any(case.not_expected in line for line in problems), problems
    assert len(problems) == len(set(problems)), "each problem once"


ACCEPTED = [
    Case(
        "eu-west-1 with its own zone ids", {"RAI_REGION": "eu-west-1", "RAI_ZONE_IDS": "euw1-az1,euw1-az2,euw1-az3"}, ()
    ),
    Case(
        "secondary region with its own zone ids",
        {
            "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
            "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az4",
        },
        (),
    ),
    Case(
        "a region the dated table lacks: zone ids checked for form only",
        {"RAI_REGION": "ap-southeast-6", "RAI_ZONE_IDS": "apse6-az1,apse6-az2,apse6-az3"},
        (),
    ),
    Case("instance types EC2 has", {"RAI_FLEET_INSTANCE_TYPES": "m7i.large,m6i.large,r7i.large"}, ()),
    Case("stream instance types EC2 has", {"RAI_STREAM_INSTANCE_TYPES": "m7i.large,m6i.large,r7i.large"}, ()),
    Case(
        "interface endpoints AWS has", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ecr.api,ecr.dkr,logs,sts,ssmmessages"}, ()
    ),
    Case("Fargate 8 vCPU", {"RAI_SERVING_CPU": "8192", "RAI_SERVING_MEMORY_MIB": "16384"}, ()),
    Case("Fargate 16 vCPU", {"RAI_SERVING_CPU": "16384", "RAI_SERVING_MEMORY_MIB": "122880"}, ()),
    Case("Fargate 0.25 vCPU", {"RAI_SERVING_CPU": "256", "RAI_SERVING_MEMORY_MIB": "2048"}, ()),
    Case(
        "certificate of the load balancer's region", {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": CERT.format("us-east-1")}, ()
    ),
    Case(
        "certificates of each region",
        {
            "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
            "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
            "RAI_LOAD_BALANCER_CERTIFICATE_ARN": CERT.format("us-east-1"),
            "RAI_HA_FAILOVER_SECONDARY_CERTIFICATE_ARN": CERT.format("us-west-2"),
        },
        (),
    ),
    Case("chaos below every group", {"RAI_CHAOS_TERMINATE_COUNT": "1", "RAI_HA_FAILOVER_MIN_SIZE": "2"}, ()),
    Case("chaos off: no group to judge", {"RAI_CHAOS_TERMINATE_COUNT": "5", "RAI_CHAOS_ENABLED": "false"}, ()),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=str)
def test_the_valid_neighbour_is_accepted(case: Case) -> None:
    settings_from(case.env)


def test_8_vcpu_reads_back_as_given() -> None:
    s = settings_from({"RAI_SERVING_CPU": "8192", "RAI_SERVING_MEMORY_MIB": "16384"})
    assert (s.serving.cpu, s.serving.memory_mib) == (8192, 16384)
    assert s.section(StreamSettings).instance_types[0] == "c7i.large"


# --- where a value came from, each problem once ------------------------------------------------


def test_the_environment_wins_over_the_file_and_the_error_says_so(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[serving]\nmin_tasks = 3\nmax_tasks = 1\n")
    problems = problems_of({"RAI_SERVING_MIN_TASKS": "1"}, path)
    assert "serving.min_tasks = 1 (from RAI_SERVING_MIN_TASKS): must be an integer from 2 to 1000" in problems
    assert f"serving.max_tasks = 1 (from {path}): must be an integer from 2 to 1000" in problems


def test_a_value_under_an_old_name_that_became_two_settings_is_one_problem() -> None:
    problems = problems_of({"RAI_LOAD_BALANCER_HEALTHY_THRESHOLD": "1"})
    assert problems == [
        "serving.healthy_threshold and ha_failover.healthy_threshold = 1 "
        "(from RAI_LOAD_BALANCER_HEALTHY_THRESHOLD): must be an integer from 2 to 10"
    ]


def test_every_problem_is_still_collected_in_one_run() -> None:
    problems = problems_of(
        {
            "RAI_REGION": "eu-wset-1",
            "RAI_FLEET_INSTANCE_TYPES": "c7i.lrage,c6i.large",
            "RAI_SERVING_CPU": "256",
            "RAI_SERVING_MEMORY_MIB": "700",
            "RAI_CHAOS_TERMINATE_COUNT": "5",
        }
    )
    assert sorted(p.split(" ", 1)[0] for p in problems) == [
        "chaos.terminate_count",
        "fleet.instance_types",
        "region",
        "serving.memory_mib",
    ], problems


def test_an_optional_boolean_says_what_it_takes() -> None:
    assert problems_of({"RAI_PROTECTED": "maybe"}) == [
        "protected = 'maybe' (from RAI_PROTECTED): must be true or false, or unset"
    ]


# --- the props take the same checked types --------------------------------------------------


def test_block_props_refuse_an_unknown_instance_type_and_endpoint_in_the_same_words() -> None:
    assert problem(InstanceType, "c7i.large") is None
    assert "'c7i.lrage' (did you mean `c7i.large`?)" in str(problem(InstanceType, "c7i.lrage"))
    assert "'c7i.lrage' (did you mean `c7i.large`?)" in str(problem(InstanceTypes, ("c7i.lrage", "c6i.large")))
    assert "'logz' (did you mean `logs`?)" in str(problem(ServiceNames, ("ecr.api", "logz")))


def test_a_bad_item_of_a_list_holds_back_the_rules_on_that_list(tmp_path: Path) -> None:
    """The zone rule would judge the default zone ids in place of the bad list: it waits."""
    path = tmp_path / "settings.toml"
    path.write_text('zone_ids = [1, "euw1-az2"]\n')
    assert problems_of({"RAI_REGION": "eu-west-1"}, path) == [f"zone_ids.0 = 1 (from {path}): must be a string"]
