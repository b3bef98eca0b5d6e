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
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, Strict

from modules.core import aws_catalogue
from modules.core.aws_facts import FARGATE_MEMORY_MIB
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


def _region_problem(region: str) -> str | None:
    if region in aws_catalogue.regions():
        return None
    close = aws_catalogue.closest(region, aws_catalogue.regions())
    hint = f" (did you mean `{close}`?)" if close else ""
    others = ", ".join(sorted(set(aws_catalogue.partitions()) - {"aws"}))
    return (
        f"an AWS region botocore knows{hint}: {', '.join(sorted(aws_catalogue.partitions()['aws']))}; "
        f"or one of the partitions {others} (python -m modules.core.aws_catalogue regions)"
    )


# A region botocore knows (its partitions.json, pinned with boto3 in Pipfile.lock).
Region = Annotated[str, Strict(), check(_region_problem)]
OptionalRegion = Annotated[str, Strict(), check(lambda v: None if v == "" else _region_problem(v))]
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


@dataclass(frozen=True)
class ArnCheck(AfterValidator):
    """The form of an ARN of ``service`` (empty allowed when ``optional``), and where it is used:
    ``used_in`` names the setting holding the region its resource must be in (a certificate, a
    topic, a key, a stream is regional), checked across settings by :mod:`modules.config.arns`."""

    service: str = ""
    used_in: str = "region"


def arn(
    service: str, *, resource: str = "", optional: bool = True, used_in: str = "region", note: str = ""
) -> ArnCheck:
    """An ARN of ``service`` (``resource``: the start of its resource part, e.g. ``certificate/``) in the
    region of the setting ``used_in``; empty means none when ``optional``. ``note`` ends the message."""
    pattern = re.compile(rf"arn:aws[a-z-]*:{service}:[a-z0-9-]+:\d{{12}}:{re.escape(resource)}[A-Za-z0-9/_.:-]+")
    allowed = (
        f"{'empty (none) or ' if optional else ''}an ARN of {service} in the region `{used_in}` names, "
        f"e.g. arn:aws:{service}:us-east-1:123456789012:{resource or '...'}{'<id>' if resource else ''}{note}"
    )

    def validate(value: str) -> str:
        if (optional and value == "") or pattern.fullmatch(value):
            return value
        raise ValueError(allowed)

    return ArnCheck(validate, service=service, used_in=used_in)


_CERTIFICATE_NOTE = " (empty: no HTTPS listener; public needs one)"
AcmArn = Annotated[str, Strict(), arn("acm", resource="certificate/", note=_CERTIFICATE_NOTE)]
SecondaryAcmArn = Annotated[
    str, Strict(), arn("acm", resource="certificate/", used_in="ha_failover.secondary_region", note=_CERTIFICATE_NOTE)
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
    int,
    Strict(),
    _where(
        FARGATE_MEMORY_MIB.__contains__,
        f"one of the Fargate CPU units {', '.join(map(str, FARGATE_MEMORY_MIB))} (1024 = 1 vCPU)",
    ),
]


def fargate_memory_problem(cpu: int, memory_mib: int, cpu_setting: str) -> str | None:
    """What Fargate runs with ``cpu`` (set by ``cpu_setting``) when it has no ``memory_mib`` size for it."""
    allowed = FARGATE_MEMORY_MIB[cpu]
    if memory_mib in allowed:
        return None
    if len(allowed) <= 4:
        sizes = ", ".join(map(str, allowed))
    else:
        sizes = f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}"
    return f"one of Fargate's sizes with {cpu_setting} = {cpu}: {sizes} (MiB)"


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
