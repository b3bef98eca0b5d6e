"""AWS facts that botocore does not ship, in one dated table with its sources.

Checked on 2026-12-08. What botocore knows (regions, partitions, EC2 instance types, service
endpoint prefixes) is read from its data instead (:mod:`modules.core.aws_catalogue`); what is
here changes when AWS opens a region or a Fargate size, so this table is dated and each part
names where it was read. A region missing from :data:`ZONE_ID_PREFIX` is not refused: its zone
ids are checked for their form only (and at plan time, in the account).
"""

from __future__ import annotations

CHECKED_ON = "2026-12-08"

ZONE_ID_SOURCE = (
    "AWS documentation, 'AWS Availability Zones' and 'AZ IDs' "
    "(docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html)"
)
# Region -> the prefix of its zone ids (euw1 in euw1-az1). Only regions named with confidence.
ZONE_ID_PREFIX: dict[str, str] = {
    "us-east-1": "use1",
    "us-east-2": "use2",
    "us-west-1": "usw1",
    "us-west-2": "usw2",
    "ca-central-1": "cac1",
    "ca-west-1": "caw1",
    "mx-central-1": "mxc1",
    "sa-east-1": "sae1",
    "eu-west-1": "euw1",
    "eu-west-2": "euw2",
    "eu-west-3": "euw3",
    "eu-central-1": "euc1",
    "eu-central-2": "euc2",
    "eu-north-1": "eun1",
    "eu-south-1": "eus1",
    "eu-south-2": "eus2",
    "af-south-1": "afs1",
    "il-central-1": "ilc1",
    "me-south-1": "mes1",
    "me-central-1": "mec1",
    "ap-east-1": "ape1",
    "ap-south-1": "aps1",
    "ap-south-2": "aps2",
    "ap-northeast-1": "apne1",
    "ap-northeast-2": "apne2",
    "ap-northeast-3": "apne3",
    "ap-southeast-1": "apse1",
    "ap-southeast-2": "apse2",
    "ap-southeast-3": "apse3",
    "ap-southeast-4": "apse4",
    "ap-southeast-5": "apse5",
    "ap-southeast-7": "apse7",
    "us-gov-west-1": "usgw1",
    "us-gov-east-1": "usge1",
    "cn-north-1": "cnn1",
    "cn-northwest-1": "cnnw1",
}

FARGATE_SOURCE = (
    "Amazon ECS Developer Guide, 'Task CPU and memory' and 'Troubleshoot Amazon ECS task definition invalid "
    "CPU or memory errors' (docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html); "
    "8 and 16 vCPU need Linux platform 1.4.0 or later"
)


def _steps(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


# Task CPU units -> every task memory (MiB) Fargate runs with it.
FARGATE_MEMORY_MIB: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}

INTERFACE_ENDPOINT_SOURCE = (
    "Amazon VPC PrivateLink, 'AWS services that integrate with AWS PrivateLink' "
    "(docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html)"
)
# Interface endpoint names (com.amazonaws.<region>.<name>) that are no service's endpoint prefix
# in botocore: the rest are its prefixes, as they are or with their parts reversed (api.ecr -> ecr.api).
INTERFACE_ENDPOINT_EXTRA_NAMES: tuple[str, ...] = (
    "ecr.dkr",
    "ec2messages",
    "ssmmessages",
    "kinesis-streams",
    "kinesis-firehose",
    "ecs-agent",
    "ecs-telemetry",
    "codeartifact.api",
    "codeartifact.repositories",
    "git-codecommit",
)
