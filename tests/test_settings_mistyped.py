"""Settings typed the way people mistype them: every one is refused before anything is written,
with a line that names the setting and the variable it came from. The table grows with each
mistake found; its first rows are the ones that once synthesized cleanly."""

from __future__ import annotations

import pytest

from modules.config import SettingsError, load_settings

CERT = "arn:aws:acm:{}:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SECONDARY = {"RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2"}
SECONDARY_ZONES = {**SECONDARY, "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3"}

# (what was meant, the environment as typed, the variable the refusal must name)
MISTYPED: list[tuple[str, dict[str, str], str]] = [
    # regions
    ("us-east-7", {"RAI_REGION": "us-east-7"}, "RAI_REGION"),
    ("eu-wset-1", {"RAI_REGION": "eu-wset-1"}, "RAI_REGION"),
    ("us-est-1", {"RAI_REGION": "us-est-1"}, "RAI_REGION"),
    ("useast-1", {"RAI_REGION": "useast-1"}, "RAI_REGION"),
    ("us-east1", {"RAI_REGION": "us-east1"}, "RAI_REGION"),
    ("eu-west-4", {"RAI_REGION": "eu-west-4"}, "RAI_REGION"),
    ("ap-southeast-9", {"RAI_REGION": "ap-southeast-9"}, "RAI_REGION"),
    ("upper case", {"RAI_REGION": "US-EAST-1"}, "RAI_REGION"),
    ("underscores", {"RAI_REGION": "us_east_1"}, "RAI_REGION"),
    ("a zone for a region", {"RAI_REGION": "us-east-1a"}, "RAI_REGION"),
    ("secondary us-west-3", {"RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-3"}, "RAI_HA_FAILOVER_SECONDARY_REGION"),
    ("secondary eu-wset-2", {"RAI_HA_FAILOVER_SECONDARY_REGION": "eu-wset-2"}, "RAI_HA_FAILOVER_SECONDARY_REGION"),
    # zone ids
    (
        "us-east-1's ids in eu-west-1",
        {"RAI_REGION": "eu-west-1", "RAI_ZONE_IDS": "use1-az1,use1-az2,use1-az4"},
        "RAI_ZONE_IDS",
    ),
    (
        "usw1 ids in us-west-2",
        {"RAI_REGION": "us-west-2", "RAI_ZONE_IDS": "usw1-az1,usw1-az3,usw1-az4"},
        "RAI_ZONE_IDS",
    ),
    ("a zone twice", {"RAI_ZONE_IDS": "use1-az1,use1-az1,use1-az2"}, "RAI_ZONE_IDS"),
    ("two regions' ids", {"RAI_ZONE_IDS": "use1-az1,usw2-az1,use1-az2"}, "RAI_ZONE_IDS"),
    ("zone names for ids", {"RAI_ZONE_IDS": "us-east-1a,us-east-1b,us-east-1c"}, "RAI_ZONE_IDS"),
    ("too few ids", {"RAI_ZONE_IDS": "use1-az1,use1-az2"}, "RAI_ZONE_IDS"),
    (
        "secondary ids of a third region",
        {**SECONDARY, "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "euw1-az1,euw1-az2,euw1-az3"},
        "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS",
    ),
    (
        "secondary ids of the primary region",
        {**SECONDARY, "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "use1-az1,use1-az2,use1-az4"},
        "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS",
    ),
    ("secondary ids, no region", {"RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2"}, "RAI_HA_FAILOVER_"),
    # instance types
    ("c7i.lrage", {"RAI_FLEET_INSTANCE_TYPES": "c7i.lrage,c6i.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("m5.larg", {"RAI_FLEET_INSTANCE_TYPES": "m5.larg,m5.xlarge"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("t3.mircro", {"RAI_FLEET_INSTANCE_TYPES": "t3.micro,t3.mircro"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("upper-case type", {"RAI_FLEET_INSTANCE_TYPES": "C7I.LARGE,c6i.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("dash for dot", {"RAI_FLEET_INSTANCE_TYPES": "c7i-large,c6i.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("one type", {"RAI_FLEET_INSTANCE_TYPES": "c7i.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("a type twice", {"RAI_FLEET_INSTANCE_TYPES": "c7i.large,c7i.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("r7.large", {"RAI_FLEET_INSTANCE_TYPES": "r7i.large,r7.large"}, "RAI_FLEET_INSTANCE_TYPES"),
    ("z9q.large", {"RAI_STREAM_INSTANCE_TYPES": "z9q.large,c7i.large"}, "RAI_STREAM_INSTANCE_TYPES"),
    ("m7i.lrage", {"RAI_STREAM_INSTANCE_TYPES": "m7i.lrage,m6i.large"}, "RAI_STREAM_INSTANCE_TYPES"),
    ("c6g.medum", {"RAI_STREAM_INSTANCE_TYPES": "c6g.medium,c6g.medum"}, "RAI_STREAM_INSTANCE_TYPES"),
    # interface endpoints
    ("logz", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ecr.api,ecr.dkr,logz"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("ecr.apl", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ecr.apl,ecr.dkr"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("kmss", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "sts,kmss"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("ssm-messages", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ssm,ssm-messages"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("an endpoint twice", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "logs,logs"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("upper case endpoint", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ECR.API"}, "RAI_NETWORK_INTERFACE_ENDPOINTS"),
    ("full service name", {"RAI_NETWORK_INTERFACE_ENDPOINTS": "com.amazonaws.us-east-1.logs"}, "RAI_NETWORK_"),
    # Fargate sizes
    ("256/700", {"RAI_SERVING_CPU": "256", "RAI_SERVING_MEMORY_MIB": "700"}, "RAI_SERVING_MEMORY_MIB"),
    ("1024/2500", {"RAI_SERVING_CPU": "1024", "RAI_SERVING_MEMORY_MIB": "2500"}, "RAI_SERVING_MEMORY_MIB"),
    ("512/5120", {"RAI_SERVING_CPU": "512", "RAI_SERVING_MEMORY_MIB": "5120"}, "RAI_SERVING_MEMORY_MIB"),
    ("2048/4000", {"RAI_SERVING_CPU": "2048", "RAI_SERVING_MEMORY_MIB": "4000"}, "RAI_SERVING_MEMORY_MIB"),
    ("4096/31744", {"RAI_SERVING_CPU": "4096", "RAI_SERVING_MEMORY_MIB": "31744"}, "RAI_SERVING_MEMORY_MIB"),
    ("8192/18432", {"RAI_SERVING_CPU": "8192", "RAI_SERVING_MEMORY_MIB": "18432"}, "RAI_SERVING_MEMORY_MIB"),
    ("16384/36864", {"RAI_SERVING_CPU": "16384", "RAI_SERVING_MEMORY_MIB": "36864"}, "RAI_SERVING_MEMORY_MIB"),
    ("cpu 300", {"RAI_SERVING_CPU": "300"}, "RAI_SERVING_CPU"),
    ("vCPU for units", {"RAI_SERVING_CPU": "2"}, "RAI_SERVING_CPU"),
    ("GB for MiB", {"RAI_SERVING_MEMORY_MIB": "2"}, "RAI_SERVING_MEMORY_MIB"),
    # ARNs
    ("certificate of eu-west-1", {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": CERT.format("eu-west-1")}, "RAI_LOAD_BALANCER_"),
    (
        "short account in an ARN",
        {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:1234:certificate/x"},
        "RAI_LOAD_BALANCER_CERTIFICATE_ARN",
    ),
    (
        "IAM server certificate for ACM",
        {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": "arn:aws:iam::123456789012:server-certificate/x"},
        "RAI_LOAD_BALANCER_CERTIFICATE_ARN",
    ),
    (
        "secondary certificate of the primary region",
        {**SECONDARY_ZONES, "RAI_HA_FAILOVER_SECONDARY_CERTIFICATE_ARN": CERT.format("us-east-1")},
        "RAI_HA_FAILOVER_SECONDARY_CERTIFICATE_ARN",
    ),
    (
        "stream of another region",
        {"RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s"},
        "RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN",
    ),
    (
        "stream key of another region",
        {
            "RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "RAI_EVENT_PROCESSING_KINESIS_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/k",
        },
        "RAI_EVENT_PROCESSING_KINESIS_KMS_KEY_ARN",
    ),
    (
        "China partition in us-east-1",
        {"RAI_LOAD_BALANCER_CERTIFICATE_ARN": "arn:aws-cn:acm:us-east-1:123456789012:certificate/x"},
        "RAI_LOAD_BALANCER_CERTIFICATE_ARN",
    ),
    # chaos against the groups it acts on
    ("terminate 5 of 2", {"RAI_CHAOS_TERMINATE_COUNT": "5"}, "RAI_CHAOS_TERMINATE_COUNT"),
    ("terminate the whole group", {"RAI_CHAOS_TERMINATE_COUNT": "2"}, "RAI_CHAOS_TERMINATE_COUNT"),
    ("interrupt 5 of 2", {"RAI_CHAOS_SPOT_INTERRUPTIONS_COUNT": "5"}, "RAI_CHAOS_SPOT_INTERRUPTIONS_COUNT"),
    ("a fourth zone of three", {"RAI_CHAOS_AZ_OUTAGE_ZONE": "4"}, "RAI_CHAOS_AZ_OUTAGE_ZONE"),
    ("percent over 100", {"RAI_CHAOS_STOP_TASKS_PERCENT": "150"}, "RAI_CHAOS_STOP_TASKS_PERCENT"),
    # what was refused before
    ("one AZ", {"RAI_AZ_COUNT": "1"}, "RAI_AZ_COUNT"),
    ("a /8 VPC", {"RAI_VPC_CIDR": "10.0.0.0/8"}, "RAI_VPC_CIDR"),
    ("host bits in a CIDR", {"RAI_VPC_CIDR": "10.0.0.1/16"}, "RAI_VPC_CIDR"),
    ("project with capitals", {"RAI_PROJECT": "My_Project"}, "RAI_PROJECT"),
    ("environment with capitals", {"RAI_ENVIRONMENT": "Prod"}, "RAI_ENVIRONMENT"),
    ("short account id", {"RAI_ACCOUNT_ID": "12345"}, "RAI_ACCOUNT_ID"),
    ("e-mail without @", {"RAI_ALARM_EMAIL": "ops.example.com"}, "RAI_ALARM_EMAIL"),
    ("mistyped variable", {"RAI_SERVNG_MIN_TASKS": "3"}, "RAI_SERVNG_MIN_TASKS"),
    ("10 days of logs", {"RAI_SERVING_LOG_RETENTION_DAYS": "10"}, "RAI_SERVING_LOG_RETENTION_DAYS"),
    ("one task", {"RAI_SERVING_MIN_TASKS": "1"}, "RAI_SERVING_MIN_TASKS"),
    ("max below min", {"RAI_SERVING_MIN_TASKS": "5", "RAI_SERVING_MAX_TASKS": "3"}, "RAI_SERVING_MAX_TASKS"),
    ("exposure typo", {"RAI_LOAD_BALANCER_EXPOSURE": "publc"}, "RAI_LOAD_BALANCER_EXPOSURE"),
    ("nat typo", {"RAI_NETWORK_NAT": "per-az"}, "RAI_NETWORK_NAT"),
    ("network mode typo", {"RAI_NETWORK_MODE": "exsting"}, "RAI_NETWORK_MODE"),
    ("a reserved tag", {"RAI_TAGS": "project=other"}, "RAI_TAGS"),
    ("health checks every 4 s", {"RAI_SERVING_HEALTH_CHECK_INTERVAL_S": "4"}, "RAI_SERVING_HEALTH_CHECK_INTERVAL_S"),
    ("idle timeout 0", {"RAI_LOAD_BALANCER_IDLE_TIMEOUT_S": "0"}, "RAI_LOAD_BALANCER_IDLE_TIMEOUT_S"),
    ("slow start 10 s", {"RAI_LOAD_BALANCER_SLOW_START_S": "10"}, "RAI_LOAD_BALANCER_SLOW_START_S"),
    ("canary steps down", {"RAI_TARGET_GROUPS_CANARY_STEPS": "10,5,100"}, "RAI_TARGET_GROUPS_CANARY_STEPS"),
    ("weights without canary", {"RAI_TARGET_GROUPS_WEIGHTS": "stable=100"}, "RAI_TARGET_GROUPS_WEIGHTS"),
    ("on-demand 101 %", {"RAI_FLEET_ON_DEMAND_PERCENT_ABOVE_BASE": "101"}, "RAI_FLEET_ON_DEMAND_PERCENT_ABOVE_BASE"),
    ("a bucket with capitals", {"RAI_STATE_BUCKET": "My_Bucket"}, "RAI_STATE_BUCKET"),
    ("an image without tag", {"RAI_SERVING_IMAGE_URI": "nginx"}, "RAI_SERVING_IMAGE_URI"),
    ("no shards", {"RAI_STREAM_SHARD_COUNT": "0"}, "RAI_STREAM_SHARD_COUNT"),
    ("12 h of stream", {"RAI_STREAM_RETENTION_HOURS": "12"}, "RAI_STREAM_RETENTION_HOURS"),
    ("yes-ish boolean", {"RAI_CHAOS_ENABLED": "sometimes"}, "RAI_CHAOS_ENABLED"),
    ("an emulator without scheme", {"RAI_EMULATOR_ENDPOINT": "localhost:4566"}, "RAI_EMULATOR_ENDPOINT"),
]


@pytest.mark.parametrize(("meant", "env", "variable"), MISTYPED, ids=[row[0] for row in MISTYPED])
def test_a_mistyped_setting_is_refused_naming_its_variable(meant: str, env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env, settings_file=None)
    assert any(variable in line for line in info.value.problems), info.value.problems
