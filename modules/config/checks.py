"""Field checks shared by the settings sections, each written once as an ``Annotated`` type.

The rules that block props check too (log retention, S3 expiry, CIDRs, zone ids, load
balancer names and timings) live in :mod:`modules.core.input_rules`; this module adds the
settings' own, and the parsing of the environment's comma-separated forms.

Every check raises ``ValueError("<what is allowed>")``; the loader turns that into
``<field> = <value> (from <source>): must be <what is allowed>``. Scalar types are strict
(a TOML ``"3"`` is not an integer); the environment source converts its strings first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, Strict

from modules.core.input_rules import (
    CHECKPOINTS_ALLOWED,
    CHECKPOINTS_RULE,
    CIDRS_RULE,
    INSTANCE_TYPES_RULE,
    OPTIONAL_ZONE_IDS_RULE,
    SERVICE_NAMES_RULE,
    SUBNET_IDS_RULE,
    ZONE_IDS_RULE,
    percent_steps,
    where,
)
from modules.core.input_rules import BucketName as BucketName
from modules.core.input_rules import Int as Int  # the sections' strict integer
from modules.core.input_rules import ModelUri as ModelUri
from modules.core.input_rules import between as between
from modules.core.input_rules import check as check
from modules.core.names import bucket_name_problem, email_problem

T = TypeVar("T")

# Tag keys the stack base always sets; extra tags may not override them.
RESERVED_TAG_KEYS = ("project", "environment", "stack", "managed-by")
MAX_USER_TAGS = 50 - len(RESERVED_TAG_KEYS)  # AWS allows 50 tags per resource

# Fargate CPU units -> (min, max) memory MiB allowed with it.
FARGATE_CPU_MEMORY = {256: (512, 2048), 512: (1024, 4096), 1024: (2048, 8192), 2048: (4096, 16384), 4096: (8192, 30720)}

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_ENVIRONMENT_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,8}[a-z0-9])?$")
_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_TAG_RE = re.compile(r"^[\w .:/=+\-@]*$")
_PREFIX_RE = re.compile(r"^([A-Za-z0-9._-]+/)+$")


_where = where


def _matches(pattern: str, allowed: str, *, empty: bool = False) -> AfterValidator:
    return _where(lambda v: (empty and v == "") or re.fullmatch(pattern, v), allowed)


Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


def _data_bucket_problem(v: str) -> str | None:
    # The access-log bucket is named "<bucket>-logs": leave room for the suffix.
    if v == "":
        return None
    problem = bucket_name_problem(v)
    return problem if problem else (None if len(v) <= 58 else "at most 58 characters (the log bucket adds '-logs')")


def _tags_problem(tags: Mapping[str, str]) -> str | None:
    problems = []
    if len(tags) > MAX_USER_TAGS:
        problems.append(f"at most {MAX_USER_TAGS} tags")
    for k, v in tags.items():
        if k in RESERVED_TAG_KEYS:
            problems.append(f"tag {k!r} is set by every stack (reserved: {', '.join(RESERVED_TAG_KEYS)})")
        elif not (1 <= len(k) <= 128) or k.lower().startswith("aws:") or not _TAG_RE.match(k):
            problems.append(f"tag key {k!r}: 1-128 characters of letters, digits, spaces and _.:/=+-@, not 'aws:'")
        if len(v) > 256 or not _TAG_RE.match(v):
            problems.append(f"tag {k!r} value: up to 256 characters of letters, digits, spaces and _.:/=+-@")
    return "; ".join(problems) or None


# --- lists and tables: a TOML array/table or the comma-separated form, parsed once ------


def _split(value: object) -> object:
    """``"a, b,,c"`` -> ``("a", "b", "c")``; a TOML array -> a tuple; anything else as is."""
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(value) if isinstance(value, list) else value


def _pairs(value: object) -> object:
    """``"k=v, k2=v2"`` -> ``{"k": "v", "k2": "v2"}``; a TOML table as is."""
    if not isinstance(value, str):
        return value
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("a table of string keys to string values (env form k=v,k2=v2)")
        out[key.strip()] = val.strip()
    return out


def _frozen(value: Mapping[str, T]) -> Mapping[str, T]:
    return MappingProxyType(dict(value))


_AS_DICT = PlainSerializer(dict)  # a read-only table dumps as a plain one


_WEIGHTS_ALLOWED = "`stable=<0-999>,canary=<0-999>` with a positive sum, e.g. stable=90,canary=10"


def _weights(value: object) -> object:
    """``"stable=90, canary=10"`` -> ``{"stable": 90, "canary": 10}``; a TOML table as is."""
    if not isinstance(value, str):
        return value
    parts = dict(p.split("=", 1) for p in value.replace(" ", "").split(",") if "=" in p)
    if not all(v.isdigit() for v in parts.values()):
        raise ValueError(_WEIGHTS_ALLOWED)
    return {k: int(v) for k, v in parts.items()}


def _weights_ok(w: Mapping[str, int]) -> bool:
    return set(w) == {"stable", "canary"} and all(0 <= x <= 999 for x in w.values()) and sum(w.values()) > 0


_STR_TUPLE = tuple[Annotated[str, Strict()], ...]
_INT_TUPLE = tuple[Annotated[int, Strict()], ...]


def _ints(allowed: str) -> BeforeValidator:
    """``"0, 10,100"`` -> ``(0, 10, 100)``; a TOML array -> a tuple; anything else as is."""

    def parse(value: object) -> object:
        if isinstance(value, str):
            try:
                return tuple(int(p) for p in value.split(",") if p.strip())
            except ValueError:
                raise ValueError(allowed) from None
        return tuple(value) if isinstance(value, list) else value

    return BeforeValidator(parse)


# --- the field types ---------------------------------------------------------------------

Region = Annotated[str, Strict(), _where(_REGION_RE.match, "an AWS region code such as us-east-1 or eu-west-3")]
OptionalRegion = Annotated[
    str, Strict(), _where(lambda v: v == "" or _REGION_RE.match(v), "an AWS region code such as us-east-1 or eu-west-3")
]
# Resource names are "<project>-<environment>-<role>"; ALB and target group names allow 32
# characters, so the project part stays short.
Project = Annotated[
    str,
    Strict(),
    _where(_PROJECT_RE.match, "2-20 characters: lowercase letters, digits and '-', starting with a letter"),
]
# An environment is a named settings file of the team's (environments/<name>.toml): any short
# lowercase name. It is part of every resource name and state key.
EnvironmentName = Annotated[
    str,
    Strict(),
    _where(
        _ENVIRONMENT_RE.match,
        "1-10 characters: lowercase letters, digits and '-', starting with a letter (dev, staging, prod, qa-2)",
    ),
]
# The AWS account an environment is pinned to: a plan or deploy against another fails.
AccountId = Annotated[
    str, Strict(), _where(lambda v: v == "" or _ACCOUNT_RE.match(v), "empty (any account) or 12 digits")
]
# Zone ids (use1-az1) name the same physical zone in every account; zone names (us-east-1a)
# are shuffled per account. us-east-1's default leaves out use1-az3: it offers almost no
# current (Nitro) instance types.
DEFAULT_ZONE_IDS = ("use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6")
# The environment's form of a list is comma-separated: split before the shared rule checks it.
ZoneIds = Annotated[_STR_TUPLE, BeforeValidator(_split), ZONE_IDS_RULE]
OptionalZoneIds = Annotated[_STR_TUPLE, BeforeValidator(_split), OPTIONAL_ZONE_IDS_RULE]
Email = Annotated[str, Strict(), check(email_problem)]
Endpoint = Annotated[
    str,
    Strict(),
    _where(
        lambda v: v == "" or _ENDPOINT_RE.match(v), "empty (real AWS) or an http(s)://host:port URL of an AWS emulator"
    ),
]
Tags = Annotated[
    Mapping[str, Annotated[str, Strict()]],
    BeforeValidator(_pairs),
    AfterValidator(_frozen),
    check(_tags_problem),
    _AS_DICT,
]
DataBucketName = Annotated[str, Strict(), check(_data_bucket_problem)]
KeyPrefix = Annotated[
    str,
    Strict(),
    _where(
        _KEY_PREFIX_RE.match,
        "path segments of letters, digits, '.', '_' and '-' separated by '/', with no leading or trailing '/'",
    ),
]
Prefix = Annotated[
    str,
    Strict(),
    _where(
        _PREFIX_RE.match, "a key prefix of path segments (letters, digits, '.', '_', '-') ending in '/', e.g. 'data/'"
    ),
]
Suffix = Annotated[
    str, Strict(), _matches(r"[A-Za-z0-9._-]{0,32}", "up to 32 characters of letters, digits, '.', '_', '-'")
]
Mirror = Annotated[
    str, Strict(), _where(lambda v: v == "" or Path(v).is_dir(), "empty (search) or an existing directory")
]


def arn(service: str) -> AfterValidator:
    """Empty (none) or an ARN of ``service``."""
    return _matches(
        rf"arn:aws[a-z-]*:{service}:[a-z0-9-]+:\d{{12}}:[A-Za-z0-9/_.:-]+",
        f"empty (none) or an ARN of {service}, e.g. arn:aws:{service}:us-east-1:123456789012:...",
        empty=True,
    )


AcmArn = Annotated[
    str,
    Strict(),
    _matches(
        r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+",
        "an ACM certificate ARN, e.g. arn:aws:acm:us-east-1:123456789012:certificate/<id> "
        "(empty: no HTTPS listener; public needs one)",
        empty=True,
    ),
]
ImageUri = Annotated[
    str,
    Strict(),
    _matches(
        r"[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})",
        "empty (build from handlers/) or an image reference with a tag or digest",
        empty=True,
    ),
]
Sha256 = Annotated[
    str,
    Strict(),
    _matches(r"[0-9a-f]{64}", "empty (not checked) or 64 lowercase hex digits", empty=True),
]

FargateCpu = Annotated[
    int, Strict(), _where(FARGATE_CPU_MEMORY.__contains__, f"one of the Fargate CPU units {sorted(FARGATE_CPU_MEMORY)}")
]
HostedZoneId = Annotated[
    str, Strict(), _matches(r"Z[A-Z0-9]{1,31}", "empty (no DNS failover) or a Route 53 zone id", empty=True)
]
RecordName = Annotated[
    str,
    Strict(),
    _matches(
        r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?",
        "empty or a DNS name such as api.example.com",
        empty=True,
    ),
]

# Empty allowed: "nobody named", which the stacks turn into the VPC CIDR (internal) or anywhere (public).
OptionalCidrList = Annotated[_STR_TUPLE, BeforeValidator(_split), CIDRS_RULE]
Exposure = Literal["internal", "public"]
ExposureOverride = Literal["", "internal", "public"]
HttpsUrl = Annotated[
    str,
    Strict(),
    _matches(r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?", "empty or an https:// URL", empty=True),
]
ServiceNames = Annotated[_STR_TUPLE, BeforeValidator(_split), SERVICE_NAMES_RULE]
SubnetIdList = Annotated[_STR_TUPLE, BeforeValidator(_split), SUBNET_IDS_RULE]
StackNames = Annotated[
    _STR_TUPLE,
    BeforeValidator(_split),
    _where(
        lambda v: all(re.fullmatch(r"[a-z][a-z-]*", s) for s in v),
        "a list of stack names such as state,event-processing",
    ),
]
# The model server and the stream worker are CPU-bound and resident in about 130 MiB: 2-vCPU
# compute-optimized types, the same cores as their general-purpose siblings (c7i/m7i, c6i/m6i,
# c5/m5) with 4 GiB instead of 8, for 11-20 % less an hour. Five spot pools over three
# generations and two CPU makers (fewer interruptions); the first is the on-demand choice, the
# dearest (c7i.large) the spot ceiling. A bigger model: set the types (docs/cost.md prices them).
DEFAULT_INSTANCE_TYPES = ("c7i.large", "c6i.large", "c6a.large", "c5.large", "c5a.large")
InstanceTypes = Annotated[_STR_TUPLE, BeforeValidator(_split), INSTANCE_TYPES_RULE]
Weights = Annotated[
    Mapping[str, Annotated[int, Strict()]],
    BeforeValidator(_weights),
    AfterValidator(_frozen),
    _where(_weights_ok, _WEIGHTS_ALLOWED),
    _AS_DICT,
]

Checkpoints = Annotated[_INT_TUPLE, _ints(CHECKPOINTS_ALLOWED), CHECKPOINTS_RULE]
_CANARY_STEPS_ALLOWED = "increasing canary weights (%) from 0 to 100 that end at 100, e.g. 0,10,25,50,100"
CanarySteps = Annotated[_INT_TUPLE, _ints(_CANARY_STEPS_ALLOWED), percent_steps(0, _CANARY_STEPS_ALLOWED)]


class Section(BaseModel):
    """A settings section: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def with_derived_names(self, name_prefix: str, region: str) -> Self:
        """This section with the names it derives from ``<project>-<environment>`` and the
        region where none is given (a bucket name, say); none by default."""
        return self


def refuse(problems: list[str]) -> None:
    """Raise the cross-field problems of a section (one per line), if any."""
    if problems:
        raise ValueError("\n".join(problems))
