"""Input rules that the settings and the blocks' props share, each written once as an ``Annotated`` type.

A settings field and the props field it is mapped to carry the same type, so a bound can
no longer drift between them (log retention was once a 1-3653 range in four places while
CloudWatch Logs accepts 22 values). The settings check their fields with pydantic; a
props dataclass calls :func:`modules.core.props_check.field_problems` in ``__post_init__``, which checks every field
annotated with one of these types the same way.

Every rule raises ``ValueError("<what is allowed>")``: the settings loader reports
``<setting> = <value> (from <source>): must be <what is allowed>``, a props class
``<Props>: <field>=<value>: must be <what is allowed>``. Nothing here imports cdktf: the
settings load and fail without starting jsii.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Strict

from modules.core import aws_catalogue
from modules.core.names import bucket_name_problem

T = TypeVar("T")


def check(problem: Callable[[T], str | None]) -> AfterValidator:
    """An AfterValidator from a function returning None (valid) or what is allowed."""

    def validate(value: T) -> T:
        found = problem(value)
        if found:
            raise ValueError(found)
        return value

    return AfterValidator(validate)


def where(ok: Callable[[Any], object], allowed: str) -> AfterValidator:
    """An AfterValidator that refuses a value ``ok`` is false for, saying what is ``allowed``."""
    return check(lambda v: None if ok(v) else allowed)


def between(lo: int, hi: int, what: str = "an integer") -> AfterValidator:
    """An integer from ``lo`` to ``hi``; ``what`` names the unit ("MiB", "seconds"...)."""
    return where(lambda v: lo <= v <= hi, f"{what} from {lo} to {hi}")


Int = Annotated[int, Strict()]  # a TOML "3" or a bool is not an integer

# --- retention and expiry ----------------------------------------------------------------

# The only periods CloudWatch Logs accepts (PutRetentionPolicy, aws_cloudwatch_log_group
# retention_in_days); 0 (never expire) is left out on purpose: logs kept forever are a
# resilience-policy finding.
LOG_RETENTION_DAYS = (
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
LogRetentionDays = Annotated[
    Int,
    where(
        LOG_RETENTION_DAYS.__contains__,
        f"one of the retention periods CloudWatch Logs accepts (days): {', '.join(map(str, LOG_RETENTION_DAYS))}",
    ),
]
S3_EXPIRY_MAX_DAYS = 3650  # ten years: the longest S3 lifecycle expiry this project writes
S3ExpiryDays = Annotated[Int, between(1, S3_EXPIRY_MAX_DAYS, "a number of days")]

# --- names -------------------------------------------------------------------------------

BucketName = Annotated[str, Strict(), check(bucket_name_problem)]

# --- addresses and zones -----------------------------------------------------------------


def _vpc_cidr_ok(v: str) -> bool:
    try:
        # /16 is the largest VPC AWS allows; /24 still leaves the network block's 16 subnets /28, the smallest.
        return 16 <= ipaddress.IPv4Network(v, strict=True).prefixlen <= 24
    except ValueError:
        return False


def _cidrs_ok(v: tuple[str, ...]) -> bool:
    try:
        return all(ipaddress.IPv4Network(c, strict=True) for c in v)
    except ValueError:
        return False


VpcCidr = Annotated[
    str,
    Strict(),
    where(_vpc_cidr_ok, "an IPv4 network in CIDR notation with a prefix from /16 to /24, e.g. 10.0.0.0/16"),
]
_STR_TUPLE = tuple[Annotated[str, Strict()], ...]
# The list rules are named on their own too: the settings parse the environment's
# comma-separated form before them, so that an error shows the value as it was given.
_CIDRS_ALLOWED = "empty or a list of IPv4 networks in CIDR notation, e.g. 10.0.0.0/8,192.168.0.0/16"
CIDRS_RULE = where(_cidrs_ok, _CIDRS_ALLOWED)
# Empty: nobody named (the settings then use the VPC CIDR when internal, anywhere when public).
Cidrs = Annotated[_STR_TUPLE, CIDRS_RULE]

# Props only: a Terraform reference is also allowed, known at plan time (an existing VPC's own range).
CidrsOrReferences = Annotated[
    _STR_TUPLE, where(lambda v: _cidrs_ok(tuple(c for c in v if not c.startswith("${"))), _CIDRS_ALLOWED)
]
# An existing VPC and its subnets, by id (the ids of `aws ec2 describe-vpcs` / `describe-subnets`).
OptionalVpcId = Annotated[
    str,
    Strict(),
    where(
        lambda v: v == "" or re.fullmatch(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?", v),
        "empty or a VPC id, e.g. vpc-0a1b2c3d4e5f67890",
    ),
]
SUBNET_IDS_RULE = where(
    lambda v: len(set(v)) == len(v) and all(re.fullmatch(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?", s) for s in v),
    "empty or a list of distinct subnet ids, e.g. subnet-0a1b2c3d4e5f67890,subnet-0f9e8d7c6b5a43210",
)
SubnetIds = Annotated[_STR_TUPLE, SUBNET_IDS_RULE]

MAX_AZS = 6  # the network block cuts the VPC into 16 blocks: 6 public, 6 private, room to spare
AzCount = Annotated[
    int,
    Strict(),
    where(lambda v: 2 <= v <= MAX_AZS, f"an integer from 2 to {MAX_AZS} (fault tolerance needs >= 2 AZs)"),
]
_ZONE_IDS_ALLOWED = "distinct availability zone ids of one region, e.g. use1-az1,use1-az2,use1-az4"


def _zone_ids_ok(ids: tuple[str, ...]) -> bool:
    matches = [re.fullmatch(r"([a-z]+\d+)-az\d+", z) for z in ids]  # regular AZs: no Local Zone ids
    return all(matches) and len(set(ids)) == len(ids) and len({m.group(1) for m in matches if m}) <= 1


ZONE_IDS_RULE = where(lambda v: bool(v) and _zone_ids_ok(v), _ZONE_IDS_ALLOWED)
OPTIONAL_ZONE_IDS_RULE = where(_zone_ids_ok, "empty or " + _ZONE_IDS_ALLOWED)
ZoneIds = Annotated[_STR_TUPLE, ZONE_IDS_RULE]
# What a multi-AZ network is built on: its own zones, as many as it spans.
MultiAzZoneIds = Annotated[
    ZoneIds, where(lambda v: 2 <= len(v) <= MAX_AZS, f"2 to {MAX_AZS} zone ids (fault tolerance needs >= 2 AZs)")
]

_SERVICE_NAMES_ALLOWED = "a list of distinct AWS service names such as ecr.api,ecr.dkr,logs"


def _service_names_problem(names: Sequence[str]) -> str | None:
    if len(set(names)) != len(names):
        return _SERVICE_NAMES_ALLOWED
    unknown = [n for n in names if not aws_catalogue.is_interface_endpoint_name(n)]
    return _unknown_problem(
        _SERVICE_NAMES_ALLOWED,
        "no AWS service has an interface endpoint named",
        unknown,
        aws_catalogue.interface_endpoint_names,
        "endpoints",
    )


def _unknown_problem(
    allowed: str, what: str, unknown: Sequence[str], known: Callable[[], Collection[str]], listing: str
) -> str | None:
    """``allowed`` and each name of ``unknown`` with its did-you-mean, or None when none is unknown."""
    if not unknown:
        return None
    named = ", ".join(aws_catalogue.with_closest(n, known()) for n in unknown)
    return f"{allowed}: {what} {named} (all: python -m modules.core.aws_catalogue {listing})"


SERVICE_NAMES_RULE = check(_service_names_problem)
ServiceNames = Annotated[_STR_TUPLE, SERVICE_NAMES_RULE]  # of interface endpoints: com.amazonaws.<region>.<name>

# --- load balancers ----------------------------------------------------------------------

LB_NAME_MAX = 32  # ALB and target group names (AWS's limit)
LoadBalancerName = Annotated[
    str,
    Strict(),
    where(
        lambda v: 1 <= len(v) <= LB_NAME_MAX, f"1-{LB_NAME_MAX} characters (AWS's limit for ALB and target group names)"
    ),
]
IdleTimeoutS = Annotated[Int, between(1, 4000, "a number of seconds")]
HealthCheckIntervalS = Annotated[Int, between(5, 300, "a number of seconds")]
HealthThreshold = Annotated[Int, between(2, 10)]
DeregistrationDelayS = Annotated[Int, between(0, 3600, "a number of seconds")]
SlowStartS = Annotated[
    Int, where(lambda v: v == 0 or 30 <= v <= 900, "0 (off) or a number of seconds from 30 to 900 (AWS's range)")
]
StickinessS = Annotated[Int, between(0, 604800, "a number of seconds (0: off)")]  # lb_cookie: up to 7 days
WafRateLimit = Annotated[Int, between(10, 2_000_000_000)]  # requests per client IP in 5 minutes

# --- fleets (Auto Scaling groups) ----------------------------------------------------------


_INSTANCE_TYPES_ALLOWED = "at least 2 distinct EC2 instance types, e.g. c7i.large,c6i.large"


def _instance_types_problem(types: Sequence[str]) -> str | None:
    if len(types) < 2 or len(set(types)) != len(types):
        return _INSTANCE_TYPES_ALLOWED
    unknown = [t for t in types if t not in aws_catalogue.instance_types()]
    return _unknown_problem(
        _INSTANCE_TYPES_ALLOWED, "EC2 has no instance type", unknown, aws_catalogue.instance_types, "instance-types"
    )


def percent_steps(lo: int, allowed: str) -> AfterValidator:
    """Strictly increasing percentages from ``lo`` to 100 that end at 100."""
    return where(
        lambda v: (
            bool(v) and v[-1] == 100 and all(lo <= x <= 100 for x in v) and all(a < b for a, b in itertools.pairwise(v))
        ),
        allowed,
    )


# >= 2 types: more spot pools, fewer interruptions.
INSTANCE_TYPES_RULE = check(_instance_types_problem)
# One instance type (a launch template's own, when no fleet overrides choose).
InstanceType = Annotated[
    str,
    Strict(),
    check(
        lambda t: _unknown_problem(
            "an EC2 instance type such as c7i.large",
            "EC2 has no instance type",
            [] if t in aws_catalogue.instance_types() else [t],
            aws_catalogue.instance_types,
            "instance-types",
        )
    ),
]
CHECKPOINTS_ALLOWED = "increasing percentages from 1 to 100 that end at 100, e.g. 20,100"
CHECKPOINTS_RULE = percent_steps(1, CHECKPOINTS_ALLOWED)
InstanceTypes = Annotated[Sequence[str], INSTANCE_TYPES_RULE]
RefreshCheckpoints = Annotated[Sequence[int], CHECKPOINTS_RULE]  # instance refresh: share (%) replaced, then bake
Percent = Annotated[Int, between(0, 100)]
OnDemandBase = Annotated[Int, between(0, 1000)]
HealthCheckGraceS = Annotated[Int, between(0, 7200)]
WarmupS = Annotated[Int, between(0, 3600)]
RefreshBakeS = Annotated[Int, between(0, 172800)]  # AWS's longest checkpoint delay
DrainS = Annotated[Int, between(30, 7200)]  # the termination lifecycle hook's range
CpuTargetPercent = Annotated[Int, between(10, 90)]
RequestsPerTarget = Annotated[Int, between(1, 100000)]  # ALB requests per instance per minute

RootVolumeGib = Annotated[Int, between(8, 16384, "GiB")]  # gp3: the AMI's 8 GiB at least

# --- model servers -------------------------------------------------------------------------

ServerPort = Annotated[Int, between(1024, 65535)]  # the server runs unprivileged
MaxBodyBytes = Annotated[Int, between(64, 1024 * 1024 * 1024, "bytes")]  # the server's limit, and the WAF's

# --- metrics -------------------------------------------------------------------------------

# CloudWatch's namespace characters; "AWS/" is reserved for AWS's own metrics.
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9 .\-_/#:]{1,255}")
CloudWatchNamespace = Annotated[
    str,
    Strict(),
    where(
        lambda v: bool(_NAMESPACE_RE.fullmatch(v)) and bool(v.strip()) and not v.startswith("AWS/"),
        "a CloudWatch namespace: 1-255 letters, digits, spaces and . - _ / # :, not starting with AWS/ "
        "(reserved), e.g. ResilientAI/ModelServer",
    ),
]

# --- functions and queues ----------------------------------------------------------------

LambdaMemoryMib = Annotated[Int, between(128, 10240, "MiB")]
LambdaEphemeralStorageMib = Annotated[Int, between(512, 10240, "MiB")]  # /tmp
MaxReceiveCount = Annotated[Int, between(1, 1000)]  # SQS redrive: receives before the DLQ

# Keys Lambda sets itself and refuses in a function's configuration (its "reserved" list).
LAMBDA_RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)
_LAMBDA_VARIABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]+")  # Lambda's key pattern: at least 2 characters


def _lambda_environment_problem(variables: Mapping[str, str]) -> str | None:
    bad = [k for k in variables if not _LAMBDA_VARIABLE_RE.fullmatch(k) or k in LAMBDA_RESERVED_VARIABLES]
    if not bad:
        return None
    return (
        "variable names of 2 or more letters, digits and '_' that start with a letter and that Lambda does not "
        f"reserve (AWS_REGION, AWS_ACCESS_KEY_ID, LAMBDA_TASK_ROOT, TZ, ...); refused: {', '.join(map(repr, bad))}"
    )


LambdaEnvironment = Annotated[Mapping[str, str], check(_lambda_environment_problem)]

# --- keys and objects ----------------------------------------------------------------------

_KMS_ALIAS_RE = re.compile(r"[A-Za-z0-9/_-]{1,250}")  # KMS: "alias/" and this, 256 characters at most
KmsAliasName = Annotated[  # the name after "alias/"
    str,
    Strict(),
    where(
        lambda v: _KMS_ALIAS_RE.fullmatch(v) and not v.startswith(("aws/", "alias/")),
        "1-250 letters, digits, '/', '_' or '-', not starting with aws/ (AWS's own keys) or alias/ (added for you)",
    ),
]
_KMS_KEY_ARN_RE = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+")
# A customer key by ARN. Empty would let the service (S3, Lambda, SNS, SQS, Logs) fall back to
# its AWS-managed key, silently; a token (the stack's own key's arn, known at apply) is checked by AWS then.
KmsKeyArn = Annotated[
    str,
    Strict(),
    where(
        lambda v: "${" in v or _KMS_KEY_ARN_RE.fullmatch(v),
        "a KMS key or alias ARN, e.g. arn:aws:kms:us-east-1:123456789012:key/<id>",
    ),
]


S3_OBJECT_URI_ALLOWED = (
    "an s3://bucket/key URI of one object: a valid bucket name and a key with no wildcard (* ?), not ending in /"
)


def s3_object_uri_problem(uri: str) -> str | None:
    """What is wrong with ``uri`` as the s3:// URI of exactly one object, or None.

    An IAM grant built from it must read that object only: a wildcard in the key would grant
    every key it matches (``s3://models/*``: the whole bucket), an empty key no object at all.
    """
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    names_one = bool(key) and not any(c in key for c in "*?") and not key.endswith("/")
    if uri.startswith("s3://") and not bucket_name_problem(bucket) and names_one:
        return None
    return S3_OBJECT_URI_ALLOWED


def object_or_path(v: str) -> bool:
    """Empty, an absolute path, or the s3:// URI of one object (what a server reads at start)."""
    return v == "" or bool(re.fullmatch(r"/\S+", v)) or (v.startswith("s3://") and not s3_object_uri_problem(v))


# Where a model server loads its model from; the s3:// form is the object its role may read.
ModelUri = Annotated[
    str,
    Strict(),
    where(object_or_path, f"empty (the model built into the image), an absolute path, or {S3_OBJECT_URI_ALLOWED}"),
]
